"""LocalVaultStore (Ansible Vault files), password files and the runner password channel."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from infn_cloud.errors import NotFoundError, OperationFailed, UsageError, ValidationError
from infn_cloud.secrets import (
    LocalVaultStore,
    VaultPasswordChannel,
    VaultStore,
    generate_secret,
    load_vault_password,
    open_store,
)
from infn_cloud.secrets.leakscan import scan_paths


@pytest.fixture(autouse=True)
def isolated_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("INFN_CLOUD_VAULT_PASSWORD_FILE", raising=False)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generate_secret_length_alphabet_and_uniqueness():
    values = {generate_secret(24) for _ in range(50)}
    assert len(values) == 50
    assert all(len(v) == 24 and v.isalnum() for v in values)
    with pytest.raises(ValueError, match=">= 16"):
        generate_secret(8)


def test_password_file_created_private(tmp_path):
    password = load_vault_password()
    path = tmp_path / "config" / "infn-cloud" / "vault-password"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert len(password) == 48 and load_vault_password() == password


def test_explicit_password_file_must_exist_and_be_private(tmp_path, monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_VAULT_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(NotFoundError, match="INFN_CLOUD_VAULT_PASSWORD_FILE"):
        load_vault_password()
    loose = tmp_path / "loose"
    loose.write_text("a-password-in-a-world-readable-file\n")
    loose.chmod(0o644)
    monkeypatch.setenv("INFN_CLOUD_VAULT_PASSWORD_FILE", str(loose))
    with pytest.raises(ValidationError, match="expected 0600"):
        load_vault_password()
    loose.chmod(0o600)
    assert load_vault_password() == "a-password-in-a-world-readable-file"


def test_round_trip_encrypted_0600(tmp_path):
    store = LocalVaultStore()
    secret = store.ensure_secret("dep-1", "htcondor_cluster_secret")
    assert store.ensure_secret("dep-1", "htcondor_cluster_secret") == secret
    public = store.ensure_ssh_keypair("dep-1")
    assert store.ensure_ssh_keypair("dep-1") == public and public.startswith("ssh-ed25519 ")
    store.put("dep-1", "admin_password", "a-rotated-admin-password")
    assert store.get_all("dep-1") == {
        "htcondor_cluster_secret": secret,
        "admin_password": "a-rotated-admin-password",
    }

    path = store.path("dep-1")
    assert path.parent == tmp_path / "state" / "secrets"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert path.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;infn_cloud")
    leaks = scan_paths({"svc": secret, "admin": "a-rotated-admin-password"}, [tmp_path / "state"])
    assert leaks == []
    assert "OPENSSH PRIVATE KEY" not in path.read_text()

    # a second store (another CLI invocation) reads the same data with the same password file
    again = LocalVaultStore()
    assert again.get("dep-1", "admin_password") == "a-rotated-admin-password"
    assert again.ssh_private_key("dep-1").startswith("-----BEGIN OPENSSH PRIVATE KEY-----")

    assert store.delete_deployment("dep-1") is True and not path.exists()
    assert store.delete_deployment("dep-1") is False
    with pytest.raises(NotFoundError, match="no secret 'admin_password'"):
        store.get("dep-1", "admin_password")


def test_wrong_password_is_a_clear_error():
    LocalVaultStore(password="the-right-password-1234").put("d", "x", "value-of-x-1234")
    with pytest.raises(OperationFailed, match="cannot decrypt"):
        LocalVaultStore(password="a-wrong-password-12345").get_all("d")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200])
def test_bad_deployment_ids_rejected(bad):
    with pytest.raises(ValidationError, match="invalid deployment id"):
        LocalVaultStore(password="p" * 20).put(bad, "name", "value")


def test_open_store_selects_backend(monkeypatch):
    assert isinstance(open_store({}), LocalVaultStore)
    store = open_store({"INFN_CLOUD_VAULT_ADDR": "http://127.0.0.1:1", "INFN_CLOUD_VAULT_TOKEN": "t"})
    assert isinstance(store, VaultStore) and store.kind == "vault"
    with pytest.raises(UsageError, match="needs a token"):
        open_store({"INFN_CLOUD_VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "ambient"})


def test_vault_store_jwt_from_file(tmp_path):
    jwt_file = tmp_path / "token"
    jwt_file.write_text("header.payload.signature\n")
    store = VaultStore.from_env(
        {
            "INFN_CLOUD_VAULT_ADDR": "https://vault.test",
            "INFN_CLOUD_VAULT_AUTH_METHOD": "jwt",
            "INFN_CLOUD_VAULT_ROLE": "infn-cloud",
            "INFN_CLOUD_VAULT_JWT_FILE": str(jwt_file),
            "INFN_CLOUD_VAULT_USER": "alice",
        }
    )
    assert store.describe() == "Vault https://vault.test (secret/users/alice/deployments)"
    with pytest.raises(UsageError, match="cannot read JWT file"):
        VaultStore.from_env(
            {"INFN_CLOUD_VAULT_ADDR": "x", "INFN_CLOUD_VAULT_JWT_FILE": str(tmp_path / "nope")}
        )


def test_password_channel_feeds_ansible_vault_without_clear_files(tmp_path):
    password = load_vault_password()
    store = LocalVaultStore()
    store.put("dep", "s3_secret_key", "s3-secret-key-value-42")
    with VaultPasswordChannel(password) as channel:
        script_dir = channel.script.parent
        assert mode(script_dir) == 0o700
        assert password not in channel.script.read_text() and password not in channel.cmdline
        result = subprocess.run(
            ["ansible-vault", "view", "--vault-id", channel.vault_id_arg, str(store.path("dep"))],
            capture_output=True,
            text=True,
            env={**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": ""},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "s3-secret-key-value-42" in result.stdout
        assert channel.served == 1
    assert not script_dir.exists()  # socket and script are gone after the run


def test_password_channel_needs_the_right_password():
    store = LocalVaultStore()
    store.put("dep", "x", "some-secret-value-1")
    with VaultPasswordChannel("not-the-password-at-all") as channel:
        result = subprocess.run(
            ["ansible-vault", "view", "--vault-id", channel.vault_id_arg, str(store.path("dep"))],
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode != 0 and "some-secret-value-1" not in result.stdout


def test_concurrent_first_use_all_get_the_same_password(tmp_path):
    """Processes creating the password file at once never read it half-written (empty)."""
    import sys

    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "race"))
    env.pop("INFN_CLOUD_VAULT_PASSWORD_FILE", None)
    code = "from infn_cloud.secrets.local_store import load_vault_password as l; print(l())"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(8)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err.decode() for _, err in results]
    assert len({out for out, _ in results}) == 1 and results[0][0].strip()
    assert [p.name for p in (tmp_path / "race").rglob("*") if p.is_file()] == ["vault-password"]
