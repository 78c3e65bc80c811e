"""The local driver's part of the backbone, without podman: flavor limits (CPU set, quota,
memory) and per-site filters.

The podman command lines are captured by replacing the driver's `_run` (what would be run),
so the arguments a user's container gets are checked exactly.
"""

from __future__ import annotations

import subprocess

import pytest

from infn_cloud.federation import load_registry
from infn_cloud.federation.drivers import site_driver
from infn_cloud.federation.drivers.local import LocalDriver


@pytest.fixture
def registry(local_registry_path):
    return load_registry(local_registry_path)


def _instance(vcpus: int, ram_mb: int) -> dict:
    return {"name": "dep-vm-0", "flavor": "local.test", "vcpus": vcpus, "ram_mb": ram_mb}


def test_flavor_becomes_cpu_set_quota_and_memory_limits(registry, monkeypatch):
    monkeypatch.setattr("infn_cloud.federation.drivers.local.host_cpus", lambda: list(range(8)))
    driver = LocalDriver(registry.site("LOCAL-FEDERATED"))
    args = driver._limits(_instance(2, 4096), None)
    # a set of 2 of the host's CPUs (nproc inside counts it), the same CFS quota, the memory
    cpuset = args[args.index("--cpuset-cpus") + 1].split(",")
    assert len(cpuset) == 2 and set(cpuset) <= {str(c) for c in range(8)}
    assert args == [
        "--cpus",
        "2",
        "--cpuset-cpus",
        ",".join(cpuset),
        "--label",
        "org.infn.cloud.cpus_limit=2",
        "--memory",
        "4096m",
    ]


def test_single_cpu_nodes_spread_over_the_host(registry, monkeypatch):
    monkeypatch.setattr("infn_cloud.federation.drivers.local.host_cpus", lambda: [0, 1, 2, 3])
    driver = LocalDriver(registry.site("LOCAL-FEDERATED"))
    sets = set()
    for index in range(16):
        inst = {**_instance(1, 1024), "name": f"dep-vm-{index}"}
        args = driver._limits(inst, None)
        sets.add(args[args.index("--cpuset-cpus") + 1])
    assert sets <= {"0", "1", "2", "3"} and len(sets) > 1  # not every node on CPU 0


def test_cpus_are_clamped_to_the_host_with_a_warning(registry, monkeypatch):
    monkeypatch.setattr("infn_cloud.federation.drivers.local.host_cpus", lambda: [0, 1])
    driver = LocalDriver(registry.site("LOCAL-FEDERATED"))
    said: list[str] = []
    args = driver._limits(_instance(8, 16384), said.append)
    assert args[:6] == ["--cpus", "2", "--cpuset-cpus", "0,1", "--label", "org.infn.cloud.cpus_limit=2"]
    assert said == [
        "LOCAL-FEDERATED: warning: dep-vm-0: flavor local.test has 8 vCPUs, this host 2: limited to 2"
    ]


def test_each_site_looks_only_at_its_own_containers(registry, monkeypatch):
    calls: list[list[str]] = []

    def fake_run(self, *args, timeout=0, check=True):
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 0, "[]", "")

    monkeypatch.setattr(LocalDriver, "_run", fake_run)
    site_driver(registry, "LOCAL-BACKBONE-2").describe("dep-1")
    (ps,) = [c for c in calls if c[0] == "ps"]
    assert ps == [
        "ps",
        "-a",
        "--filter",
        "label=org.infn.cloud.deployment=dep-1",
        "--filter",
        "label=org.infn.cloud.site=LOCAL-BACKBONE-2",
        "--format",
        "json",
    ]


def test_site_driver_gives_the_backbone_network_to_local_backbone_sites_only(registry):
    assert site_driver(registry, "LOCAL-BACKBONE").backbone_network == registry.backbone.network
    assert site_driver(registry, "LOCAL-BACKBONE-2").backbone_network == registry.backbone.network
    assert site_driver(registry, "LOCAL-FEDERATED").backbone_network is None
