"""Keep secret values out of everything the CLI stores, and put them back only in memory.

A secret value is replaced, wherever it appears inside a string of a plan, by the marker
``<secret:NAME>``; the values live only in the secret store (Vault or the local Ansible Vault
store). Before configuring, ``secret_role_vars`` gives the role variables whose value holds a
secret: they reach ansible-playbook as encrypted extra vars (infn_cloud.runner), which take
precedence over the redacted host variables of the inventory.
"""

from __future__ import annotations

import json
from typing import Any

MARKER = "<secret:{}>"


def _pairs(secrets: dict[str, str]) -> list[tuple[str, str]]:
    # Longest first, so a secret that contains another one is replaced whole.
    return sorted(
        ((name, str(value)) for name, value in secrets.items() if value not in (None, "")),
        key=lambda p: -len(p[1]),
    )


def redact(value: Any, secrets: dict[str, str]) -> Any:
    text = json.dumps(value)
    for name, secret in _pairs(secrets):
        text = text.replace(json.dumps(secret)[1:-1], MARKER.format(name))
    return json.loads(text)


def unredact(value: Any, secrets: dict[str, str]) -> Any:
    text = json.dumps(value)
    for name, secret in _pairs(secrets):
        text = text.replace(MARKER.format(name), json.dumps(secret)[1:-1])
    return json.loads(text)


def contains_secret(value: Any, secrets: dict[str, str]) -> bool:
    text = json.dumps(value)
    return any(json.dumps(s)[1:-1] in text for _, s in _pairs(secrets))


def secret_role_vars(plan: dict, secrets: dict[str, str]) -> dict[str, Any]:
    """{role variable: value} for every role variable of the (unredacted) plan holding a secret.

    Extra vars are global, so one variable must carry the same secret on every host; two
    different values for the same name would be a template bug and raise ValueError.
    """
    found: dict[str, Any] = {}
    for entry in plan.get("software") or []:
        for name, value in (entry.get("vars") or {}).items():
            if not contains_secret(value, secrets):
                continue
            if name in found and found[name] != value:
                raise ValueError(f"role variable {name} holds different secrets on different nodes")
            found[name] = value
    return found
