from __future__ import annotations

import pytest
from federation_helpers import base_site

from infn_cloud.errors import ValidationError
from infn_cloud.federation import load_registry


def _errors(path) -> list[str]:
    with pytest.raises(ValidationError) as info:
        load_registry(path)
    return info.value.details


def test_local_registry_has_backbone_and_federated_sites(local_registry_path):
    reg = load_registry(local_registry_path)
    kinds = {s.kind for s in reg.sites.values()}
    assert {"backbone", "federated"} <= kinds
    assert reg.default_group == "local"
    for site in reg.sites.values():
        assert site.driver == "local"
        assert site.connection == "ssh"  # nodes reached like VMs
        assert site.project_for("local") is not None
        assert site.image_for("debian", "bookworm").image == "localhost/debian:bookworm"
        ubuntu = site.image_for("ubuntu", "22.04")
        assert ubuntu.image == "localhost/debian:trixie" and "ubuntu" in ubuntu.warning


def test_infn_cloud_registry_matches_federation_registry(infn_registry_path):
    reg = load_registry(infn_registry_path)
    assert sorted(reg.sites) == sorted(
        [
            "BACKBONE-CNAF",
            "BACKBONE-BARI",
            "RECAS-BARI",
            "CLOUD-CNAF-T1",
            "CLOUD-VENETO",
            "CLOUD-IBISCO-NAPOLI",
            "CLOUD-INFN-CATANIA",
        ]
    )
    assert {n for n, s in reg.sites.items() if s.kind == "backbone"} == {"BACKBONE-CNAF", "BACKBONE-BARI"}
    assert all(
        s.capabilities["replicated_object_storage"] for s in reg.sites.values() if s.kind == "backbone"
    )
    # Regions and identity providers as the Federation Registry lists them.
    assert reg.sites["RECAS-BARI"].regions == ("RegionOne",)
    assert reg.sites["CLOUD-CNAF-T1"].regions == ("tier1",)
    assert reg.sites["CLOUD-VENETO"].project_for("icsc/admins/datome-ia") == ("icsc", "ICSC-DATOME-IA")
    assert reg.sites["BACKBONE-BARI"].project_for("admins/cygno") == ("infn-cloud", "INFN_Cloud_Cygno")
    assert all(s.cloud for s in reg.sites.values())


def test_error_names_file_and_key_path(make_registry):
    site = base_site("A")
    site["flavors"][2]["ram_mb"] = "lots"
    errors = _errors(make_registry({"A": site}))
    assert any(e.endswith("sites/A.yml: flavors[2].ram_mb: expected integer, got 'lots'") for e in errors), (
        errors
    )


def test_all_errors_reported_together(make_registry):
    bad_kind = base_site("A", kind="cloudy")
    missing = base_site("B")
    del missing["quotas"]
    unknown = base_site("C", colour="blue")
    telnet = base_site("D", connection="telnet")
    errors = _errors(make_registry({"A": bad_kind, "B": missing, "C": unknown, "D": telnet}))
    text = "\n".join(errors)
    assert "D.yml: connection: expected one of ssh, podman, got 'telnet'" in text
    assert "A.yml: kind: expected one of backbone, federated, local, got 'cloudy'" in text
    assert "B.yml: (top level): missing required key 'quotas'" in text
    assert "C.yml: colour: unknown key" in text


def test_yaml_syntax_error_names_line(make_registry):
    errors = _errors(make_registry({"A": "name: A\nkind: [unclosed\n"}))
    assert any("A.yml:" in e and "YAML syntax error" in e for e in errors), errors


def test_name_must_match_file(make_registry):
    errors = _errors(make_registry({"A": base_site("B")}))
    assert any("must equal the file name 'A'" in e for e in errors)


def test_openstack_site_needs_cloud_entry(make_registry):
    errors = _errors(make_registry({"A": base_site("A", driver="openstack")}))
    assert any("cloud: required for driver openstack" in e for e in errors)


def test_replication_only_on_backbone(make_registry):
    site = base_site("A", capabilities={"replicated_object_storage": True})
    errors = _errors(make_registry({"A": site}))
    assert any("only backbone sites replicate" in e for e in errors)


def test_defaults_are_merged_and_validated(make_registry):
    site = base_site("A")
    del site["flavors"]
    root = make_registry(
        {"A": site},
        federation={
            "name": "f",
            "defaults": {"flavors": [{"name": "x", "vcpus": 2, "ram_mb": 2048, "disk_gb": 10}]},
        },
    )
    assert [f.name for f in load_registry(root).sites["A"].flavors] == ["x"]
    root = make_registry(
        {"A": site},
        federation={
            "name": "f",
            "defaults": {"flavors": [{"name": "x", "vcpus": "two", "ram_mb": 2048, "disk_gb": 10}]},
        },
    )
    assert any("flavors[0].vcpus: expected integer, got 'two'" in e for e in _errors(root))


def test_not_a_directory(tmp_path):
    with pytest.raises(ValidationError, match="not a directory"):
        load_registry(tmp_path / "missing")
