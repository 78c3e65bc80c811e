"""Where the collection's files live.

The CLI runs the playbooks, roles, templates and site registries of the infn.cloud
collection. It is installed from a checkout (`pip install -e .`), so the collection root is
the parent of this package; INFN_CLOUD_HOME overrides it (e.g. an unpacked collection).
"""

from __future__ import annotations

import os
from pathlib import Path


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
