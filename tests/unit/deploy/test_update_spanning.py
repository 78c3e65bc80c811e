"""Applying an update to a deployment spanning the two local backbone sites, with one in-memory
driver per site behind the real SpanningDriver (driver_for): new instances are made at their
node's site, the configure run gets only the new hosts, a failed update is resumed by retry,
a scale-in removes the instance at the site holding it. The end-to-end spanning update on
podman (an input change) is tests/integration/cli/test_backbone.py."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from infn_cloud.deploy import deployment_secrets
from infn_cloud.deploy.lifecycle import Lifecycle
from infn_cloud.deploy.redaction import redact_plan, redact_template_text
from infn_cloud.deploy.update import UpdateRequest
from infn_cloud.errors import OperationFailed
from infn_cloud.paths import collection_root
from infn_cloud.state import open_state
from infn_cloud.tosca import make_plan
from infn_cloud.tosca.attributes import resolve_attributes

TEMPLATE = str(collection_root() / "tosca_templates" / "htcondor_cluster.yaml")
SECRET = "pool-password-0123456789"
A, B = "LOCAL-BACKBONE", "LOCAL-BACKBONE-2"
SITE_OF = {"cm_server": A, "execute_server": B}


class SiteDriver:
    """One site's instances in memory (per site: the spanning driver gives each its nodes)."""

    name = "local"
    stores: dict[str, dict[str, list[dict]]] = {}  # noqa: RUF012 (reset by the fixture)

    def __init__(self, site, **options):
        self.site = site
        self.nodes = self.stores.setdefault(site.name, {})

    def create(self, deployment_id, plan, placement, progress=None):
        for node, spec in plan["compute"].items():
            have = self.nodes.setdefault(node, [])
            start = max((i["index"] for i in have), default=-1) + 1
            for index in range(start, start + max(spec["count"] - len(have), 0)):
                have.append(
                    {
                        "name": f"{deployment_id}-{node}-{index}",
                        "index": index,
                        "id": uuid.uuid4().hex,
                        "private_ip": f"10.{len(self.site.name)}.{len(self.nodes)}.{index}",
                        "public_ip": None,
                    }
                )
        return self.describe(deployment_id)

    def wait(self, deployment_id, resources=None, timeout=600, progress=None):
        return self.describe(deployment_id)

    def describe(self, deployment_id):
        nodes = {n: [dict(i) for i in insts] for n, insts in self.nodes.items() if insts}
        return {"deployment_id": deployment_id, "site": self.site.name, "driver": "local", "nodes": nodes}

    def remove_instances(self, deployment_id, instances, progress=None):
        removed = []
        for insts in self.nodes.values():
            for inst in list(insts):
                if inst["name"] in instances:
                    insts.remove(inst)
                    removed.append(f"container/{inst['name']}")
        return removed

    def delete(self, deployment_id, progress=None):
        self.nodes.clear()
        return []


class Runs:
    def __init__(self):
        self.calls: list[tuple[str, dict | None]] = []
        self.fail: set[str] = set()

    def __call__(self, run, view, cancel):
        name = Path(run.playbook).name
        self.calls.append((name, run.extravars))
        if name in self.fail:
            self.fail.discard(name)
            return SimpleNamespace(
                status="failed", ok=False, cause=lambda: "a task failed", details=lambda: []
            )
        return SimpleNamespace(status="successful", ok=True, boundaries=[])


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("INFN_CLOUD_VAULT_ADDR", raising=False)
    SiteDriver.stores = {}
    runs = Runs()
    monkeypatch.setattr("infn_cloud.federation.drivers.get_driver", lambda site, **o: SiteDriver(site, **o))
    monkeypatch.setattr("infn_cloud.deploy.configure.configure", runs)
    monkeypatch.setattr("infn_cloud.deploy.update.has_scale_in_playbook", lambda: True)
    state = open_state(tmp_path / "state")
    yield SimpleNamespace(state=state, runs=runs)
    state.close()


def _deployed(env, executes: int) -> str:
    """A CREATE_COMPLETE record across both backbone sites: the manager at A, executes at B."""
    dep = str(uuid.uuid4())
    lifecycle = Lifecycle(env.state)
    lifecycle.secrets.put(dep, "cluster_secret", SECRET)
    lifecycle.secrets.ensure_ssh_keypair(dep)
    plan = make_plan(TEMPLATE, {"num_execute_nodes": executes, "cluster_secret": SECRET})
    resources = {"nodes": {}}
    for node, site in SITE_OF.items():
        sub = {"compute": {node: plan["compute"][node]}}
        made = SiteDriver(SimpleNamespace(name=site)).create(dep, sub, None)["nodes"][node]
        resources["nodes"][node] = [{**i, "site": site} for i in made]
    secrets = {"cluster_secret": SECRET}
    resolved = redact_plan(resolve_attributes(plan, resources), secrets)
    env.state.create_deployment(
        {
            "id": dep,
            "template": TEMPLATE,
            "template_text": redact_template_text(Path(TEMPLATE).read_text(), secrets),
            "inputs": deployment_secrets.stored_inputs({"num_execute_nodes": executes}, plan, secrets),
            "registry": str(collection_root() / "inventories" / "local"),
            "status": "CREATE_COMPLETE",
            "site": f"{A},{B}",
            "plan": resolved,
            "resources": resources,
            "outputs": {n: o["value"] for n, o in resolved["outputs"].items()},
        }
    )
    env.state.update(dep, owner_pid=None)
    return dep


def _at(site: str, node: str) -> list[str]:
    return [i["name"] for i in SiteDriver.stores.get(site, {}).get(node) or []]


def test_scale_out_across_sites_adds_at_the_node_site_configures_only_new_hosts_and_retry_resumes(env):
    dep = _deployed(env, 1)
    env.runs.fail.add("configure.yml")

    with pytest.raises(OperationFailed):
        Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 3}))

    failed = env.state.get(dep)
    assert failed["status"] == "UPDATE_FAILED"
    assert failed["attempts"][-1]["site"] == f"{A},{B}"
    assert _at(B, "execute_server") == [f"{dep}-execute_server-0"]  # the added ones went again
    assert failed["pending_update"]["node_sites"] == SITE_OF

    done = Lifecycle(env.state).retry(dep)

    assert done["status"] == "UPDATE_COMPLETE" and done["site"] == f"{A},{B}"
    new = [f"{dep}-execute_server-{i}" for i in (1, 2)]
    # every execute node at site B, nothing of it at site A
    assert _at(B, "execute_server") == [f"{dep}-execute_server-0", *new]
    assert _at(A, "execute_server") == [] and _at(A, "cm_server") == [f"{dep}-cm_server-0"]
    assert {i["site"] for i in done["resources"]["nodes"]["execute_server"]} == {B}
    playbook, extravars = env.runs.calls[-1]
    assert playbook == "configure.yml"
    assert extravars == {"infn_cloud_configure_hosts": ":".join(new)}
    assert f"configured: {', '.join(new)}" in done["attempts"][-1]["details"]


def test_scale_in_across_sites_removes_the_instance_at_its_own_site(env):
    dep = _deployed(env, 2)

    done = Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 1})).record

    assert done["status"] == "UPDATE_COMPLETE"
    assert _at(B, "execute_server") == [f"{dep}-execute_server-0"]
    assert _at(A, "cm_server") == [f"{dep}-cm_server-0"]
    assert done["attempts"][-1]["cleanup"] == [f"{B}: container/{dep}-execute_server-1"]
    assert [c[0] for c in env.runs.calls] == ["scale_in.yml"]  # nothing to configure
