"""get_attribute/concat/join resolution from a resources document."""

from __future__ import annotations

from infn_cloud.tosca.attributes import resolve_attributes, resolve_outputs


def _plan(max_wn=4):
    return {
        "nodes": {
            "cm": {"host": None},
            "wn": {"host": None},
            "condor": {"host": "cm"},
        },
        "compute": {"cm": {"max": 1}, "wn": {"max": max_wn}},
        "software": [
            {
                "node": "exec",
                "vars": {
                    "htcondor_central_manager": {"get_attribute": ["cm", "private_address", 0]},
                    "plain": "x",
                },
            }
        ],
        "outputs": {
            "cm_public": {"value": {"get_attribute": ["cm", "public_address", 0]}},
            "wn_ips": {"value": {"get_attribute": ["wn", "private_address"]}},
            "cm_ip_via_software": {"value": {"get_attribute": ["condor", "ip_address", 0]}},
            "ssh": {"value": {"concat": ["ssh ", {"get_attribute": ["cm", "public_address", 0]}]}},
            "joined": {"value": {"join": [{"get_attribute": ["wn", "private_address"]}, ","]}},
            "ids": {"value": {"get_attribute": ["wn", "tosca_id"]}},
            "name": {"value": {"get_attribute": ["cm", "tosca_name"]}},
            "secret": {"value": "secret:cluster_secret"},
            "bad": {"value": {"get_attribute": ["cm", "nonsense", 0]}},
            "out_of_range": {"value": {"get_attribute": ["cm", "private_address", 3]}},
        },
        "warnings": [],
    }


def _resources(driver="openstack", n_wn=2):
    return {
        "driver": driver,
        "nodes": {
            "cm": [
                {"name": "cm-0", "index": 0, "id": "id-cm", "private_ip": "10.0.0.1", "public_ip": "1.2.3.4"}
            ],
            "wn": [
                {
                    "name": f"wn-{i}",
                    "index": i,
                    "id": f"id-wn{i}",
                    "private_ip": f"10.0.0.{10 + i}",
                    "public_ip": None,
                }
                for i in reversed(range(n_wn))  # unordered on purpose
            ],
        },
    }


def test_outputs_resolve_per_attribute_and_index():
    out = resolve_outputs(_plan(), _resources())
    assert out["cm_public"] == "1.2.3.4"
    assert out["wn_ips"] == ["10.0.0.10", "10.0.0.11"]
    assert out["cm_ip_via_software"] == "10.0.0.1"
    assert out["ssh"] == "ssh 1.2.3.4"
    assert out["joined"] == "10.0.0.10,10.0.0.11"
    assert out["ids"] == ["id-wn0", "id-wn1"]
    assert out["name"] == "cm"
    assert out["secret"] == "secret:cluster_secret"
    assert out["bad"] is None and out["out_of_range"] is None


def test_unresolvable_expressions_warn():
    plan = resolve_attributes(_plan(), _resources())
    text = " ".join(plan["warnings"])
    assert "nonsense is not known" in text and "has 1 instance(s)" in text


def test_role_vars_are_resolved_and_plan_is_not_mutated():
    original = _plan()
    plan = resolve_attributes(original, _resources())
    assert plan["software"][0]["vars"] == {"htcondor_central_manager": "10.0.0.1", "plain": "x"}
    assert isinstance(original["software"][0]["vars"]["htcondor_central_manager"], dict)
    # Re-resolving against other resources (retry at another site) uses the kept expression.
    again = resolve_attributes(
        plan, {"driver": "local", "nodes": {"cm": [{"index": 0, "private_ip": "10.9.9.9"}]}}
    )
    assert again["outputs"]["cm_public"]["value"] == "10.9.9.9"


def test_local_site_public_address_falls_back_to_private_and_single_nodes_are_scalars():
    out = resolve_outputs(_plan(max_wn=1), _resources(driver="local", n_wn=1))
    assert out["wn_ips"] == "10.0.0.10"
    res = _resources(driver="openstack")
    res["nodes"]["cm"][0]["public_ip"] = None
    assert resolve_outputs(_plan(), res)["cm_public"] is None


def test_declared_scalable_node_gives_a_list_even_at_count_one():
    """The type of an output must not depend on how many instances the user asked for."""
    plan = _plan(max_wn=1)
    assert resolve_outputs(plan, _resources(n_wn=1))["wn_ips"] == "10.0.0.10"  # not declared scalable
    plan["compute"]["wn"]["scalable"] = True
    assert resolve_outputs(plan, _resources(n_wn=1))["wn_ips"] == ["10.0.0.10"]


def test_across_backbone_sites_each_instance_uses_its_site_driver():
    """A deployment spanning sites (driver "spanning") resolves public_address per instance
    with the driver of the instance's site: local instances fall back to the private address,
    OpenStack ones without a public IP do not."""
    res = _resources(driver="spanning")
    res["drivers"] = {"LOCAL-BACKBONE": "local", "BACKBONE-CNAF": "openstack"}
    res["nodes"]["cm"][0].update(public_ip=None, site="LOCAL-BACKBONE")
    assert resolve_outputs(_plan(), res)["cm_public"] == "10.0.0.1"
    res["nodes"]["cm"][0]["site"] = "BACKBONE-CNAF"
    assert resolve_outputs(_plan(), res)["cm_public"] is None
