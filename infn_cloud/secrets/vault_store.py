"""SecretStore backed by a Vault or OpenBao KV version 2 engine.

Layout (relative to the engine mount, default ``secret``), shared with the
infn.cloud.ssh_keypair module so playbooks and the CLI find the same keys:

    users/<user>/deployments/<id>/ssh              {private_key, public_key}
    users/<user>/deployments/<id>/secrets/<name>   {value}

The policy ``playbooks/vault_configure.yml`` installs gives every IAM user write access to
``users/<their user claim>/`` only.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from infn_cloud.errors import OperationFailed, UsageError
from infn_cloud.secrets.base import SecretStore, check_name

ENV = {
    "url": "INFN_CLOUD_VAULT_ADDR",
    "token": "INFN_CLOUD_VAULT_TOKEN",
    "auth_method": "INFN_CLOUD_VAULT_AUTH_METHOD",
    "role": "INFN_CLOUD_VAULT_ROLE",
    "jwt_file": "INFN_CLOUD_VAULT_JWT_FILE",
    "role_id": "INFN_CLOUD_VAULT_ROLE_ID",
    "secret_id_file": "INFN_CLOUD_VAULT_SECRET_ID_FILE",
    "auth_mount": "INFN_CLOUD_VAULT_AUTH_MOUNT",
    "mount": "INFN_CLOUD_VAULT_MOUNT",
    "user": "INFN_CLOUD_VAULT_USER",
    "namespace": "INFN_CLOUD_VAULT_NAMESPACE",
    "ca_cert": "INFN_CLOUD_VAULT_CACERT",
}
AUTH_METHODS = ("token", "approle", "jwt")


def _read_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {path}: {exc.strerror}") from None


class VaultStore(SecretStore):
    kind = "vault"

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        auth_method: str = "token",
        token: str | None = None,
        role: str | None = None,
        jwt: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        auth_mount: str | None = None,
        mount: str = "secret",
        namespace: str | None = None,
        verify: bool | str = True,
        timeout: int = 30,
        client: Any = None,
    ):
        if auth_method not in AUTH_METHODS:
            raise UsageError(f"Vault auth method {auth_method!r} is not one of {', '.join(AUTH_METHODS)}")
        required = {"token": ["token"], "approle": ["role_id", "secret_id"], "jwt": ["role", "jwt"]}
        given = {"token": token, "role_id": role_id, "secret_id": secret_id, "role": role, "jwt": jwt}
        missing = [name for name in required[auth_method] if not given[name]]
        if missing:
            raise UsageError(f"Vault auth method {auth_method} needs: {', '.join(missing)}")
        self.url = url
        self.user = check_name(user or getpass.getuser(), "Vault user")
        self.mount = mount
        self._auth = (auth_method, given, auth_mount or (None if auth_method == "token" else auth_method))
        self._client_args = dict(url=url, namespace=namespace, verify=verify, timeout=timeout)
        self._client = client
        self._logged_in = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> VaultStore:
        """Build from INFN_CLOUD_VAULT_* variables (see docs/secrets.md); keyword arguments win.

        VAULT_TOKEN and ~/.vault-token are never used. The JWT and AppRole secret id are read
        from files so they do not sit in the environment of every child process.
        """
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        for key in (
            "url",
            "token",
            "auth_method",
            "role",
            "role_id",
            "auth_mount",
            "mount",
            "user",
            "namespace",
        ):
            if env.get(ENV[key]):
                kwargs[key] = env[ENV[key]]
        if env.get(ENV["jwt_file"]):
            kwargs["jwt"] = _read_file(env[ENV["jwt_file"]], "JWT")
        if env.get(ENV["secret_id_file"]):
            kwargs["secret_id"] = _read_file(env[ENV["secret_id_file"]], "AppRole secret id")
        if env.get(ENV["ca_cert"]):
            kwargs["verify"] = env[ENV["ca_cert"]]
        kwargs.update(overrides)
        if not kwargs.get("url"):
            raise UsageError(f"no Vault address: set {ENV['url']}")
        return cls(**kwargs)

    def describe(self) -> str:
        return f"Vault {self.url} ({self.mount}/users/{self.user}/deployments)"

    # connection --------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            import hvac  # deferred: the local backend must work without contacting Vault

            # token="" rather than None: hvac would otherwise pick up VAULT_TOKEN/~/.vault-token.
            self._client = hvac.Client(token="", **self._client_args)
        if not self._logged_in:
            self._login()
        return self._client

    def _login(self) -> None:
        method, given, auth_mount = self._auth
        try:
            if method == "token":
                self._client.token = given["token"]
            elif method == "approle":
                self._client.auth.approle.login(
                    role_id=given["role_id"], secret_id=given["secret_id"], mount_point=auth_mount
                )
            else:
                self._client.auth.jwt.jwt_login(role=given["role"], jwt=given["jwt"], path=auth_mount)
            authenticated = self._client.is_authenticated()
        except Exception as exc:
            raise OperationFailed(
                f"login to Vault at {self.url} ({method}) failed: {_describe(exc)}"
            ) from None
        if not authenticated:
            raise OperationFailed(f"Vault at {self.url} rejected the {method} credentials")
        self._logged_in = True

    def close(self) -> None:
        """Revoke a token obtained by logging in (approle/jwt); a given token is left alone."""
        if self._logged_in and self._auth[0] != "token":
            try:
                self._client.auth.token.revoke_self()
            except Exception:  # noqa: S110 - best effort, the token also expires with its TTL
                pass
        self._logged_in = False

    # KV helpers ---------------------------------------------------------------------
    def _base(self, deployment_id: str) -> str:
        return f"users/{self.user}/deployments/{check_name(deployment_id, 'deployment id')}"

    def _read(self, path: str) -> dict | None:
        import hvac.exceptions

        kv = self.client.secrets.kv.v2
        try:
            response = kv.read_secret_version(
                path=path, mount_point=self.mount, raise_on_deleted_version=False
            )
        except hvac.exceptions.InvalidPath:
            return None
        except Exception as exc:
            raise OperationFailed(
                f"reading {self.mount}/{path} from {self.url} failed: {_describe(exc)}"
            ) from None
        data = (response.get("data") or {}).get("data")
        if data is None:
            return None
        return {"data": data, "version": response["data"]["metadata"]["version"]}

    def _write(self, path: str, data: dict, cas: int | None = None) -> None:
        try:
            self.client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=self.mount
            )
        except Exception as exc:
            raise OperationFailed(
                f"writing {self.mount}/{path} to {self.url} failed: {_describe(exc)}"
            ) from None

    def _delete(self, path: str) -> None:
        try:
            self.client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=self.mount)
        except Exception as exc:
            raise OperationFailed(
                f"deleting {self.mount}/{path} at {self.url} failed: {_describe(exc)}"
            ) from None

    def _list(self, path: str) -> list[str]:
        import hvac.exceptions

        try:
            response = self.client.secrets.kv.v2.list_secrets(path=path, mount_point=self.mount)
        except hvac.exceptions.InvalidPath:
            return []
        except Exception as exc:
            raise OperationFailed(
                f"listing {self.mount}/{path} at {self.url} failed: {_describe(exc)}"
            ) from None
        return list((response.get("data") or {}).get("keys") or [])

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


def _describe(exc: Exception) -> str:
    """hvac exceptions carry Vault's error list; requests' carry the URL (never a secret)."""
    errors = getattr(exc, "errors", None)
    if errors:
        return f"{type(exc).__name__}: {'; '.join(str(e) for e in errors)}"
    return f"{type(exc).__name__}: {exc}"
