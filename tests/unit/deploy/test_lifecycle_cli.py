"""CLI behaviour that needs no containers: errors, exit codes, no half-written records."""

from __future__ import annotations

import json

import pytest

from infn_cloud.cli import main
from infn_cloud.state import open_state


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "state"


@pytest.mark.parametrize(
    "command", ["deploy", "retry", "list", "show", "outputs", "logs", "delete", "plan", "sites"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: infn-cloud " + command in capsys.readouterr().out


def test_bad_input_is_a_clear_error_and_leaves_no_record(capsys, state_dir):
    rc = main(["deploy", "single_vm", "--set", "num_cpus=64"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "num_cpus" in err and "valid_values" in err and "Traceback" not in err
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_unknown_template_and_unreadable_inputs(capsys, tmp_path):
    assert main(["deploy", "no_such_template"]) == 3
    assert "no_such_template" in capsys.readouterr().err
    assert main(["deploy", "single_vm", "-i", str(tmp_path / "missing.yml")]) == 64
    assert "missing.yml not found" in capsys.readouterr().err


def test_no_site_fits_exits_4_without_record(capsys, state_dir):
    rc = main(["deploy", "single_vm", "--site", "federated", "--set", "num_cpus=32", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 4, out
    assert out["error"] == "NoSiteError"
    with open_state() as state:
        assert state.list(include_deleted=True) == []


def test_unknown_deployment_ids(capsys):
    for command in (
        ["show", "nope"],
        ["outputs", "nope"],
        ["logs", "nope"],
        ["retry", "nope"],
        ["delete", "nope"],
    ):
        assert main(command) == 3
        assert "deployment nope not found" in capsys.readouterr().err


def test_plan_shows_the_chosen_site_and_fallbacks(capsys):
    # --offline: the registry's ranking, not one shifted by what podman runs on this machine now
    assert main(["plan", "single_vm", "--json", "--offline"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["selection"]["chosen"]["site"] == "LOCAL-BACKBONE"
    assert [c["site"] for c in data["selection"]["candidates"]] == [
        "LOCAL-BACKBONE",
        "LOCAL-FEDERATED",
        "LOCAL-BACKBONE-2",
    ]
    assert main(["plan", "single_vm", "--site", "federated", "--set", "num_cpus=32"]) == 4
    assert "No site" in capsys.readouterr().out
    assert main(["plan", "single_vm", "--no-sites", "--json"]) == 0
    assert "selection" not in json.loads(capsys.readouterr().out)


def test_delete_force_on_a_record_whose_registry_is_gone(capsys, state_dir, tmp_path):
    with open_state() as state:
        state.create_deployment(
            {
                "id": "gone-1",
                "template": "t.yaml",
                "registry": str(tmp_path / "no-registry"),
                "site": "LOCAL-BACKBONE",
                "status": "CREATE_FAILED",
                "plan": {},
            }
        )
        state.update("gone-1", status="CREATE_FAILED", owner_pid=None)
    assert main(["delete", "gone-1"]) == 1
    assert "delete failed" in capsys.readouterr().err
    assert main(["show", "gone-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "DELETE_FAILED"
    assert main(["delete", "gone-1", "--force", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "DELETE_COMPLETE"
    assert "forced" in data["status_reason"]
    assert [a["operation"] for a in data["attempts"]] == ["delete", "delete"]
