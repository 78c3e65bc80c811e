"""Values the hosts of a deployment share are group variables; each host still sees all of its own."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "tests" / "fixtures" / "deployments" / "htc-demo.json"


def _plugin():
    spec = importlib.util.spec_from_file_location(
        "deployment_inv_groups", ROOT / "plugins/inventory/deployment.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seen(group_vars: dict, groups: list[str], own: dict) -> dict:
    merged: dict = {}
    for group in groups:
        merged.update(group_vars.get(group) or {})
    merged.update(own)
    return merged


def _spanning() -> dict:
    """htc-demo with its second execute node at another backbone site, which has its own role_vars."""
    doc = json.loads(DOC.read_text())
    wn = doc["resources"]["nodes"]["htc_wn_server"]
    wn[0]["site"], wn[1]["site"] = "LOCAL-BACKBONE", "LOCAL-BACKBONE-2"
    doc["resources"]["nodes"]["htc_master_server"][0]["site"] = "LOCAL-BACKBONE"
    doc["site_role_vars"] = {
        "LOCAL-BACKBONE": {"apt_proxy": "http://proxy-1:3142", "ntp_server": "ntp.example"},
        "LOCAL-BACKBONE-2": {"apt_proxy": "http://proxy-2:3142", "ntp_server": "ntp.example"},
    }
    return doc


@pytest.mark.parametrize(
    "make_doc", [lambda: json.loads(DOC.read_text()), _spanning], ids=["one-site", "spanning"]
)
def test_every_host_sees_exactly_its_variables(make_doc):
    module = _plugin()
    doc = make_doc()
    full = {host: hostvars for host, _, hostvars in module.hosts_from_document(copy.deepcopy(doc))}
    group_vars, hosts = module.shared_variables(doc)
    assert sorted(h for h, _, _ in hosts) == sorted(full)
    for host, groups, own in hosts:
        assert _seen(group_vars, groups, own) == full[host], host
        # each variable is defined in one place only: no precedence between our groups matters
        places = [g for g in groups if g in group_vars] + ["host"]
        names = [name for place in places for name in (own if place == "host" else group_vars[place])]
        assert len(names) == len(set(names)), host


def test_shared_values_are_set_once_and_per_host_values_stay_on_hosts():
    module = _plugin()
    group_vars, hosts = module.shared_variables(json.loads(DOC.read_text()))
    deployment = group_vars["deployment_htc_demo"]
    assert deployment["infn_cloud_deployment_id"] == "htc-demo"
    assert deployment["IM_INFRASTRUCTURE_ID"] == "htc-demo"
    assert deployment["ansible_connection"] == "containers.podman.podman"
    workers = group_vars["deployment_htc_demo_node_htc_wn_server"]
    assert workers["infn_cloud_software"][0]["role"] == "infn.cloud.htcondor"
    assert workers["infn_cloud_flavor"] == "local.small"
    own = {host: hostvars for host, _, hostvars in hosts}
    for host in ("htc-demo-htc-wn-server-0", "htc-demo-htc-wn-server-1"):
        assert own[host]["ansible_host"] == host
        assert "infn_cloud_software" not in own[host]
        assert "infn_cloud_deployment_id" not in own[host]
    # a node with one host shares nothing with others: its variables stay host variables
    assert "deployment_htc_demo_node_htc_master_server" not in group_vars
    assert own["htc-demo-htc-master-server-0"]["infn_cloud_flavor"] == "local.medium"


def test_spanning_hosts_keep_their_own_site_and_its_role_vars():
    module = _plugin()
    group_vars, hosts = module.shared_variables(_spanning())
    seen = {host: _seen(group_vars, groups, own) for host, groups, own in hosts}
    assert seen["htc-demo-htc-wn-server-0"]["infn_cloud_site"] == "LOCAL-BACKBONE"
    assert seen["htc-demo-htc-wn-server-1"]["infn_cloud_site"] == "LOCAL-BACKBONE-2"
    assert seen["htc-demo-htc-wn-server-1"]["apt_proxy"] == "http://proxy-2:3142"
    assert seen["htc-demo-htc-master-server-0"]["apt_proxy"] == "http://proxy-1:3142"
    # shared by every site: the deployment's group; one site's values: that site's group
    assert group_vars["deployment_htc_demo"]["ntp_server"] == "ntp.example"
    assert "infn_cloud_site" not in group_vars["deployment_htc_demo"]
    site_1 = group_vars["deployment_htc_demo_site_local_backbone"]
    assert site_1["apt_proxy"] == "http://proxy-1:3142"
    assert site_1["infn_cloud_site"] == "LOCAL-BACKBONE"
    # the second site has one host: nothing to share there
    assert "deployment_htc_demo_site_local_backbone_2" not in group_vars


def test_export_writes_shared_values_once_and_hosts_get_them_merged(tmp_path):
    inventory = tmp_path / "demo.infn_cloud.yml"
    inventory.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {DOC}\n")
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}

    def listing(*extra: str) -> dict:
        proc = subprocess.run(
            ["ansible-inventory", "-i", str(inventory), "--list", *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    exported = listing("--export")
    wn = exported["_meta"]["hostvars"]["htc-demo-htc-wn-server-1"]
    assert "infn_cloud_software" not in wn and "infn_cloud_deployment_id" not in wn
    assert "infn_cloud_software" in exported["deployment_htc_demo_node_htc_wn_server"]["vars"]
    merged = listing()["_meta"]["hostvars"]["htc-demo-htc-wn-server-1"]
    # ansible-inventory writes values it would never template as {"__ansible_unsafe": value}
    assert merged["infn_cloud_software"][0]["role"] == {"__ansible_unsafe": "infn.cloud.htcondor"}
    assert merged["infn_cloud_deployment_id"] == {"__ansible_unsafe": "htc-demo"}
    assert merged["IM_NODE_NUM"] == 2
