"""Where an update acts: the site of new instances across backbone sites (instance_sites), the
hosts its configure run needs (configure_hosts), and a sensible change for every catalogue
template, computed at dry-run level (no deploy), as `infn-cloud update --dry-run` prints it."""

from __future__ import annotations

import pytest

from infn_cloud.deploy.update import compute_change, configure_hosts, instance_sites
from infn_cloud.paths import collection_root
from infn_cloud.tosca import make_plan
from infn_cloud.tosca.attributes import resolve_attributes

CATALOGUE = collection_root() / "tosca_templates"
A, B = "SITE-A", "SITE-B"


def _resources(counts: dict[str, int], sites: dict[str, str] | None = None) -> dict:
    nodes = {}
    for k, (node, count) in enumerate(counts.items()):
        nodes[node] = [
            {
                "name": f"dep-{node}-{i}",
                "index": i,
                "id": f"id-{node}-{i}",
                "private_ip": f"10.0.{k}.{i + 10}",
                "public_ip": None,
                "fqdn": f"dep-{node}-{i}",
                **({"site": sites[node]} if sites and node in sites else {}),
            }
            for i in range(count)
        ]
    return {"driver": "local", "nodes": nodes}


# ---------------------------------------------------------------- instance_sites
def test_new_instances_go_to_the_site_holding_their_node():
    plan = make_plan(str(CATALOGUE / "htcondor_cluster.yaml"), {"num_execute_nodes": 3})
    resources = _resources({"cm_server": 1, "execute_server": 1}, {"cm_server": A, "execute_server": B})

    where, refused = instance_sites(plan, resources, [A, B], {"execute_server": A})

    assert where == {"cm_server": A, "execute_server": B}  # recorded placement wins over selection
    assert refused == []


def test_a_node_without_instances_goes_where_selection_puts_it_else_the_first_site():
    plan = make_plan(str(CATALOGUE / "htcondor_cluster.yaml"), {"num_execute_nodes": 2})
    resources = _resources({"cm_server": 1}, {"cm_server": B})

    assert instance_sites(plan, resources, [A, B], {"execute_server": B})[0]["execute_server"] == B
    assert instance_sites(plan, resources, [A, B], {})[0]["execute_server"] == A
    # selection naming a site the deployment does not span is not followed
    assert instance_sites(plan, resources, [A, B], {"execute_server": "ELSEWHERE"})[0]["execute_server"] == A


def test_a_node_spread_over_sites_is_refused_only_when_its_count_changes():
    resources = _resources({"cm_server": 1, "execute_server": 2}, {"cm_server": A})
    resources["nodes"]["execute_server"][0]["site"] = A
    resources["nodes"]["execute_server"][1]["site"] = B
    same = make_plan(str(CATALOGUE / "htcondor_cluster.yaml"), {"num_execute_nodes": 2})
    more = make_plan(str(CATALOGUE / "htcondor_cluster.yaml"), {"num_execute_nodes": 3})

    assert instance_sites(same, resources, [A, B])[1] == []
    ((refused),) = [instance_sites(more, resources, [A, B])[1]]
    assert len(refused) == 1 and refused[0]["what"] == "node execute_server: count"
    assert f"{A}, {B}" in refused[0]["reason"] and "deploy the template again" in refused[0]["instead"]


def test_a_changed_node_placement_is_refused():
    template = str(CATALOGUE / "object_storage_replication.yaml")
    resources = _resources({"server_a": 1, "server_b": 1}, {"server_a": A, "server_b": B})
    current = resolve_attributes(make_plan(template, {}), resources)
    target = make_plan(template, {"site_a": "LOCAL-BACKBONE-2"})

    change = compute_change(current, target, resources)

    assert change.add == [] and change.remove == []
    (node_refusal,) = [r for r in change.refused if r["what"].startswith("node ")]
    assert node_refusal["what"] == "node server_a: site"
    assert "stays on the site" in node_refusal["reason"] and "infn-cloud deploy" in node_refusal["instead"]


# ---------------------------------------------------------------- configure_hosts
def _change(template: str, before: dict, after: dict, counts: dict, new_counts: dict):
    resources = _resources(counts)
    current = resolve_attributes(make_plan(template, before), resources)
    target = make_plan(template, after)
    change = compute_change(current, target, resources)
    grown = _resources(new_counts)
    added = sorted(
        {i["name"] for insts in grown["nodes"].values() for i in insts}
        - {i["name"] for insts in resources["nodes"].values() for i in insts}
    )
    return configure_hosts(target, change, grown, added), added


def test_htcondor_scale_out_configures_the_new_execute_nodes_only():
    hosts, added = _change(
        str(CATALOGUE / "htcondor_cluster.yaml"),
        {"num_execute_nodes": 1},
        {"num_execute_nodes": 3},
        {"cm_server": 1, "execute_server": 1},
        {"cm_server": 1, "execute_server": 3},
    )
    assert added == ["dep-execute_server-1", "dep-execute_server-2"]
    assert hosts == added  # not the central manager, not the execute node that was there


def test_a_users_change_configures_every_host():
    users = [{"os_user_name": "ann", "os_user_guid": 2001}]
    hosts, _ = _change(
        str(CATALOGUE / "htcondor_cluster.yaml"),
        {"num_execute_nodes": 2},
        {"num_execute_nodes": 2, "users": users},
        {"cm_server": 1, "execute_server": 2},
        {"cm_server": 1, "execute_server": 2},
    )
    assert hosts == ["dep-cm_server-0", "dep-execute_server-0", "dep-execute_server-1"]


def test_kubernetes_scale_out_configures_the_new_worker_and_the_control_plane_it_joins_through():
    hosts, added = _change(
        str(CATALOGUE / "kubernetes_cluster.yaml"),
        {"number_of_nodes": 1},
        {"number_of_nodes": 2},
        {"master_server": 1, "node_server": 1},
        {"master_server": 1, "node_server": 2},
    )
    assert added == ["dep-node_server-1"]
    assert hosts == ["dep-master_server-0", "dep-node_server-1"]  # not the existing worker


def test_a_pure_scale_in_configures_nothing():
    hosts, added = _change(
        str(CATALOGUE / "htcondor_cluster.yaml"),
        {"num_execute_nodes": 3},
        {"num_execute_nodes": 2},
        {"cm_server": 1, "execute_server": 3},
        {"cm_server": 1, "execute_server": 3},
    )
    assert added == [] and hosts == []


# ---------------------------------------------------------------- every catalogue template
# template -> (current inputs, new inputs, the line the change prints first, software reconfigured)
SENSIBLE = {
    "htcondor_cluster": (
        {"num_execute_nodes": 1},
        {"num_execute_nodes": 2},
        "+ execute_server: add 1 instance(s) (1 -> 2)",
        {"execute", "execute_server"},
    ),
    "kubernetes_cluster": (
        {"number_of_nodes": 1},
        {"number_of_nodes": 2},
        "+ node_server: add 1 instance(s) (1 -> 2)",
        {"k8s_worker", "node_server"},
    ),
    "docker_compose": (
        {"docker_compose_file_content": {"services": {"web": {"image": "nginx"}}}},
        {"docker_compose_file_content": {"services": {"web": {"image": "nginx"}}}, "project_name": "web"},
        "~ compose_project (infn.cloud.docker_compose): variables change: ",
        {"compose_project"},
    ),
    "jupyterhub": ({}, {"enable_monitoring": True}, "~ jupyterhub (infn.cloud.jupyterhub)", {"jupyterhub"}),
    "object_storage_replication": (
        {},
        {"buckets": [{"name": "data"}, {"name": "more"}]},
        "~ storage_a (infn.cloud.object_storage): variables change: ",
        {"storage_a", "storage_b"},
    ),
    "run_docker": (
        {},
        {"docker_image": "docker.io/library/httpd:2"},
        "~ container (infn.cloud.docker_compose): variables change: ",
        {"container"},
    ),
    "s3_bucket": (
        {},
        {"bucket_name": "other"},
        "~ object_storage (infn.cloud.object_storage): variables change: ",
        {"object_storage"},
    ),
    "single_vm": (
        {},
        {"timezone": "Europe/Rome"},
        "~ vm_server (infn.cloud.common): variables change: ",
        {"vm_server"},
    ),
    "sync_share": (
        {},
        {"users": [{"os_user_name": "ann", "os_user_guid": 2001}]},
        "~ vm_server (infn.cloud.common): variables change: ",
        {"vm_server"},
    ),
}
# A change each template cannot make in place (its nodes' size): refused, with what to run.
REFUSED = {
    "kubernetes_cluster": {"num_cpus_node": 2},
    "s3_bucket": {"volume_size": "2 GB"},
}


def test_every_catalogue_template_has_a_sensible_change():
    assert sorted(p.stem for p in CATALOGUE.glob("*.yaml")) == sorted(SENSIBLE)


@pytest.mark.parametrize("name", sorted(SENSIBLE))
def test_a_sensible_change_of_each_catalogue_template(name):
    before, after, first_line, reconfigured = SENSIBLE[name]
    template = str(CATALOGUE / f"{name}.yaml")
    plan = make_plan(template, before)
    resources = _resources({node: spec["count"] for node, spec in plan["compute"].items()})
    current = resolve_attributes(plan, resources)

    change = compute_change(current, make_plan(template, after), resources, deployment_id="dep")

    assert change.refused == []
    assert change.lines()[0].startswith(first_line), change.lines()
    assert {item["software"] for item in change.reconfigure} == reconfigured
    scaling = first_line.startswith("+")
    assert bool(change.add) == scaling and change.remove == []


@pytest.mark.parametrize("name", sorted(SENSIBLE))
def test_a_size_change_of_each_catalogue_template_is_refused_with_what_to_run(name):
    before = SENSIBLE[name][0]
    template = str(CATALOGUE / f"{name}.yaml")
    plan = make_plan(template, before)
    resources = _resources({node: spec["count"] for node, spec in plan["compute"].items()})
    current = resolve_attributes(plan, resources)
    target = make_plan(template, {**before, **REFUSED.get(name, {"num_cpus": 2})})

    change = compute_change(current, target, resources, deployment_id="dep")

    assert change.refused and all(r["what"].endswith(": size") for r in change.refused)
    lines = change.lines()
    assert any(line.startswith("! refused: node ") for line in lines)
    assert any("infn-cloud deploy TEMPLATE" in line and "infn-cloud delete dep" in line for line in lines)
