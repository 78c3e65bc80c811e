"""What `deploy` stores, with no container: secrets go to the secret store, records get markers.

Every local site refuses to create resources (INFN_CLOUD_FAIL_SITES), so the deployment is
recorded, its secrets are prepared and stored, and it fails at provision: the record (inputs,
plan, template text, attempts) and the log exist and are scanned for the values. The
end-to-end version with a real configure run is tests/integration/cli/test_secret_in_map.py.
"""

from __future__ import annotations

import json
import os

import pytest

from infn_cloud.cli import main
from infn_cloud.deploy.progress import ProgressView
from infn_cloud.deploy.redaction import Redactor
from infn_cloud.paths import collection_root
from infn_cloud.secrets import open_store
from infn_cloud.secrets.leakscan import format_findings, scan
from infn_cloud.state import open_state

TEMPLATE = """\
tosca_definitions_version: tosca_simple_yaml_1_0
description: a secret default, a secret inside a map input, a list of single-entry maps
node_types:
  test.App:
    derived_from: tosca.nodes.SoftwareComponent
    properties:
      environment: {type: map, entry_schema: {type: string}, default: {}}
      extra_env: {type: list, default: []}
topology_template:
  inputs:
    db_password:
      type: string
      default: "Default-Pw-1234"   # a secret default in the template text
    environment_variables:
      type: map
      entry_schema: {type: string}
      default: {}
    extra:
      type: list
      default: []
  node_templates:
    app:
      type: test.App
      properties:
        environment: {get_input: environment_variables}
        extra_env: {get_input: extra}
      requirements:
        - host: vm
    vm: {type: tosca.nodes.Compute}
"""

TOKEN = 'tok-"quoted"\\back-ünï-123'
ROOT_PW = "Root-Pw-In-A-List-5678"


@pytest.fixture
def failed_deploy(tmp_path, monkeypatch, capsys):
    state = tmp_path / "state"
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("INFN_CLOUD_FAIL_SITES", "LOCAL-BACKBONE,LOCAL-FEDERATED,LOCAL-BACKBONE-2")
    monkeypatch.delenv("INFN_CLOUD_VAULT_ADDR", raising=False)
    template = tmp_path / "app.yaml"
    template.write_text(TEMPLATE)
    inputs = tmp_path / "inputs.yml"
    inputs.write_text(
        json.dumps(
            {
                "environment_variables": {"API_TOKEN": TOKEN, "TZ": "Europe/Rome"},
                "extra": [{"MYSQL_ROOT_PASSWORD": ROOT_PW}, {"LANG": "C.UTF-8"}],
            }
        )
    )
    rc = main(["deploy", str(template), "-i", str(inputs), "--json"])
    out = capsys.readouterr()
    assert rc == 1, out.out + out.err
    assert json.loads(out.out)["error"] == "OperationFailed"
    with open_state() as db:
        (listed,) = db.list(include_deleted=True)
    assert main(["show", listed["id"], "--json"]) == 0
    shown = capsys.readouterr()
    return state, json.loads(shown.out), out


def test_values_are_in_the_secret_store_under_stable_names(failed_deploy):
    _state, record, _out = failed_deploy
    assert open_store().get_all(record["id"]) == {
        "db_password": "Default-Pw-1234",
        "environment_variables.API_TOKEN": TOKEN,
        "extra.MYSQL_ROOT_PASSWORD": ROOT_PW,
    }


def test_records_hold_markers_and_no_value_anywhere(failed_deploy):
    state, record, out = failed_deploy
    assert record["status"] == "CREATE_FAILED"
    assert record["inputs"] == {
        "environment_variables": {
            "API_TOKEN": "<secret:environment_variables.API_TOKEN>",
            "TZ": "Europe/Rome",
        },
        "extra": [{"MYSQL_ROOT_PASSWORD": "<secret:extra.MYSQL_ROOT_PASSWORD>"}, {"LANG": "C.UTF-8"}],
    }
    with open_state() as db:
        stored = db.get(record["id"])
    props = stored["plan"]["nodes"]["app"]["properties"]
    assert props["environment"]["API_TOKEN"] == "<secret:environment_variables.API_TOKEN>"
    assert stored["plan"]["inputs"]["db_password"] == "<secret:db_password>"
    # The template text is kept for the record, its secret default replaced.
    assert (
        'default: "<secret:db_password>"   # a secret default in the template text' in stored["template_text"]
    )
    values = {"db_password": "Default-Pw-1234", "token": TOKEN, "root": ROOT_PW}
    # The local secret store (Ansible Vault encrypted) lives in the state dir too: scanned as well.
    findings = scan(values, paths=[state], sqlite_dbs=[state / "state.db"])
    assert findings == [], format_findings(findings)
    assert not any(v in out.out + out.err for v in values.values())


def test_log_lines_get_markers(tmp_path):
    view = ProgressView(quiet=True)
    log = tmp_path / "deploy.log"
    view.attach_log(log)
    view.redact = Redactor({"db": "Hunter2-Hunter2"}).text
    view.message("FAILED vm: task: could not connect with password Hunter2-Hunter2")
    text = log.read_text()
    assert "Hunter2" not in text and "password <secret:db>" in text


def test_two_nodes_with_different_secrets_in_one_role_variable_are_refused_before_anything(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("INFN_CLOUD_VAULT_ADDR", raising=False)
    types = os.path.relpath(
        collection_root() / "tosca_templates" / "types" / "infn_cloud_types.yaml", tmp_path
    )
    nodes = ""
    for n in (1, 2):
        nodes += f"""
    vm{n}: {{type: infn.cloud.nodes.Compute}}
    docker{n}:
      type: infn.cloud.nodes.Docker
      requirements: [{{host: vm{n}}}]
    app{n}:
      type: infn.cloud.nodes.DockerCompose
      properties:
        project: app
        file_url: http://example.org/compose.yml
        environment: {{DB_PASSWORD: Pw-Of-Node-{n}-123}}
      requirements: [{{host: vm{n}}}, {{docker: docker{n}}}]
"""
    template = tmp_path / "two.yaml"
    template.write_text(
        f"tosca_definitions_version: tosca_simple_yaml_1_0\nimports:\n  - {types}\n"
        f"topology_template:\n  node_templates:{nodes}"
    )
    rc = main(["deploy", str(template)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert (
        "role variable docker_compose_env holds a secret with different values on nodes app1 and app2" in err
    )
    assert "Pw-Of-Node" not in err
    with open_state() as db:
        assert db.list(include_deleted=True) == []
    assert not (tmp_path / "state" / "secrets").exists() or not list(
        (tmp_path / "state" / "secrets").iterdir()
    )
