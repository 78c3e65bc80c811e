"""Where the collection's files live.

The CLI runs the playbooks, roles, templates and site registries of the infn.cloud
collection. It is installed from a checkout (`pip install -e .`), so the collection root is
the parent of this package; INFN_CLOUD_HOME overrides it (e.g. an unpacked collection).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from infn_cloud.errors import UsageError


def collection_root() -> Path:
    root = Path(os.environ.get("INFN_CLOUD_HOME") or Path(__file__).resolve().parents[1])
    if not (root / "galaxy.yml").is_file():
        raise FileNotFoundError(
            f"{root} is not an infn.cloud checkout (no galaxy.yml); set INFN_CLOUD_HOME to one"
        )
    return root


def collections_path() -> Path:
    """The directory holding ansible_collections/infn/cloud -> the checkout (see ensure_collection_link)."""
    return collection_root() / ".ansible" / "collections"


def ensure_collection_link() -> Path:
    """Link the checkout as ansible_collections/infn/cloud so ansible finds infn.cloud.* without Galaxy.

    Same place ansible-lint and molecule (ansible-compat) use for the project's own collection.
    """
    root = collection_root()
    link = collections_path() / "ansible_collections" / "infn" / "cloud"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() == root:
        return link
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(root, link.parent), target_is_directory=True)
    return link


def state_home() -> Path:
    """XDG state directory for deployment records (overridable with INFN_CLOUD_STATE_DIR)."""
    override = os.environ.get("INFN_CLOUD_STATE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "infn-cloud"


def private_dir(path: str | os.PathLike, what: str = "state directory") -> Path:
    """``path`` as a directory only this user can change; for the state directory (--state-dir).

    - Missing: created, with its missing parents, mode 0700. Only folders created here get a
      mode: an existing folder is never chmod'ed (``--state-dir /tmp`` as root must not turn
      /tmp into 0700).
    - Existing: used as it is when it is a directory owned by this user that neither group nor
      others can write to (a symbolic link to it must be this user's too). Anything else is
      refused (UsageError): in a folder others can write to they could swap or plant the
      database, logs and secret files. Reading by others is the folder owner's choice: the
      files inside are 0600 and the subfolders 0700.
    """
    path = Path(path)
    created = []
    probe = path
    while not os.path.lexists(probe):
        created.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(created):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # created meantime by someone: checked below like any existing folder
        except OSError as exc:
            raise UsageError(
                f"{what} {path}: cannot create {folder}: {exc.strerror}",
                details=["choose another one with --state-dir DIR or INFN_CLOUD_STATE_DIR"],
            ) from None
        os.chmod(folder, 0o700)  # mkdir's mode went through the umask
    _check_private_dir(path, what)
    return path


def _check_private_dir(path: Path, what: str) -> None:
    me = os.geteuid()
    hint = (
        "give a folder of your own that does not exist yet (infn-cloud creates it, mode 0700), "
        "e.g. --state-dir ~/.local/state/infn-cloud-NAME, or fix this one's owner and mode"
    )
    try:
        link = os.lstat(path)
        info = os.stat(path)
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot use it: {exc.strerror}", details=[hint]) from None
    if stat.S_ISLNK(link.st_mode) and link.st_uid != me:
        raise UsageError(
            f"{what} {path} is a symbolic link owned by uid {link.st_uid}, not by you (uid {me}): refused",
            details=[hint],
        )
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{what} {path} exists and is not a directory", details=[hint])
    if info.st_uid != me:
        raise UsageError(
            f"{what} {path} is owned by uid {info.st_uid}, not by you (uid {me}): refused "
            "(its owner could read or replace the deployment records and secrets)",
            details=[hint],
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise UsageError(
            f"{what} {path} can be written by {'others' if mode & 0o002 else 'its group'} "
            f"(mode {mode:04o}): refused (they could replace the deployment records and secrets); "
            "infn-cloud does not change the mode of a folder it did not create",
            details=[hint, f"or, if it is yours alone: chmod go-w {path}"],
        )
