"""Secret discovery: which values of a plan are secrets, their stable names, and the CLI's plan."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infn_cloud.tosca import make_plan
from infn_cloud.tosca.secret_values import discover, is_secret_key, secret_name, values

REPO = Path(__file__).resolve().parents[3]
TYPES = REPO / "tosca_templates" / "types" / "infn_cloud_types.yaml"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "MYSQL_ROOT_PASSWORD",
        "DB_PASS",
        "db_pwd",
        "mysqlPassword",
        "DBPASSWORD",
        "api_key",
        "apiKey",
        "AWS_SECRET_ACCESS_KEY",
        "access_key",
        "secret_key",
        "private_key",
        "ssh_private_key",
        "client_secret",
        "GITHUB_TOKEN",
        "join_token",
        "credentials",
        "passphrase",
        "key",
    ],
)
def test_keys_that_name_a_secret(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "os_user_ssh_public_key",
        "public_key",
        "ssh_key",
        "ssh_authorized_keys",
        "authorized_keys",
        "ssh_password_authentication",
        "password_min_length",
        "secret_key_file",
        "token_endpoint",
        "token_ttl",
        "key_name",
        "secret_name",
        "AWS_ACCESS_KEY_ID",
        "keyboard_layout",
        "monkey",
        "timezone",
        "TZ",
        "",
        3,
    ],
)
def test_keys_that_do_not(key):
    assert not is_secret_key(key)


def _plan(inputs=None, nodes=None, secret_inputs=()):
    return {"inputs": inputs or {}, "nodes": nodes or {}, "secret_inputs": list(secret_inputs)}


def test_nested_maps_lists_and_infn_list_of_single_entry_maps():
    plan = _plan(
        inputs={
            "environment_variables": [{"MYSQL_ROOT_PASSWORD": "root-pw-1"}, {"TZ": "UTC"}],
            "settings": {"db": {"connection": {"password": "deep-pw-2", "host": "db"}}},
            "env_pairs": [{"name": "API_TOKEN", "value": "tok-3"}, {"name": "LANG", "value": "C"}],
            "credentials": {"user": "alice", "pass": "cred-pw-4", "enabled": True},
        }
    )
    found = {e["name"]: e["paths"] for e in discover(plan)}
    assert found == {
        "credentials.user": [["inputs", "credentials", "user"]],
        "credentials.pass": [["inputs", "credentials", "pass"]],
        "env_pairs.API_TOKEN": [["inputs", "env_pairs", 0, "value"]],
        "environment_variables.MYSQL_ROOT_PASSWORD": [
            ["inputs", "environment_variables", 0, "MYSQL_ROOT_PASSWORD"]
        ],
        "settings.db.connection.password": [["inputs", "settings", "db", "connection", "password"]],
    }
    plan["secret_values"] = discover(plan)
    assert values(plan) == {
        "credentials.user": "alice",
        "credentials.pass": "cred-pw-4",
        "env_pairs.API_TOKEN": "tok-3",
        "environment_variables.MYSQL_ROOT_PASSWORD": "root-pw-1",
        "settings.db.connection.password": "deep-pw-2",
    }


def test_public_keys_empty_values_flags_and_functions_are_not_secrets():
    public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3 user@host"
    plan = _plan(
        inputs={
            "users": [{"os_user_name": "bob", "os_user_ssh_public_key": public}],
            "ssh_key": public,
            "keys": [public, "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"],
            "db_password": "",
            "admin_token": None,
            "password_authentication": True,
            "env": {"TOKEN_FROM_ATTRIBUTE": {"get_attribute": ["vm", "public_address", 0]}},
        }
    )
    assert discover(plan) == []


def test_private_keys_are_secrets_whatever_their_key_and_numbers_count():
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    plan = _plan(inputs={"deploy_material": {"blob": pem}, "mysql": {"root_password": 123456}})
    plan["secret_values"] = discover(plan)
    assert values(plan) == {"deploy_material.blob": pem, "mysql.root_password": "123456"}


def test_one_value_in_several_places_has_one_name_and_declared_inputs_keep_theirs():
    plan = _plan(
        inputs={"admin_password": "same-value", "extra": {"DB_PASSWORD": "same-value"}},
        nodes={
            "app": {"type": "x", "properties": {"environment": {"DB_PASSWORD": "same-value", "X": "1"}}},
            "db": {"type": "x", "properties": {"root_password": "other-value"}},
        },
        secret_inputs=["admin_password"],
    )
    found = discover(plan)
    assert found == [
        {
            "name": "admin_password",
            "paths": [
                ["inputs", "admin_password"],
                ["inputs", "extra", "DB_PASSWORD"],
                ["nodes", "app", "properties", "environment", "DB_PASSWORD"],
            ],
        },
        {"name": "db.root_password", "paths": [["nodes", "db", "properties", "root_password"]]},
    ]
    assert found == discover(plan)  # stable


def test_names_are_valid_store_names_and_numbered_on_collisions():
    assert secret_name(["env", 0, "DB_PASSWORD"]) == "env.DB_PASSWORD"
    odd = secret_name(["env", "my key/with spaces"])
    assert odd.startswith("env.my_key_with_spaces-") and len(odd) == len("env.my_key_with_spaces-") + 8
    assert len(secret_name(["x" * 300])) == 128
    plan = _plan(inputs={"env": [{"DB_PASSWORD": "first-pw"}, {"DB_PASSWORD": "second-pw"}]})
    assert [e["name"] for e in discover(plan)] == ["env.DB_PASSWORD", "env.DB_PASSWORD.2"]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    body = textwrap.dedent(text).replace("TYPES", str(TYPES))
    path.write_text(body)
    return path


def test_properties_marked_secret_in_types(tmp_path):
    """metadata: {secret: true} on a node type's property or a data type's property."""
    path = _write(
        tmp_path,
        """\
        tosca_definitions_version: tosca_simple_yaml_1_0
        data_types:
          test.Account:
            derived_from: tosca.datatypes.Root
            properties:
              user: {type: string}
              opaque: {type: string, metadata: {secret: true}}
        node_types:
          test.App:
            derived_from: tosca.nodes.SoftwareComponent
            properties:
              salt: {type: string, metadata: {secret: true}}
              accounts: {type: list, entry_schema: {type: test.Account}, default: []}
              motd: {type: string, default: hello}
        topology_template:
          node_templates:
            app:
              type: test.App
              properties:
                salt: n0t-a-password-by-name
                accounts: [{user: alice, opaque: alice-opaque-1}]
              requirements:
                - host: vm
            vm: {type: tosca.nodes.Compute}
        """,
    )
    plan = make_plan(str(path))
    assert values(plan) == {"app.salt": "n0t-a-password-by-name", "app.accounts.opaque": "alice-opaque-1"}


def test_a_type_can_say_a_secret_looking_property_is_not_secret(tmp_path):
    path = _write(
        tmp_path,
        """\
        tosca_definitions_version: tosca_simple_yaml_1_0
        node_types:
          test.Bucket:
            derived_from: tosca.nodes.SoftwareComponent
            properties:
              access_key: {type: string, metadata: {secret: false}}
              secret_key: {type: string}
        topology_template:
          node_templates:
            bucket:
              type: test.Bucket
              properties: {access_key: "demo:s3", secret_key: s3cr3t-k3y-value}
              requirements:
                - host: vm
            vm: {type: tosca.nodes.Compute}
        """,
    )
    assert values(make_plan(str(path))) == {"bucket.secret_key": "s3cr3t-k3y-value"}


def test_catalogue_types_mark_their_secret_properties():
    from infn_cloud.tosca.api import load_template

    registry = load_template("htcondor_cluster").registry
    marked = {
        (type_name, prop)
        for type_name in (
            "infn.cloud.nodes.HTCondor",
            "infn.cloud.nodes.JupyterHub",
            "infn.cloud.nodes.SyncShare",
        )
        for prop, (definition, _f) in registry.merged("node_types", type_name, "properties").items()
        if (definition.get("metadata") or {}).get("secret") is True
    }
    assert {p for _t, p in marked} == {
        "cluster_secret",
        "oauth_client_secret",
        "s3_secret_key",
        "admin_password",
        "oidc_client_secret",
        "dummy_password",
        "local_s3_hash_path_prefix",
        "local_s3_hash_path_suffix",
    }

    plan = make_plan("htcondor_cluster", {"cluster_secret": "c" * 24})
    assert {e["name"] for e in plan["secret_values"]} == {"cluster_secret"}
    assert len(plan["secret_values"][0]["paths"]) > 1  # the input and the node properties fed by it


def _cli(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "infn_cloud", *args], capture_output=True, text=True, cwd=cwd
    )


def test_plan_json_of_docker_compose_shows_markers_not_values(tmp_path):
    inputs = tmp_path / "inputs.yml"
    inputs.write_text(
        "docker_compose_file_url: http://example.org/compose.yml\n"
        "environment_variables:\n"
        "  MYSQL_ROOT_PASSWORD: 'q\"u\\\\o-ünï-pw'\n"
        "  TZ: Europe/Rome\n"
    )
    result = _cli("plan", "docker_compose", "-i", str(inputs), "--no-sites", "--json")
    assert result.returncode == 0, result.stderr
    assert "ünï-pw" not in result.stdout and "u\\\\\\\\o" not in result.stdout
    plan = json.loads(result.stdout)
    marker = "<secret:environment_variables.MYSQL_ROOT_PASSWORD>"
    assert plan["inputs"]["environment_variables"] == {"MYSQL_ROOT_PASSWORD": marker, "TZ": "Europe/Rome"}
    env = [
        s["vars"]["docker_compose_env"] for s in plan["software"] if s["role"] == "infn.cloud.docker_compose"
    ]
    assert env == [{"MYSQL_ROOT_PASSWORD": marker, "TZ": "Europe/Rome"}]
    human = _cli("plan", "docker_compose", "-i", str(inputs), "--no-sites")
    assert human.returncode == 0 and "ünï-pw" not in human.stdout
    assert "environment_variables.MYSQL_ROOT_PASSWORD" in human.stdout


def _reference() -> Path:
    import os

    from prereq import require

    root = Path(os.environ.get("INFN_CLOUD_REFERENCE_DIR") or REPO.parent / "shared" / "reference")
    require(
        (root / "infn-tosca-templates" / "single-vm" / "iam_voms-aa.yaml").is_file(),
        f"INFN reference directory {root} (set INFN_CLOUD_REFERENCE_DIR)",
    )
    return root


def test_plan_of_infn_iam_voms_aa_no_longer_crashes_and_hides_its_default_passwords(tmp_path):
    """issue 12: `plan` ended in JSONDecodeError (exit 70): the old redaction edited JSON text."""
    root = _reference()
    import_map = tmp_path / "map.yaml"
    types = root / "infn-tosca-types"
    import_map.write_text(f'imports:\n  "https://baltig.infn.it/infn-cloud/tosca-types/raw/*/": "{types}/"\n')
    template = root / "infn-tosca-templates" / "single-vm" / "iam_voms-aa.yaml"
    result = _cli("plan", str(template), "--import-map", str(import_map), "--no-sites", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    plan = json.loads(result.stdout)
    names = {e["name"] for e in plan["secret_values"]}
    assert {"actuator_user_password", "db_password", "google_client_secret", "mail_password"} <= names
    for name in ("actuator_user_password", "db_password", "google_client_secret", "mail_password"):
        assert plan["inputs"][name] == f"<secret:{name}>"
    compose = plan["nodes"]["docker_compose_service"]["properties"]
    assert compose["db_password"] == "<secret:db_password>"
    assert not any(isinstance(v, str) and v in ("pwd", "client_secret") for v in compose.values())
    # Boolean inputs named like tokens are not secret values.
    assert plan["inputs"]["access_token_include_scope"] is True


def test_validation_errors_name_a_secret_input_but_never_show_its_value(tmp_path):
    path = _write(
        tmp_path,
        """\
        tosca_definitions_version: tosca_simple_yaml_1_0
        topology_template:
          inputs:
            admin_password: {type: string, constraints: [{min_length: 40}]}
            env: {type: map, entry_schema: {type: string, constraints: [{max_length: 4}]}}
          node_templates:
            vm: {type: tosca.nodes.Compute}
        """,
    )
    inputs = tmp_path / "inputs.yml"
    inputs.write_text("env: {DB_PASSWORD: Hunter3-secret-pw, TZ: UTC}\n")
    result = _cli("plan", str(path), "-i", str(inputs), "--set", "admin_password=Hunter2-secret-pw")
    assert result.returncode == 2, result.stderr
    assert "input 'admin_password' value <secret:admin_password>: violates min_length 40" in result.stderr
    assert "input 'env'['DB_PASSWORD'] value <secret:env.DB_PASSWORD>: violates max_length 4" in result.stderr
    assert "Hunter" not in result.stdout + result.stderr
    checked = _cli("validate", str(path), "-i", str(inputs), "--set", "admin_password=x", "--json")
    assert checked.returncode == 2 and "Hunter" not in checked.stdout


def test_validate_shows_secret_defaults_as_markers(tmp_path):
    path = _write(
        tmp_path,
        """\
        tosca_definitions_version: tosca_simple_yaml_1_0
        topology_template:
          inputs:
            db_password: {type: string, default: password}
            db_user: {type: string, default: password-user}
          node_templates:
            vm: {type: tosca.nodes.Compute}
        """,
    )
    result = _cli("validate", str(path), "--json")
    assert result.returncode == 0, result.stderr
    inputs = {i["name"]: i["default"] for i in json.loads(result.stdout)["inputs"]}
    # The names stay names even though the default is the word "password".
    assert inputs == {"db_password": "<secret:db_password>", "db_user": "<secret:db_password>-user"}


def test_tosca_plan_module_returns_markers_and_registers_values_no_log():
    value = "Mod-Pw-'\"-98765"
    args = {
        "template": "docker_compose",
        "inputs": {
            "docker_compose_file_url": "http://example.org/compose.yml",
            "environment_variables": {"DB_PASSWORD": value, "TZ": "UTC"},
        },
        "_ansible_check_mode": True,
    }
    proc = subprocess.run(
        [sys.executable, str(REPO / "plugins" / "modules" / "tosca_plan.py")],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result = json.loads(proc.stdout)
    assert not result.get("failed"), result
    assert value not in proc.stdout and "98765" not in proc.stdout
    marker = "<secret:environment_variables.DB_PASSWORD>"
    assert result["plan"]["inputs"]["environment_variables"] == {"DB_PASSWORD": marker, "TZ": "UTC"}


def test_role_variables_set_literally_in_operation_inputs(tmp_path):
    path = _write(
        tmp_path,
        """\
        tosca_definitions_version: tosca_simple_yaml_1_0
        node_types:
          test.Compose:
            derived_from: tosca.nodes.SoftwareComponent
            interfaces:
              Standard:
                configure:
                  implementation: infn.cloud.docker_compose
                  inputs:
                    docker_compose_project: app
                    docker_compose_file_url: http://example.org/compose.yml
                    docker_compose_env: {API_TOKEN: literal-token-123, TZ: UTC}
        topology_template:
          node_templates:
            app:
              type: test.Compose
              requirements:
                - host: vm
            vm: {type: tosca.nodes.Compute}
        """,
    )
    plan = make_plan(str(path))
    assert values(plan) == {"app.docker_compose_env.API_TOKEN": "literal-token-123"}
    result = _cli("plan", str(path), "--no-sites", "--json")
    assert result.returncode == 0, result.stderr
    assert "literal-token-123" not in result.stdout


def test_a_type_saying_not_secret_is_not_overruled_by_the_role_variable_name():
    """s3_bucket prints the tempauth access key id as an output: it must not become a marker."""
    plan = make_plan("s3_bucket")
    assert plan["secret_values"] == []
    assert "<secret:" not in json.dumps(plan["outputs"]["access_key"])
