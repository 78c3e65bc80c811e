"""`infn-cloud sites` and the infn.cloud.site_select module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from infn_cloud.cli import build_parser, main
from infn_cloud.cli.sites import add_site_arguments, load_registry_from_args

ROOT = Path(__file__).resolve().parents[3]
PLAN = ROOT / "tests" / "fixtures" / "plans" / "htcondor_cluster.json"


def test_sites_json_lists_kinds_and_capacity(capsys, monkeypatch):
    monkeypatch.delenv("INFN_CLOUD_REGISTRY", raising=False)
    assert main(["sites", "--registry", str(ROOT / "inventories/infn-cloud"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    sites = {s["name"]: s for s in data["sites"]}
    assert (
        sites["BACKBONE-CNAF"]["kind"] == "backbone" and sites["BACKBONE-CNAF"]["replicated_object_storage"]
    )
    assert sites["RECAS-BARI"]["capacity"]["instances"] == 200
    assert sites["RECAS-BARI"]["status"] == "enabled"


def test_sites_default_registry_from_env_and_human_output(capsys, monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_REGISTRY", str(ROOT / "inventories/local"))
    assert main(["sites"]) == 0
    out = capsys.readouterr().out
    assert "LOCAL-BACKBONE" in out and "backbone" in out and "replicated object storage" in out


def test_sites_bad_registry_exit_2_without_traceback(tmp_path, capsys):
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "A.yml").write_text("name: A\nkind: backbone\nquotas: {instances: lots}\n")
    assert main(["sites", "--registry", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "sites/A.yml: quotas.instances: expected integer, got 'lots'" in err
    assert "Traceback" not in err


def test_add_site_arguments_for_plan_command():
    import argparse

    parser = argparse.ArgumentParser()
    add_site_arguments(parser)
    args = parser.parse_args(
        ["--registry", "inventories/infn-cloud", "--group", "admins/cygno", "--site", "backbone"]
    )
    assert (args.group, args.site) == ("admins/cygno", "backbone")
    assert "BACKBONE-CNAF" in load_registry_from_args(args).sites  # relative to the collection root
    assert "sites" in build_parser().format_help()


def _playbook(tmp_path, task: dict) -> subprocess.CompletedProcess:
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": "select", "infn.cloud.site_select": task, "register": "sel", "ignore_errors": True},
                {
                    "name": "show",
                    "ansible.builtin.copy": {
                        "content": "{{ sel | to_json }}",
                        "dest": str(tmp_path / "out.json"),
                    },
                },
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_site_select_module(tmp_path):
    proc = _playbook(
        tmp_path, {"plan_file": str(PLAN), "registry": str(ROOT / "inventories/local"), "policy": "federated"}
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["changed"] is False
    assert result["site"] == "LOCAL-FEDERATED"
    assert result["placement"]["flavors"]["htc_wn_server"]["name"] == "local.small"
    assert "LOCAL-BACKBONE" in result["rejected"]


def test_site_select_module_no_site_fits(tmp_path):
    plan = json.loads(PLAN.read_text())
    plan["compute"]["htc_wn_server"]["count"] = 99
    proc = _playbook(tmp_path, {"plan": plan, "registry": str(ROOT / "inventories/local")})
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the failure is ignored and recorded
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["failed"] is True
    assert "no site can host this deployment" in result["msg"]
    assert result["rejected"]["LOCAL-FEDERATED"].startswith("quota exceeded: instances needs 100")
