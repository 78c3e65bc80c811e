"""The typed model reads and writes the plan's public JSON unchanged (docs/tosca.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from infn_cloud.model import Attempt, ComputeNode, Deployment, Plan, SiteCandidate, SoftwareEntry
from infn_cloud.tosca import make_plan
from infn_cloud.tosca.catalogue import entries

sys.path.insert(0, str(Path(__file__).parent / "tosca"))
from catalogue_inputs import user_inputs

CATALOGUE = [entry["name"] for entry in entries()]


@pytest.fixture(scope="module", params=CATALOGUE)
def plan(request) -> dict:
    return make_plan(request.param, user_inputs(request.param))


def test_the_catalogue_is_there():
    assert len(CATALOGUE) >= 9


def test_a_plan_round_trips_through_the_model_to_the_same_json(plan):
    typed = Plan.from_dict(plan)
    assert json.dumps(typed.to_dict()) == json.dumps(plan)  # same keys, same order, same values
    assert set(typed.compute) == set(plan["compute"])
    assert all(isinstance(node, ComputeNode) for node in typed.compute.values())
    assert [entry.node for entry in typed.software] == [entry["node"] for entry in plan["software"]]


def test_the_typed_demand_is_the_plans_demand(plan):
    assert Plan.from_dict(plan).compute_demand() == plan["demand"]


def test_keys_the_model_does_not_know_are_kept():
    data = {
        "template": "t.yaml",
        "compute": {"vm": {"count": 2, "new_key": 1}},
        "selection": {"chosen": None},
    }
    typed = Plan.from_dict(data)
    assert typed.compute["vm"].count == 2
    assert typed.to_dict()["compute"]["vm"]["new_key"] == 1
    assert typed.to_dict()["selection"] == {"chosen": None}


def test_merged_nodes_appear_only_when_there_are_some():
    entry = SoftwareEntry(node="vm", type="T", role="infn.cloud.common", implementation=None, vars={})
    assert "merged_nodes" not in entry.to_dict()
    entry.merged_nodes.append("single_vm")
    assert entry.to_dict()["merged_nodes"] == ["single_vm"]
    assert entry.nodes == ["vm", "single_vm"]


def test_a_site_candidate_reads_a_placement_file_and_ignores_what_it_does_not_know():
    candidate = SiteCandidate.from_dict(
        {"site": "A", "region": "r1", "flavors": {"vm": {"name": "m1"}}, "x": 1}
    )
    assert (candidate.site, candidate.region, candidate.flavors) == ("A", "r1", {"vm": {"name": "m1"}})
    assert SiteCandidate.for_site("B").to_dict()["site"] == "B"


def test_a_deployment_record_lists_every_site_it_touched_once():
    record = {
        "id": "d",
        "template": "t",
        "status": "CREATE_FAILED",
        "site": "B",
        "attempts": [
            {"id": 1, "operation": "create", "site": "A", "phase": "configure", "outcome": "failed"},
            {"id": 2, "operation": "create", "site": "B", "phase": "provision", "outcome": "failed"},
            {
                "id": 3,
                "operation": "retry",
                "site": "A",
                "phase": "outputs",
                "outcome": "ok",
                "details": None,
            },
        ],
        "owner_pid": 1,
    }
    deployment = Deployment.from_record(record)
    assert deployment.sites_touched == ["B", "A"]
    assert deployment.attempts[2] == Attempt(id=3, operation="retry", site="A", phase="outputs", outcome="ok")
    assert deployment.extra == {"owner_pid": 1}
