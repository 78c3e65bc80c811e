"""Applying an update to a deployment spanning the two local backbone sites, with one in-memory
driver per site behind the real SpanningDriver (driver_for): new instances are made at their
node's site, the configure run gets only the new hosts, a failed update is resumed by retry,
a scale-in removes the instance at the site holding it. The end-to-end spanning update on
podman (an input change) is tests/integration/cli/test_backbone.py."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from memory_sites import SECRET, TEMPLATE, MemoryDriver, PlaybookRuns, record_deployment

from infn_cloud.deploy.lifecycle import Lifecycle
from infn_cloud.deploy.update import UpdateRequest
from infn_cloud.errors import OperationFailed
from infn_cloud.state import open_state
from infn_cloud.tosca import make_plan

A, B = "LOCAL-BACKBONE", "LOCAL-BACKBONE-2"
SITE_OF = {"cm_server": A, "execute_server": B}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("INFN_CLOUD_VAULT_ADDR", raising=False)
    MemoryDriver.stores = {}
    runs = PlaybookRuns()
    monkeypatch.setattr("infn_cloud.federation.drivers.get_driver", lambda site, **o: MemoryDriver(site, **o))
    monkeypatch.setattr("infn_cloud.deploy.configure.configure", runs)
    monkeypatch.setattr("infn_cloud.deploy.update.has_scale_in_playbook", lambda: True)
    state = open_state(tmp_path / "state")
    yield SimpleNamespace(state=state, runs=runs)
    state.close()


def _deployed(env, executes: int) -> str:
    """A CREATE_COMPLETE record across both backbone sites: the manager at A, executes at B."""
    dep = str(uuid.uuid4())
    plan = make_plan(TEMPLATE, {"num_execute_nodes": executes, "cluster_secret": SECRET})
    resources = {"nodes": {}}
    for node, site in SITE_OF.items():
        sub = {"compute": {node: plan["compute"][node]}}
        made = MemoryDriver(SimpleNamespace(name=site)).create(dep, sub, None)["nodes"][node]
        resources["nodes"][node] = [{**i, "site": site} for i in made]
    return record_deployment(env.state, dep, plan, resources, f"{A},{B}", executes)


def _at(site: str, node: str) -> list[str]:
    return [i["name"] for i in MemoryDriver.stores.get(site, {}).get(node) or []]


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
    playbook, extravars, _ = env.runs.calls[-1]
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
