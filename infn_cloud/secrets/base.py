"""The SecretStore interface and the helpers both backends share."""

from __future__ import annotations

import abc
import re
import secrets
import string

from infn_cloud import module_utils
from infn_cloud.errors import NotFoundError, ValidationError
from infn_cloud.module_utils import check_deployment_id

# Letters and digits only: generated secrets end up in config files of many services
# (HTCondor, JupyterHub, S3 gateways) where quoting rules differ; 62 symbols still give
# about 5.95 bits per character.
SECRET_ALPHABET = string.ascii_letters + string.digits
DEFAULT_SECRET_LENGTH = 32
SECRET_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"  # noqa: S105 - a pattern of names
_NAME = re.compile(SECRET_NAME_PATTERN)

# The one secret marker: where a secret value was, infn-cloud writes <secret:NAME> (plans,
# deployment documents, stored inputs, logs, human output). infn_cloud.deploy.redaction
# writes and reads it; NAME is a secret name of the store.
# plugins/module_utils/_deployment.py's SECRET_MARKER is the same string (the deployment_hosts
# filter reads it there; a unit test holds them equal): the CLI must not load the collection
# just to import this module.
MARKER = "<secret:{}>"
MARKER_RE = re.compile(rf"<secret:({SECRET_NAME_PATTERN})>")


def marker(name: str) -> str:
    """The marker standing for the secret ``name``."""
    return MARKER.format(name)


def generate_secret(n: int = DEFAULT_SECRET_LENGTH) -> str:
    """A random string of ``n`` letters and digits from the OS CSPRNG (n >= 16)."""
    if not isinstance(n, int) or n < 16:
        raise ValueError(f"generate_secret: length must be an integer >= 16, got {n!r}")
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(n))


def check_name(value: str, what: str) -> str:
    """Secret names (and Vault user names) become file names and Vault path segments.

    Deployment ids have their own, stricter rule: ``check_deployment_id``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationError(
            f"invalid {what} {value!r}: expected 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def generate_ssh_keypair(comment: str) -> tuple[str, str]:
    """(private key in OpenSSH PEM format, public key line 'ssh-ed25519 AAAA... comment').

    The collection's one generator (plugins/module_utils/_deployment.py), shared with the
    infn.cloud.ssh_keypair module.
    """
    return module_utils.load("_deployment").generate_ssh_keypair(comment)


class SecretStore(abc.ABC):
    """Per-deployment secrets: generated service secrets and the deployment's SSH keypair.

    Values are strings. Every method validates deployment ids and names (ValidationError);
    a missing secret raises NotFoundError; a backend failure raises OperationFailed.
    """

    #: short backend name for messages and `--json` output ("vault" or "local")
    kind: str = ""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the secrets live, for the user (never includes credentials)."""

    @abc.abstractmethod
    def put(self, deployment_id: str, name: str, value: str) -> None:
        """Store (or replace) one secret of a deployment."""

    @abc.abstractmethod
    def get_all(self, deployment_id: str) -> dict[str, str]:
        """Every secret of a deployment by name ({} when it has none); excludes the SSH keypair."""

    @abc.abstractmethod
    def delete_deployment(self, deployment_id: str) -> bool:
        """Remove every secret and the SSH keypair of a deployment; False if there was nothing."""

    @abc.abstractmethod
    def _read_keypair(self, deployment_id: str) -> dict[str, str] | None:
        """{'private_key', 'public_key'} or None."""

    @abc.abstractmethod
    def _write_keypair(self, deployment_id: str, keypair: dict[str, str]) -> None:
        """Store a new keypair; must fail rather than overwrite one written concurrently."""

    def get(self, deployment_id: str, name: str) -> str:
        check_name(name, "secret name")
        values = self.get_all(deployment_id)
        if name not in values:
            raise NotFoundError(f"deployment {deployment_id} has no secret {name!r} in {self.describe()}")
        return values[name]

    def ensure_secret(
        self, deployment_id: str, name: str, length: int = DEFAULT_SECRET_LENGTH, constraints=None
    ) -> str:
        """The stored secret ``name``, generated and stored first if it does not exist yet.

        Redeploying keeps the same value, so services are not reconfigured with new passwords.
        ``constraints``: the TOSCA constraints of the input it fills (pattern, lengths); the
        generated value satisfies them (infn_cloud.secrets.generate; CannotGenerate otherwise).
        """
        check_name(name, "secret name")
        current = self.get_all(deployment_id).get(name)
        if current is not None:
            return current
        if constraints:
            from infn_cloud.secrets.generate import generate_for

            value = generate_for(constraints, length)
        else:
            value = generate_secret(length)
        self.put(deployment_id, name, value)
        return value

    def ensure_ssh_keypair(self, deployment_id: str) -> str:
        """The deployment's ed25519 public key (OpenSSH line); the keypair is created on first use."""
        check_deployment_id(deployment_id)
        existing = self._read_keypair(deployment_id)
        if existing:
            return existing["public_key"]
        private, public = generate_ssh_keypair(f"infn-cloud:{deployment_id}")
        self._write_keypair(deployment_id, {"private_key": private, "public_key": public})
        return public

    def ssh_private_key(self, deployment_id: str) -> str:
        """The deployment's private key (OpenSSH PEM) for ansible-runner's ``ssh_key=``."""
        check_deployment_id(deployment_id)
        existing = self._read_keypair(deployment_id)
        if not existing:
            raise NotFoundError(f"deployment {deployment_id} has no SSH keypair in {self.describe()}")
        return existing["private_key"]
