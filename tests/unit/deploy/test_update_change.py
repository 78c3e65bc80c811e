"""compute_change: what `infn-cloud update` would do to a running deployment, before doing it."""

from __future__ import annotations

import pytest

from infn_cloud.deploy.update import compute_change
from infn_cloud.tosca import make_plan
from infn_cloud.tosca.attributes import resolve_attributes

HTCONDOR = "tosca_templates/htcondor_cluster.yaml"
SECRET = "a-pool-password-long-enough"


def _resources(counts: dict[str, int], driver: str = "local") -> dict:
    nodes = {}
    for node, count in counts.items():
        nodes[node] = [
            {
                "name": f"dep-{node}-{i}",
                "index": i,
                "id": f"id-{node}-{i}",
                "private_ip": f"10.0.{len(nodes)}.{i + 10}",
                "public_ip": None,
                "fqdn": f"dep-{node}-{i}",
            }
            for i in range(count)
        ]
    return {"driver": driver, "nodes": nodes}


def _running(template: str, inputs: dict, counts: dict[str, int]):
    """(the record's plan: attributes resolved, as deploy stores it; resources)."""
    resources = _resources(counts)
    return resolve_attributes(make_plan(template, inputs), resources), resources


def _htcondor(executes: int = 1, **inputs):
    return _running(
        HTCONDOR,
        {"num_execute_nodes": executes, "cluster_secret": SECRET, **inputs},
        {"cm_server": 1, "execute_server": executes},
    )


def test_scale_out_adds_instances_and_reconfigures_the_execute_nodes_and_changes_the_outputs():
    current, resources = _htcondor(1)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 3, "cluster_secret": SECRET})

    change = compute_change(current, target, resources, [])

    assert change.add == [{"node": "execute_server", "count": 2, "before": 1, "after": 3}]
    assert change.remove == [] and change.refused == []
    reconfigured = {item["software"] for item in change.reconfigure}
    assert {"execute", "execute_server"} <= reconfigured
    assert "central_manager" not in reconfigured  # nothing of the manager changes
    outputs = {item["name"]: item for item in change.outputs}
    assert set(outputs) == {"execute_ips"}
    assert outputs["execute_ips"]["before"] == ["10.0.1.10"]
    assert outputs["execute_ips"]["after"] == [
        "10.0.1.10",
        "<new execute_server[1]>",
        "<new execute_server[2]>",
    ]


def test_scale_in_removes_the_highest_indices_by_default():
    current, resources = _htcondor(3)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 1, "cluster_secret": SECRET})

    change = compute_change(current, target, resources, None)

    assert [item["instance"] for item in change.remove] == ["dep-execute_server-1", "dep-execute_server-2"]
    assert change.add == [] and change.refused == []
    assert {item["name"] for item in change.outputs} == {"execute_ips"}


def test_scale_in_removes_the_named_instance_first():
    current, resources = _htcondor(3)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 2, "cluster_secret": SECRET})

    change = compute_change(current, target, resources, ["dep-execute_server-0"])

    assert change.remove == [{"node": "execute_server", "instance": "dep-execute_server-0", "index": 0}]
    after = next(o for o in change.outputs if o["name"] == "execute_ips")["after"]
    assert after == ["10.0.1.11", "10.0.1.12"]


def test_naming_more_instances_than_the_count_drops_is_refused_with_what_to_do():
    current, resources = _htcondor(3)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 3, "cluster_secret": SECRET})

    change = compute_change(current, target, resources, ["dep-execute_server-1"])

    assert change.remove == []
    (refused,) = change.refused
    assert "dep-execute_server-1" in refused["what"]
    assert "from 3 to 3" in refused["reason"] and "to 2" in refused["instead"]


def test_an_unknown_instance_is_refused_naming_the_instances_there_are():
    current, resources = _htcondor(2)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 1, "cluster_secret": SECRET})

    change = compute_change(current, target, resources, ["nope-7"])

    assert any("nope-7" in r["what"] and "dep-execute_server-1" in r["reason"] for r in change.refused)


def test_an_input_change_reconfigures_without_adding_or_removing():
    users = [{"os_user_name": "alice", "os_user_guid": 2001}]
    current, resources = _htcondor(2)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 2, "cluster_secret": SECRET, "users": users})

    change = compute_change(current, target, resources, [])

    assert change.add == [] and change.remove == [] and change.refused == []
    assert {item["software"] for item in change.reconfigure} == {"cm_server", "execute_server"}
    assert all(item["reasons"] == ["variables change: common_users"] for item in change.reconfigure)
    assert change.outputs == []


def test_the_same_inputs_change_nothing():
    current, resources = _htcondor(2)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 2, "cluster_secret": SECRET})

    change = compute_change(current, target, resources, [])

    assert change.empty and change.refused == []
    assert change.lines() == []


def test_an_operating_system_change_is_refused_with_the_command_to_use_instead():
    current, resources = _running(
        "tosca_templates/single_vm.yaml", {"os_distribution": "debian", "os_version": "12"}, {"vm_server": 1}
    )
    target = make_plan("tosca_templates/single_vm.yaml", {"os_distribution": "debian", "os_version": "13"})

    change = compute_change(current, target, resources, [], deployment_id="abc")

    (refused,) = [r for r in change.refused if "operating system" in r["what"]]
    assert "debian 12 -> debian 13" in refused["reason"]
    assert "infn-cloud delete abc" in refused["instead"]


def test_a_size_change_of_a_running_node_is_refused():
    current, resources = _htcondor(1)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 1, "cluster_secret": SECRET, "num_cpus": 4})

    change = compute_change(current, target, resources, [])

    sizes = [r for r in change.refused if r["what"].endswith(": size")]
    assert {r["what"] for r in sizes} == {"node cm_server: size", "node execute_server: size"}
    assert all("num_cpus 1 -> 4" in r["reason"] for r in sizes)


def test_removing_a_node_type_is_refused_as_a_template_change():
    current, resources = _htcondor(1)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 1, "cluster_secret": SECRET})
    del target["compute"]["execute_server"]

    change = compute_change(current, target, resources, [])

    assert any(
        r["what"] == "node execute_server" and "template change" in r["reason"] for r in change.refused
    )


@pytest.mark.parametrize(
    ("role", "variables", "lost"),
    [
        ("infn.cloud.jupyterhub", {}, "notebooks"),
        ("infn.cloud.object_storage", {}, "objects"),
        ("infn.cloud.sync_share", {}, "shared files"),
        ("infn.cloud.htcondor", {"htcondor_roles": ["central_manager", "submit"]}, "job queue"),
        ("infn.cloud.kubernetes", {"kubernetes_role": "control_plane"}, "etcd"),
    ],
)
def test_scaling_in_a_node_that_holds_data_is_refused_unless_allowed(role, variables, lost):
    plan = {
        "compute": {"srv": {"count": 2, "max": 2, "scalable": True}},
        "software": [
            {
                "node": "svc",
                "type": None,
                "role": role,
                "implementation": None,
                "vars": variables,
                "hosts": ["srv"],
            }
        ],
        "outputs": {},
    }
    resources = _resources({"srv": 2})
    target = {**plan, "compute": {"srv": {"count": 1, "max": 2, "scalable": True}}}

    refused = compute_change(plan, target, resources, [])
    allowed = compute_change(plan, target, resources, [], allow_data_loss=True)

    assert refused.remove == []
    (reason,) = refused.refused
    assert lost in reason["reason"] and "--allow-data-loss" in reason["instead"]
    assert [r["instance"] for r in allowed.remove] == ["dep-srv-1"] and allowed.refused == []


def test_scaling_in_htcondor_execute_nodes_is_not_a_data_loss():
    current, resources = _htcondor(2)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 1, "cluster_secret": SECRET})

    assert compute_change(current, target, resources, []).refused == []


def test_scaling_in_a_node_with_block_storage_is_refused():
    plan = {
        "compute": {
            "srv": {"count": 2, "max": 2, "volumes": [{"node": "disk", "size_gb": 5, "mount_path": "/data"}]}
        },
        "software": [],
        "outputs": {},
    }
    target = {**plan, "compute": {"srv": {**plan["compute"]["srv"], "count": 1}}}

    change = compute_change(plan, target, _resources({"srv": 2}), [])

    assert change.remove == [] and "block storage (disk)" in change.refused[0]["reason"]


def test_to_dict_is_json_and_lines_say_it_for_people():
    current, resources = _htcondor(2)
    target = make_plan(HTCONDOR, {"num_execute_nodes": 3, "cluster_secret": SECRET})

    change = compute_change(current, target, resources, [])
    data = change.to_dict()

    assert set(data) >= {"add", "remove", "reconfigure", "outputs", "refused"}
    assert data["counts"]["execute_server"] == {"before": 2, "after": 3}
    assert "+ execute_server: add 1 instance(s) (2 -> 3)" in change.lines()
