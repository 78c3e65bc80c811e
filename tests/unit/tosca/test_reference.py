"""All 32 INFN Cloud production templates validate and plan, read through an import map."""

from __future__ import annotations

import json

import pytest
from catalogue_inputs import infn_user_inputs
from tosca_testlib import REPO, fill_required, infn_templates, reference_dir

from infn_cloud.tosca import make_plan, validate

TEMPLATES = infn_templates()


def test_there_are_32(reference):
    assert len(TEMPLATES) == 32


# Without the reference directory one placeholder case reports it missing (the `reference`
# fixture: a skip locally, a failure under CI=true), instead of an empty parametrization.
@pytest.mark.parametrize(
    "path", TEMPLATES or [None], ids=lambda p: str(p.relative_to(reference_dir())) if p else "missing"
)
def test_infn_template_validates_and_plans(path, infn_import_map):
    report = validate(path, import_map=infn_import_map)
    assert report.errors == []
    inputs = {**fill_required(report.required_inputs), **infn_user_inputs(path, report.inputs)}
    plan = make_plan(path, inputs, import_map=infn_import_map)
    json.dumps(plan)  # plain data
    assert plan == make_plan(path, inputs, import_map=infn_import_map)
    assert set(plan["nodes"]) == set(plan["waves"][0]).union(*plan["waves"][1:])
    for name, compute in plan["compute"].items():
        common = [s for s in plan["software"] if s["node"] == name and s["role"] == "infn.cloud.common"]
        assert common and compute["software"][0] == name


def test_bundled_import_map_points_at_reference(reference):
    """The bundled map finds the types at $INFN_CLOUD_REFERENCE_DIR, else ../shared/reference."""
    path = reference / "infn-tosca-templates" / "single-vm" / "single_vm.yaml"
    report = validate(path, import_map=REPO / "tosca_templates" / "import-maps" / "infn-reference.yaml")
    assert report.errors == []


def test_infn_k8s_maps_to_our_roles(infn_import_map):
    path = reference_dir() / "infn-tosca-templates" / "kubernetes" / "k8s_cluster.yaml"
    plan = make_plan(
        path,
        {"admin_token": "t0ken", "number_of_masters": 1, "disk_size_node_with_gpu": "20 GB"},
        import_map=infn_import_map,
    )
    roles = {s["node"]: (s["role"], s["vars"]) for s in plan["software"]}
    assert roles["k8s_master"][0] == "infn.cloud.kubernetes"
    assert roles["k8s_master"][1]["kubernetes_role"] == "control_plane"
    assert roles["k8s_node"][1]["kubernetes_role"] == "worker"
    assert roles["k8s_node"][1]["kubernetes_control_plane_address"] == {
        "get_attribute": ["k8s_master_server", "private_address", 0]
    }
    assert plan["compute"]["k8s_master_server"]["mem_size_mb"] == 8000
    assert plan["compute"]["k8s_master_server"]["os"] == {"distribution": "ubuntu", "version": "20.04"}
    assert "admin_token" in plan["secret_inputs"]


def test_infn_quirks_are_warnings(infn_import_map):
    path = reference_dir() / "infn-tosca-templates" / "docker" / "run_docker_with_volume.yaml"
    report = validate(path, import_map=infn_import_map)
    messages = [w.message for w in report.warnings]
    assert any("constraints should be a list" in m for m in messages)
    assert any("unquoted version" in m for m in messages)
    # the map-form in_range constraint is still enforced
    bad = validate(path, {"docker_storage_size": "500 GB"}, import_map=infn_import_map, require_inputs=True)
    assert any(e.rule == "in_range [1 GB, 100 GB]" for e in bad.errors)


def test_mesos_range_port_is_checked_as_a_range(infn_import_map):
    path = reference_dir() / "infn-tosca-templates" / "mesos" / "mesos_cluster.yaml"
    assert validate(path, import_map=infn_import_map).errors == []


def test_unresolved_url_import_without_map_names_the_url(monkeypatch, reference):
    monkeypatch.delenv("INFN_CLOUD_IMPORT_MAP", raising=False)
    report = validate(TEMPLATES[0])
    assert any("https://baltig.infn.it/" in e.subject and "no import map" in e.message for e in report.errors)


def test_import_map_env_var(infn_import_map, monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_IMPORT_MAP", str(infn_import_map))
    assert validate(TEMPLATES[0]).errors == []
