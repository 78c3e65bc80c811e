"""openstack driver and inventory OpenStack mode against recorded API exchanges on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest
from openstack_replay import Replay, clouds_yaml

from infn_cloud.errors import OperationFailed
from infn_cloud.federation import get_driver, load_registry, select_sites

# openstacksdk's own deprecation notices about its internals, not about our calls
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*(InfluxDB|service_type).*")
ROOT = Path(__file__).resolve().parents[3]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2qYJ7C0ZcK3d2r test@infn"


@pytest.fixture
def setup(tmp_path, monkeypatch, plan):
    """(driver factory, plan, placement) for RECAS-BARI with its cloud pointed at the replay server."""
    registry = load_registry(ROOT / "inventories" / "infn-cloud")
    plan["compute"] = {"htc_master_server": plan["compute"]["htc_master_server"]}
    placement = select_sites(plan, registry, group="admins/cygno", policy="RECAS-BARI").best
    site = dataclasses.replace(registry.site("RECAS-BARI"), cloud="replay")

    def driver(replay: Replay):
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml(tmp_path, replay.base)))
        return get_driver(site, retry_delay=0.01, poll_interval=0.01, public_key=KEY)

    return driver, plan, placement


def _assert_exact(replay: Replay) -> None:
    assert replay.unmatched == [], [f"{u['method']} {u['path']}" for u in replay.unmatched]
    assert replay.pending() == []


def test_create_success(setup):
    make, plan, placement = setup
    progress: list[str] = []
    with Replay("create_success") as replay:
        res = make(replay).create("demo1", plan, placement, progress=progress.append)
        _assert_exact(replay)
        server_post = next(r for r in replay.log if r["method"] == "POST" and r["path"].endswith("/servers"))
        rules = [
            r["json"]["security_group_rule"] for r in replay.log if r["path"].endswith("security-group-rules")
        ]
    assert server_post["json"]["server"]["flavorRef"] == "fl-medium"  # smallest flavor for 2 CPU / 2 GB
    assert server_post["json"]["server"]["metadata"]["infn_cloud_deployment"] == "demo1"
    assert {(r.get("port_range_min"), r.get("remote_ip_prefix")) for r in rules} == {
        (22, "0.0.0.0/0"),
        (None, None),
        (9618, "0.0.0.0/0"),
    }
    node = res["nodes"]["htc_master_server"][0]
    assert node["public_ip"] == "212.189.205.33" and node["private_ip"] == "192.168.10.15"
    assert node["connection"] == {"ansible_connection": "ssh", "ansible_host": "212.189.205.33"}
    assert res["volumes"][0]["mount_path"] == "/scratch"
    assert res["security_groups"][0]["name"] == "infn-cloud-demo1"
    assert any("ACTIVE" in p for p in progress)


def test_quota_exceeded_cleans_up(setup):
    make, plan, placement = setup
    with Replay("quota_exceeded") as replay:
        with pytest.raises(OperationFailed) as info:
            make(replay).create("demo1", plan, placement)
        _assert_exact(replay)
    assert "quota exceeded" in info.value.message and "instances" in info.value.message
    assert info.value.details == ["cleaned up: security_group/infn-cloud-demo1, keypair/infn-cloud-demo1"]


def test_server_error_reports_fault_and_cleans_up(setup):
    make, plan, placement = setup
    with Replay("server_error") as replay:
        with pytest.raises(OperationFailed) as info:
            make(replay).create("demo1", plan, placement)
        _assert_exact(replay)
        assert "DELETE" in {r["method"] for r in replay.log}
    assert "went to ERROR: No valid host was found" in info.value.message
    assert "server/demo1-htc-master-server-0" in info.value.details[0]


def test_partial_failure_retries_then_removes_everything(setup):
    make, plan, placement = setup
    with Replay("partial_failure") as replay:
        with pytest.raises(OperationFailed) as info:
            make(replay).create("demo1", plan, placement)
        _assert_exact(replay)
        volume_posts = [r for r in replay.log if r["method"] == "POST" and r["path"].endswith("/volumes")]
        deletes = replay.calls("DELETE")
    assert len(volume_posts) == 2  # the 503 was retried
    assert "gigabytes quota" in info.value.message
    assert len(deletes) == 4  # server, leftover volume, security group, keypair
    assert info.value.details == [
        "cleaned up: server/demo1-htc-master-server-0, volume/demo1-htc-master-server-0-scratch, "
        "security_group/infn-cloud-demo1, keypair/infn-cloud-demo1"
    ]


def test_delete_after_crash_is_complete_and_idempotent(setup):
    make, _, _ = setup
    with Replay("delete_after_crash") as replay:
        driver = make(replay)
        first = driver.delete("demo1")
        second = driver.delete("demo1")
        _assert_exact(replay)
    assert first == [
        "floating_ip/212.189.205.33",
        "server/demo1-htc-master-server-0",
        "volume/demo1-htc-master-server-0-scratch",
        "security_group/infn-cloud-demo1",
        "keypair/infn-cloud-demo1",
    ]
    assert second == []


def test_inventory_openstack_mode(tmp_path):
    with Replay("create_success") as replay:
        config = clouds_yaml(tmp_path, replay.base)
        inv = tmp_path / "os.infn_cloud.yml"
        inv.write_text(
            "plugin: infn.cloud.deployment\nclouds: [replay]\ndeployment_id: demo1\nssh_user: debian\n"
        )
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(config), "ANSIBLE_NOCOLOR": "1"}
        proc = subprocess.run(
            ["ansible-inventory", "-i", str(inv), "--list"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    host = "demo1-htc-master-server-0"
    assert listing["htc_master_server"]["hosts"] == [host]
    assert listing["site_recas_bari"]["hosts"] == [host]
    # --list shows data the plugin marked unsafe as {"__ansible_unsafe": value}: unwrap it to compare
    hv = {
        k: v.get("__ansible_unsafe", v) if isinstance(v, dict) else v
        for k, v in listing["_meta"]["hostvars"][host].items()
    }
    assert isinstance(listing["_meta"]["hostvars"][host]["ansible_host"], dict)  # marked unsafe
    assert hv["ansible_host"] == "212.189.205.33" and hv["ansible_user"] == "debian"
    assert hv["IM_NODE_PUBLIC_IP"] == "212.189.205.33" and hv["IM_NODE_CLOUD_TYPE"] == "OpenStack"
