"""SpanningDriver and driver_for: one deployment across two sites as one unit (issue 16, I3).

The two sites are in-memory drivers that keep what they "made" in a dict, so what each site
holds after a failure is observable; driver_for is checked against the repository's local
registry (which sites, which networks), without podman; the inventory plugin reads a merged
document (each host with its site, its site's role_vars).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from infn_cloud.errors import OperationFailed, ValidationError
from infn_cloud.federation import load_registry
from infn_cloud.federation.drivers import driver_for
from infn_cloud.federation.drivers.base import Driver, empty_resources
from infn_cloud.federation.drivers.local import LocalDriver
from infn_cloud.federation.drivers.spanning import SpanningDriver
from infn_cloud.model import SiteCandidate

DEP = "dep-span-1"
ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "tests" / "fixtures" / "deployments" / "htc-demo.json"


class _Site:
    def __init__(self, name: str):
        self.name = name
        self.fail_on_create = False


class MemoryDriver(Driver):
    """A site that holds instances in memory; ``fail`` makes create fail after making one."""

    name = "memory"

    def __init__(self, name: str, fail: str | None = None, delay: float = 0.0):
        super().__init__(_Site(name))
        self.fail = fail
        self.delay = delay
        self.held: dict[str, list[dict]] = {}
        self.created_plans: list[dict] = []
        self.placements: list[dict] = []
        self.threads: set[str] = set()

    def create(self, deployment_id, plan, placement, progress=None):
        self.threads.add(threading.current_thread().name)
        self.created_plans.append(plan)
        self.placements.append(placement)
        time.sleep(self.delay)
        for node, spec in plan["compute"].items():
            for index in range(spec.get("count", 1)):
                self.held.setdefault(node, []).append(
                    {"name": f"{deployment_id}-{node}-{index}", "index": index, "private_ip": "10.0.0.1"}
                )
            if self.fail:
                raise OperationFailed(f"site {self.site.name}: {self.fail}", details=["quota says no"])
        return self.describe(deployment_id)

    def wait(self, deployment_id, resources=None, timeout=600, progress=None):
        return self.describe(deployment_id)

    def describe(self, deployment_id):
        resources = empty_resources(deployment_id, self.site.name, self.name)
        resources["nodes"] = {node: [dict(i) for i in insts] for node, insts in self.held.items() if insts}
        resources["networks"] = [{"id": f"net-{self.site.name}", "name": f"net-{self.site.name}"}]
        return resources

    def delete(self, deployment_id, progress=None):
        gone = [f"server/{i['name']}" for insts in self.held.values() for i in insts]
        self.held.clear()
        return gone

    def remove_instances(self, deployment_id, instances, progress=None):
        gone = []
        for node, insts in self.held.items():
            gone += [f"server/{i['name']}" for i in insts if i["name"] in instances]
            self.held[node] = [i for i in insts if i["name"] not in instances]
        return gone


def _plan() -> dict:
    return {
        "compute": {"master": {"count": 1}, "worker": {"count": 2}},
        "software": [{"role": "infn.cloud.htcondor", "hosts": ["master", "worker"]}],
    }


def _placement() -> SiteCandidate:
    return SiteCandidate(
        site="A",
        region="reg-a",
        flavors={"master": {"name": "a.small"}, "worker": {"name": "b.large"}},
        node_sites={"worker": "B"},
    )


def test_create_splits_the_plan_by_site_and_merges_resources_with_each_instance_site():
    a, b = MemoryDriver("A", delay=0.3), MemoryDriver("B", delay=0.3)
    span = SpanningDriver({"A": a, "B": b}, {"worker": "B"})
    started = time.monotonic()
    resources = span.create(DEP, _plan(), _placement())
    elapsed = time.monotonic() - started
    assert elapsed < 0.55, "the two sites were not created in parallel"
    assert list(a.created_plans[0]["compute"]) == ["master"]
    assert list(b.created_plans[0]["compute"]) == ["worker"]
    # each site reads its own nodes' flavors; the second site gets its own default region
    assert (
        a.placements[0]["flavors"] == {"master": {"name": "a.small"}} and a.placements[0]["region"] == "reg-a"
    )
    assert b.placements[0]["flavors"] == {"worker": {"name": "b.large"}} and b.placements[0]["region"] == ""
    assert b.placements[0]["site"] == "B"
    assert resources["site"] == "A" and resources["sites"] == ["A", "B"]
    assert [i["site"] for i in resources["nodes"]["master"]] == ["A"]
    assert [(i["site"], i["index"]) for i in resources["nodes"]["worker"]] == [("B", 0), ("B", 1)]
    assert sorted(n["site"] for n in resources["networks"]) == ["A", "B"]


@pytest.mark.parametrize("failing", ["A", "B"])
def test_failure_at_one_site_removes_what_both_made_with_details_per_site(failing):
    a = MemoryDriver("A", fail="no capacity left" if failing == "A" else None)
    b = MemoryDriver("B", fail="no capacity left" if failing == "B" else None)
    span = SpanningDriver({"A": a, "B": b}, {"worker": "B"})
    with pytest.raises(OperationFailed) as err:
        span.create(DEP, _plan(), _placement())
    assert a.held == {} and b.held == {}, "a site kept instances after the failure"
    exc = err.value
    assert f"failed at {failing}: no capacity left" in exc.message
    assert f"{failing}: no capacity left" in exc.details
    assert f"{failing}: quota says no" in exc.details
    other = "B" if failing == "A" else "A"
    cleaned = {line.split(":", 1)[0] for line in exc.details if "cleaned up:" in line}
    assert cleaned == {"A", "B"}
    assert any(line.startswith(f"{other}: cleaned up: server/") for line in exc.details)


def test_cleanup_failure_at_a_site_is_reported_not_hidden():
    a = MemoryDriver("A", fail="boom")
    b = MemoryDriver("B")

    def broken_delete(deployment_id, progress=None):
        raise OperationFailed("site B: cannot reach the API", details=["timeout"])

    b.delete = broken_delete
    span = SpanningDriver({"A": a, "B": b}, {"worker": "B"})
    with pytest.raises(OperationFailed) as err:
        span.create(DEP, _plan(), _placement())
    assert "B: cleanup failed: cannot reach the API" in err.value.details
    assert "B: timeout" in err.value.details
    assert "A: cleaned up: server/dep-span-1-master-0" in err.value.details


def test_delete_and_remove_instances_reach_every_site():
    a, b = MemoryDriver("A"), MemoryDriver("B")
    span = SpanningDriver({"A": a, "B": b}, {"worker": "B"})
    span.create(DEP, _plan(), _placement())
    removed = span.remove_instances(DEP, [f"{DEP}-worker-1", f"{DEP}-gone-7"])
    assert removed == [f"B: server/{DEP}-worker-1"]
    assert [i["name"] for i in b.held["worker"]] == [f"{DEP}-worker-0"]
    deleted = span.delete(DEP)
    assert deleted == [f"A: server/{DEP}-master-0", f"B: server/{DEP}-worker-0"]
    assert span.describe(DEP)["nodes"] == {}


def test_driver_for_one_site_is_the_site_driver(local_registry_path):
    registry = load_registry(local_registry_path)
    driver = driver_for(registry, SiteCandidate(site="LOCAL-BACKBONE"))
    assert isinstance(driver, LocalDriver)
    assert driver.backbone_network is None  # single-site deployments stay on their site network


def test_driver_for_backbone_sites_spans_them_on_the_backbone_network(local_registry_path):
    registry = load_registry(local_registry_path)
    candidate = SiteCandidate(site="LOCAL-BACKBONE", node_sites={"b": "LOCAL-BACKBONE-2"})
    driver = driver_for(registry, candidate)
    assert isinstance(driver, SpanningDriver)
    assert driver.sites == ["LOCAL-BACKBONE", "LOCAL-BACKBONE-2"]
    networks = {name: (d.network, d.backbone_network) for name, d in driver.drivers.items()}
    assert networks == {
        "LOCAL-BACKBONE": ("infn-cloud-local-backbone", registry.backbone.network),
        "LOCAL-BACKBONE-2": ("infn-cloud-local-backbone-2", registry.backbone.network),
    }


def test_driver_for_refuses_a_federated_site_in_a_spanning_placement(local_registry_path):
    registry = load_registry(local_registry_path)
    candidate = {"site": "LOCAL-BACKBONE", "node_sites": {"b": "LOCAL-FEDERATED"}}
    with pytest.raises(ValidationError) as err:
        driver_for(registry, candidate)
    assert "only backbone sites share a deployment" in err.value.message
    assert err.value.details == ["LOCAL-FEDERATED is a federated site, not in the registry's backbone"]


def test_hosts_of_both_sites_come_out_with_their_site(tmp_path):
    doc = json.loads(DOC.read_text())
    nodes = doc["resources"]["nodes"]
    a, b = MemoryDriver("LOCAL-BACKBONE"), MemoryDriver("LOCAL-BACKBONE-2")
    a.held = {"htc_master_server": nodes["htc_master_server"]}
    b.held = {"htc_wn_server": nodes["htc_wn_server"]}
    span = SpanningDriver({"LOCAL-BACKBONE": a, "LOCAL-BACKBONE-2": b}, {"htc_wn_server": "LOCAL-BACKBONE-2"})
    doc["resources"] = span.describe(doc["id"])
    doc["site_role_vars"] = {
        "LOCAL-BACKBONE": {"site_motd": "cnaf"},
        "LOCAL-BACKBONE-2": {"site_motd": "bari"},
    }
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    inventory = tmp_path / "span.infn_cloud.yml"
    inventory.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {tmp_path / 'doc.json'}\n")
    proc = subprocess.run(
        ["ansible-inventory", "-i", str(inventory), "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    # --list marks values from the document unsafe ({"__ansible_unsafe": value})
    hostvars = {
        host: {k: v.get("__ansible_unsafe", v) if isinstance(v, dict) else v for k, v in hv.items()}
        for host, hv in listing["_meta"]["hostvars"].items()
    }
    sites = {host: hv["infn_cloud_site"] for host, hv in hostvars.items()}
    assert sites == {
        "htc-demo-htc-master-server-0": "LOCAL-BACKBONE",
        "htc-demo-htc-wn-server-0": "LOCAL-BACKBONE-2",
        "htc-demo-htc-wn-server-1": "LOCAL-BACKBONE-2",
    }
    assert listing["site_local_backbone"]["hosts"] == ["htc-demo-htc-master-server-0"]
    assert listing["site_local_backbone_2"]["hosts"] == [
        "htc-demo-htc-wn-server-0",
        "htc-demo-htc-wn-server-1",
    ]
    assert {host: hv.get("site_motd") for host, hv in hostvars.items()} == {
        "htc-demo-htc-master-server-0": "cnaf",
        "htc-demo-htc-wn-server-0": "bari",
        "htc-demo-htc-wn-server-1": "bari",
    }
