"""The backbone in the federation model (issue 16): the registry's backbone, per-node placement
policies in the plan, and site selection placing nodes of one deployment on several backbone
sites (never on federated ones)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from federation_helpers import base_site

from infn_cloud.cli import main
from infn_cloud.errors import EXIT_INVALID, EXIT_NO_SITE, NoSiteError, ValidationError
from infn_cloud.federation import describe_selection, format_selection, load_registry, select_sites
from infn_cloud.tosca import make_plan

ROOT = Path(__file__).resolve().parents[3]
BACKBONE = {"sites": ["B1", "B2"], "network": "interconnect", "cidr": "10.9.0.0/16"}


def _sites(**overrides) -> dict:
    sites = {
        "B1": base_site("B1", kind="backbone", sla_priority=90, regions=["b1"]),
        "B2": base_site("B2", kind="backbone", sla_priority=80, regions=["b2"]),
        "F1": base_site("F1", kind="federated", sla_priority=70),
    }
    for name, site in overrides.items():
        if site is None:
            sites.pop(name)
        else:
            sites[name] = site
    return sites


def _registry(make_registry, backbone=BACKBONE, **sites):
    federation = {"name": "t", "default_group": "users", **({"backbone": backbone} if backbone else {})}
    return load_registry(make_registry(_sites(**sites), federation=federation))


def _template(tmp_path, policies: str, nodes=("a", "b"), cpus: int = 1) -> Path:
    body = "".join(
        f"    {n}:\n      type: tosca.nodes.Compute\n      capabilities:\n"
        f"        host: {{properties: {{num_cpus: {cpus}, mem_size: 1 GB}}}}\n"
        f"        os: {{properties: {{distribution: debian, version: '13'}}}}\n"
        for n in nodes
    )
    text = (
        "tosca_definitions_version: tosca_simple_yaml_1_0\n"
        "imports:\n  - infn_cloud_types: types/infn_cloud_types.yaml\n"
        "topology_template:\n  node_templates:\n" + body + "  policies:\n" + policies
    )
    if not (tmp_path / "types").exists():
        (tmp_path / "types").symlink_to(ROOT / "tosca_templates" / "types")
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


PER_NODE = """\
    - pa: {type: infn.cloud.policies.Placement, targets: [a], properties: {sites: [%s]}}
    - pb: {type: infn.cloud.policies.Placement, targets: [b], properties: {sites: [%s]}}
"""
SPREAD = (
    "    - apart: {type: infn.cloud.policies.DistinctSites, targets: [a, b], properties: {required: %s}}\n"
)


# -- the registry -------------------------------------------------------------------------------
def test_the_repository_registries_declare_their_backbone(infn_registry_path, local_registry_path):
    infn = load_registry(infn_registry_path).backbone
    assert infn.sites == ("BACKBONE-CNAF", "BACKBONE-BARI") and infn.cidr == "10.200.0.0/16"
    local = load_registry(local_registry_path).backbone
    assert local.sites == ("LOCAL-BACKBONE", "LOCAL-BACKBONE-2") and local.network == "infn-cloud-backbone"


@pytest.mark.parametrize(
    ("backbone", "expected"),
    [
        ({"sites": ["B1", "NOPE"]}, "backbone.sites[1]: unknown site 'NOPE' (sites: B1, B2, F1)"),
        ({"sites": ["B1", "F1"]}, "backbone.sites[1]: 'F1' is a federated site: only sites of kind backbone"),
        ({"sites": ["B1"]}, "backbone.sites: a backbone joins two sites or more, got 1 (B1)"),
        ({"sites": ["B1", "B1"]}, "backbone.sites[1]: site 'B1' is listed twice"),
        ({"sites": ["B1", "B2"], "cidr": "10.0.0.1/8"}, "backbone.cidr: expected a network in CIDR notation"),
        ({"sites": "B1"}, "backbone.sites: expected a list, got 'B1'"),
        ({"site": ["B1", "B2"]}, "backbone: missing required key 'sites'"),
    ],
)
def test_a_bad_backbone_is_refused_naming_the_file_and_key(make_registry, backbone, expected):
    with pytest.raises(ValidationError) as err:
        _registry(make_registry, backbone=backbone)
    assert any(
        line.startswith("federation.yml: ") or "federation.yml: " in line for line in err.value.details
    )
    assert any(expected in line for line in err.value.details), err.value.details


def test_a_bad_backbone_exits_2_without_traceback(make_registry, tmp_path, capsys):
    root = make_registry(_sites(), federation={"backbone": {"sites": ["B1", "F1"]}})
    assert main(["plan", "object_storage_replication", "--registry", str(root), "--offline"]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "federation.yml: backbone.sites[1]: 'F1' is a federated site" in err and "Traceback" not in err


# -- the plan: placement per target node --------------------------------------------------------
def test_policies_are_kept_per_target_node(tmp_path):
    plan = make_plan(_template(tmp_path, PER_NODE % ("B1", "B2") + SPREAD % "false"))
    nodes = plan["placement"]["nodes"]
    assert nodes["a"] == {"sites": ["B1"], "regions": [], "policies": ["pa"]}
    assert nodes["b"] == {"sites": ["B2"], "regions": [], "policies": ["pb"]}
    assert plan["placement"]["spread"] == [{"policy": "apart", "nodes": ["a", "b"], "required": False}]
    assert plan["placement"]["sites"] == ["B1", "B2"]  # the whole deployment's, as before


def test_nodes_without_a_policy_follow_the_general_one(tmp_path):
    policies = (
        "    - everywhere: {type: infn.cloud.policies.Placement, properties: {sites: [F1]}}\n"
        "    - pa: {type: infn.cloud.policies.Placement, targets: [a],\n"
        "           properties: {sites: [B1], sla_id: x1}}\n"
    )
    nodes = make_plan(_template(tmp_path, policies))["placement"]["nodes"]
    assert nodes["a"] == {"sites": ["B1"], "regions": [], "policies": ["pa"], "sla_id": "x1"}
    assert nodes["b"] == {"sites": ["F1"], "regions": [], "policies": ["everywhere"]}


def test_a_template_placing_every_node_alike_keeps_its_plan_json(tmp_path):
    policies = "    - p: {type: infn.cloud.policies.Placement, targets: [a, b], properties: {sites: [B1]}}\n"
    placement = make_plan(_template(tmp_path, policies))["placement"]
    assert placement == {"sites": ["B1"], "regions": [], "policy": "infn.cloud.policies.Placement"}
    assert set(make_plan(ROOT / "tosca_templates/single_vm.yaml")["placement"]) == {
        "sites",
        "regions",
        "policy",
    }


# -- selection ----------------------------------------------------------------------------------
def test_nodes_placed_on_two_backbone_sites_share_one_deployment(make_registry, tmp_path):
    registry = _registry(make_registry)
    plan = make_plan(_template(tmp_path, PER_NODE % ("B2", "B1")))
    selection = select_sites(plan, registry)
    best = selection.best
    assert [c.sites for c in selection.candidates] == [["B2", "B1"]]  # no single site fits both
    assert best.node_sites == {"a": "B2", "b": "B1"} and best.site == "B2"
    assert best.per_site["B1"]["nodes"] == ["b"] and best.per_site["B1"]["region"] == "b1"
    assert best.per_site["B2"]["demand"]["instances"] == 1 and best.demand["instances"] == 2
    assert selection.rejected["F1"] == "the template's placement policy 'pa' allows only B2 for node a"
    data = describe_selection(selection)
    assert data["chosen"]["node_sites"] == {"a": "B2", "b": "B1"}
    assert data["nodes"]["a"]["sites"] == ["B2"]
    assert (
        data["nodes"]["a"]["rejected"]["B1"]
        == "the template's placement policy 'pa' allows only B2 for node a"
    )
    text = format_selection(selection)
    assert "Sites: B2 + B1 (one deployment across the backbone)" in text
    assert "  a at B2: flavor s" in text and "  b at B1: flavor s" in text


def test_every_site_must_fit_its_share_of_the_demand(make_registry, tmp_path):
    small = base_site("B1", kind="backbone", regions=["b1"])
    small["quotas"]["cores"] = 3
    registry = _registry(make_registry, B1=small)
    plan = make_plan(_template(tmp_path, PER_NODE % ("B1", "B2"), cpus=4))
    with pytest.raises(NoSiteError) as err:
        select_sites(plan, registry)
    assert (
        "across backbone sites (a at B1, b at B2): B1 cannot hold its share (a): "
        "quota exceeded: cores needs 4, quota 3" in err.value.details
    )


def test_federated_sites_never_share_a_deployment(make_registry, tmp_path, capsys):
    registry = _registry(make_registry)
    plan = make_plan(_template(tmp_path, PER_NODE % ("F1", "B1")))
    with pytest.raises(NoSiteError) as err:
        select_sites(plan, registry)
    assert (
        "node a fits only at F1 (federated): federated sites never share a deployment, only the "
        "backbone (B1, B2) does" in err.value.details
    )
    root = make_registry(_sites(), federation={"default_group": "users", "backbone": BACKBONE})
    path = _template(tmp_path, PER_NODE % ("F1", "B1"))
    assert main(["plan", str(path), "--registry", str(root), "--offline", "--json"]) == EXIT_NO_SITE
    data = json.loads(capsys.readouterr().out)
    assert data["selection"]["chosen"] is None
    assert any("federated sites never share a deployment" in line for line in data["selection"]["rejected"])


def test_distinct_sites_as_a_preference_spans_first_then_falls_back_to_one_site(make_registry, tmp_path):
    registry = _registry(make_registry)
    plan = make_plan(_template(tmp_path, PER_NODE % ("backbone", "backbone") + SPREAD % "false"))
    selection = select_sites(plan, registry)
    assert [c.sites for c in selection.candidates] == [["B1", "B2"], ["B1"], ["B2"]]
    assert selection.best.node_sites == {"a": "B1", "b": "B2"}  # higher SLA first
    assert selection.candidates[1].warnings == [
        "placement policy 'apart' wants a, b on distinct sites (a preference): all on B1"
    ]


def test_distinct_sites_required_refuses_one_site(make_registry, tmp_path):
    disabled = base_site("B2", kind="backbone", regions=["b2"], enabled=False)
    registry = _registry(make_registry, B2=disabled)
    plan = make_plan(_template(tmp_path, PER_NODE % ("backbone", "backbone") + SPREAD % "true"))
    with pytest.raises(NoSiteError) as err:
        select_sites(plan, registry)
    assert (
        "B1: placement policy 'apart' wants a, b on distinct sites: one site cannot host them"
        in err.value.details
    )
    assert (
        "no placement across sites: fewer than two backbone sites are enabled and up "
        "(only backbone sites share a deployment)" in err.value.details
    )


def test_no_backbone_declared_means_no_spanning(make_registry, tmp_path):
    registry = _registry(make_registry, backbone=None)
    plan = make_plan(_template(tmp_path, PER_NODE % ("backbone", "backbone") + SPREAD % "false"))
    assert [c.sites for c in select_sites(plan, registry).candidates] == [["B1"], ["B2"]]
    plan = make_plan(_template(tmp_path, PER_NODE % ("B1", "B2")))
    with pytest.raises(NoSiteError) as err:
        select_sites(plan, registry)
    assert (
        "no placement across sites: the registry declares no backbone "
        "(only backbone sites share a deployment)" in err.value.details
    )


def test_a_policy_naming_one_site_never_spans(make_registry, tmp_path):
    registry = _registry(make_registry)
    plan = make_plan(_template(tmp_path, PER_NODE % ("backbone", "backbone") + SPREAD % "false"))
    assert [c.sites for c in select_sites(plan, registry, policy="B2").candidates] == [["B2"]]


def test_single_site_selection_is_unchanged(make_registry, plan):
    selection = select_sites(plan, _registry(make_registry))
    assert all(not c.node_sites for c in selection.candidates)
    data = describe_selection(selection)
    assert "nodes" not in data and "node_sites" not in data["chosen"] and "per_site" not in data["chosen"]


# -- object_storage_replication on the repository's registries ----------------------------------
def _plan_json(capsys, *args) -> dict:
    code = main(["plan", "object_storage_replication", "--offline", "--json", *args])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data["selection"]
    return data


def test_object_storage_replication_spans_the_infn_backbone_by_default(capsys):
    data = _plan_json(capsys, "--registry", str(ROOT / "inventories/infn-cloud"))
    assert data["compute"]["server_a"]["site"] == "BACKBONE-CNAF"
    assert data["compute"]["server_b"]["site"] == "BACKBONE-BARI"
    per_site = data["selection"]["chosen"]["per_site"]
    assert per_site["BACKBONE-BARI"]["region"] == "bari" and per_site["BACKBONE-CNAF"]["region"] == "cnaf"


def test_object_storage_replication_inputs_still_choose_the_sites(capsys):
    infn = str(ROOT / "inventories/infn-cloud")
    data = _plan_json(
        capsys, "--registry", infn, "--set", "site_a=BACKBONE-BARI", "--set", "site_b=BACKBONE-BARI"
    )
    assert {n: c["site"] for n, c in data["compute"].items()} == {
        "server_a": "BACKBONE-BARI",
        "server_b": "BACKBONE-BARI",
    }
    assert "all on BACKBONE-BARI" in data["selection"]["chosen"]["warnings"][0]
    data = _plan_json(
        capsys, "--registry", infn, "--set", "site_a=BACKBONE-BARI", "--set", "site_b=BACKBONE-CNAF"
    )
    assert data["selection"]["chosen"]["node_sites"] == {
        "server_a": "BACKBONE-BARI",
        "server_b": "BACKBONE-CNAF",
    }


def test_object_storage_replication_spans_the_local_backbone(capsys):
    data = _plan_json(capsys, "--registry", str(ROOT / "inventories/local"))
    assert data["selection"]["chosen"]["node_sites"] == {
        "server_a": "LOCAL-BACKBONE",
        "server_b": "LOCAL-BACKBONE-2",
    }
    main(["plan", "object_storage_replication", "--offline", "--registry", str(ROOT / "inventories/local")])
    assert (
        "Sites: LOCAL-BACKBONE + LOCAL-BACKBONE-2 (one deployment across the backbone)"
        in capsys.readouterr().out
    )


def test_site_select_module_returns_the_sites_of_each_node(tmp_path):
    plan = make_plan(ROOT / "tosca_templates/object_storage_replication.yaml")
    registry = str(ROOT / "inventories/infn-cloud")
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"plan": plan, "registry": registry}}))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "plugins/modules/site_select.py"), str(args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = json.loads(proc.stdout)
    assert not result.get("failed"), result
    assert result["sites"] == ["BACKBONE-CNAF", "BACKBONE-BARI"]
    assert result["node_sites"] == {"server_a": "BACKBONE-CNAF", "server_b": "BACKBONE-BARI"}
    assert result["placement"]["node_sites"] == result["node_sites"]


def test_local_registry_refuses_a_node_on_the_federated_site_spanning(tmp_path, capsys):
    path = _template(tmp_path, PER_NODE % ("LOCAL-FEDERATED", "LOCAL-BACKBONE-2"))
    code = main(["plan", str(path), "--registry", str(ROOT / "inventories/local"), "--offline"])
    out = capsys.readouterr().out
    assert code == EXIT_NO_SITE
    assert (
        "node a fits only at LOCAL-FEDERATED (federated): federated sites never share a deployment, "
        "only the backbone (LOCAL-BACKBONE, LOCAL-BACKBONE-2) does" in out
    )
