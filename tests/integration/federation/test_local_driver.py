"""Local driver against real podman: create two systemd containers, restart, delete, no leftovers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from prereq import require

from infn_cloud.errors import OperationFailed
from infn_cloud.federation import get_driver, load_registry, select_sites

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True, timeout=120).stdout


def _labelled(kind: str, deployment: str) -> list[str]:
    label = f"label=org.infn.cloud.deployment={deployment}"
    if kind == "container":
        return _podman("ps", "-a", "--filter", label, "--format", "{{.Names}}").split()
    return _podman("volume", "ls", "--filter", label, "--format", "{{.Name}}").split()


@pytest.fixture(scope="module")
def podman_ready():
    require(shutil.which("podman"), "podman is not installed (scripts/setup.sh installs it)")
    require(
        subprocess.run(["podman", "image", "exists", "localhost/debian:trixie"], check=False).returncode == 0,
        "the image localhost/debian:trixie is missing (scripts/test-hosts.sh builds it)",
    )


@pytest.fixture
def plan() -> dict:
    plan = json.loads((ROOT / "tests/fixtures/plans/htcondor_cluster.json").read_text())
    plan["compute"]["htc_wn_server"]["count"] = 1  # two containers in all
    return plan


@pytest.fixture
def deployment_id():
    dep = f"itest-{uuid.uuid4().hex[:8]}"
    yield dep
    # Whatever happened in the test, leave nothing behind.
    registry = load_registry(ROOT / "inventories/local")
    for site in registry.sites.values():
        get_driver(site).delete(dep)


def test_create_restart_delete_leaves_nothing(podman_ready, plan, deployment_id):
    registry = load_registry(ROOT / "inventories/local")
    best = select_sites(plan, registry, policy="federated").best
    driver = get_driver(registry.site(best.site))
    network = "infn-cloud-local-federated"

    resources = driver.create(deployment_id, plan, best)
    resources = driver.wait(deployment_id, resources, timeout=120)
    names = sorted(n["name"] for nodes in resources["nodes"].values() for n in nodes)
    assert names == [f"{deployment_id}-htc-master-server-0", f"{deployment_id}-htc-wn-server-0"]
    assert sorted(_labelled("container", deployment_id)) == names
    assert resources["volumes"][0]["mount_path"] == "/scratch"
    master, worker = names
    # VMs reach each other by name on the site network; the volume is mounted; systemd is PID 1.
    assert (
        _podman("exec", worker, "getent", "hosts", master).split()[0]
        == (resources["nodes"]["htc_master_server"][0]["private_ip"])
    )
    assert _podman("exec", master, "cat", "/proc/1/comm").strip() == "systemd"
    _podman("exec", master, "sh", "-c", "echo kept > /scratch/marker")

    _podman("restart", *names)
    after = driver.wait(deployment_id, timeout=120)
    assert all(n["status"] == "running" for nodes in after["nodes"].values() for n in nodes)
    assert _podman("exec", master, "cat", "/scratch/marker").strip() == "kept"
    assert driver.describe(deployment_id)["nodes"].keys() == resources["nodes"].keys()

    # The site network goes with its last container; a deployment someone else left there keeps it.
    others = set(_podman("ps", "-a", "--filter", f"network={network}", "--format", "{{.Names}}").split())
    others -= set(names)
    deleted = driver.delete(deployment_id)
    assert f"container/{master}" in deleted
    assert _labelled("container", deployment_id) == []
    assert _labelled("volume", deployment_id) == []
    network_left = subprocess.run(["podman", "network", "exists", network], check=False).returncode == 0
    assert (f"network/{network}" in deleted, network_left) == (not others, bool(others))
    assert driver.delete(deployment_id) == []  # idempotent


def test_capacity_counts_other_deployments(podman_ready, plan, deployment_id):
    registry = load_registry(ROOT / "inventories/local")
    site = registry.site("LOCAL-FEDERATED")
    best = select_sites(plan, registry, policy="LOCAL-FEDERATED").best
    driver = get_driver(site)
    before = len(_podman("ps", "-a", "--filter", "label=org.infn.cloud.site=LOCAL-FEDERATED", "-q").split())
    require(
        before + 3 <= site.quotas["instances"],
        f"room for 3 nodes on LOCAL-FEDERATED (quota {site.quotas['instances']}): "
        f"other deployments already run {before} nodes there",
    )
    driver.create(deployment_id, plan, best)
    other = f"{deployment_id}-b"
    big = json.loads(json.dumps(plan))
    # 2 of ours and `before` of others in use; one master + this many workers is one too many.
    big["compute"]["htc_wn_server"]["count"] = site.quotas["instances"] - before - 2
    best_big = select_sites(big, registry, policy="LOCAL-FEDERATED").best
    try:
        with pytest.raises(OperationFailed) as info:
            driver.create(other, big, best_big)
        assert "not enough capacity" in info.value.message
        in_use = f"instances: {before + 2} in use by other deployments"
        assert any(d.startswith(in_use) for d in info.value.details), info.value.details
        assert _labelled("container", other) == []
    finally:
        driver.delete(other)


def test_fail_on_create_hook(podman_ready, plan, deployment_id, monkeypatch):
    registry = load_registry(ROOT / "inventories/local")
    monkeypatch.setenv("INFN_CLOUD_FAIL_SITES", "LOCAL-BACKBONE")
    best = select_sites(plan, registry).best
    with pytest.raises(OperationFailed, match="test hook"):
        get_driver(registry.site(best.site)).create(deployment_id, plan, best)
    assert _labelled("container", deployment_id) == []


def test_inventory_plugin_reaches_local_nodes(podman_ready, plan, deployment_id, tmp_path):
    """Driver resources -> deployment document -> infn.cloud.deployment -> ansible over SSH,
    with the deployment's key authorized on first boot and each node's host key pinned."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    registry = load_registry(ROOT / "inventories/local")
    best = select_sites(plan, registry, policy="LOCAL-BACKBONE").best
    driver = get_driver(registry.site(best.site), public_key=(tmp_path / "id_ed25519.pub").read_text())
    resources = driver.wait(deployment_id, driver.create(deployment_id, plan, best), timeout=120)
    nodes = [n for group in resources["nodes"].values() for n in group]
    host_keys = {n["host_key"] for n in nodes}
    assert len(host_keys) == len(nodes) and all(k.startswith("ssh-ed25519 ") for k in host_keys)

    def ansible(doc: dict) -> subprocess.CompletedProcess:
        (tmp_path / "dep.json").write_text(json.dumps(doc))
        inv = tmp_path / "local.infn_cloud.yml"
        inv.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {tmp_path / 'dep.json'}\n")
        argv = ["ansible", "-i", str(inv), "--private-key", str(key), "role_htcondor"]
        return subprocess.run(
            [*argv, "-m", "ansible.builtin.command", "-a", "hostname"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            # A fresh control path per run: a persisted connection would skip the host key check.
            env={
                **os.environ,
                "ANSIBLE_HOST_KEY_CHECKING": "True",
                "ANSIBLE_SSH_CONTROL_PATH_DIR": tempfile.mkdtemp(dir=tmp_path),
            },
        )

    doc = {"id": deployment_id, "site": best.site, "plan": plan, "resources": resources, "status": "deployed"}
    proc = ansible(doc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        f"{deployment_id}-htc-master-server-0 | CHANGED | rc=0 >>\n{deployment_id}-htc-master-server-0"
        in proc.stdout
    )
    # A node that presents another host key than the one reported at boot is refused.
    master = resources["nodes"]["htc_master_server"][0]
    master["host_key"] = next(iter(host_keys - {master["host_key"]}))
    proc = ansible(doc)
    assert proc.returncode != 0
    assert "Host key verification failed" in proc.stdout + proc.stderr
