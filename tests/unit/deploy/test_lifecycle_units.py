"""The deployment document (deploy/document.py): one builder for `deploy` and provision.yml,
written 0600, secret values as markers; the state directory is passed, not read from the
environment."""

from __future__ import annotations

import json
import os
import stat
from types import SimpleNamespace

from infn_cloud.cli import main
from infn_cloud.deploy import Lifecycle, document
from infn_cloud.state import open_state

PLAN = {
    "inputs": {"password": "hunter2-long-secret"},
    "secret_inputs": ["password"],
    "nodes": {},
    "compute": {"vm": {"count": 1, "max": 1}},
    "software": [
        {
            "node": "app",
            "role": "infn.cloud.app",
            "vars": {"app_password": "hunter2-long-secret", "app_port": 80},
            "hosts": ["vm"],
        }
    ],
    "outputs": {},
}


def test_the_document_has_markers_the_secret_role_vars_and_the_sites_role_vars(tmp_path):
    site = SimpleNamespace(name="SITE-A", role_vars={"app_boundary": True})
    resources = {"driver": "local", "nodes": {"vm": [{"index": 0, "private_ip": "10.0.0.5"}]}}
    doc = document.build("dep-1", site, PLAN, resources, {"password": "hunter2-long-secret"})
    path = document.write(tmp_path / "d" / document.FILE_NAME, doc)

    text = path.read_text()
    assert "hunter2-long-secret" not in text
    written = json.loads(text)
    assert written["plan"]["software"][0]["vars"]["app_password"] == "<secret:password>"
    assert written["secret_vars"] == ["app_password"]
    assert written["site_role_vars"] == {"SITE-A": {"app_boundary": True}}
    assert (written["id"], written["site"], written["status"]) == ("dep-1", "SITE-A", "CREATE_IN_PROGRESS")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_files_go_next_to_the_state_database_given(tmp_path):
    with open_state(tmp_path / "elsewhere") as state:
        lifecycle = Lifecycle(state)
        assert lifecycle.state_dir == tmp_path / "elsewhere"
        assert lifecycle._dir("dep-1") == tmp_path / "elsewhere" / "deployments" / "dep-1"


def test_state_dir_option_is_not_put_in_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("INFN_CLOUD_STATE_DIR", raising=False)
    assert main(["list", "--json", "--state-dir", str(tmp_path / "st")]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert (tmp_path / "st" / "state.db").is_file()
    assert "INFN_CLOUD_STATE_DIR" not in os.environ


def test_a_retry_tries_the_site_holding_the_nodes_first_as_a_typed_candidate(tmp_path):
    from infn_cloud.federation import load_registry
    from infn_cloud.federation.location import registry_location
    from infn_cloud.model import Deployment, SiteCandidate
    from infn_cloud.tosca import make_plan

    registry = load_registry(registry_location())
    sites = sorted(registry.sites)
    plan = make_plan("single_vm")
    # The policy names one site; the nodes are at another, which selection no longer ranks.
    deployment = Deployment(id="d", template="t", status="CREATE_FAILED", policy=sites[0], site=sites[1])
    with open_state(tmp_path / "st") as state:
        candidates = Lifecycle(state)._retry_candidates(deployment, plan, registry, resume_site=sites[1])
    assert all(isinstance(c, SiteCandidate) for c in candidates)
    assert [c.site for c in candidates] == [sites[1], sites[0]]
    assert candidates[0].flavors == {} and candidates[1].flavors  # resumed as it is; the other chosen
