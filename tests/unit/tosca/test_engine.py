"""Catalogue templates, constraints, scalar units, functions, waves, roles, CLI and module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from catalogue_inputs import user_inputs
from hypothesis import given
from hypothesis import strategies as st

from infn_cloud.cli import main
from infn_cloud.errors import NotFoundError, ValidationError
from infn_cloud.tosca import make_plan, validate
from infn_cloud.tosca.catalogue import entries
from infn_cloud.tosca.model import Collector
from infn_cloud.tosca.roles import INFN_TYPE_ROLES
from infn_cloud.tosca.types import TypeRegistry
from infn_cloud.tosca.units import SIZE_UNITS, Scalar, Version, parse_scalar
from infn_cloud.tosca.values import ValueChecker, Where

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = [
    "single_vm",
    "docker_compose",
    "run_docker",
    "kubernetes_cluster",
    "jupyterhub",
    "htcondor_cluster",
    "sync_share",
    "s3_bucket",
    "object_storage_replication",
]


@pytest.mark.parametrize("name", CATALOGUE)
def test_catalogue_template_is_clean_and_plans_with_defaults_plus_required_inputs(name):
    # docker_compose, jupyterhub and sync_share have required inputs (no default): which ones is
    # asserted by test_contract.py::test_validate_lists_exactly_the_inputs_a_user_must_supply.
    report = validate(name)
    assert report.errors == [] and report.warnings == []
    plan = make_plan(name, user_inputs(name))
    assert json.loads(json.dumps(plan)) == plan
    assert plan["demand"]["instances"] >= 1
    for compute in plan["compute"].values():
        assert compute["num_cpus"] <= 2 and compute["mem_size_mb"] <= 2000
    assert all(s["role"] and s["role"].startswith("infn.cloud.") for s in plan["software"])


def test_catalogue_listing_has_metadata():
    listed = {e["name"]: e for e in entries()}
    assert set(CATALOGUE) <= set(listed)
    for name in CATALOGUE:
        assert listed[name]["display_name"] != name and listed[name]["category"] != "other"
        assert listed[name]["description"]


def test_htcondor_demo_plan():
    plan = make_plan("htcondor_cluster", {"num_execute_nodes": 3})
    assert plan["compute"]["execute_server"]["count"] == 3
    assert plan["compute"]["cm_server"]["os"] == {"distribution": "debian", "version": "13"}
    assert plan["demand"]["instances"] == 4
    roles = {s["node"]: s for s in plan["software"]}
    assert roles["central_manager"]["vars"]["htcondor_roles"] == ["central_manager", "submit"]
    assert roles["execute"]["vars"]["htcondor_central_manager"] == {
        "get_attribute": ["cm_server", "private_address", 0]
    }
    assert plan["waves"] == [["cm_server", "execute_server"], ["central_manager"], ["execute"]]
    assert plan["secret_inputs"] == ["cluster_secret"]
    assert plan["secrets_to_generate"] == ["cluster_secret"]
    assert plan["compute"]["cm_server"]["software"] == ["cm_server", "central_manager"]


def test_all_errors_are_reported_at_once():
    report = validate(
        "htcondor_cluster", {"num_cpus": 64, "mem_size": "512 MB", "bogus": 1}, require_inputs=True
    )
    assert {e.rule for e in report.errors} == {
        "valid_values [1, 2, 4, 8, 16, 32]",
        "in_range [1 GB, 128 GB]",
        "unknown input",
    }


def test_common_role_runs_once_per_host_with_the_vm_settings_merged():
    plan = make_plan("single_vm", inputs={"users": [{"os_user_name": "alice"}]})
    common = [e for e in plan["software"] if e["role"] == "infn.cloud.common"]
    assert len(common) == 1, common
    entry = common[0]
    assert entry["hosts"] == ["vm_server"]
    assert entry["vars"]["common_timezone"] == "Etc/UTC"  # from the SingleVM settings node
    assert [u["os_user_name"] for u in entry["vars"]["common_users"]] == ["alice"]  # from the compute node
    assert plan["compute"]["vm_server"]["software"] == ["vm_server", "vm_settings"]


def test_make_plan_error_details_name_input_value_rule():
    with pytest.raises(ValidationError) as info:
        make_plan("htcondor_cluster", {"num_execute_nodes": 64})
    assert info.value.details == ["inputs: input 'num_execute_nodes' value 64: violates in_range [0, 50]"]


def test_unknown_template_is_not_found():
    with pytest.raises(NotFoundError):
        validate("no_such_service")


def test_volumes_and_public_ip():
    plan = make_plan("jupyterhub", {**user_inputs("jupyterhub"), "volume_size": "20 GB"})
    vm = plan["compute"]["vm_server"]
    assert vm["volumes"] == [{"node": "notebooks_volume", "size_gb": 20, "mount_path": "/data"}]
    assert vm["public_ip"] is True
    assert plan["demand"]["volume_gb"] == 20


def test_object_storage_requires_replication_capability_and_placement():
    plan = make_plan(
        "object_storage_replication", {"site_a": "cnaf", "site_b": "bari", "secret_key": "s" * 20}
    )
    assert plan["compute"]["server_a"]["required_capabilities"] == [
        "object_storage",
        "replicated_object_storage",
    ]
    assert plan["placement"]["sites"] == ["cnaf", "bari"]
    assert plan["inputs"]["secret_key"] == "s" * 20 and "secret_key" in plan["secret_inputs"]


def test_infn_role_mapping_table_produces_role_variables():
    contract = {"htcondor", "jupyterhub", "docker_compose", "kubernetes", "sync_share"}
    for type_name, (role, build) in INFN_TYPE_ROLES.items():
        assert role in contract, type_name
        variables = build({}, {"node": "n"})
        assert variables and all(key.startswith(role + "_") for key in variables), type_name


def test_functions_concat_join_token(tmp_path):
    template = tmp_path / "t.yaml"
    template.write_text(
        """tosca_definitions_version: tosca_simple_yaml_1_0
imports: [https://baltig.infn.it/infn-cloud/infn.cloud/raw/main/tosca_templates/types/infn_cloud_types.yaml]
topology_template:
  inputs:
    name: {type: string, default: "a-b-c"}
  node_templates:
    server:
      type: infn.cloud.nodes.Compute
  outputs:
    c: {value: {concat: [x, {get_input: name}, 1]}}
    j: {value: {join: [[a, {get_input: name}], "/"]}}
    t: {value: {token: [{get_input: name}, "-", 1]}}
    p: {value: {get_property: [server, host, num_gpus]}}
    a: {value: {concat: ["http://", {get_attribute: [server, public_address, 0]}]}}
"""
    )
    outputs = {k: v["value"] for k, v in make_plan(template)["outputs"].items()}
    assert outputs == {
        "c": "xa-b-c1",
        "j": "a/a-b-c",
        "t": "b",
        "p": 0,
        "a": {"concat": ["http://", {"get_attribute": ["server", "public_address", 0]}]},
    }


# -- constraints and units (hypothesis) ---------------------------------------------------
def _checker():
    sink = Collector()
    return ValueChecker(TypeRegistry(), sink), sink


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_integer_constraints_agree_with_python(value, bound):
    expected = {
        "equal": value == bound,
        "greater_than": value > bound,
        "greater_or_equal": value >= bound,
        "less_than": value < bound,
        "less_or_equal": value <= bound,
    }
    for op, ok in expected.items():
        checker, sink = _checker()
        checker.check(value, "integer", Where("f", (1, 1), "x"), constraints=[{op: bound}])
        assert (not sink.errors) == ok, op


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_in_range_and_valid_values(value, low, high):
    checker, sink = _checker()
    checker.check(value, "integer", Where("f", (1, 1), "x"), constraints=[{"in_range": [low, high]}])
    assert (not sink.errors) == (low <= value <= high)
    checker, sink = _checker()
    checker.check(value, "integer", Where("f", (1, 1), "x"), constraints=[{"valid_values": [low, high]}])
    assert (not sink.errors) == (value in (low, high))


@given(st.text(max_size=20), st.integers(0, 20))
def test_length_operators(text, n):
    for op, ok in (
        ("length", len(text) == n),
        ("min_length", len(text) >= n),
        ("max_length", len(text) <= n),
    ):
        checker, sink = _checker()
        checker.check(text, "string", Where("f", (1, 1), "x"), constraints=[{op: n}])
        assert (not sink.errors) == ok


@given(st.integers(0, 10**6), st.sampled_from(sorted(SIZE_UNITS)), st.sampled_from(sorted(SIZE_UNITS)))
def test_scalar_sizes_compare_by_bytes(number, unit_a, unit_b):
    a = parse_scalar(f"{number} {unit_a}", "scalar-unit.size")
    b = parse_scalar(f"{number}{unit_b.lower() if unit_b != 'B' else unit_b}", "scalar-unit.size")
    assert a.base == number * SIZE_UNITS[unit_a]
    assert (a < b) == (SIZE_UNITS[unit_a] * number < SIZE_UNITS[unit_b] * number)
    assert str(a) == f"{number} {unit_a}"


@given(st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)))
def test_versions_order_numerically(parts):
    text = ".".join(map(str, parts))
    assert Version(text).key[:3] == parts
    assert Version(text) < Version(f"{parts[0] + 1}.0")


def test_unquoted_version_keeps_its_text():
    checker, sink = _checker()
    from infn_cloud.tosca.yamlio import load_text

    doc = load_text("version: 20.10\n")
    value = checker.check(doc["version"], "version", Where("f", (1, 1), "v", doc.raw["version"]))
    assert str(value) == "20.10" and sink.warnings and not sink.errors
    assert isinstance(parse_scalar("2 GiB", "scalar-unit.size"), Scalar)


# -- CLI and module ---------------------------------------------------------------------
def test_cli_validate_lists_required_inputs(tmp_path, capsys):
    template = tmp_path / "t.yaml"
    template.write_text(
        "tosca_definitions_version: tosca_simple_yaml_1_0\ntopology_template:\n  inputs:\n"
        "    admin_password: {type: string, description: Admin password}\n"
        "  node_templates:\n    s: {type: tosca.nodes.Compute}\n"
    )
    assert main(["validate", str(template), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(i["name"], i["secret"]) for i in data["required_inputs"]] == [("admin_password", True)]
    assert main(["validate", str(template), "--set", "x=1"]) == 2
    assert main(["plan", str(template), "--set", "admin_password=hunter2hunter2", "--json"]) == 0
    out = capsys.readouterr().out
    assert "hunter2hunter2" not in out and '"admin_password": "<secret:admin_password>"' in out


def test_cli_exit_codes(capsys):
    assert main(["plan", "no_such_template"]) == 3
    assert main(["plan", "htcondor_cluster", "--set", "num_cpus=64"]) == 2
    assert main(["plan", "htcondor_cluster", "--set", "oops"]) == 64
    assert main(["plan", "htcondor_cluster", "-i", "/nonexistent.yaml"]) == 64
    assert main(["templates", "--json"]) == 0
    capsys.readouterr()


def _run_module(args: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(REPO / "plugins" / "modules" / "tosca_plan.py")],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    return json.loads(proc.stdout)


def test_module_returns_plan_and_redacts_secrets():
    result = _run_module(
        {"template": "htcondor_cluster", "inputs": {"cluster_secret": "x" * 24}, "_ansible_check_mode": True}
    )
    assert result["changed"] is False
    assert result["plan"]["compute"]["execute_server"]["count"] == 1
    assert "x" * 24 not in json.dumps(result)


def test_module_fails_with_problems():
    result = _run_module({"template": "htcondor_cluster", "inputs": {"num_cpus": 3}})
    assert result["failed"] is True
    assert result["problems"] == [
        "inputs: input 'num_cpus' value 3: violates valid_values [1, 2, 4, 8, 16, 32]"
    ]
