"""The pieces AWX jobs rely on: the deployment record store, the add_host filter, the credential types.

End to end (deploy and delete jobs under ansible-runner): tests/integration/awx/test_job_templates.py.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / ".ansible" / "collections"))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.infn.cloud.plugins.filter.deployment_hosts import deployment_hosts  # noqa: E402
from ansible_collections.infn.cloud.plugins.filter.update_configure_hosts import (  # noqa: E402
    update_configure_hosts,
)
from ansible_collections.infn.cloud.plugins.module_utils import _record, _vault  # noqa: E402


# ------------------------------------------------------------------ record store
def test_directory_store_round_trip_is_private(tmp_path):
    store = _record.DirectoryStore(str(tmp_path / "records"))
    assert store.read("awx-1") is None
    store.write("awx-1", {"id": "awx-1", "sites": ["LOCAL-BACKBONE"]})
    path = tmp_path / "records" / "awx-1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.read("awx-1") == {"id": "awx-1", "sites": ["LOCAL-BACKBONE"]}
    assert store.delete("awx-1") is True and store.delete("awx-1") is False
    assert not path.exists()


@pytest.mark.parametrize("bad", ["../etc/passwd", "Awx", "", "a" * 41, "a/b", "-x"])
def test_record_ids_cannot_escape_the_store(tmp_path, bad):
    with pytest.raises(_record.RecordError, match=r"invalid deployment id .*: expected 1-40 characters"):
        _record.DirectoryStore(str(tmp_path)).where(bad)


def test_a_broken_record_names_its_file(tmp_path):
    (tmp_path / "awx-2.json").write_text("[1, 2")
    with pytest.raises(_record.RecordError, match=r"awx-2\.json cannot be read"):
        _record.DirectoryStore(str(tmp_path)).read("awx-2")


def test_store_choice(monkeypatch):
    monkeypatch.delenv("INFN_CLOUD_VAULT_ADDR", raising=False)
    assert _record.choose_store({"state_dir": "/srv/records"}) == "directory"
    with pytest.raises(_record.RecordError, match=r"set state_dir .* or configure Vault"):
        _record.choose_store({})
    monkeypatch.setenv("INFN_CLOUD_VAULT_ADDR", "http://127.0.0.1:8200")
    assert _record.choose_store({"state_dir": "/srv/records"}) == "vault"  # Vault wins when configured
    assert _record.choose_store({"store": "directory", "state_dir": "/x"}) == "directory"
    assert _record.vault_prefix({"user": "awx"}) == "users/awx/deployments"


# ------------------------------------------------------------------ add_host items
def _document(tmp_path, role_vars):
    doc = {
        "id": "awx-3",
        "site": "LOCAL-BACKBONE",
        "plan": {
            "nodes": {"vm": {}, "svc": {"properties": {}}},
            "software": [
                {"node": "svc", "role": "infn.cloud.htcondor", "vars": role_vars, "hosts": ["vm"], "wave": 0}
            ],
        },
        "resources": {
            "site": "LOCAL-BACKBONE",
            "driver": "local",
            "nodes": {
                "vm": [
                    {
                        "name": "awx-3-vm-0",
                        "index": 0,
                        "connection": {"ansible_connection": "ssh", "ansible_host": "10.88.0.5"},
                        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB",
                    }
                ]
            },
        },
    }
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(doc))
    return path


def test_hosts_get_the_inventory_plugins_groups_and_vars(tmp_path):
    path = _document(tmp_path, {"htcondor_roles": ["submit"]})
    [host] = deployment_hosts(str(path), groups=["infn_cloud_attempt_1"])
    assert host["name"] == "awx-3-vm-0"
    assert set(host["groups"]) >= {"vm", "site_local_backbone", "deployment_awx_3", "infn_cloud_attempt_1"}
    assert host["vars"]["ansible_host"] == "10.88.0.5"
    assert "KnownHostsCommand" in host["vars"]["ansible_ssh_common_args"]  # the pinned host key
    assert host["vars"]["infn_cloud_software"][0]["vars"] == {"htcondor_roles": ["submit"]}


def test_secret_role_variables_become_host_variables_with_the_real_value(tmp_path):
    path = _document(
        tmp_path,
        {
            "htcondor_cluster_secret": "<secret:cluster_secret>",
            "htcondor_url": "x://u:<secret:cluster_secret>@h",
        },
    )
    [host] = deployment_hosts(str(path), secrets={"cluster_secret": "s3cr3t-value"})
    entry_vars = host["vars"]["infn_cloud_software"][0]["vars"]
    # apply_entry.yml skips null entry variables, so the host variable (the real value) applies
    assert entry_vars == {"htcondor_cluster_secret": None, "htcondor_url": None}
    assert host["vars"]["htcondor_cluster_secret"] == "s3cr3t-value"
    assert host["vars"]["htcondor_url"] == "x://u:s3cr3t-value@h"


def test_a_marker_without_its_value_is_an_error(tmp_path):
    path = _document(tmp_path, {"htcondor_cluster_secret": "<secret:other>"})
    with pytest.raises(AnsibleFilterError, match="htcondor_cluster_secret holds a secret marker"):
        deployment_hosts(str(path), secrets={"cluster_secret": "x"})


def test_an_unreadable_document_is_named(tmp_path):
    with pytest.raises(AnsibleFilterError, match=r"missing\.json cannot be read"):
        deployment_hosts(str(tmp_path / "missing.json"))


# ------------------------------------------------------------------ update.yml: hosts to configure
def _instances(node, count):
    return [{"name": f"dep-{node}-{i}", "index": i, "private_ip": f"10.0.0.{i + 10}"} for i in range(count)]


def test_the_update_job_configures_what_infn_cloud_update_would(tmp_path):
    # A Kubernetes scale-out as update.yml holds it: deployment_change's plan and change (JSON
    # dicts, as the module returns them) and the document the provision step wrote.
    from infn_cloud.deploy.update import compute_change
    from infn_cloud.tosca import make_plan
    from infn_cloud.tosca.attributes import resolve_attributes

    template = str(ROOT / "tosca_templates" / "kubernetes_cluster.yaml")
    before = {
        "driver": "local",
        "nodes": {
            "master_server": _instances("master_server", 1),
            "node_server": _instances("node_server", 1),
        },
    }
    after = {"driver": "local", "nodes": {**before["nodes"], "node_server": _instances("node_server", 2)}}
    target = make_plan(template, {"number_of_nodes": 2})
    change = compute_change(
        resolve_attributes(make_plan(template, {"number_of_nodes": 1}), before), target, before
    )
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps({"id": "dep", "resources": after}))
    plan, change = json.loads(json.dumps(target)), json.loads(json.dumps(change.to_dict()))

    hosts = update_configure_hosts(str(path), plan=plan, change=change, added=["dep-node_server-1"])

    # the new worker and the control plane it joins through; not the worker that was there
    assert hosts == ["dep-master_server-0", "dep-node_server-1"]
    assert update_configure_hosts(str(path), plan=plan, change={**change, "add": []}, added=[]) == []
    with pytest.raises(AnsibleFilterError, match=r"missing\.json cannot be read"):
        update_configure_hosts(str(tmp_path / "missing.json"), plan=plan, change=change)


# ------------------------------------------------------------------ credential types
def _credential_type(name):
    return yaml.safe_load((ROOT / "docs" / "awx" / name).read_text())


def _render(injectors: dict, inputs: dict, filenames: dict) -> dict:
    """Render injectors the way AWX does (Jinja, `tower.filename.<name>` for injected files)."""
    context = {**inputs, "tower": {"filename": filenames}}
    return {key: jinja2.Template(value).render(context) for key, value in injectors.items()}


@pytest.mark.parametrize("name", ["credential_type_multisite.yml", "credential_type_vault.yml"])
def test_credential_types_use_only_their_own_fields(name):
    ctype = _credential_type(name)
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert set(ctype["inputs"]["required"]) <= set(fields)
    text = json.dumps(ctype["injectors"])
    for ref in {w.split("}}")[0].strip() for w in text.split("{{")[1:]}:
        assert ref in fields or ref.startswith("tower.filename."), ref


def test_multisite_credential_points_openstack_at_the_clouds_file(tmp_path):
    ctype = _credential_type("credential_type_multisite.yml")
    assert next(f for f in ctype["inputs"]["fields"] if f["id"] == "clouds_yaml")["secret"] is True
    clouds = "clouds:\n  infn-cloud-backbone-cnaf:\n    auth: {auth_url: https://k.example/v3}\n"
    written = _render(ctype["injectors"]["file"], {"clouds_yaml": clouds}, {})
    assert written == {"template.clouds": clouds}
    env = _render(ctype["injectors"]["env"], {}, {"clouds": str(tmp_path / "clouds.yaml")})
    assert env == {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.yaml")}
    # every site of the INFN Cloud registry names a cloud: one credential holds them all
    sites = [yaml.safe_load(p.read_text()) for p in (ROOT / "inventories/infn-cloud/sites").glob("*.yml")]
    assert sites and all(site.get("cloud") for site in sites)


def test_vault_credential_sets_the_variables_the_collection_reads():
    ctype = _credential_type("credential_type_vault.yml")
    token = next(f for f in ctype["inputs"]["fields"] if f["id"] == "token")
    assert token["secret"] is True
    env = _render(ctype["injectors"]["env"], {"url": "https://v", "token": "t", "namespace": ""}, {})
    assert env[_vault.ENV_ADDR] == "https://v" and env[_vault.ENV_TOKEN] == "t"
    assert _vault.ENV_NAMESPACE in env
