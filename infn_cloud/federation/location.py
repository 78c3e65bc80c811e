"""Which site registry directory a command uses (the CLI, provision.yml's entry point)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from infn_cloud.paths import collection_root, default_registry

REGISTRY_ENV = "INFN_CLOUD_REGISTRY"


def registry_location(
    value: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """``value``, else $INFN_CLOUD_REGISTRY, else the collection's inventories/local.

    A relative path that does not exist from the current directory is looked up in the
    collection root, so `--registry inventories/infn-cloud` works from anywhere.
    """
    env = os.environ if environ is None else environ
    chosen = value or env.get(REGISTRY_ENV)
    if not chosen:
        return default_registry()
    path = Path(chosen).expanduser()
    if not path.is_absolute() and not path.exists():
        try:
            candidate = collection_root() / path
        except (FileNotFoundError, OSError):
            return path
        if candidate.exists():
            return candidate
    return path
