"""SecretStore kept in Ansible Vault encrypted files, one per deployment, for users without Vault.

Files: ``<state dir>/secrets/<deployment id>.vault`` (mode 0600, directory 0700), each an
Ansible Vault (format 1.2, vault id ``infn_cloud``) encrypted JSON document
``{"secrets": {name: value}, "ssh": {"private_key", "public_key"} | null}``.
They can be inspected with
``ansible-vault view --vault-id infn_cloud@<password file> <file>``.

The password comes from INFN_CLOUD_VAULT_PASSWORD_FILE, or from
``$XDG_CONFIG_HOME/infn-cloud/vault-password``, created (0600) with a random password on
first use. Whoever can read that file can read every local secret: it is the same trust
boundary as ~/.ssh.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from infn_cloud.errors import NotFoundError, OperationFailed, ValidationError
from infn_cloud.module_utils import check_deployment_id
from infn_cloud.paths import state_home
from infn_cloud.secrets.base import SecretStore, check_name, generate_secret

PASSWORD_FILE_ENV = "INFN_CLOUD_VAULT_PASSWORD_FILE"  # noqa: S105 - a variable name
VAULT_ID = "infn_cloud"


def config_home() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "infn-cloud"


def default_password_file() -> Path:
    return config_home() / "vault-password"


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValidationError(
            f"{path} is readable or writable by other users (mode {mode:04o}); expected 0600",
            details=[f"fix it with: chmod 600 {path}"],
        )


def _write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` by a 0600 file holding ``data``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def load_vault_password(password_file: str | os.PathLike | None = None, *, create: bool = True) -> str:
    """The Ansible Vault password of the local store and of the user's site credential files.

    Order: ``password_file``, INFN_CLOUD_VAULT_PASSWORD_FILE, then the default file in the XDG
    config dir, which is created with a random password when ``create`` is true. Explicitly
    named files must exist and be private (no group/other permissions).
    """
    explicit = password_file or os.environ.get(PASSWORD_FILE_ENV)
    path = Path(explicit) if explicit else default_password_file()
    if not path.exists():
        if explicit:
            source = "password_file" if password_file else PASSWORD_FILE_ENV
            raise NotFoundError(f"Ansible Vault password file {path} (from {source}) does not exist")
        if not create:
            raise NotFoundError(f"no Ansible Vault password file at {path}")
        _private_dir(path.parent)
        # Write a complete file aside, then link it into place: a concurrent infn-cloud process
        # either wins the link or reads the winner's complete file, never an empty one.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(generate_secret(48) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # created concurrently by another process
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    _check_private(path)
    password = path.read_text(encoding="utf-8").strip()
    if not password:
        raise ValidationError(f"Ansible Vault password file {path} is empty")
    return password


class LocalVaultStore(SecretStore):
    kind = "local"

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        *,
        password: str | None = None,
        password_file: str | os.PathLike | None = None,
    ):
        from ansible.parsing.vault import VaultLib, VaultSecret

        self.directory = Path(directory) if directory else state_home() / "secrets"
        secret = VaultSecret((password or load_vault_password(password_file)).encode("utf-8"))
        self._secret = secret
        self._vault = VaultLib(secrets=[(VAULT_ID, secret)])

    def describe(self) -> str:
        return f"Ansible Vault files in {self.directory}"

    def path(self, deployment_id: str) -> Path:
        return self.directory / f"{check_deployment_id(deployment_id)}.vault"

    @contextlib.contextmanager
    def _locked(self, deployment_id: str) -> Iterator[Path]:
        path = self.path(deployment_id)
        _private_dir(self.directory)
        lock = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield path
        finally:
            os.close(lock)

    def _load(self, path: Path) -> dict:
        if not path.exists():
            return {"secrets": {}, "ssh": None}
        _check_private(path)
        from ansible.errors import AnsibleError

        try:
            plain = self._vault.decrypt(path.read_bytes())
        except AnsibleError as exc:
            raise OperationFailed(
                f"cannot decrypt {path}: {exc.message}",
                details=[
                    f"is {PASSWORD_FILE_ENV} (or {default_password_file()}) the password it was written with?"
                ],
            ) from None
        try:
            return json.loads(plain)
        except ValueError:
            raise ValidationError(f"{path} decrypts but is not the JSON document infn-cloud writes") from None

    def _save(self, path: Path, document: dict) -> None:
        plain = json.dumps(document, sort_keys=True).encode("utf-8")
        _write_private(path, self._vault.encrypt(plain, secret=self._secret, vault_id=VAULT_ID))

    def put(self, deployment_id: str, name: str, value: str) -> None:
        check_name(name, "secret name")
        if not isinstance(value, str):
            raise ValidationError(f"secret {name!r} must be a string")
        with self._locked(deployment_id) as path:
            document = self._load(path)
            if document["secrets"].get(name) == value:
                return
            document["secrets"][name] = value
            self._save(path, document)

    def get_all(self, deployment_id: str) -> dict[str, str]:
        with self._locked(deployment_id) as path:
            return dict(self._load(path)["secrets"])

    def delete_deployment(self, deployment_id: str) -> bool:
        with self._locked(deployment_id) as path:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            return True

    def _read_keypair(self, deployment_id: str) -> dict[str, str] | None:
        with self._locked(deployment_id) as path:
            return self._load(path).get("ssh")

    def _write_keypair(self, deployment_id: str, keypair: dict[str, str]) -> None:
        with self._locked(deployment_id) as path:
            document = self._load(path)
            if document.get("ssh"):
                raise OperationFailed(f"{path} got an SSH keypair concurrently; run the command again")
            document["ssh"] = keypair
            self._save(path, document)
