"""One deployment across the two local backbone sites, through the driver layer, on real podman.

A two-node plan (HTCondor master on LOCAL-BACKBONE, one worker on LOCAL-BACKBONE-2):
each container is on its site's network and on the backbone network, the worker's
private_ip is its backbone address, the master reaches the worker's sshd by name across
sites, the flavor's CPU and memory are the containers' cgroup limits (nproc inside counts the
flavor's vCPUs), retry's resume finds
the nodes on both sites, delete (the lifecycle's, site by site) leaves nothing of it on
either site and nothing of another deployment is touched, and a forced failure at one site
(INFN_CLOUD_FAIL_SITES) removes what the other made.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from prereq import require

from infn_cloud.deploy.lifecycle import Lifecycle
from infn_cloud.errors import OperationFailed
from infn_cloud.federation import get_driver, load_registry, select_sites
from infn_cloud.federation.drivers import backbone_network, driver_for
from infn_cloud.federation.drivers.spanning import SpanningDriver

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
A, B = "LOCAL-BACKBONE", "LOCAL-BACKBONE-2"


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True, timeout=120).stdout


def _labelled(deployment: str) -> dict[str, list[str]]:
    label = f"label=org.infn.cloud.deployment={deployment}"
    return {
        "containers": _podman("ps", "-a", "--filter", label, "--format", "{{.Names}}").split(),
        "volumes": _podman("volume", "ls", "--filter", label, "--format", "{{.Name}}").split(),
    }


def _network_users(network: str) -> list[str] | None:
    """Containers on the network; None when it does not exist."""
    if subprocess.run(["podman", "network", "exists", network], check=False).returncode != 0:
        return None
    return _podman("ps", "-a", "--filter", f"network={network}", "--format", "{{.Names}}").split()


@pytest.fixture(scope="module")
def registry():
    require(shutil.which("podman"), "podman is not installed (scripts/setup.sh installs it)")
    require(
        subprocess.run(["podman", "image", "exists", "localhost/debian:trixie"], check=False).returncode == 0,
        "the image localhost/debian:trixie is missing (scripts/test-hosts.sh builds it)",
    )
    return load_registry(ROOT / "inventories/local")


@pytest.fixture(scope="module")
def plan_and_placement(registry):
    plan = json.loads((ROOT / "tests/fixtures/plans/htcondor_cluster.json").read_text())
    plan["compute"]["htc_wn_server"]["count"] = 1
    best = next(c for c in select_sites(plan, registry, policy="auto").candidates if c.site == A)
    # the worker's flavor and image as LOCAL-BACKBONE-2 would pick them (same local flavors)
    return plan, dataclasses.replace(best, node_sites={"htc_wn_server": B})


def _cleanup(registry, deployment_id: str) -> None:
    for site in registry.sites.values():
        get_driver(site, backbone_network=backbone_network(registry)).delete(deployment_id)


@pytest.fixture(scope="module")
def spanning(registry, plan_and_placement):
    """One deployment across both backbone sites, shared by the tests of this module."""
    plan, placement = plan_and_placement
    deployment_id = f"itest-{uuid.uuid4().hex[:8]}"
    driver = driver_for(registry, placement)
    try:
        driver.create(deployment_id, plan, placement)
        resources = driver.wait(deployment_id, None, timeout=120)
        yield deployment_id, driver, resources
    finally:
        _cleanup(registry, deployment_id)


def test_retry_finds_both_sites_and_delete_leaves_nothing_on_either(registry, plan_and_placement, tmp_path):
    plan, placement = plan_and_placement
    deployment_id = f"itest-{uuid.uuid4().hex[:8]}"
    driver = driver_for(registry, placement)
    lifecycle = Lifecycle(SimpleNamespace(directory=tmp_path))
    # the record as an attempt across both sites leaves it (site "A,B"), e.g. after kill -9
    record = SimpleNamespace(id=deployment_id, site=f"{A},{B}", group_name=None)
    neighbour = f"itest-{uuid.uuid4().hex[:8]}"  # another deployment's volume on site A
    labels = (f"org.infn.cloud.deployment={neighbour}", f"org.infn.cloud.site={A}")
    _podman("volume", "create", *(f"--label={label}" for label in labels), neighbour)
    try:
        driver.create(deployment_id, plan, placement)
        assert len(_labelled(deployment_id)["containers"]) == 2
        assert len(_labelled(deployment_id)["volumes"]) == 1  # the master's /scratch
        # retry resumes where the nodes are, on both sites, with the worker still on B
        assert lifecycle._resume_site(record, registry) == f"{A},{B}"
        resumed = lifecycle._candidate_at(record, registry)
        assert (resumed.site, resumed.node_sites) == (A, {"htc_wn_server": B})
        # `infn-cloud delete`: site by site, each driver from the registry alone
        removed, problems = lifecycle._deprovision(deployment_id, registry.path, [A, B])
        assert problems == []
        assert f"{A}: container/{deployment_id}-htc-master-server-0" in removed
        assert f"{B}: container/{deployment_id}-htc-wn-server-0" in removed
        assert _labelled(deployment_id) == {"containers": [], "volumes": []}
        assert lifecycle._resume_site(record, registry) is None
        assert _labelled(neighbour)["volumes"] == [neighbour], "delete removed another deployment's volume"
        # the networks go with their last container (others' deployments may still use them)
        for network in (
            "infn-cloud-local-backbone",
            "infn-cloud-local-backbone-2",
            backbone_network(registry),
        ):
            users = _network_users(network)
            assert users is None or (users and not any(u.startswith(deployment_id) for u in users))
    finally:
        _cleanup(registry, deployment_id)
        subprocess.run(["podman", "volume", "rm", "--force", neighbour], capture_output=True, check=False)


def test_failure_at_one_site_cleans_both(registry, plan_and_placement, monkeypatch):
    plan, placement = plan_and_placement
    deployment_id = f"itest-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("INFN_CLOUD_FAIL_SITES", B)
    try:
        with pytest.raises(OperationFailed) as err:
            driver_for(registry, placement).create(deployment_id, plan, placement)
        assert f"failed at {B}" in err.value.message
        details = err.value.details
        assert any(line.startswith(f"{B}: refusing to create resources") for line in details)
        assert f"{A}: cleaned up: container/{deployment_id}-htc-master-server-0" in ", ".join(details)
        assert _labelled(deployment_id) == {"containers": [], "volumes": []}
    finally:
        _cleanup(registry, deployment_id)


def test_awx_provision_step_spans_both_sites_and_deletes_them(registry, plan_and_placement, tmp_path):
    """playbooks/deploy_attempt.yml's steps: `python -m infn_cloud.deploy.provision create` with
    site_select's placement (node_sites), then `delete --site A,B` as a failed attempt does."""
    plan, placement = plan_and_placement
    deployment_id = f"itest-{uuid.uuid4().hex[:8]}"
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "placement.json").write_text(json.dumps(placement.to_dict()))
    module = [sys.executable, "-m", "infn_cloud.deploy.provision"]
    registry_args = ["--registry", str(registry.path)]
    try:
        created = subprocess.run(
            [
                *module,
                "create",
                "--plan-file",
                str(tmp_path / "plan.json"),
                "--placement-file",
                str(tmp_path / "placement.json"),
                "--deployment-id",
                deployment_id,
                "--output",
                str(tmp_path / "deployment.json"),
                "--timeout",
                "120",
                *registry_args,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["sites"] == [A, B]
        doc = json.loads((tmp_path / "deployment.json").read_text())
        assert sorted(doc["site_role_vars"]) == [A, B]
        sites = {i["name"]: i["site"] for nodes in doc["resources"]["nodes"].values() for i in nodes}
        assert sites == {
            f"{deployment_id}-htc-master-server-0": A,
            f"{deployment_id}-htc-wn-server-0": B,
        }
        deleted = subprocess.run(
            [*module, "delete", "--site", f"{A},{B}", "--deployment-id", deployment_id, *registry_args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert deleted.returncode == 0, deleted.stderr
        removed = json.loads(deleted.stdout)["removed"]
        assert f"{B}: container/{deployment_id}-htc-wn-server-0" in removed
        assert _labelled(deployment_id) == {"containers": [], "volumes": []}
    finally:
        _cleanup(registry, deployment_id)


# The shared deployment (module fixture) last: the tests above each make and remove their own,
# so the site never holds two of this module's deployments at once.
def test_each_node_on_its_site_network_and_the_backbone(spanning, registry):
    _, driver, resources = spanning
    assert isinstance(driver, SpanningDriver)
    assert resources["sites"] == [A, B]
    master = resources["nodes"]["htc_master_server"][0]
    worker = resources["nodes"]["htc_wn_server"][0]
    assert (master["site"], worker["site"]) == (A, B)
    backbone = backbone_network(registry)
    for node, site_network in (
        (master, "infn-cloud-local-backbone"),
        (worker, "infn-cloud-local-backbone-2"),
    ):
        nets = json.loads(_podman("container", "inspect", node["name"]))[0]["NetworkSettings"]["Networks"]
        assert sorted(nets) == sorted([site_network, backbone])
        assert node["private_ip"] == nets[backbone]["IPAddress"]
        labels = json.loads(_podman("container", "inspect", node["name"]))[0]["Config"]["Labels"]
        assert labels["org.infn.cloud.site"] == node["site"]


def test_master_reaches_the_worker_of_the_other_site_by_name(spanning):
    _, _, resources = spanning
    master = resources["nodes"]["htc_master_server"][0]["name"]
    worker = resources["nodes"]["htc_wn_server"][0]
    resolved = _podman("exec", master, "getent", "hosts", worker["name"]).split()[0]
    assert resolved == worker["private_ip"]
    banner = _podman(
        "exec",
        master,
        "python3",
        "-c",
        f"import socket; s = socket.create_connection(({worker['name']!r}, 22), timeout=10); "
        "print(s.recv(64).decode())",
    )
    assert banner.startswith("SSH-2.0-")


def test_flavor_cpu_and_memory_are_container_limits(spanning, plan_and_placement):
    _, _, resources = spanning
    _, placement = plan_and_placement
    for node, instances in resources["nodes"].items():
        flavor = placement.flavors[node]
        host = json.loads(_podman("container", "inspect", instances[0]["name"]))[0]["HostConfig"]
        assert host["NanoCpus"] == min(flavor["vcpus"], len(os.sched_getaffinity(0))) * 10**9
        assert host["Memory"] == flavor["ram_mb"] * 2**20
        inside = _podman(
            "exec",
            instances[0]["name"],
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
        )
        assert int(inside) == flavor["ram_mb"] * 2**20


def test_nproc_inside_a_node_is_its_flavors_vcpus(spanning, plan_and_placement):
    """The affinity mask (--cpuset-cpus) is the flavor's size, capped at the host's CPUs: nproc
    counts it, as on a VM of that flavor. The plan's flavors differ (2 and 1 vCPUs), so on a
    host of 2+ CPUs a node that saw the host would fail here. /proc/meminfo still shows the
    host's memory (no lxcfs): the inventory tells roles the limit (infn_cloud_memory_limit_mb)."""
    _, _, resources = spanning
    _, placement = plan_and_placement
    host_cpus = len(os.sched_getaffinity(0))
    seen = set()
    for node, instances in resources["nodes"].items():
        expected = min(placement.flavors[node]["vcpus"], host_cpus)
        inside = int(_podman("exec", instances[0]["name"], "nproc").strip())
        assert inside == expected, f"{node}: nproc {inside}, flavor {placement.flavors[node]['name']}"
        seen.add(inside)
        # what the driver reports, and the inventory gives the host as infn_cloud_cpus_limit
        assert instances[0]["cpus_limit"] == expected
        assert instances[0]["memory_limit_mb"] == placement.flavors[node]["ram_mb"]
    if host_cpus >= 2:
        assert seen == {1, 2}
