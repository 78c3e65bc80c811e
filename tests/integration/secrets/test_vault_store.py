"""infn_cloud.secrets.VaultStore against a real OpenBao: write, read, rotate, policies, JWT."""

from __future__ import annotations

import hvac
import pytest
from _jwt import ISSUER, TestIssuer

from infn_cloud.errors import NotFoundError, OperationFailed, UsageError
from infn_cloud.secrets import VaultStore, generate_secret, open_store

pytestmark = pytest.mark.integration
CRU = '["create", "read", "update"]'


def test_write_read_rotate_delete(bao, unique):
    store = VaultStore(bao.url, token=bao.root_token, user=f"u{unique}")
    first = store.ensure_secret("dep1", "htcondor_cluster_secret")
    assert store.ensure_secret("dep1", "htcondor_cluster_secret") == first  # reused, not regenerated
    store.put("dep1", "admin_password", "initial-password-1")
    assert store.get_all("dep1") == {"htcondor_cluster_secret": first, "admin_password": "initial-password-1"}

    rotated = generate_secret(40)
    store.put("dep1", "admin_password", rotated)
    assert store.get("dep1", "admin_password") == rotated
    path = f"users/u{unique}/deployments/dep1/secrets/admin_password"
    meta = bao.root().secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")
    assert meta["data"]["current_version"] == 2  # rotation is a new KV version
    store.put("dep1", "admin_password", rotated)  # same value: no new version
    meta = bao.root().secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")
    assert meta["data"]["current_version"] == 2

    public = store.ensure_ssh_keypair("dep1")
    assert public.startswith("ssh-ed25519 ") and public.endswith(" infn-cloud:dep1")
    assert store.ensure_ssh_keypair("dep1") == public
    assert store.ssh_private_key("dep1").startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "ssh" not in store.get_all("dep1")

    assert store.delete_deployment("dep1") is True
    assert store.get_all("dep1") == {}
    with pytest.raises(NotFoundError):
        store.ssh_private_key("dep1")
    assert store.delete_deployment("dep1") is False
    with pytest.raises(NotFoundError):
        store.get("dep1", "admin_password")


def test_ambient_vault_token_is_never_used(bao, monkeypatch, tmp_path):
    # hvac alone would pick these up and act as root.
    (tmp_path / ".vault-token").write_text(bao.root_token)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VAULT_TOKEN", bao.root_token)
    monkeypatch.delenv("INFN_CLOUD_VAULT_TOKEN", raising=False)
    with pytest.raises(UsageError, match="needs a token"):
        open_store({"INFN_CLOUD_VAULT_ADDR": bao.url, "VAULT_TOKEN": bao.root_token})
    store = open_store({"INFN_CLOUD_VAULT_ADDR": bao.url, "INFN_CLOUD_VAULT_TOKEN": bao.root_token})
    assert isinstance(store, VaultStore)


def test_wrong_token_is_a_clear_error(bao):
    store = VaultStore(bao.url, token="not-a-valid-token", user="someone")
    with pytest.raises(OperationFailed, match="rejected the token credentials"):
        store.get_all("dep1")


def test_policy_denies_another_groups_path(bao, unique):
    root = bao.root()
    for group in ("a", "b"):
        root.sys.create_or_update_acl_policy(
            name=f"grp-{group}-{unique}",
            policy=f'path "secret/data/groups/{group}{unique}/*" {{ capabilities = {CRU} }}',
        )
    client = hvac.Client(url=bao.url, token=bao.token_with_policies(f"grp-a-{unique}"))
    kv = client.secrets.kv.v2
    kv.create_or_update_secret(path=f"groups/a{unique}/s", secret={"k": "v"}, mount_point="secret")
    assert kv.read_secret_version(
        path=f"groups/a{unique}/s", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"] == {"k": "v"}
    root.secrets.kv.v2.create_or_update_secret(
        path=f"groups/b{unique}/s", secret={"k": "b"}, mount_point="secret"
    )
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.read_secret_version(
            path=f"groups/b{unique}/s", mount_point="secret", raise_on_deleted_version=True
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.create_or_update_secret(path=f"groups/b{unique}/s", secret={"k": "x"}, mount_point="secret")


def test_jwt_login_with_token_signed_by_test_key(bao, issuer, unique):
    root = bao.root()
    mount = f"jwt{unique}"
    root.sys.enable_auth_method("jwt", path=mount)
    root.write_data(
        f"auth/{mount}/config", data={"jwt_validation_pubkeys": [issuer.public_pem], "bound_issuer": ISSUER}
    )
    root.sys.create_or_update_acl_policy(
        name=f"users-{unique}",
        policy=f'path "secret/data/users/jwtuser{unique}/*" {{ capabilities = {CRU} }}\n'
        f'path "secret/metadata/users/jwtuser{unique}/*" {{ capabilities = ["list", "read", "delete"] }}',
    )
    root.write_data(
        f"auth/{mount}/role/cli",
        data={
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": ["infn-cloud"],
            "token_policies": [f"users-{unique}"],
            "token_ttl": "5m",
        },
    )
    store = VaultStore(
        bao.url,
        auth_method="jwt",
        role="cli",
        jwt=issuer.token("alice", ["g"], aud="infn-cloud"),
        auth_mount_point=mount,
        user=f"jwtuser{unique}",
    )
    store.put("d", "pw", "jwt-written-secret")
    assert store.get("d", "pw") == "jwt-written-secret"
    store.close()  # revokes the login token

    other = VaultStore(
        bao.url,
        auth_method="jwt",
        role="cli",
        jwt=issuer.token("bob", [], aud="infn-cloud"),
        auth_mount_point=mount,
        user="bob",
    )
    with pytest.raises(OperationFailed, match="permission denied"):
        other.put("d", "pw", "must-not-be-written")

    forged_jwt = TestIssuer().token(
        "alice", ["g"], aud="infn-cloud"
    )  # right claims, signed by an unknown key
    forged = VaultStore(
        bao.url, auth_method="jwt", role="cli", jwt=forged_jwt, auth_mount_point=mount, user="x"
    )
    with pytest.raises(OperationFailed, match="login to Vault"):
        forged.get_all("d")


def test_approle_login(bao, unique):
    root = bao.root()
    mount = f"approle{unique}"
    root.sys.enable_auth_method("approle", path=mount)
    root.sys.create_or_update_acl_policy(
        name=f"svc-{unique}",
        policy=f'path "secret/data/users/svc{unique}/*" {{ capabilities = {CRU} }}\n'
        f'path "secret/metadata/users/svc{unique}/*" {{ capabilities = ["list", "read", "delete"] }}',
    )
    root.write_data(f"auth/{mount}/role/cli", data={"token_policies": [f"svc-{unique}"], "token_ttl": "5m"})
    role_id = root.read(f"auth/{mount}/role/cli/role-id")["data"]["role_id"]
    secret_id = root.write_data(f"auth/{mount}/role/cli/secret-id")["data"]["secret_id"]
    store = VaultStore(
        bao.url,
        auth_method="approle",
        role_id=role_id,
        secret_id=secret_id,
        auth_mount_point=mount,
        user=f"svc{unique}",
    )
    assert store.ensure_ssh_keypair("d").startswith("ssh-ed25519 ")
    with pytest.raises(OperationFailed, match="login to Vault"):
        VaultStore(
            bao.url, auth_method="approle", role_id=role_id, secret_id="wrong", auth_mount_point=mount
        ).get_all("d")
