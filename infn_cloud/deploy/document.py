"""The deployment document: one writer for `infn-cloud deploy` and for provision.yml.

``<state dir>/deployments/<id>/deployment.json`` (mode 0600) is what the infn.cloud.deployment
inventory plugin reads: the plan with get_attribute resolved and every secret value replaced
by its ``<secret:NAME>`` marker, the resources a driver reported, the status, the role
variables that hold secrets (``secret_vars``: passed to ansible-playbook as encrypted extra
vars) and the site's ``role_vars`` (host variables of its hosts, docs/federation.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from infn_cloud.deploy.redaction import redact_plan, secret_role_vars
from infn_cloud.paths import state_home

FILE_NAME = "deployment.json"


def deployment_dir(deployment_id: str, state_dir: str | os.PathLike | None = None) -> Path:
    """Where a deployment's document, inventory, log and run artifacts live."""
    return Path(state_dir or state_home()) / "deployments" / deployment_id


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON atomically, readable by this user only (0600, folders 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def build(
    deployment_id: str,
    site,
    resolved_plan: dict,
    resources: dict,
    secrets: dict[str, str],
    status: str = "CREATE_IN_PROGRESS",
) -> dict:
    """The document of a plan whose attributes are resolved (``resolve_attributes``) at
    ``site`` (a registry Site): secret values become markers, their role variables are listed."""
    return {
        "id": deployment_id,
        "site": site.name,
        "plan": redact_plan(resolved_plan, secrets),
        "resources": resources,
        "status": status,
        "secret_vars": sorted(secret_role_vars(resolved_plan, secrets)),
        "site_role_vars": {site.name: dict(getattr(site, "role_vars", None) or {})},
    }


def write(path: Path, document: dict) -> Path:
    write_private_json(path, document)
    return path
