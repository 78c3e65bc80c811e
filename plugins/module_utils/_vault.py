# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""The one Vault/OpenBao client of infn.cloud: the modules, the vault_secret lookup and the
infn-cloud CLI (infn_cloud.secrets.VaultStore) all use it.

One option adapter (VaultOptions) turns either AnsibleModule params or a lookup's
get_option() into a validated connection description; VaultConnection logs in and
offers the few KV version 2 operations the plugins need.

hvac is imported lazily: modules call ``fail_json(msg=missing_required_lib("hvac"))``
when HAS_HVAC is false, the lookup raises AnsibleError.

Token discovery is explicit on purpose: hvac would otherwise read VAULT_TOKEN or
~/.vault-token by itself, so a playbook could silently act with an operator's root token.
Only the ``token`` option or INFN_CLOUD_VAULT_TOKEN are used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import traceback

try:
    import hvac
    import hvac.exceptions

    HAS_HVAC = True
    HVAC_IMPORT_ERROR = None
except ImportError:
    HAS_HVAC = False
    HVAC_IMPORT_ERROR = traceback.format_exc()

ENV_ADDR = "INFN_CLOUD_VAULT_ADDR"
ENV_TOKEN = "INFN_CLOUD_VAULT_TOKEN"  # noqa: S105 - name of an environment variable
ENV_NAMESPACE = "INFN_CLOUD_VAULT_NAMESPACE"
AUTH_METHODS = ("token", "approle", "jwt")
DEFAULT_AUTH_MOUNTS = {"approle": "approle", "jwt": "jwt"}

# KV paths are built from user input (deployment ids, user names): refuse anything that
# could escape the intended subtree or be read differently by Vault.
_SEGMENT = re.compile(r"^[A-Za-z0-9@_][A-Za-z0-9@._+=-]*$")


class VaultOptionError(ValueError):
    """The connection options are incomplete or contradictory."""


class VaultError(Exception):
    """Vault answered with an error. The message never contains secret values."""


def vault_argument_spec():
    """Connection options shared by every Vault module (see doc_fragments/vault.py)."""
    return dict(
        url=dict(type="str"),
        auth_method=dict(type="str", choices=list(AUTH_METHODS), default="token"),
        token=dict(type="str", no_log=True),
        role_id=dict(type="str"),
        secret_id=dict(type="str", no_log=True),
        jwt=dict(type="str", no_log=True),
        role=dict(type="str"),
        auth_mount_point=dict(type="str"),
        engine_mount_point=dict(type="str", default="secret"),
        namespace=dict(type="str"),
        validate_certs=dict(type="bool", default=True),
        ca_cert=dict(type="path"),
        timeout=dict(type="int", default=30),
    )


def check_path(path, what="path"):
    """Return ``path`` without surrounding slashes; reject empty, '.' or '..' segments."""
    if not isinstance(path, str) or not path.strip("/"):
        raise VaultOptionError("%s must be a non-empty string" % what)
    cleaned = path.strip("/")
    for segment in cleaned.split("/"):
        if not _SEGMENT.match(segment):
            raise VaultOptionError(
                "%s %r: segment %r is not allowed (letters, digits and @_.+=- only, "
                "not starting with '.' or '-')" % (what, path, segment)
            )
    return cleaned


class VaultOptions:
    """Validated connection options, built from any ``get(name)`` callable.

    Options left unset fall back to INFN_CLOUD_VAULT_ADDR, INFN_CLOUD_VAULT_TOKEN and
    INFN_CLOUD_VAULT_NAMESPACE of ``environ`` (default: the process environment).
    """

    NAMES = tuple(vault_argument_spec())

    def __init__(self, environ=None, **values):
        env = os.environ if environ is None else environ
        defaults = {k: v.get("default") for k, v in vault_argument_spec().items()}
        unknown = set(values) - set(defaults)
        if unknown:
            raise VaultOptionError("unknown Vault options: %s" % ", ".join(sorted(unknown)))
        merged = dict(defaults)
        merged.update({k: v for k, v in values.items() if v is not None})
        self.url = merged["url"] or env.get(ENV_ADDR)
        self.auth_method = merged["auth_method"]
        self.token = merged["token"] or env.get(ENV_TOKEN)
        self.role_id = merged["role_id"]
        self.secret_id = merged["secret_id"]
        self.jwt = merged["jwt"]
        self.role = merged["role"]
        self.auth_mount_point = merged["auth_mount_point"] or DEFAULT_AUTH_MOUNTS.get(self.auth_method)
        self.engine_mount_point = merged["engine_mount_point"]
        self.namespace = merged["namespace"] or env.get(ENV_NAMESPACE)
        self.validate_certs = merged["validate_certs"]
        self.ca_cert = merged["ca_cert"]
        self.timeout = merged["timeout"]
        self.validate()

    @classmethod
    def from_getter(cls, get):
        """``get`` is ``module.params.get`` or a lookup's ``self.get_option``."""
        return cls(**{name: get(name) for name in cls.NAMES})

    def validate(self):
        if not self.url:
            raise VaultOptionError("no Vault address: set the url option or %s" % ENV_ADDR)
        if self.auth_method not in AUTH_METHODS:
            raise VaultOptionError(
                "auth_method %r is not one of %s" % (self.auth_method, ", ".join(AUTH_METHODS))
            )
        missing = []
        if self.auth_method == "token" and not self.token:
            raise VaultOptionError(
                "auth_method token needs a token: set the token option or %s "
                "(VAULT_TOKEN and ~/.vault-token are deliberately ignored)" % ENV_TOKEN
            )
        if self.auth_method == "approle":
            missing = [n for n in ("role_id", "secret_id") if not getattr(self, n)]
        if self.auth_method == "jwt":
            missing = [n for n in ("jwt", "role") if not getattr(self, n)]
        if missing:
            raise VaultOptionError(
                "auth_method %s needs the option(s): %s" % (self.auth_method, ", ".join(missing))
            )
        check_path(self.engine_mount_point, "engine_mount_point")
        if self.auth_mount_point:
            check_path(self.auth_mount_point, "auth_mount_point")

    @property
    def verify(self):
        if not self.validate_certs:
            return False
        return self.ca_cert or True


def _describe(exc):
    """A short, secret-free description of an hvac/requests exception."""
    name = type(exc).__name__
    errors = getattr(exc, "errors", None)
    if errors:
        return "%s: %s" % (name, "; ".join(str(e) for e in errors))
    return "%s: %s" % (name, exc)


class VaultConnection:
    """A logged-in hvac client plus KV v2 helpers on one engine mount.

    Tokens obtained by logging in (approle, jwt) are revoked by close(), so lookups that
    are templated many times do not leave a trail of live tokens behind.
    """

    def __init__(self, options, client_factory=None):
        if not HAS_HVAC and client_factory is None:
            raise VaultOptionError("the hvac Python library is required")
        self.options = options
        factory = client_factory or hvac.Client
        # token="" (not None) stops hvac from reading VAULT_TOKEN / ~/.vault-token.
        self.client = factory(
            url=options.url,
            token="",
            namespace=options.namespace,
            verify=options.verify,
            timeout=options.timeout,
        )
        self._owns_token = False

    def login(self):
        opts = self.options
        try:
            if opts.auth_method == "token":
                self.client.token = opts.token
            elif opts.auth_method == "approle":
                self.client.auth.approle.login(
                    role_id=opts.role_id, secret_id=opts.secret_id, mount_point=opts.auth_mount_point
                )
                self._owns_token = True
            else:
                self.client.auth.jwt.jwt_login(role=opts.role, jwt=opts.jwt, path=opts.auth_mount_point)
                self._owns_token = True
            if not self.client.is_authenticated():
                raise VaultError("Vault at %s rejected the %s credentials" % (opts.url, opts.auth_method))
        except VaultError:
            raise
        except Exception as exc:  # hvac and requests raise many types; report them uniformly
            raise VaultError(
                "login to Vault at %s with %s failed: %s" % (opts.url, opts.auth_method, _describe(exc))
            ) from None
        return self

    def close(self):
        if self._owns_token:
            try:
                self.client.auth.token.revoke_self()
            except Exception:  # noqa: S110 - best effort: the token expires with its TTL anyway
                pass
            self._owns_token = False

    def __enter__(self):
        return self.login()

    def __exit__(self, *exc_info):
        self.close()

    # KV version 2 ------------------------------------------------------------------
    @property
    def _kv(self):
        return self.client.secrets.kv.v2

    def kv_read(self, path):
        """Return ``{"data": {...}, "version": int}`` or None when the secret does not exist."""
        path = check_path(path)
        try:
            response = self._kv.read_secret_version(
                path=path, mount_point=self.options.engine_mount_point, raise_on_deleted_version=False
            )
        except hvac.exceptions.InvalidPath:
            return None
        except Exception as exc:
            raise VaultError("reading %s failed: %s" % (self._where(path), _describe(exc))) from None
        data = response.get("data") or {}
        if data.get("data") is None:  # latest version soft-deleted or destroyed
            return None
        return {"data": data["data"], "version": (data.get("metadata") or {}).get("version")}

    def kv_write(self, path, data, cas=None):
        path = check_path(path)
        try:
            response = self._kv.create_or_update_secret(
                path=path, secret=data, cas=cas, mount_point=self.options.engine_mount_point
            )
        except Exception as exc:
            raise VaultError("writing %s failed: %s" % (self._where(path), _describe(exc))) from None
        return (response.get("data") or {}).get("version")

    def kv_delete(self, path):
        """Delete every version and the metadata of ``path``."""
        path = check_path(path)
        try:
            self._kv.delete_metadata_and_all_versions(path=path, mount_point=self.options.engine_mount_point)
        except Exception as exc:
            raise VaultError("deleting %s failed: %s" % (self._where(path), _describe(exc))) from None

    def kv_list(self, path):
        """Keys directly under ``path`` (sub-folders end with '/'); [] when there are none."""
        path = check_path(path)
        try:
            response = self._kv.list_secrets(path=path, mount_point=self.options.engine_mount_point)
        except hvac.exceptions.InvalidPath:
            return []
        except Exception as exc:
            raise VaultError("listing %s failed: %s" % (self._where(path), _describe(exc))) from None
        return list((response.get("data") or {}).get("keys") or [])

    def _where(self, path):
        return "%s/%s at %s" % (self.options.engine_mount_point, path, self.options.url)


def run_vault_module(module, run, missing_required_lib):
    """The common ending of every Vault module: hvac present, options validated, logged in,
    ``run(module, connection)`` returns the result; option and Vault errors fail the task with
    their (secret-free) message; tokens obtained by logging in are revoked."""
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=HVAC_IMPORT_ERROR)
    try:
        options = VaultOptions.from_getter(module.params.get)
        with VaultConnection(options) as conn:
            result = run(module, conn)
    except (VaultOptionError, VaultError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


def redacted_diff(before, after):
    """A diff that names keys and whether they change, never their values."""

    def mark(data, other):
        if data is None:
            return {}
        return {
            key: "<hidden%s>" % ("" if other is not None and other.get(key) == value else ", changed")
            for key, value in sorted(data.items())
        }

    return {"before": mark(before, after), "after": mark(after, before)}
