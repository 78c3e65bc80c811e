"""Where the collection's files live, and where deployments are recorded.

The CLI and the modules need the infn.cloud collection's files: the TOSCA catalogue and
types (tosca_templates/), the site registries (inventories/), the playbooks, the roles and
the plugins ansible-playbook loads. ``collection_root()`` finds them, first match wins:

1. ``$INFN_CLOUD_HOME``: a checkout or an installed or unpacked collection (a folder with
   galaxy.yml or MANIFEST.json). Set but wrong is an error, never silently skipped.
2. The checkout this package runs from (``pip install -e .``): the package's parent folder,
   when it holds galaxy.yml.
3. The collection shipped in the wheel: ``pip install infn-cloud`` puts a copy of the
   collection next to this package, in ``site-packages/ansible_collections/infn/cloud``, the
   place where the ``ansible`` package keeps its collections (ansible-playbook of that Python
   finds ``infn.cloud.*`` there too). Same version as this package, by construction.
4. An installed collection on ansible's collection search path (``ansible-galaxy collection
   install``): ANSIBLE_COLLECTIONS_PATH and ansible.cfg's collections_path as ansible reads
   them (ansible's defaults ~/.ansible/collections and /usr/share/ansible/collections when
   ansible's configuration cannot be read here), then ``ansible_collections`` folders on
   ``sys.path``.

Nothing found: CollectionNotFoundError (exit code 3) saying where it looked.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from infn_cloud.errors import NotFoundError, UsageError

HOME_ENV = "INFN_CLOUD_HOME"
NAMESPACE, NAME = "infn", "cloud"
_PACKAGE_PARENT = Path(__file__).resolve().parents[1]
_DEFAULT_COLLECTIONS_PATHS = ("~/.ansible/collections", "/usr/share/ansible/collections")


class CollectionNotFoundError(NotFoundError, FileNotFoundError):
    """The infn.cloud collection's files are nowhere (also a FileNotFoundError for callers)."""


def display_path(path: str) -> str:
    """A path as messages show it: relative to the working directory when below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def _is_checkout(path: Path) -> bool:
    return (path / "galaxy.yml").is_file()


def _is_collection(path: Path) -> bool:
    """An infn.cloud collection folder: a checkout (galaxy.yml) or an installed one (MANIFEST.json)."""
    if _is_checkout(path):
        return True
    try:
        info = json.loads((path / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(info, dict) and (info.get("namespace"), info.get("name")) == (NAMESPACE, NAME)


def _in_module_run() -> bool:
    """Whether this runs inside a module (AnsiballZ): there, importing ansible's controller code
    (ansible.constants) makes ansible's module result encoder take the controller's and fail."""
    ansible = sys.modules.get("ansible")
    return ".zip" in str(getattr(ansible, "__file__", "") or "")


def ansible_collections_paths() -> list[Path]:
    """ansible's collection search path, in ansible's order (configured paths, then sys.path)."""
    configured: list[str] | None = None
    if not _in_module_run():
        try:
            # ansible's own reading of ANSIBLE_COLLECTIONS_PATH and ansible.cfg
            from ansible import constants

            configured = list(constants.COLLECTIONS_PATHS)
        except Exception:  # noqa: S110 - ImportError, or an ansible.cfg ansible itself refuses
            pass
    if configured is None:
        env = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get("ANSIBLE_COLLECTIONS_PATHS")
        configured = env.split(os.pathsep) if env else list(_DEFAULT_COLLECTIONS_PATHS)
    paths = [Path(p).expanduser() for p in configured if p]
    paths += [Path(p) for p in sys.path if p and (Path(p) / "ansible_collections").is_dir()]
    unique: list[Path] = []
    for path in paths:
        if path not in unique:
            unique.append(path)
    return unique


def _candidates() -> Iterator[Path]:
    """The wheel's copy, then ansible's search path (computed only when the wheel has none)."""
    yield _PACKAGE_PARENT / "ansible_collections" / NAMESPACE / NAME
    for base in ansible_collections_paths():
        yield base / "ansible_collections" / NAMESPACE / NAME


def collection_root() -> Path:
    """The folder of the infn.cloud collection (see the module docstring for the order)."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser()
        if not _is_collection(root):
            raise CollectionNotFoundError(
                f"{HOME_ENV}={home} is not an infn.cloud collection (no galaxy.yml, no MANIFEST.json "
                "of infn.cloud)",
                details=[f"set {HOME_ENV} to a checkout or an installed infn.cloud collection, or unset it"],
            )
        return root.resolve()
    if _is_checkout(_PACKAGE_PARENT):
        return _PACKAGE_PARENT
    looked = []
    for path in _candidates():
        if _is_collection(path):
            return path.resolve()
        looked.append(str(path))
    raise CollectionNotFoundError(
        "the infn.cloud collection's files were not found",
        details=[
            f"looked in: {', '.join(looked)}",
            "install the infn-cloud wheel (it carries the collection), install the collection with "
            f"`ansible-galaxy collection install`, or set {HOME_ENV} to a checkout",
        ],
    )


def default_registry() -> Path:
    """The site registry used when none is given: the collection's inventories/local."""
    return collection_root() / "inventories" / "local"


def collections_path() -> Path:
    """A folder whose ansible_collections/infn/cloud is collection_root(), for ANSIBLE_COLLECTIONS_PATH.

    An installed collection already sits in such a folder; a checkout (or a collection
    unpacked anywhere) is linked as <root>/.ansible/collections/ansible_collections/infn/cloud
    (ensure_collection_link), the place ansible-lint and molecule use too.
    """
    root = collection_root()
    if root.parts[-3:] == ("ansible_collections", NAMESPACE, NAME):
        return root.parents[2]
    return root / ".ansible" / "collections"


def ensure_collection_link() -> Path:
    """Link the checkout as ansible_collections/infn/cloud so ansible finds infn.cloud.* without Galaxy.

    Nothing to do for an installed collection. Same place ansible-lint and molecule
    (ansible-compat) use for the project's own collection.
    """
    root = collection_root()
    link = collections_path() / "ansible_collections" / NAMESPACE / NAME
    if link == root:
        return link
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
