"""Local driver: which nodes get what a nested container engine needs, and what podman is asked.

The podman here is a stand-in script that records its arguments (the real thing is exercised
by tests/integration/cli/test_docker.py: dockerd runs, overlay2 on the engine volume).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from infn_cloud.federation import load_registry
from infn_cloud.federation.drivers.local import LocalDriver, engine_dirs
from infn_cloud.tosca.api import make_plan

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "tosca_templates"
DOCKER = ["/var/lib/docker"]


@pytest.mark.parametrize(
    ("template", "inputs", "expected"),
    [
        ("run_docker", {}, {"vm_server": DOCKER}),
        ("docker_compose", {"docker_compose_file_url": "https://example.org/c.yaml"}, {"vm_server": DOCKER}),
        ("single_vm", {}, {}),
        ("htcondor_cluster", {}, {}),
    ],
)
def test_engine_nodes_of_catalogue_templates(template, inputs, expected):
    plan = make_plan(TEMPLATES / f"{template}.yaml", inputs)
    assert engine_dirs(plan) == expected


def _entry(role: str, hosts: list[str], **variables) -> dict:
    return {"role": role, "hosts": hosts, "vars": variables}


def test_engine_nodes_follow_role_options():
    plan = {
        "software": [
            _entry("infn.cloud.common", ["a", "b", "c", "d", "e"]),
            _entry("infn.cloud.jupyterhub", ["a"], jupyterhub_spawner="systemd"),
            _entry("infn.cloud.jupyterhub", ["b"], jupyterhub_spawner="docker"),
            _entry("infn.cloud.sync_share", ["c"], sync_share_manage_docker=False),
            _entry("infn.cloud.sync_share", ["d"]),  # the role's default manages docker
            _entry("infn.cloud.kubernetes", ["e"], kubernetes_role="worker"),
            _entry("infn.cloud.docker", ["e"]),
        ]
    }
    assert engine_dirs(plan) == {
        "b": DOCKER,
        "d": DOCKER,
        "e": ["/var/lib/containerd", "/var/lib/docker"],
    }


FAKE_PODMAN = """#!/bin/sh
printf '%s\\n' "$*" >> "$PODMAN_LOG"
case "$1 $2" in
  "image exists") exit 0 ;;
  "network exists"|"volume exists") exit 1 ;;
  "volume ls") printf '%s\\n' "$PODMAN_VOLUMES" ;;
  "ps -a"|"container inspect") echo '[]' ;;
esac
exit 0
"""


@pytest.fixture
def podman(tmp_path, monkeypatch):
    script = tmp_path / "podman"
    script.write_text(FAKE_PODMAN)
    script.chmod(0o755)
    log = tmp_path / "podman.log"
    monkeypatch.setenv("PODMAN_LOG", str(log))
    monkeypatch.setenv("PODMAN_VOLUMES", "[]")
    monkeypatch.delenv("INFN_CLOUD_FAIL_SITES", raising=False)
    site = load_registry(ROOT / "inventories" / "local").sites["LOCAL-BACKBONE"]
    driver = LocalDriver(site, podman=str(script))
    return driver, lambda: [shlex.split(line) for line in log.read_text().splitlines()]


def _run_argv(calls: list[list[str]]) -> list[str]:
    (run,) = [c for c in calls if c[0] == "run"]
    return run


def test_docker_node_runs_privileged_with_engine_volume(podman):
    driver, calls = podman
    plan = make_plan(TEMPLATES / "run_docker.yaml", {})
    driver.create("dep-1", plan, None)
    run = _run_argv(calls())
    assert "--privileged" in run and "--cgroupns=private" in run
    assert run[run.index("--volume") + 1] == "dep-1-vm-server-0-engine-docker:/var/lib/docker"
    (create,) = [c for c in calls() if c[:2] == ["volume", "create"]]
    assert "org.infn.cloud.purpose=engine" in create and "org.infn.cloud.deployment=dep-1" in create
    assert create[-1] == "dep-1-vm-server-0-engine-docker"


def test_plain_node_is_not_privileged(podman):
    driver, calls = podman
    plan = make_plan(TEMPLATES / "single_vm.yaml", {})
    driver.create("dep-2", plan, None)
    run = _run_argv(calls())
    assert "--privileged" not in run and "--cgroupns=private" not in run and "--volume" not in run
    assert not [c for c in calls() if c[:2] == ["volume", "create"]]


def test_engine_volumes_are_neither_quota_nor_block_storage(podman, monkeypatch):
    driver, _ = podman
    labels = {"org.infn.cloud.site": "LOCAL-BACKBONE", "org.infn.cloud.deployment": "other"}
    volumes = [
        {"Name": "other-x-0-engine-docker", "Labels": {**labels, "org.infn.cloud.purpose": "engine"}},
        {"Name": "other-x-0-data", "Labels": {**labels, "org.infn.cloud.size_gb": "5"}},
    ]
    monkeypatch.setenv("PODMAN_VOLUMES", json.dumps(volumes))
    usage = driver._usage_by_others("dep-3")
    assert (usage["volumes"], usage["volume_gb"]) == (1, 5)
    assert [v["name"] for v in driver.describe("other")["volumes"]] == ["other-x-0-data"]
