"""A deployment's secret values: stored before anything is created, read back on retry.

The plan's secret values (secret inputs, and secrets found inside maps, lists and marked
properties: ``infn_cloud.tosca.secret_values``) go to the secret store; secret inputs left
empty are generated there (to their constraints); the deployment's SSH keypair is created.
Records get markers instead of values (``stored_inputs``).
"""

from __future__ import annotations

import os
from pathlib import Path

from infn_cloud.deploy.redaction import MARKER, redact


def open_secret_store(state_dir: str | os.PathLike | None = None):
    """The configured secret store; the local one lives in ``<state dir>/secrets``."""
    from infn_cloud.secrets import LocalVaultStore, open_store

    store = open_store()
    if state_dir is not None and isinstance(store, LocalVaultStore):
        return LocalVaultStore(Path(state_dir) / "secrets")
    return store


def prepare(store, deployment_id: str, plan: dict) -> tuple[dict[str, str], list[str]]:
    """Store the plan's secret values, generate the secret inputs left empty, create the SSH
    keypair. Returns ({name: value}, names generated)."""
    from infn_cloud.tosca import secret_values

    secrets: dict[str, str] = {}
    for name, value in secret_values.values(plan).items():
        store.put(deployment_id, name, value)
        secrets[name] = value
    generated = [n for n in plan.get("secrets_to_generate") or [] if n not in secrets]
    for name in generated:
        # generated to satisfy the input's constraints (pattern, lengths): the plan's secret_constraints
        constraints = (plan.get("secret_constraints") or {}).get(name)
        secrets[name] = store.ensure_secret(deployment_id, name, constraints=constraints)
    store.ensure_ssh_keypair(deployment_id)
    return secrets, generated


def load(store, deployment_id: str) -> dict[str, str]:
    values = store.get_all(deployment_id)
    return {k: v for k, v in values.items() if isinstance(v, str)}


def stored_inputs(inputs, plan: dict, secrets: dict[str, str]) -> dict:
    """The inputs as given, for the record: a secret input's value becomes its marker."""
    declared = set(plan.get("secret_inputs") or [])
    stored = {}
    for key, value in dict(inputs or {}).items():
        if key in declared and value not in (None, "") and not isinstance(value, dict | list):
            stored[key] = MARKER.format(key)
        else:
            stored[key] = value
    return redact(stored, secrets)
