"""The collection's module_utils, imported by the CLI: one implementation for both.

Code the Ansible modules need on their target hosts (the Vault client, the deployment id
rule, the SSH keypair generator) lives in ``plugins/module_utils/`` and is shipped with the
modules; the CLI uses the very same code. ``load("_vault")`` imports it under its canonical
name ``ansible_collections.infn.cloud.plugins.module_utils._vault``, the name Ansible's own
loader and the unit tests use, so there is one module object (and one set of exception
classes) per process, whoever imported it first.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

PACKAGE = "ansible_collections.infn.cloud.plugins.module_utils"


def load(name: str) -> ModuleType:
    """``plugins/module_utils/<name>.py`` of this checkout, imported once per process."""
    qualified = f"{PACKAGE}.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    try:
        return importlib.import_module(qualified)
    except ImportError:
        pass
    from infn_cloud.paths import collections_path, ensure_collection_link

    ensure_collection_link()
    path = str(collections_path())
    if path not in sys.path:
        sys.path.append(path)
    importlib.invalidate_caches()
    return importlib.import_module(qualified)


def check_deployment_id(value: str) -> str:
    """``value`` if it is a deployment id (the collection's one rule), else ValidationError (exit 2)."""
    problem = load("_deployment").deployment_id_problem(value)
    if problem:
        from infn_cloud.errors import ValidationError

        raise ValidationError(problem)
    return value
