"""The CLI's VaultStore, the drivers and the secret stores use the collection's module_utils:
one Vault client, one deployment id rule, one SSH keypair generator (hvac mocked)."""

from __future__ import annotations

import base64
import subprocess
from unittest import mock

import hvac.exceptions
import pytest
from ansible_collections.infn.cloud.plugins.module_utils import _deployment, _vault

from infn_cloud.errors import OperationFailed, UsageError, ValidationError
from infn_cloud.federation.drivers.base import check_deployment_id
from infn_cloud.secrets import LocalVaultStore, VaultStore, generate_ssh_keypair


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("INFN_CLOUD_VAULT_ADDR", "INFN_CLOUD_VAULT_TOKEN", "INFN_CLOUD_VAULT_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)


def test_vault_store_options_are_the_modules_options(tmp_path):
    secret_id = tmp_path / "secret_id"
    secret_id.write_text("the-secret-id\n")
    store = VaultStore.from_env(
        {
            "INFN_CLOUD_VAULT_ADDR": "https://vault.test:8200",
            "INFN_CLOUD_VAULT_AUTH_METHOD": "approle",
            "INFN_CLOUD_VAULT_ROLE_ID": "role-1",
            "INFN_CLOUD_VAULT_SECRET_ID_FILE": str(secret_id),
            "INFN_CLOUD_VAULT_AUTH_MOUNT": "approle-infn",
            "INFN_CLOUD_VAULT_MOUNT": "kv-infn",
            "INFN_CLOUD_VAULT_CACERT": "/etc/ssl/site-ca.pem",
            "INFN_CLOUD_VAULT_USER": "alice",
        }
    )
    assert isinstance(store.options, _vault.VaultOptions)  # the modules' class, not a copy
    options = store.options
    assert (options.auth_method, options.role_id, options.secret_id) == ("approle", "role-1", "the-secret-id")
    assert (options.auth_mount_point, options.engine_mount_point) == ("approle-infn", "kv-infn")
    assert options.verify == "/etc/ssl/site-ca.pem"
    assert store.describe() == "Vault https://vault.test:8200 (kv-infn/users/alice/deployments)"


def test_option_errors_name_the_cli_variables():
    with pytest.raises(UsageError, match=r"approle needs the option\(s\): secret_id") as err:
        VaultStore("https://vault.test", auth_method="approle", role_id="r", user="alice")
    assert "INFN_CLOUD_VAULT_SECRET_ID_FILE (secret_id_file)" in " ".join(err.value.details)
    with pytest.raises(UsageError, match="engine_mount_point"):
        VaultStore("https://vault.test", token="t", engine_mount_point="../sys", user="alice")
    with pytest.raises(UsageError, match="unknown Vault options: auth_mount"):
        VaultStore("https://vault.test", token="t", auth_mount="jwt", user="alice")


def test_the_process_environment_is_not_read_when_an_environment_is_given(monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_VAULT_TOKEN", "token-of-the-process")
    with pytest.raises(UsageError, match="needs a token"):
        VaultStore.from_env({"INFN_CLOUD_VAULT_ADDR": "https://vault.test"})


def test_vault_store_reads_and_writes_through_the_shared_client(fixture_json):
    client = mock.Mock()
    client.is_authenticated.return_value = True
    client.secrets.kv.v2.read_secret_version.side_effect = hvac.exceptions.InvalidPath("no")
    store = VaultStore("https://vault.test", token="t", user="alice", client_factory=lambda **_: client)
    public = store.ensure_ssh_keypair("dep-1")
    path, data = (
        client.secrets.kv.v2.create_or_update_secret.call_args.kwargs[k] for k in ("path", "secret")
    )
    assert path == "users/alice/deployments/dep-1/ssh"
    assert data["public_key"] == public and public.endswith(" infn-cloud:dep-1")
    assert client.secrets.kv.v2.create_or_update_secret.call_args.kwargs["cas"] == 0  # create only


def test_vault_errors_become_operation_failed_without_values():
    client = mock.Mock()
    client.is_authenticated.return_value = True
    client.secrets.kv.v2.read_secret_version.side_effect = hvac.exceptions.InvalidPath("no")
    client.secrets.kv.v2.create_or_update_secret.side_effect = hvac.exceptions.Forbidden(
        "permission denied", errors=["permission denied"]
    )
    store = VaultStore("https://vault.test", token="t", user="alice", client_factory=lambda **_: client)
    with pytest.raises(OperationFailed, match="permission denied") as err:
        store.put("dep-1", "admin_password", "never-in-a-message-123")
    assert "never-in-a-message-123" not in str(err.value)


GOOD_IDS = ["0f6a2b1c-7d8e-4f00-9a1b-2c3d4e5f6a7b", "dep-1", "d", "a" * 40]
BAD_IDS = ["", "Dep-1", "dep_1", "dep.1", "-dep", "a" * 41, "../etc", "a/b", "dep-1\n", None]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_every_component_accepts_the_same_ids(value, tmp_path):
    assert _deployment.deployment_id_problem(value) is None
    assert check_deployment_id(value) == value
    assert LocalVaultStore(directory=tmp_path, password="p" * 20).path(value).name == f"{value}.vault"


@pytest.mark.parametrize("value", BAD_IDS)
def test_every_component_refuses_the_same_ids(value, tmp_path):
    assert "expected 1-40 characters" in _deployment.deployment_id_problem(value)
    with pytest.raises(ValidationError, match="invalid deployment id"):
        check_deployment_id(value)
    with pytest.raises(ValidationError, match="invalid deployment id"):
        LocalVaultStore(directory=tmp_path, password="p" * 20).path(value)
    with pytest.raises(ValidationError, match="invalid deployment id"):
        VaultStore("https://vault.test", token="t", user="alice")._base(value)


def test_one_keypair_generator_gives_keys_ssh_keygen_accepts(tmp_path):
    private, public = generate_ssh_keypair("infn-cloud:dep-1")
    key = tmp_path / "key"
    key.write_text(private)
    key.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True)
    assert public == f"{derived.stdout.strip()} infn-cloud:dep-1"
    assert len(base64.b64decode(public.split()[1])) == 51  # ssh-ed25519 wire format: 19 + 32 bytes
    assert generate_ssh_keypair("x")[0] != private  # a new key each time


def test_the_cli_and_the_collection_write_the_same_secret_marker():
    """The deployment_hosts filter puts secrets back where the CLI's redactor wrote markers."""
    from infn_cloud import module_utils
    from infn_cloud.secrets.base import marker

    assert marker("db_password") == module_utils.load("_deployment").SECRET_MARKER.format("db_password")
