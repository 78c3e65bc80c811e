"""The shared Vault option adapter and KV helpers, with hvac mocked (JSON fixtures)."""

from __future__ import annotations

from unittest import mock

import hvac.exceptions
import pytest
from ansible_collections.infn.cloud.plugins.module_utils._vault import (
    VaultConnection,
    VaultError,
    VaultOptionError,
    VaultOptions,
    check_path,
    redacted_diff,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("INFN_CLOUD_VAULT_ADDR", "INFN_CLOUD_VAULT_TOKEN", "INFN_CLOUD_VAULT_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)


def test_ambient_vault_token_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("VAULT_TOKEN", "ambient-root-token")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".vault-token").write_text("ambient-file-token")
    with pytest.raises(VaultOptionError, match="INFN_CLOUD_VAULT_TOKEN"):
        VaultOptions(url="http://127.0.0.1:1")


def test_token_from_documented_env_var(monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_VAULT_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("INFN_CLOUD_VAULT_TOKEN", "documented-token")
    options = VaultOptions.from_getter({}.get)
    assert (options.url, options.token, options.auth_method) == (
        "http://127.0.0.1:1",
        "documented-token",
        "token",
    )
    assert VaultOptions(url="http://x", token="explicit").token == "explicit"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth_method": "approle", "role_id": "r"}, "secret_id"),
        ({"auth_method": "jwt", "jwt": "x.y.z"}, "role"),
        ({"auth_method": "kerberos"}, "not one of"),
        ({"token": "t", "engine_mount_point": "../sys"}, "engine_mount_point"),
    ],
)
def test_incomplete_options_are_named(values, message):
    with pytest.raises(VaultOptionError, match=message):
        VaultOptions(url="http://x", **values)


def test_missing_url_is_named():
    with pytest.raises(VaultOptionError, match="INFN_CLOUD_VAULT_ADDR"):
        VaultOptions(token="t")


@pytest.mark.parametrize("path", ["", "/", "a/../b", "a//b", "a/./b", "-x", "a b"])
def test_check_path_rejects_escapes(path):
    with pytest.raises(VaultOptionError):
        check_path(path)


def test_check_path_strips_slashes():
    assert (
        check_path("/users/alice@example.org/deployments/d-1/") == "users/alice@example.org/deployments/d-1"
    )


def test_redacted_diff_never_contains_values():
    diff = redacted_diff({"a": "old-secret", "b": "same"}, {"a": "new-secret", "b": "same", "c": "added"})
    assert diff == {
        "before": {"a": "<hidden, changed>", "b": "<hidden>"},
        "after": {"a": "<hidden, changed>", "b": "<hidden>", "c": "<hidden, changed>"},
    }
    assert "secret" not in repr(diff).replace("<hidden", "")


def connection(client, **options):
    factory = mock.Mock(return_value=client)
    conn = VaultConnection(VaultOptions(url="http://vault.test", **options), client_factory=factory)
    # hvac must be told token="" so it does not look for VAULT_TOKEN / ~/.vault-token
    assert factory.call_args.kwargs["token"] == ""
    return conn


def test_kv_read_parses_fixture(fixture_json):
    client = mock.Mock()
    client.secrets.kv.v2.read_secret_version.return_value = fixture_json("kv2_read.json")
    conn = connection(client, token="t").login()
    assert conn.kv_read("/a/b/") == {"data": {"cluster_secret": "fixture-secret-value"}, "version": 3}
    client.secrets.kv.v2.read_secret_version.assert_called_with(
        path="a/b", mount_point="secret", raise_on_deleted_version=False
    )


def test_kv_read_missing_and_deleted(fixture_json):
    client = mock.Mock()
    client.secrets.kv.v2.read_secret_version.side_effect = hvac.exceptions.InvalidPath("no")
    assert connection(client, token="t").kv_read("a") is None
    client.secrets.kv.v2.read_secret_version.side_effect = None
    client.secrets.kv.v2.read_secret_version.return_value = fixture_json("kv2_read_deleted.json")
    assert connection(client, token="t").kv_read("a") is None


def test_kv_write_returns_version(fixture_json):
    client = mock.Mock()
    client.secrets.kv.v2.create_or_update_secret.return_value = fixture_json("kv2_write.json")
    assert connection(client, token="t").kv_write("a", {"k": "v"}, cas=3) == 4


def test_errors_do_not_contain_the_data():
    client = mock.Mock()
    client.secrets.kv.v2.create_or_update_secret.side_effect = hvac.exceptions.Forbidden(
        "permission denied", errors=["1 error occurred:\n\t* permission denied\n\n"]
    )
    with pytest.raises(VaultError) as err:
        connection(client, token="t").kv_write("users/bob/x", {"password": "do-not-print-me"})
    assert "permission denied" in str(err.value) and "users/bob/x" in str(err.value)
    assert "do-not-print-me" not in str(err.value)


def test_jwt_login_and_token_revoked_on_close():
    client = mock.Mock()
    client.is_authenticated.return_value = True
    with connection(client, auth_method="jwt", role="infn-cloud", jwt="a.b.c") as conn:
        client.auth.jwt.jwt_login.assert_called_once_with(role="infn-cloud", jwt="a.b.c", path="jwt")
        assert conn.client is client
    client.auth.token.revoke_self.assert_called_once()


def test_rejected_login_is_reported():
    client = mock.Mock()
    client.is_authenticated.return_value = False
    with pytest.raises(VaultError, match="rejected the token credentials"):
        connection(client, token="wrong").login()
