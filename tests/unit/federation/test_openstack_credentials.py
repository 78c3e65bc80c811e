"""Per-group credentials of the openstack driver: which clouds.yaml entry a project uses.

Only the choice is tested here (no cloud); tests/integration/openstack proves against the dev
cloud's real Keystone that the chosen credentials isolate the groups.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from infn_cloud.errors import OperationFailed
from infn_cloud.federation import get_driver, load_registry

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def site(tmp_path, monkeypatch):
    """RECAS-BARI with clouds.yaml entry `bari`; clouds.yaml has `bari` and `bari/INFN-CLOUD-ML`."""
    entry = {
        "auth": {
            "auth_url": "http://127.0.0.1:9/v3",  # discard port: nothing answers
            "username": "u",
            "password": "not-a-real-secret",
            "project_name": "INFN-CLOUD",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "bari",
    }
    path = tmp_path / "clouds.yaml"
    path.write_text(json.dumps({"clouds": {"bari": entry, "bari/INFN-CLOUD-ML": entry}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    registry = load_registry(ROOT / "inventories" / "infn-cloud")
    return dataclasses.replace(registry.site("RECAS-BARI"), cloud="bari")


def test_a_project_with_its_own_entry_uses_it(site):
    assert get_driver(site, project="INFN-CLOUD-ML").cloud_entry() == ("bari/INFN-CLOUD-ML", {})


def test_a_project_without_an_entry_scopes_the_sites_entry(site):
    driver = get_driver(site, project="CYGNO")
    assert driver.cloud_entry() == ("bari", {"auth": {"project_name": "CYGNO"}})


def test_no_project_uses_the_sites_entry_as_written(site):
    assert get_driver(site).cloud_entry() == ("bari", {})


def test_create_takes_the_groups_project_from_the_placement(site):
    """A placement across sites names each site's project in per_site: this site's wins."""
    driver = get_driver(site)
    placement = {
        "site": "RECAS-BARI",
        "project": "INFN-CLOUD",
        "per_site": {"RECAS-BARI": {"project": "INFN-CLOUD-ML"}, "OTHER": {"project": "X"}},
    }
    with pytest.raises(OperationFailed) as err:  # nothing answers: the error names the entry
        driver.create("demo1", {"compute": {}}, placement)
    assert driver.project == "INFN-CLOUD-ML"
    assert "clouds.yaml entry 'bari/INFN-CLOUD-ML'" in err.value.message
    assert "not-a-real-secret" not in err.value.message + " ".join(err.value.details)


def test_an_unreachable_keystone_is_a_clear_error_naming_entry_and_scope(site):
    with pytest.raises(OperationFailed) as err:
        get_driver(site, project="CYGNO", retries=0).describe("demo1")
    assert err.value.message == (
        "site RECAS-BARI: cannot authenticate with clouds.yaml entry 'bari' scoped to project CYGNO"
    )
    assert any("<cloud>/<project>" in d for d in err.value.details)


def test_delete_and_resume_authenticate_as_the_deployments_group(site):
    """Lifecycle's delete and resume build each site's driver from the recorded group: a group's
    deployment lives in that group's project, so the site's default entry would find nothing."""
    from infn_cloud.federation import drivers

    registry = load_registry(ROOT / "inventories" / "infn-cloud")
    registry = dataclasses.replace(registry, sites={**registry.sites, "RECAS-BARI": site})
    driver = drivers.site_driver(registry, "RECAS-BARI", group="admins/ai-infn")
    assert driver.cloud_entry() == ("bari/INFN-CLOUD-ML", {})
    assert drivers.site_driver(registry, "RECAS-BARI").cloud_entry() == ("bari", {})
