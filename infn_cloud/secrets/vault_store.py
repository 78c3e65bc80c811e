"""SecretStore backed by a Vault or OpenBao KV version 2 engine.

Layout (relative to the engine mount, default ``secret``), shared with the
infn.cloud.ssh_keypair module so playbooks and the CLI find the same keys:

    users/<user>/deployments/<id>/ssh              {private_key, public_key}
    users/<user>/deployments/<id>/secrets/<name>   {value}

The policy ``playbooks/vault_configure.yml`` installs gives every IAM user write access to
``users/<their user claim>/`` only.

The client is the collection's one Vault client, ``plugins/module_utils/_vault.py`` (the
modules and the vault_secret lookup use it too): same options, same validation, same login
and KV code. Its option errors become UsageError, its Vault errors OperationFailed.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from infn_cloud import module_utils
from infn_cloud.errors import OperationFailed, UsageError
from infn_cloud.module_utils import check_deployment_id
from infn_cloud.secrets.base import SecretStore, check_name

# Environment of the CLI -> option of the Vault client (the modules' option names).
ENV = {
    "url": "INFN_CLOUD_VAULT_ADDR",
    "token": "INFN_CLOUD_VAULT_TOKEN",
    "auth_method": "INFN_CLOUD_VAULT_AUTH_METHOD",
    "role": "INFN_CLOUD_VAULT_ROLE",
    "jwt_file": "INFN_CLOUD_VAULT_JWT_FILE",
    "role_id": "INFN_CLOUD_VAULT_ROLE_ID",
    "secret_id_file": "INFN_CLOUD_VAULT_SECRET_ID_FILE",
    "auth_mount_point": "INFN_CLOUD_VAULT_AUTH_MOUNT",
    "engine_mount_point": "INFN_CLOUD_VAULT_MOUNT",
    "user": "INFN_CLOUD_VAULT_USER",
    "namespace": "INFN_CLOUD_VAULT_NAMESPACE",
    "ca_cert": "INFN_CLOUD_VAULT_CACERT",
}


def _read_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {path}: {exc.strerror}") from None


class VaultStore(SecretStore):
    """Connection options are the Vault modules' (plugins/doc_fragments/vault.py): ``url``,
    ``auth_method`` (token, approle, jwt), ``token``, ``role_id``, ``secret_id``, ``jwt``,
    ``role``, ``auth_mount_point``, ``engine_mount_point``, ``namespace``, ``validate_certs``,
    ``ca_cert``, ``timeout``; plus ``user``, the ``users/<user>`` subtree of this CLI user.
    ``environ``: where unset url/token/namespace are looked up (default: the process's).
    """

    kind = "vault"

    def __init__(
        self,
        url: str | None = None,
        *,
        user: str | None = None,
        environ: Mapping[str, str] | None = None,
        client_factory: Any = None,
        **options: Any,
    ):
        vault = module_utils.load("_vault")
        self._vault = vault
        try:
            self.options = vault.VaultOptions(environ=environ, url=url, **options)
        except vault.VaultOptionError as exc:
            raise UsageError(
                f"Vault: {exc}",
                details=[
                    "infn-cloud reads these options from "
                    + ", ".join(f"{var} ({name})" for name, var in ENV.items())
                    + " (docs/secrets.md)"
                ],
            ) from None
        self.url = self.options.url
        self.mount = self.options.engine_mount_point
        self.user = check_name(user or getpass.getuser(), "Vault user")
        self._client_factory = client_factory
        self._conn = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> VaultStore:
        """Build from INFN_CLOUD_VAULT_* variables (see docs/secrets.md); keyword arguments win.

        VAULT_TOKEN and ~/.vault-token are never used. The JWT and AppRole secret id are read
        from files so they do not sit in the environment of every child process.
        """
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for key in ENV:
            if key not in ("jwt_file", "secret_id_file", "ca_cert") and env.get(ENV[key]):
                kwargs[key] = env[ENV[key]]
        if env.get(ENV["jwt_file"]):
            kwargs["jwt"] = _read_file(env[ENV["jwt_file"]], "JWT")
        if env.get(ENV["secret_id_file"]):
            kwargs["secret_id"] = _read_file(env[ENV["secret_id_file"]], "AppRole secret id")
        if env.get(ENV["ca_cert"]):
            kwargs["ca_cert"] = env[ENV["ca_cert"]]
        kwargs.update(overrides)
        if not kwargs.get("url"):
            raise UsageError(f"no Vault address: set {ENV['url']}")
        return cls(environ=env, **kwargs)

    def describe(self) -> str:
        return f"Vault {self.url} ({self.mount}/users/{self.user}/deployments)"

    # connection --------------------------------------------------------------------
    @property
    def conn(self):
        """The logged-in client, on first use (the local backend never contacts Vault)."""
        if self._conn is None:
            try:
                conn = self._vault.VaultConnection(self.options, client_factory=self._client_factory)
            except self._vault.VaultOptionError as exc:  # hvac missing
                raise UsageError(f"Vault: {exc}") from None
            try:
                conn.login()
            except self._vault.VaultError as exc:
                raise OperationFailed(str(exc)) from None
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Revoke a token obtained by logging in (approle/jwt); a given token is left alone."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _kv(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.conn, operation)(*args, **kwargs)
        except self._vault.VaultError as exc:
            raise OperationFailed(str(exc)) from None

    # KV helpers ---------------------------------------------------------------------
    def _base(self, deployment_id: str) -> str:
        return f"users/{self.user}/deployments/{check_deployment_id(deployment_id)}"

    def _read(self, path: str) -> dict | None:
        return self._kv("kv_read", path)

    def _write(self, path: str, data: dict, cas: int | None = None) -> None:
        self._kv("kv_write", path, data, cas=cas)

    def _delete(self, path: str) -> None:
        self._kv("kv_delete", path)

    def _list(self, path: str) -> list[str]:
        return self._kv("kv_list", path)

    # SecretStore ------------------------------------------------------------------------
    def put(self, deployment_id: str, name: str, value: str) -> None:
        check_name(name, "secret name")
        path = f"{self._base(deployment_id)}/secrets/{name}"
        current = self._read(path)
        if current is None or current["data"] != {"value": value}:
            self._write(path, {"value": value})

    def get_all(self, deployment_id: str) -> dict[str, str]:
        base = f"{self._base(deployment_id)}/secrets"
        values = {}
        for name in self._list(base):
            if name.endswith("/"):
                continue  # not written by us
            secret = self._read(f"{base}/{name}")
            if secret is not None and "value" in secret["data"]:
                values[name] = secret["data"]["value"]
        return values

    def delete_deployment(self, deployment_id: str) -> bool:
        base = self._base(deployment_id)
        deleted = False
        for name in self._list(f"{base}/secrets"):
            if not name.endswith("/"):
                self._delete(f"{base}/secrets/{name}")
                deleted = True
        if self._read(f"{base}/ssh") is not None:
            deleted = True
        # metadata delete also removes soft-deleted versions the read above does not see
        self._delete(f"{base}/ssh")
        return deleted

    def _read_keypair(self, deployment_id: str) -> dict[str, str] | None:
        secret = self._read(f"{self._base(deployment_id)}/ssh")
        if secret is None:
            return None
        data = secret["data"]
        if not (data.get("private_key") and data.get("public_key")):
            raise OperationFailed(
                f"{self.mount}/{self._base(deployment_id)}/ssh exists but holds no private_key/public_key"
            )
        return data

    def _write_keypair(self, deployment_id: str, keypair: dict[str, str]) -> None:
        # cas=0: only create. A concurrent writer makes this fail instead of replacing its key.
        self._write(f"{self._base(deployment_id)}/ssh", keypair, cas=0)
