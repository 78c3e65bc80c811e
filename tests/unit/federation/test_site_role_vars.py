"""Documented boundaries: site registry role_vars -> inventory host vars -> a role's set_stats
-> the CLI's record (docs/federation.md "role_vars and documented boundaries")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from federation_helpers import base_site

from infn_cloud.cli.deployments import print_record, record_view
from infn_cloud.deploy.lifecycle import boundaries_from_event
from infn_cloud.errors import ValidationError
from infn_cloud.federation import load_registry
from infn_cloud.state import StateStore

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "tests" / "fixtures" / "deployments" / "htc-demo.json"


def _errors(path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        load_registry(path)
    return info.value.details


def test_local_sites_stop_kubernetes_before_pkgs_k8s_io(local_registry_path):
    for site in load_registry(local_registry_path).sites.values():
        assert site.role_vars["kubernetes_install_kubeadm"] is False
        assert site.role_vars["kubernetes_nvidia_install_toolkit"] is False
        assert site.to_dict()["role_vars"] == site.role_vars  # `infn-cloud sites --json` shows them


def test_role_vars_merge_federation_defaults_with_the_site(make_registry):
    root = make_registry(
        {"A": base_site("A", role_vars={"kubernetes_cni": "calico"}), "B": base_site("B")},
        federation={"defaults": {"role_vars": {"kubernetes_install_kubeadm": False}}},
    )
    sites = load_registry(root).sites
    assert sites["A"].role_vars == {"kubernetes_install_kubeadm": False, "kubernetes_cni": "calico"}
    assert sites["B"].role_vars == {"kubernetes_install_kubeadm": False}


def test_role_vars_refuse_reserved_unknown_and_ill_typed_options(make_registry):
    role_vars = {
        "ansible_host": "198.51.100.7",
        "infn_cloud_software": [],
        "hostvars": {},
        "not_a_role_option": 1,
        "kubernetes_install_kubeadm": "maybe",
        "kubernetes_cni": "weave",
        "htcondor_run_as_owner": True,
    }
    errors = _errors(make_registry({"A": base_site("A", role_vars=role_vars)}))
    text = "\n".join(errors)
    assert "sites/A.yml: role_vars.ansible_host: reserved name" in text
    assert "sites/A.yml: role_vars.infn_cloud_software: reserved name" in text
    assert "sites/A.yml: role_vars.hostvars: reserved name" in text
    assert "sites/A.yml: role_vars.not_a_role_option: not an option of any infn.cloud role" in text
    assert any(
        "sites/A.yml: role_vars.kubernetes_install_kubeadm:" in e and "infn.cloud.kubernetes" in e
        for e in errors
    ), errors
    assert any("role_vars.kubernetes_cni:" in e and "flannel, calico" in e for e in errors), errors
    assert not any("htcondor_run_as_owner" in e for e in errors)  # a real option with a valid value
    assert len(errors) == 6, errors


def test_role_vars_must_be_a_mapping(make_registry):
    errors = _errors(make_registry({"A": base_site("A", role_vars=["kubernetes_install_kubeadm"])}))
    assert any(e.endswith("sites/A.yml: role_vars: expected a mapping, got a list") for e in errors), errors


def _host_vars(tmp_path: Path, doc: dict, host: str) -> dict:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    inv = tmp_path / "demo.infn_cloud.yml"
    inv.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {path}\n")
    proc = subprocess.run(
        ["ansible-inventory", "-i", str(inv), "--host", host],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_site_role_vars_become_host_vars_of_that_site_only(tmp_path):
    doc = json.loads(DOC.read_text())
    first, second = doc["resources"]["nodes"]["htc_wn_server"][:2]
    second["site"] = "OTHER-SITE"
    doc["site_role_vars"] = {
        "LOCAL-BACKBONE": {
            "kubernetes_install_kubeadm": False,
            # A hand-written document cannot change the connection or the CLI's facts either.
            "ansible_host": "198.51.100.7",
            "infn_cloud_site": "forged",
        },
        "OTHER-SITE": {"kubernetes_cni": "calico"},
    }
    on_site = _host_vars(tmp_path, doc, first["name"])
    assert on_site["kubernetes_install_kubeadm"] is False
    assert on_site["ansible_host"] == first["connection"]["ansible_host"]
    assert on_site["infn_cloud_site"] == "LOCAL-BACKBONE"
    assert "kubernetes_cni" not in on_site
    other = _host_vars(tmp_path, doc, second["name"])
    assert other["kubernetes_cni"] == "calico"
    assert "kubernetes_install_kubeadm" not in other


def test_boundaries_come_from_the_runs_custom_stats(tmp_path):
    """A real ansible-runner run: set_stats with aggregate over two hosts reaches artifact_data."""
    import ansible_runner

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "pb.yml").write_text(
        textwrap.dedent(
            """\
            - name: Two hosts stop at a boundary
              hosts: all
              gather_facts: false
              tasks:
                - name: Record it
                  ansible.builtin.set_stats:
                    data:
                      infn_cloud_boundaries: ["demo on {{ inventory_hostname }}: stopped before X"]
                    aggregate: true
            """
        )
    )
    (tmp_path / "inventory").mkdir()
    python = sys.executable
    (tmp_path / "inventory" / "hosts").write_text(
        f"a ansible_connection=local ansible_python_interpreter={python}\n"
        f"b ansible_connection=local ansible_python_interpreter={python}\n"
    )
    events: list[dict] = []
    result = ansible_runner.run(
        private_data_dir=str(tmp_path), playbook="pb.yml", quiet=True, event_handler=events.append
    )
    assert result.status == "successful"
    found = [line for event in events for line in boundaries_from_event(event)]
    assert sorted(found) == ["demo on a: stopped before X", "demo on b: stopped before X"]


def test_boundaries_from_event_ignores_other_events_and_duplicates():
    stats = {"event": "playbook_on_stats", "event_data": {"artifact_data": {"infn_cloud_boundaries": []}}}
    assert boundaries_from_event(stats) == []
    stats["event_data"]["artifact_data"]["infn_cloud_boundaries"] = ["x  on\na", "x on a", "y"]
    assert boundaries_from_event(stats) == ["x on a", "y"]
    assert boundaries_from_event({"event": "runner_on_ok", "event_data": {"artifact_data": stats}}) == []


def test_record_keeps_boundaries_and_show_prints_them(tmp_path, capsys):
    store = StateStore(tmp_path / "state.db")
    record = store.create_deployment({"id": "dep-1", "template": "kubernetes_cluster.yaml"})
    assert record["boundaries"] == []
    store.update("dep-1", boundaries=["kubernetes on n1: stopped before kubeadm"])
    view = record_view(store.get("dep-1"))
    assert view["boundaries"] == ["kubernetes on n1: stopped before kubeadm"]
    print_record(view)
    out = capsys.readouterr().out
    assert "Stopped at documented boundaries" in out
    assert "    kubernetes on n1: stopped before kubeadm" in out
