"""AWX update jobs that scale: playbooks/update.yml adds an instance, then removes a named one.

The same AWX job layout and OpenBao credential as test_job_templates.py (its helpers, reused), on
the cheapest template with a count (templates/workers.yaml: bare workers, no software, so the
jobs' time goes to provisioning and removal, the steps under test): deploy 1 worker -> update to
2 (provision the added one, add every host, configure the new one only) -> update to 1 removing
worker-0 (drain with scale_in.yml, then remove-instances) -> delete.
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prereq import require

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "templates" / "workers.yaml"

_spec = importlib.util.spec_from_file_location("_awx_jobs", HERE / "test_job_templates.py")
_jobs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_jobs)
bao = _jobs.bao


@pytest.fixture(scope="module")
def scale(bao, tmp_path_factory):
    require(shutil.which("podman"), "podman (scripts/setup.sh installs it)")
    base = tmp_path_factory.mktemp("awx-scale")
    root = bao.root()
    root.sys.create_or_update_policy(name="awx-records", policy=_jobs.POLICY)
    token = bao.token_with_policies("awx-records")
    clouds = base / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {}}))
    credentials = {
        "OS_CLIENT_CONFIG_FILE": str(clouds),
        "INFN_CLOUD_VAULT_ADDR": bao.url,
        "INFN_CLOUD_VAULT_TOKEN": token,
    }
    job_id = random.randint(100000, 999999)
    deployment_id = f"awx-{job_id}"
    common = {"infn_cloud_registry": "inventories/local"}
    data = {"deployment_id": deployment_id, "token": token}
    target = {"infn_cloud_deployment_id": deployment_id}
    steps = (
        ("deploy", "deploy.yml", {"infn_cloud_template": str(TEMPLATE), "infn_cloud_input_num_workers": "1"}),
        ("out", "update.yml", {**target, "infn_cloud_input_num_workers": "2"}),
        (
            "in",
            "update.yml",
            {
                "infn_cloud_deployment_id": deployment_id,
                "infn_cloud_input_num_workers": "1",
                "infn_cloud_remove": [f"{deployment_id}-worker-0"],
            },
        ),
        ("delete", "delete.yml", {"infn_cloud_deployment_id": deployment_id}),
    )
    try:
        for number, (name, playbook, extravars) in enumerate(steps):
            private = _jobs._private_data_dir(
                base / f"job-{name}", {**common, **extravars, "awx_job_id": job_id + number}, credentials
            )
            data[f"{name}_dir"] = private
            data[name] = _jobs._run_job(private, f"playbooks/{playbook}")
            data[f"{name}_containers"] = sorted(_jobs._leftovers(deployment_id)["containers"])
            data[f"{name}_record"] = _jobs._record(root, deployment_id)
            if data[name].status != "successful":
                break
        yield data
    finally:
        left = _jobs._leftovers(deployment_id)
        for name in left["containers"]:
            subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)
        for name in left["volumes"]:
            subprocess.run(["podman", "volume", "rm", "-f", name], capture_output=True)


def _ok(scale, name):
    run = scale.get(name)
    assert run is not None, "an earlier job failed"
    assert run.status == "successful", _jobs._stdout(scale[f"{name}_dir"])[-4000:]


def test_scale_out_adds_a_worker_and_the_record_and_outputs_follow(scale):
    _ok(scale, "deploy")
    _ok(scale, "out")
    dep = scale["deployment_id"]
    assert scale["deploy_containers"] == [f"{dep}-worker-0"]
    assert scale["out_containers"] == [f"{dep}-worker-0", f"{dep}-worker-1"]
    assert "+ worker: add 1 instance(s) (1 -> 2)" in _jobs._stdout(scale["out_dir"])
    record = scale["out_record"]
    assert record["status"] == "UPDATE_COMPLETE"
    assert record["hosts"] == [f"{dep}-worker-0", f"{dep}-worker-1"]
    assert record["inputs"]["num_workers"] == 2
    assert record["plan"]["compute"]["worker"]["count"] == 2
    last = record["attempts"][-1]
    assert (last["kind"], last["added"], last["removed"]) == ("update", [f"{dep}-worker-1"], [])
    assert last["configured"] == [f"{dep}-worker-1"]  # the new worker only, as infn-cloud update
    ips = record["outputs"]["worker_ips"]
    assert len(ips) == 2 and ips[0] == scale["deploy_record"]["outputs"]["worker_ips"][0]
    assert _jobs._stats(scale["out"])["infn_cloud_outputs"] == record["outputs"]


def test_scale_in_removes_the_named_worker(scale):
    _ok(scale, "in")
    dep = scale["deployment_id"]
    assert "- worker: remove " + f"{dep}-worker-0" in _jobs._stdout(scale["in_dir"])
    assert scale["in_containers"] == [f"{dep}-worker-1"]
    record = scale["in_record"]
    assert record["status"] == "UPDATE_COMPLETE" and record["hosts"] == [f"{dep}-worker-1"]
    assert [i["name"] for i in record["resources"]["nodes"]["worker"]] == [f"{dep}-worker-1"]
    last = record["attempts"][-1]
    assert (last["added"], last["removed"]) == ([], [f"{dep}-worker-0"])
    assert last["configured"] == []  # a pure scale-in configures nothing
    assert record["outputs"]["worker_ips"] == scale["out_record"]["outputs"]["worker_ips"][1:]


def test_delete_after_the_updates_leaves_nothing(scale):
    _ok(scale, "delete")
    assert scale["delete_containers"] == [] and scale["delete_record"] is None
    for name in ("deploy", "out", "in", "delete"):
        text = _jobs._artifacts_text(scale[f"{name}_dir"])
        assert scale["token"] not in text and "BEGIN OPENSSH PRIVATE KEY" not in text
    assert json.dumps(scale["in_record"]).count("PRIVATE KEY") == 0
