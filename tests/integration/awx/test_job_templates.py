"""AWX job templates, end to end on the local site: playbooks/deploy.yml, then playbooks/update.yml
(a refused change, then an input change that reconfigures), then playbooks/delete.yml.

Each job runs under ansible-runner with a private data dir laid out as AWX lays it out (project/,
inventory/hosts, env/extravars, env/passwords, env/envvars, the collection installed under
requirements_collections/), with credentials as AWX injects them: the OpenStack credential type's
clouds.yaml path in OS_CLIENT_CONFIG_FILE, the Vault credential type of docs/awx.md as
INFN_CLOUD_VAULT_ADDR/INFN_CLOUD_VAULT_TOKEN (a real OpenBao, a token whose policy only allows the
users/awx/ subtree). The extra vars are a survey's answers made from `infn-cloud survey`.
The update and delete jobs are later jobs, each in a NEW private data dir: they find the deployment
through the record in OpenBao (the update job its SSH key and secret values too).
What no test here does: run an AWX server (none runs on this machine).
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import hvac
import pytest
import yaml
from prereq import require

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
LABEL = "org.infn.cloud.deployment"
JOB_TIMEOUT = 2400  # a deploy on a heavily loaded shared machine can take many minutes

# The real OpenBao dev server fixture of the secrets tests, reused (not copied).
_SECRETS_CONFTEST = ROOT / "tests" / "integration" / "secrets" / "conftest.py"
_spec = importlib.util.spec_from_file_location("_secrets_conftest", _SECRETS_CONFTEST)
_secrets_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_secrets_conftest)
bao = _secrets_conftest.bao

POLICY = """
path "secret/data/users/awx/*" { capabilities = ["create", "read", "update", "delete"] }
path "secret/metadata/users/awx/*" { capabilities = ["read", "delete", "list"] }
"""


def _podman(*args: str) -> list[str]:
    out = subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout
    return [line for line in out.split() if line]


def _leftovers(deployment_id: str) -> dict[str, list[str]]:
    label = f"label={LABEL}={deployment_id}"
    return {
        "containers": _podman("ps", "-a", "--filter", label, "--format", "{{.Names}}"),
        "volumes": _podman("volume", "ls", "--filter", label, "--format", "{{.Name}}"),
    }


# Makes configuration fail on LOCAL-BACKBONE only (the role's hostname task refuses the name), so
# the deploy job must clean that site and fall back to LOCAL-FEDERATED, as the CLI does. The
# federated site sets the same variable to its default: a later attempt's hosts (same names) keep
# host variables a site tried before set and theirs does not (docs/awx.md, known limitation).
BREAK_BACKBONE = "role_vars:\n  common_hostname: bad..name\n"
FEDERATED_DEFAULT = "role_vars:\n  common_hostname: ''\n"


def _private_data_dir(
    base: Path, extravars: dict, credentials: dict[str, str], break_backbone: bool = False
) -> Path:
    """A private data dir as AWX writes it for a job (project copied, not the checkout itself)."""
    private = base
    (private / "project").mkdir(parents=True)
    shutil.copytree(ROOT / "playbooks", private / "project" / "playbooks")
    shutil.copytree(ROOT / "inventories", private / "project" / "inventories")
    if break_backbone:
        sites = private / "project" / "inventories" / "local" / "sites"
        for name, text in (("LOCAL-BACKBONE", BREAK_BACKBONE), ("LOCAL-FEDERATED", FEDERATED_DEFAULT)):
            (sites / f"{name}.yml").write_text((sites / f"{name}.yml").read_text() + text)
    shutil.copy(ROOT / "ansible.cfg", private / "project" / "ansible.cfg")
    # AWX installs the project's collections/requirements.yml here and points ansible at it.
    link = private / "requirements_collections" / "ansible_collections" / "infn" / "cloud"
    link.parent.mkdir(parents=True)
    link.symlink_to(ROOT)
    (private / "inventory").mkdir()
    (private / "inventory" / "hosts").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        )
    )
    env = private / "env"
    env.mkdir()
    (env / "extravars").write_text(json.dumps(extravars))
    (env / "passwords").write_text("{}\n")
    envvars = {
        "ANSIBLE_COLLECTIONS_PATH": str(private / "requirements_collections"),
        # AWX's default is False; deploy.yml's hosts come with pinned host keys, so keep checking on.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "True",
        **credentials,
    }
    (env / "envvars").write_text(json.dumps(envvars))
    for name in ("extravars", "passwords", "envvars"):
        (env / name).chmod(0o600)
    return private


def _run_job(private: Path, playbook: str):
    import ansible_runner

    return ansible_runner.run(
        private_data_dir=str(private),
        playbook=playbook,
        ident="job",
        quiet=True,
        settings={"job_timeout": JOB_TIMEOUT},
    )


def _stdout(private: Path) -> str:
    return (private / "artifacts" / "job" / "stdout").read_text(errors="replace")


def _artifacts_text(private: Path) -> str:
    """Everything the job wrote (stdout, job events, facts, artifacts) but runner's own `command`
    file: ansible-runner records the job's environment there, which is where AWX put the
    credentials in the first place (AWX keeps the private data dir only for the job's life)."""
    parts = []
    for path in sorted((private / "artifacts").rglob("*")):
        if path.is_file() and path.name != "command":
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def _record(client, deployment_id: str) -> dict | None:
    try:
        data = client.secrets.kv.v2.read_secret_version(
            path=f"users/awx/deployments/{deployment_id}/record", raise_on_deleted_version=False
        )["data"]["data"]
    except hvac.exceptions.InvalidPath:
        return None
    return json.loads(data["record"])


def _exists(client, path: str) -> bool:
    try:
        client.secrets.kv.v2.read_secret_metadata(path=path)
    except hvac.exceptions.InvalidPath:
        return False
    return True


def _container_ids(deployment_id: str) -> dict[str, str]:
    out = _podman("ps", "-a", "--filter", f"label={LABEL}={deployment_id}", "--format", "{{.Names}}={{.ID}}")
    return dict(line.split("=", 1) for line in out)


def _stats(runner) -> dict:
    for event in runner.events:
        if event.get("event") == "playbook_on_stats":
            return (event.get("event_data") or {}).get("artifact_data") or {}
    return {}


@pytest.fixture(scope="module")
def jobs(bao, tmp_path_factory):
    require(shutil.which("podman"), "podman (scripts/setup.sh installs it)")
    require(
        subprocess.run(["podman", "image", "exists", "localhost/debian:trixie"], check=False).returncode == 0,
        "the image localhost/debian:trixie (scripts/test-hosts.sh builds it)",
    )
    base = tmp_path_factory.mktemp("awx")
    root = bao.root()
    root.sys.create_or_update_policy(name="awx-records", policy=POLICY)
    token = bao.token_with_policies("awx-records")
    os_password = f"os-password-{uuid.uuid4().hex}"
    clouds = base / "clouds.yaml"  # what AWX's OpenStack credential type writes
    clouds.write_text(
        yaml.safe_dump(
            {
                "clouds": {
                    "devstack": {
                        "auth": {
                            "auth_url": "https://keystone.invalid:5000/v3",
                            "username": "awx",
                            "password": os_password,
                            "project_name": "demo",
                        }
                    }
                }
            }
        )
    )
    clouds.chmod(0o600)
    credentials = {
        "OS_CLIENT_CONFIG_FILE": str(clouds),
        "INFN_CLOUD_VAULT_ADDR": bao.url,
        "INFN_CLOUD_VAULT_TOKEN": token,
    }
    # The survey, as `infn-cloud survey` makes it and AWX would show it; the user adds an account.
    survey = json.loads(
        subprocess.run(
            [sys.executable, "-m", "infn_cloud", "survey", "single_vm", "--quiet"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    )
    answers = {q["variable"]: q["default"] for q in survey["spec"] if "default" in q}
    answers["infn_cloud_input_users"] = "- os_user_name: surveyuser\n  os_user_add_to_sudoers: false\n"
    job_id = random.randint(100000, 999999)
    deployment_id = f"awx-{job_id}"
    extravars = {
        "infn_cloud_template": "single_vm",
        "infn_cloud_registry": "inventories/local",  # relative to the project, as a job template says it
        "awx_job_id": job_id,  # AWX passes these to every job
        "awx_job_template_name": "deploy single_vm",
        **answers,
    }
    data = {"deployment_id": deployment_id, "token": token, "os_password": os_password, "bao": bao}
    try:
        deploy_dir = _private_data_dir(base / "job-deploy", extravars, credentials, break_backbone=True)
        data["deploy_dir"] = deploy_dir
        data["deploy"] = _run_job(deploy_dir, "playbooks/deploy.yml")
        data["after_deploy"] = _leftovers(deployment_id)
        try:
            data["record_after_deploy"] = root.secrets.kv.v2.read_secret_version(
                path=f"users/awx/deployments/{deployment_id}/record", raise_on_deleted_version=False
            )["data"]["data"]
        except hvac.exceptions.InvalidPath:
            data["record_after_deploy"] = None
        containers = data["after_deploy"]["containers"]
        data["surveyuser"] = (
            subprocess.run(
                ["podman", "exec", containers[0], "id", "-u", "surveyuser"], capture_output=True, text=True
            )
            if containers
            else None
        )
        data["ids_after_deploy"] = _container_ids(deployment_id)
        # Later jobs: each a new private data dir, nothing shared with the deploy job but the credentials.
        # A change update refuses (a running node's size): the job fails and nothing changes.
        refused_dir = _private_data_dir(
            base / "job-update-refused",
            {
                "infn_cloud_deployment_id": deployment_id,
                "infn_cloud_registry": "inventories/local",
                "infn_cloud_input_num_cpus": "2",
                "awx_job_id": job_id + 1,
            },
            credentials,
        )
        data["refused_dir"] = refused_dir
        data["refused"] = _run_job(refused_dir, "playbooks/update.yml")
        data["record_after_refused"] = _record(root, deployment_id)
        data["ids_after_refused"] = _container_ids(deployment_id)
        # An input change: one more account; the VM is reconfigured, not recreated. First as a
        # dry run (the change is printed, nothing happens), then for real.
        update_vars = {
            "infn_cloud_deployment_id": deployment_id,
            "infn_cloud_registry": "inventories/local",
            "infn_cloud_input_users": answers["infn_cloud_input_users"]
            + "- os_user_name: updateuser\n  os_user_add_to_sudoers: false\n",
            "awx_job_id": job_id + 2,
        }
        dry_dir = _private_data_dir(
            base / "job-update-dry-run", {**update_vars, "infn_cloud_update_dry_run": True}, credentials
        )
        data["dry_dir"] = dry_dir
        data["dry"] = _run_job(dry_dir, "playbooks/update.yml")
        data["record_after_dry"] = _record(root, deployment_id)
        data["updateuser_after_dry"] = (
            subprocess.run(
                ["podman", "exec", containers[0], "id", "-u", "updateuser"], capture_output=True, text=True
            )
            if containers
            else None
        )
        update_dir = _private_data_dir(base / "job-update", update_vars, credentials)
        data["update_dir"] = update_dir
        data["update"] = _run_job(update_dir, "playbooks/update.yml")
        data["record_after_update"] = _record(root, deployment_id)
        data["ids_after_update"] = _container_ids(deployment_id)
        data["updateuser"] = (
            subprocess.run(
                ["podman", "exec", containers[0], "id", "-u", "updateuser"], capture_output=True, text=True
            )
            if containers
            else None
        )
        delete_dir = _private_data_dir(
            base / "job-delete",
            {"infn_cloud_deployment_id": deployment_id, "awx_job_id": job_id + 3},
            credentials,
        )
        data["delete_dir"] = delete_dir
        data["delete"] = _run_job(delete_dir, "playbooks/delete.yml")
        data["after_delete"] = _leftovers(deployment_id)
        data["kept_after_delete"] = [
            path
            for path in ("ssh", "secrets")
            if _exists(root, f"users/awx/deployments/{deployment_id}/{path}")
        ]
        yield data
    finally:
        left = _leftovers(deployment_id)
        for name in left["containers"]:
            subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)
        for name in left["volumes"]:
            subprocess.run(["podman", "volume", "rm", "-f", name], capture_output=True)


def test_deploy_job_succeeds_with_the_survey_answers(jobs):
    run = jobs["deploy"]
    assert run.status == "successful", _stdout(jobs["deploy_dir"])[-4000:]
    assert run.rc == 0  # a site that failed before the one that worked does not fail the job
    stats = _stats(run)  # set_stats: what AWX shows as the job's artifacts
    assert stats["infn_cloud_deployment_id"] == jobs["deployment_id"]
    assert stats["infn_cloud_outputs"]["node_ip"]
    assert jobs["after_deploy"]["containers"] == [f"{jobs['deployment_id']}-vm-server-0"]
    # the survey's users answer (YAML text) reached the plan and the role: the account exists
    assert jobs["surveyuser"] is not None and jobs["surveyuser"].returncode == 0, jobs["surveyuser"]


def test_the_record_is_kept_in_vault_for_the_next_job(jobs):
    assert jobs["record_after_deploy"], _stdout(jobs["deploy_dir"])[-4000:]
    record = json.loads(jobs["record_after_deploy"]["record"])
    assert record["id"] == jobs["deployment_id"]
    assert record["status"] == "CREATE_COMPLETE"
    # the backbone (ranked first) failed in configuration and was cleaned; the federated site took it
    assert record["sites"] == ["LOCAL-BACKBONE", "LOCAL-FEDERATED"] and record["site"] == "LOCAL-FEDERATED"
    first, second = record["attempts"]
    outcome = (first["site"], first["phase"], first["outcome"])
    assert outcome == ("LOCAL-BACKBONE", "configure", "failed"), first
    assert f"failed on {jobs['deployment_id']}-vm-server-0" in first["cause"]
    assert (second["site"], second["outcome"]) == ("LOCAL-FEDERATED", "ok")
    assert record["hosts"] == [f"{jobs['deployment_id']}-vm-server-0"]
    assert record["outputs"]["node_ip"]


def test_delete_job_finds_the_record_and_leaves_nothing(jobs):
    run = jobs["delete"]
    assert run.status == "successful", _stdout(jobs["delete_dir"])[-4000:]
    assert jobs["after_delete"] == {"containers": [], "volumes": []}
    client = jobs["bao"].root()
    with pytest.raises(hvac.exceptions.InvalidPath):  # the record is gone, all its versions too
        client.secrets.kv.v2.read_secret_metadata(
            path=f"users/awx/deployments/{jobs['deployment_id']}/record"
        )


def test_deploy_job_keeps_what_update_needs(jobs):
    record = json.loads(jobs["record_after_deploy"]["record"])
    assert record["plan"]["compute"]["vm_server"]["count"] == 1
    assert record["inputs"]["num_cpus"] == 1
    assert [i["name"] for i in record["resources"]["nodes"]["vm_server"]] == [
        f"{jobs['deployment_id']}-vm-server-0"
    ]
    assert record["secrets_kept"] is True
    assert "BEGIN OPENSSH PRIVATE KEY" not in jobs["record_after_deploy"]["record"]


def test_a_refused_update_fails_the_job_and_changes_nothing(jobs):
    run = jobs["refused"]
    assert run.status == "failed"
    out = _stdout(jobs["refused_dir"])
    deployment = jobs["deployment_id"]
    assert f"deployment {deployment}: 1 change(s) cannot be made in place; nothing was changed" in out
    assert "! refused: node vm_server: size: num_cpus 1 -> 2" in out  # the CLI's reason
    assert json.loads(jobs["record_after_deploy"]["record"]) == jobs["record_after_refused"]
    assert jobs["ids_after_refused"] == jobs["ids_after_deploy"]


def test_a_dry_run_update_job_prints_the_change_and_changes_nothing(jobs):
    run = jobs["dry"]
    assert run.status == "successful", _stdout(jobs["dry_dir"])[-4000:]
    assert "~ vm_server (infn.cloud.common): variables change: common_users" in _stdout(jobs["dry_dir"])
    assert _stats(run)["infn_cloud_change"] == [
        "~ vm_server (infn.cloud.common): variables change: common_users"
    ]
    assert jobs["record_after_dry"] == json.loads(jobs["record_after_deploy"]["record"])
    assert jobs["updateuser_after_dry"] is not None and jobs["updateuser_after_dry"].returncode != 0


def test_update_job_reconfigures_the_running_vm(jobs):
    run = jobs["update"]
    assert run.status == "successful", _stdout(jobs["update_dir"])[-4000:]
    # the same container (not recreated), now with the new account
    assert jobs["ids_after_update"] == jobs["ids_after_deploy"]
    assert jobs["updateuser"] is not None and jobs["updateuser"].returncode == 0, jobs["updateuser"]
    out = _stdout(jobs["update_dir"])
    assert "~ vm_server (infn.cloud.common): variables change: common_users" in out
    record = jobs["record_after_update"]
    assert record["status"] == "UPDATE_COMPLETE"
    assert [u["os_user_name"] for u in record["inputs"]["users"]] == ["surveyuser", "updateuser"]
    last = record["attempts"][-1]
    assert (last["kind"], last["outcome"], last["added"], last["removed"]) == ("update", "ok", [], [])
    assert record["hosts"] == [f"{jobs['deployment_id']}-vm-server-0"]
    assert last["configured"] == record["hosts"]  # its entry's variables changed
    stats = _stats(run)
    assert stats["infn_cloud_deployment_id"] == jobs["deployment_id"]
    assert stats["infn_cloud_outputs"] == record["outputs"] and record["outputs"]["node_ip"]


def test_credentials_never_reach_the_job_output(jobs):
    assert jobs["kept_after_delete"] == []  # delete.yml removed the key and secrets from Vault
    jobs_dirs = ("deploy_dir", "refused_dir", "dry_dir", "update_dir", "delete_dir")
    for private in (jobs[name] for name in jobs_dirs):
        text = _artifacts_text(private)
        assert jobs["token"] not in text
        assert jobs["os_password"] not in text
        # the job's SSH private key never shows either
        assert "BEGIN OPENSSH PRIVATE KEY" not in text


def test_delete_of_an_unknown_id_says_where_it_looked(jobs, tmp_path):
    private = _private_data_dir(
        tmp_path / "job",
        {"infn_cloud_deployment_id": "awx-does-not-exist", "infn_cloud_state_dir": str(tmp_path / "records")},
        {"INFN_CLOUD_VAULT_ADDR": ""},  # no Vault credential on this job template: the state directory
    )
    run = _run_job(private, "playbooks/delete.yml")
    assert run.status == "failed"
    out = _stdout(private)
    where = tmp_path / "records" / "awx-does-not-exist.json"
    assert f"no record of deployment awx-does-not-exist at {where}" in out
    assert "(directory store)" in out


def test_bad_survey_answers_fail_the_job_before_anything_exists(tmp_path):
    records = tmp_path / "records"
    private = _private_data_dir(
        tmp_path / "job",
        {
            "infn_cloud_template": "single_vm",
            "infn_cloud_state_dir": str(records),
            "infn_cloud_deployment_id": "awx-bad-answers",
            "infn_cloud_input_num_cpus": "lots",
        },
        {"INFN_CLOUD_VAULT_ADDR": ""},
    )
    run = _run_job(private, "playbooks/deploy.yml")
    assert run.status == "failed"
    out = _stdout(private)
    problem = "survey variable infn_cloud_input_num_cpus (input 'num_cpus'): expected an integer, got 'lots'"
    assert problem in out
    assert not records.exists()  # no record: nothing was created
    assert _leftovers("awx-bad-answers") == {"containers": [], "volumes": []}
