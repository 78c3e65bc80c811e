from __future__ import annotations

import copy
from pathlib import Path

import pytest
from federation_helpers import base_site

from infn_cloud.errors import NoSiteError, NotFoundError
from infn_cloud.federation import describe_selection, format_selection, load_registry, select_sites


@pytest.fixture
def local(local_registry_path):
    return load_registry(local_registry_path)


@pytest.fixture
def infn(infn_registry_path):
    return load_registry(infn_registry_path)


def _gpu_plan(plan, model="T4", gpus=1):
    plan = copy.deepcopy(plan)
    plan["compute"]["htc_wn_server"].update(num_gpus=gpus, gpu_model=model, num_cpus=4, mem_size_mb=16000)
    return plan


def test_auto_prefers_higher_sla_and_lists_fallback(plan, local):
    sel = select_sites(plan, local)
    assert [c.site for c in sel.candidates] == ["LOCAL-BACKBONE", "LOCAL-FEDERATED", "LOCAL-BACKBONE-2"]
    assert sel.rejected == {}
    best = sel.best
    assert best.project == "local"
    # smallest flavor that fits: master 2 CPU/2048 MB -> local.medium; workers 1 CPU/1024 MB -> local.small
    assert best.flavors["htc_master_server"]["name"] == "local.medium"
    assert best.flavors["htc_wn_server"]["name"] == "local.small"
    assert best.images["htc_wn_server"]["image"] == "localhost/debian:trixie"
    assert best.demand == {
        "instances": 3,
        "cores": 4,
        "ram_mb": 6144,
        "volumes": 1,
        "volume_gb": 5,
        "public_ips": 1,
    }


def test_policy_federated_and_backbone(plan, local):
    sel = select_sites(plan, local, policy="federated")
    assert [c.site for c in sel.candidates] == ["LOCAL-FEDERATED"]
    assert "policy federated wants a federated site" in sel.rejected["LOCAL-BACKBONE"]
    sel = select_sites(plan, local, policy="backbone")
    assert [c.site for c in sel.candidates] == ["LOCAL-BACKBONE", "LOCAL-BACKBONE-2"]


def test_named_site_and_region(plan, infn):
    sel = select_sites(plan, infn, group="admins/cygno", policy="CLOUD-CNAF-T1")
    assert [c.site for c in sel.candidates] == ["CLOUD-CNAF-T1"]
    assert sel.best.project == "INFN Cloud CYGNO"
    sel = select_sites(plan, infn, group="admins/cygno", policy="RegionOne")
    assert [c.site for c in sel.candidates] == ["RECAS-BARI"]
    assert sel.best.region == "RegionOne"
    with pytest.raises(NotFoundError, match="unknown site policy 'MARS'"):
        select_sites(plan, infn, policy="MARS")


def test_group_without_project_is_rejected(plan, infn):
    sel = select_sites(plan, infn, group="icsc/admins/datome-ia")
    assert [c.site for c in sel.candidates] == ["CLOUD-VENETO"]
    assert "group 'icsc/admins/datome-ia' has no project here" in sel.rejected["BACKBONE-CNAF"]


def test_no_site_fits_gives_readable_reasons(plan, local):
    big = copy.deepcopy(plan)
    big["compute"]["htc_wn_server"]["count"] = 40
    with pytest.raises(NoSiteError) as info:
        select_sites(big, local)
    err = info.value
    assert err.exit_code == 4
    assert "no site can host this deployment" in err.message
    assert any(
        d.startswith("LOCAL-BACKBONE: quota exceeded: instances needs 41, quota 8") for d in err.details
    )
    assert any(d.startswith("LOCAL-FEDERATED: quota exceeded") for d in err.details)


def test_no_flavor_big_enough(plan, local):
    big = copy.deepcopy(plan)
    big["compute"]["htc_master_server"]["mem_size_mb"] = 64000
    with pytest.raises(NoSiteError) as info:
        select_sites(big, local)
    assert "no flavor for node htc_master_server (2 CPUs, 64000 MB RAM" in "\n".join(info.value.details)


def test_gpu_model_filter_and_gpu_flavor(plan, infn):
    sel = select_sites(_gpu_plan(plan, "A30"), infn, group="admins/cygno")
    assert [c.site for c in sel.candidates] == ["CLOUD-CNAF-T1"]
    assert sel.best.flavors["htc_wn_server"]["name"] == "gpu.a30.medium"
    # the non-GPU node never lands on a GPU flavor
    assert sel.best.flavors["htc_master_server"]["gpus"] == 0
    assert "GPU model A30" in sel.rejected["RECAS-BARI"]
    assert "no GPU flavors" in sel.rejected["CLOUD-INFN-CATANIA"]


def test_replicated_storage_only_on_backbone(plan, infn, local):
    rep = copy.deepcopy(plan)
    rep["compute"]["htc_master_server"]["required_capabilities"] = ["replicated_object_storage"]
    sel = select_sites(rep, infn, group="admins/cygno")
    assert {c.kind for c in sel.candidates} == {"backbone"}
    assert "replicated_object_storage (backbone sites only)" in sel.rejected["RECAS-BARI"]
    assert [c.site for c in select_sites(rep, local).candidates] == ["LOCAL-BACKBONE", "LOCAL-BACKBONE-2"]


def test_missing_image_and_ubuntu_warning(plan, local, make_registry):
    ub = copy.deepcopy(plan)
    ub["compute"]["htc_wn_server"]["os"] = {"distribution": "ubuntu", "version": "22.04"}
    sel = select_sites(ub, local)
    assert sel.best.images["htc_wn_server"]["image"] == "localhost/debian:trixie"
    assert any("ubuntu is not available" in w for w in sel.best.warnings)
    reg = load_registry(make_registry({"A": base_site("A", identity_providers={"idp": {"local": "p"}})}))
    with pytest.raises(NoSiteError) as info:
        select_sites(ub, reg, group="local")
    assert "A: no image for node htc_wn_server (ubuntu 22.04); has debian 13/trixie" in info.value.details


def test_disabled_site_rejected(plan, make_registry):
    sites = {
        "A": base_site("A", enabled=False, identity_providers={"idp": {"g": "p"}}),
        "B": base_site("B", identity_providers={"idp": {"g": "p"}}),
    }
    sel = select_sites(plan, load_registry(make_registry(sites)), group="g")
    assert sel.rejected == {"A": "site is disabled in the registry"}


def test_history_demotes_failing_site(plan, local):
    history = [
        {"site": "LOCAL-BACKBONE", "ok": False, "duration_s": 30, "finished_at": f"2026-01-0{i}T00:00:00Z"}
        for i in range(1, 6)
    ] + [{"site": "LOCAL-FEDERATED", "ok": True, "duration_s": 60, "finished_at": "2026-01-06T00:00:00Z"}]
    sel = select_sites(plan, local, history=history)
    assert sel.best.site == "LOCAL-FEDERATED"
    assert any("5 of the last 5 deployments failed" in r for r in sel.candidates[1].reasons)


def test_template_placement_restricts_and_prefers(plan, infn):
    placed = copy.deepcopy(plan)
    placed["placement"] = {"sites": ["CLOUD-VENETO", "RECAS-BARI"], "regions": [], "policy": None}
    sel = select_sites(placed, infn, group="admins/cygno")
    assert {c.site for c in sel.candidates} == {"CLOUD-VENETO", "RECAS-BARI"}
    assert "placement policy allows only" in sel.rejected["BACKBONE-CNAF"]


def test_deterministic_and_serialisable(plan, infn):
    a = describe_selection(select_sites(plan, infn, group="admins/cygno"))
    b = describe_selection(select_sites(copy.deepcopy(plan), infn, group="admins/cygno"))
    assert a == b
    assert a["chosen"]["site"] == a["candidates"][0]["site"]
    # equal scores break ties on SLA then name: both backbones are identical except name
    assert [c["site"] for c in a["candidates"][:2]] == ["BACKBONE-BARI", "BACKBONE-CNAF"]
    text = format_selection(select_sites(plan, infn, group="icsc/admins/datome-ia"))
    assert "Site: CLOUD-VENETO" in text and "Rejected sites:" in text


def test_template_placement_names_region_or_kind_and_policy_type_is_ignored(plan, local, infn):
    placed = copy.deepcopy(plan)
    # what the TOSCA engine emits for `infn.cloud.policies.Placement` with sites: [local]
    placed["placement"] = {"sites": ["local"], "regions": [], "policy": "infn.cloud.policies.Placement"}
    sel = select_sites(placed, local)
    assert sel.policy == "auto"
    assert [c.site for c in sel.candidates] == ["LOCAL-BACKBONE", "LOCAL-FEDERATED", "LOCAL-BACKBONE-2"]
    with pytest.raises(NoSiteError) as info:
        select_sites(placed, infn, group="admins/cygno")
    assert "RECAS-BARI: the template's placement policy allows only local" in info.value.details
    placed["placement"]["sites"] = ["backbone"]
    assert {c.kind for c in select_sites(placed, infn, group="admins/cygno").candidates} == {"backbone"}


def test_plans_from_the_tosca_engine(local):
    """Plans made by infn_cloud.tosca from the catalogue select a site (contract check between issues)."""
    from infn_cloud import tosca

    root = Path(__file__).resolve().parents[3]
    maps = sorted(str(p) for p in (root / "tosca_templates" / "import-maps").glob("*.yaml"))
    s3 = tosca.make_plan(str(root / "tosca_templates" / "s3_bucket.yaml"), None, import_map=maps or None)
    sel = select_sites(s3, local)
    assert sel.best.site == "LOCAL-BACKBONE"  # object storage: backbone only
    assert "LOCAL-FEDERATED: lacks required capability: object_storage" in format_selection(sel)
