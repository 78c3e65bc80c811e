"""Applying an update with an in-memory driver and configure runs: the record's statuses, what
is kept and removed on failure, retry of a failed update, refusals that touch nothing.

The driver keeps instances in memory (as the drivers' contract says: create keeps existing
instances and adds fresh indices, remove_instances removes exactly those named); configure
and scale_in runs are recorded and made to fail on demand. The end-to-end version on podman
with HTCondor is tests/integration/cli/test_update.py.
"""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace

import pytest
from memory_sites import SECRET, TEMPLATE, MemoryDriver, PlaybookRuns, record_deployment

from infn_cloud.deploy.lifecycle import Lifecycle
from infn_cloud.deploy.update import UpdateRequest, _UpdateAttempt
from infn_cloud.errors import OperationFailed, UsageError, ValidationError
from infn_cloud.model import SiteCandidate
from infn_cloud.state import open_state
from infn_cloud.tosca import make_plan


def _nodes() -> dict[str, list[dict]]:
    return MemoryDriver.stores.get("LOCAL-BACKBONE", {})


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("INFN_CLOUD_VAULT_ADDR", raising=False)
    MemoryDriver.stores = {}
    runs = PlaybookRuns(cause="task 'drain' failed on a host")
    monkeypatch.setattr("infn_cloud.federation.get_driver", lambda site, **o: MemoryDriver(site, **o))
    monkeypatch.setattr("infn_cloud.deploy.configure.configure", runs)
    monkeypatch.setattr(
        _UpdateAttempt, "_candidate", lambda self, plan: SiteCandidate.for_site(self.site.name)
    )
    monkeypatch.setattr("infn_cloud.deploy.update.has_scale_in_playbook", lambda: True)  # the drain is H2's
    state = open_state(tmp_path / "state")
    yield SimpleNamespace(state=state, runs=runs, tmp=tmp_path)
    state.close()


def _deployed(env, executes: int) -> str:
    """A CREATE_COMPLETE record as deploy leaves it, with `executes` execute nodes."""
    dep = str(uuid.uuid4())
    plan = make_plan(TEMPLATE, {"num_execute_nodes": executes, "cluster_secret": SECRET})
    resources = MemoryDriver(SimpleNamespace(name="LOCAL-BACKBONE")).create(dep, plan, None)
    return record_deployment(env.state, dep, plan, resources, "LOCAL-BACKBONE", executes)


def _executes(env, dep) -> list[str]:
    return [i["name"] for i in (env.state.get(dep)["resources"]["nodes"].get("execute_server") or [])]


def test_scale_out_that_fails_in_configure_removes_only_what_it_added_and_retry_finishes(env):
    dep = _deployed(env, 1)
    before = _executes(env, dep)
    env.runs.fail.add("configure.yml")

    with pytest.raises(OperationFailed) as failed:
        Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 3}))

    assert "failed during configure" in failed.value.message
    assert f"infn-cloud retry {dep}" in " ".join(failed.value.details)
    record = env.state.get(dep)
    assert record["status"] == "UPDATE_FAILED" and "retry" in record["status_reason"]
    assert [n["name"] for n in _nodes()["execute_server"]] == before  # added ones removed
    assert _executes(env, dep) == before
    assert record["plan"]["compute"]["execute_server"]["count"] == 1  # still the running plan
    assert record["pending_update"]["plan"]["compute"]["execute_server"]["count"] == 3
    attempt = record["attempts"][-1]
    assert (attempt["operation"], attempt["outcome"], attempt["phase"]) == ("update", "failed", "configure")
    assert len(attempt["cleanup"]) == 2

    done = Lifecycle(env.state).retry(dep)

    assert done["status"] == "UPDATE_COMPLETE" and done["pending_update"] is None
    assert len(_executes(env, dep)) == 3 and _executes(env, dep)[0] == before[0]
    assert len(done["outputs"]["execute_ips"]) == 3
    assert done["inputs"]["num_execute_nodes"] == 3
    assert done["plan"]["compute"]["execute_server"]["count"] == 3


def test_scale_in_drains_first_and_a_failed_drain_removes_nothing(env):
    dep = _deployed(env, 3)
    names = _executes(env, dep)
    env.runs.fail.add("scale_in.yml")

    with pytest.raises(OperationFailed):
        Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 2}, drain_timeout=42))

    assert env.state.get(dep)["status"] == "UPDATE_FAILED"
    assert [n["name"] for n in _nodes()["execute_server"]] == names  # nothing removed
    playbook, extravars, hosts = env.runs.calls[-1]
    assert playbook == "scale_in.yml"
    assert extravars == {"infn_cloud_remove_hosts": [names[-1]], "infn_cloud_drain_timeout": 42}
    assert names[-1] in hosts  # the host to drain is in the inventory of the run

    done = Lifecycle(env.state).retry(dep)

    assert done["status"] == "UPDATE_COMPLETE"
    assert _executes(env, dep) == names[:2]
    # a pure scale-in configures nothing (no host's variables change): it drains, then removes
    assert [c[0] for c in env.runs.calls[-2:]] == ["scale_in.yml", "scale_in.yml"]
    assert "configured: nothing" in done["attempts"][-1]["details"]
    assert done["attempts"][-1]["cleanup"] == [f"container/{names[-1]}"]


def test_remove_names_the_instance_to_go(env):
    dep = _deployed(env, 3)
    names = _executes(env, dep)

    result = Lifecycle(env.state).update(
        UpdateRequest(dep, inputs={"num_execute_nodes": 2}, remove=[names[0]])
    )

    assert result.applied and _executes(env, dep) == names[1:]


def test_no_change_records_nothing(env):
    dep = _deployed(env, 1)
    before = env.state.get(dep)

    result = Lifecycle(env.state).update(UpdateRequest(dep))

    assert result.change.empty and result.applied is False  # the generated secret was reused
    assert env.state.get(dep) == before and env.runs.calls == []


def test_a_new_secret_value_reconfigures_and_goes_to_the_secret_store(env):
    dep = _deployed(env, 1)
    new = "another-pool-password-987654"

    result = Lifecycle(env.state).update(UpdateRequest(dep, inputs={"cluster_secret": new}))

    reasons = {item["software"]: item["reasons"] for item in result.change.reconfigure}
    assert reasons == {
        "central_manager": ["secret changes: cluster_secret"],
        "execute": ["secret changes: cluster_secret"],
    }
    assert Lifecycle(env.state).secrets.get(dep, "cluster_secret") == new
    assert new not in str(env.state.get(dep))  # the record keeps the marker


def test_a_deployment_being_deployed_is_refused_untouched(env):
    dep = _deployed(env, 1)
    env.state.update(dep, status="CREATE_IN_PROGRESS", owner_pid=os.getpid())
    from infn_cloud.state.store import current_owner

    env.state.update(dep, **current_owner())
    before = env.state.get(dep)

    with pytest.raises(UsageError) as refused:
        Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 2}))

    assert "CREATE_IN_PROGRESS in process" in refused.value.message
    assert env.state.get(dep) == before and env.runs.calls == []


def test_the_template_recorded_at_deploy_is_used_when_the_catalogue_file_changed(env):
    dep = _deployed(env, 1)
    recorded = env.state.get(dep)["template_text"].replace("in_range: [0, 50]", "in_range: [0, 2]")
    assert recorded != env.state.get(dep)["template_text"]
    env.state.conn.execute("UPDATE deployments SET template_text = ? WHERE id = ?", (recorded, dep))

    with pytest.raises(ValidationError) as refused:
        Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 3}))
    ok = Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 2}))

    assert f"{TEMPLATE} (as deployed) is not valid" in refused.value.message
    assert refused.value.details == ["inputs: input 'num_execute_nodes' value 3: violates in_range [0, 2]"]
    assert ok.applied and len(_executes(env, dep)) == 2
    assert env.state.get(dep)["plan"]["template"] == TEMPLATE
    assert SECRET not in str(env.state.get(dep))


def test_a_refused_change_exits_with_what_to_do_and_touches_nothing(env):
    dep = _deployed(env, 1)
    before = env.state.get(dep)

    with pytest.raises(ValidationError) as refused:
        Lifecycle(env.state).update(UpdateRequest(dep, inputs={"num_execute_nodes": 2, "num_cpus": 4}))

    assert any("num_cpus 1 -> 4" in line for line in refused.value.details)
    assert any(f"infn-cloud delete {dep}" in line for line in refused.value.details)
    assert env.state.get(dep) == before and len(_nodes()["execute_server"]) == 1
