"""infn.cloud.deployment inventory plugin: groups, hostvars, unsafe values, cache, verify_file."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "tests" / "fixtures" / "deployments" / "htc-demo.json"
EVIL = "{{ lookup('pipe', 'echo TEMPLATED') }}"


def _plugin_module():
    spec = importlib.util.spec_from_file_location(
        "infn_deployment_inv", ROOT / "plugins/inventory/deployment.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return subprocess.run(
        list(argv), cwd=ROOT, capture_output=True, text=True, timeout=120, env=full_env, check=False
    )


@pytest.fixture
def inv(tmp_path):
    def make(extra: str = "", name: str = "demo.infn_cloud.yml", doc: Path = DOC) -> Path:
        path = tmp_path / name
        path.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {doc}\n{extra}")
        return path

    return make


def test_graph_groups_per_template_role_site(inv):
    proc = _run("ansible-inventory", "-i", str(inv()), "--graph")
    assert proc.returncode == 0, proc.stderr
    graph = proc.stdout
    for group in (
        "@htc_master_server:",
        "@htc_wn_server:",
        "@role_htcondor:",
        "@site_local_backbone:",
        "@deployment_htc_demo:",
    ):
        assert group in graph
    listing = json.loads(_run("ansible-inventory", "-i", str(inv()), "--list").stdout)
    assert listing["htc_wn_server"]["hosts"] == ["htc-demo-htc-wn-server-0", "htc-demo-htc-wn-server-1"]
    assert listing["role_htcondor"]["hosts"] == [
        "htc-demo-htc-master-server-0",
        "htc-demo-htc-wn-server-0",
        "htc-demo-htc-wn-server-1",
    ]


def test_hostvars_connection_tosca_and_im(inv):
    hv = json.loads(_run("ansible-inventory", "-i", str(inv()), "--host", "htc-demo-htc-wn-server-1").stdout)
    assert hv["ansible_connection"] == "containers.podman.podman"
    assert hv["ansible_host"] == "htc-demo-htc-wn-server-1"
    assert hv["IM_NODE_PRIVATE_IP"] == "10.89.0.4"
    assert hv["IM_NODE_PUBLIC_IP"] is None
    assert hv["IM_NODE_FQDN"] == "htc-demo-htc-wn-server-1"
    assert hv["IM_NODE_NUM"] == 2
    assert hv["IM_INFRASTRUCTURE_ID"] == "htc-demo"
    assert hv["infn_cloud_properties"]["mem_size"] == "1 GB"
    assert hv["infn_cloud_software"][0]["role"] == "infn.cloud.htcondor"
    assert hv["infn_cloud_site"] == "LOCAL-BACKBONE"


def test_values_are_never_templated(inv, tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: htc_wn_server\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: 'desc={{ infn_cloud_properties.description }}'\n"
    )
    proc = _run("ansible-playbook", "-i", str(inv()), str(play), "--limit", "htc-demo-htc-wn-server-0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"desc={EVIL}" in proc.stdout
    assert "desc=TEMPLATED" not in proc.stdout


def test_unsafe_in_plugin_data():
    from ansible.template import is_trusted_as_template, trust_as_template

    module = _plugin_module()
    doc = json.loads(DOC.read_text())
    hosts = module.hosts_from_document(doc)
    value = hosts[1][2]["infn_cloud_properties"]["description"]
    wrapped = module.make_unsafe({"d": trust_as_template(value)})
    assert not is_trusted_as_template(wrapped["d"])


def test_constructed_compose_and_keyed_groups(inv):
    extra = (
        "compose:\n  node_label: infn_cloud_node ~ '-' ~ IM_NODE_NUM\n"
        "groups:\n  workers: infn_cloud_node == 'htc_wn_server'\n"
        "keyed_groups:\n  - key: infn_cloud_flavor\n    prefix: flavor\n"
    )
    listing = json.loads(_run("ansible-inventory", "-i", str(inv(extra)), "--list").stdout)
    assert sorted(listing["workers"]["hosts"]) == ["htc-demo-htc-wn-server-0", "htc-demo-htc-wn-server-1"]
    assert listing["flavor_local_medium"]["hosts"] == ["htc-demo-htc-master-server-0"]
    label = listing["_meta"]["hostvars"]["htc-demo-htc-wn-server-1"]["node_label"]
    # ansible-inventory shows values templated from unsafe data as {"__ansible_unsafe": ...}
    assert (label.get("__ansible_unsafe") if isinstance(label, dict) else label) == "htc_wn_server-2"


def test_verify_file_explains_at_vvv(tmp_path):
    bad = tmp_path / "hosts_demo.yml"
    bad.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {DOC}\n")
    proc = _run(
        "ansible-inventory",
        "-i",
        str(bad),
        "--graph",
        "-vvv",
        env={"ANSIBLE_INVENTORY_ENABLED": "infn.cloud.deployment"},
    )
    assert "infn.cloud.deployment declined" in proc.stdout + proc.stderr
    assert "must end with one of infn_cloud.yml" in proc.stdout + proc.stderr


def test_bad_deployment_file_is_a_clear_error(inv, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    proc = _run(
        "ansible-inventory",
        "-i",
        str(inv(doc=broken)),
        "--graph",
        env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"},
    )
    assert proc.returncode != 0
    assert "not valid JSON/YAML" in proc.stdout + proc.stderr


def test_cache_read_and_flush(inv, tmp_path):
    doc = tmp_path / "dep.json"
    shutil.copy(DOC, doc)
    extra = (
        f"cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: {tmp_path / 'cache'}\n"
        "cache_timeout: 3600\n"
    )
    path = inv(extra, doc=doc)
    first = json.loads(_run("ansible-inventory", "-i", str(path), "--list").stdout)
    assert "htc_wn_server" in first
    changed = json.loads(DOC.read_text())
    changed["resources"]["nodes"]["htc_wn_server"].pop()
    doc.write_text(json.dumps(changed))
    cached = json.loads(_run("ansible-inventory", "-i", str(path), "--list").stdout)
    assert len(cached["htc_wn_server"]["hosts"]) == 2  # served from the cache
    fresh = json.loads(_run("ansible-inventory", "-i", str(path), "--list", "--flush-cache").stdout)
    assert fresh["htc_wn_server"]["hosts"] == ["htc-demo-htc-wn-server-0"]
    again = json.loads(_run("ansible-inventory", "-i", str(path), "--list").stdout)
    assert again["htc_wn_server"]["hosts"] == ["htc-demo-htc-wn-server-0"]  # the refresh updated the cache


def test_resources_from_servers_join():
    module = _plugin_module()
    fixed = {"addr": "192.0.2.5", "version": 4, "OS-EXT-IPS:type": "fixed"}
    floating = {"addr": "203.0.113.9", "version": 4, "OS-EXT-IPS:type": "floating"}
    meta = {"infn_cloud_node": "web", "infn_cloud_index": "0", "infn_cloud_site": "RECAS-BARI"}
    server = {
        "id": "s1",
        "name": "d-web-0",
        "status": "ACTIVE",
        "flavor": {"original_name": "small"},
        "metadata": meta,
        "addresses": {"private": [fixed, floating]},
    }
    servers = [("recas", server)]
    res = module.resources_from_servers("d", servers, ssh_user="ubuntu")
    node = res["nodes"]["web"][0]
    assert node["public_ip"] == "203.0.113.9" and node["private_ip"] == "192.0.2.5"
    assert node["connection"] == {
        "ansible_connection": "ssh",
        "ansible_host": "203.0.113.9",
        "ansible_user": "ubuntu",
    }
    assert node["site"] == "RECAS-BARI" and node["flavor"] == "small"


def test_reported_host_key_is_pinned_for_ssh_nodes(inv, tmp_path):
    doc = json.loads(DOC.read_text())
    ssh_node, podman_node = doc["resources"]["nodes"]["htc_wn_server"][:2]
    ssh_node["connection"] = {"ansible_connection": "ssh", "ansible_host": "10.89.0.3"}
    ssh_node["host_key"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedKey"
    podman_node["host_key"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUnused"
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    listing = json.loads(_run("ansible-inventory", "-i", str(inv(doc=path)), "--list").stdout)
    hostvars = listing["_meta"]["hostvars"]
    assert hostvars[ssh_node["name"]]["ansible_ssh_common_args"]["__ansible_unsafe"] == (
        '-o "KnownHostsCommand=/bin/echo %H ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedKey"'
    )
    assert "ansible_ssh_common_args" not in hostvars[podman_node["name"]]  # podman exec: no host keys
