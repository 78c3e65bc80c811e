"""playbooks/vault_configure.yml against a real OpenBao, then JWT logins as IAM users."""

from __future__ import annotations

import json

import hvac
import pytest
from _jwt import ISSUER

from infn_cloud.paths import collection_root

pytestmark = pytest.mark.integration


def login(bao, mount, jwt):
    client = hvac.Client(url=bao.url, token="")
    client.auth.jwt.jwt_login(role="infn-cloud", jwt=jwt, path=mount)
    return client


def test_vault_configure_then_group_paths_are_isolated(bao, issuer, run_playbook, tmp_path, unique):
    kv, mount = f"fed{unique}", f"iam{unique}"
    variables = {
        "vault_configure_url": bao.url,
        "vault_configure_token": bao.root_token,
        "vault_configure_kv_mount": kv,
        "vault_configure_jwt_mount": mount,
        "vault_configure_jwt_validation_pubkeys": [issuer.public_pem],
        "vault_configure_bound_issuer": ISSUER,
        "vault_configure_groups": ["group-a", "group-b"],
    }
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    playbook = collection_root() / "playbooks" / "vault_configure.yml"
    args = ("-e", f"@{tmp_path / 'vars.json'}")
    task = "Configure engine, JWT auth, role, policies and identity groups"

    rc, tasks, out = run_playbook(playbook, {}, "--check", *args)
    assert rc == 0, out
    assert tasks[task]["changed"] is True
    assert f"{kv}/" not in bao.root().sys.list_mounted_secrets_engines()["data"]  # check mode wrote nothing

    rc, tasks, out = run_playbook(playbook, {}, *args)
    assert rc == 0, out
    assert f"enable kv-v2 engine at {kv}/" in tasks[task]["changes"]
    assert bao.root_token not in out

    rc, tasks, out = run_playbook(playbook, {}, *args)
    assert rc == 0, out
    assert tasks[task]["changed"] is False, tasks[task]["changes"]

    alice = login(bao, mount, issuer.token("alice", ["group-a"])).secrets.kv.v2
    alice.create_or_update_secret(path="groups/group-a/s3", secret={"key": "a"}, mount_point=kv)
    assert alice.read_secret_version(path="groups/group-a/s3", mount_point=kv, raise_on_deleted_version=True)
    alice.create_or_update_secret(path="users/alice/deployments/d1/ssh", secret={"k": "v"}, mount_point=kv)

    bob = login(bao, mount, issuer.token("bob", ["group-b"])).secrets.kv.v2
    with pytest.raises(hvac.exceptions.Forbidden):
        bob.read_secret_version(path="groups/group-a/s3", mount_point=kv, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        bob.create_or_update_secret(path="groups/group-a/s3", secret={"key": "b"}, mount_point=kv)
    with pytest.raises(hvac.exceptions.Forbidden):
        bob.read_secret_version(
            path="users/alice/deployments/d1/ssh", mount_point=kv, raise_on_deleted_version=True
        )
    bob.create_or_update_secret(path="groups/group-b/s3", secret={"key": "b"}, mount_point=kv)

    with pytest.raises(hvac.exceptions.InvalidRequest, match="bound claim"):
        login(bao, mount, issuer.token("eve", ["not-a-federation-group"]))


def test_vault_configure_rejects_missing_variables(bao, run_playbook):
    playbook = collection_root() / "playbooks" / "vault_configure.yml"
    rc, tasks, out = run_playbook(playbook, {}, "-e", f"vault_configure_url={bao.url}")
    assert rc != 0
    assert "vault_configure_groups" in tasks["Check the required variables"]["msg"], out
