"""Keep secret values out of everything the CLI prints or stores; put them back only in memory.

One redactor for every place: it walks the data structure (maps, lists, scalars), never its
JSON text, so no value can break an escape sequence. Inside a string, every occurrence of a
secret value is replaced by the marker ``<secret:NAME>`` in a single pass (longest values
first, and a marker is never searched again: a secret that is a substring of another one, or
of the word "secret", cannot corrupt a marker). A number equal to a secret becomes the marker
too. Map keys are names, never values, and are left alone. ``unredact`` puts the values back
(a number comes back as text).

The values live only in the secret store (Vault or the local Ansible Vault store). Before
configuring, ``secret_role_vars`` gives the role variables whose value holds a secret: they
reach ansible-playbook as encrypted extra vars (infn_cloud.runner), which take precedence
over the redacted host variables of the inventory.

One marker, ``<secret:NAME>`` (infn_cloud.secrets.base.MARKER), in plans, documents, stored
inputs, logs, ``plan`` output and the human output of ``outputs``. Templates may give an
output the value ``secret:NAME``: a reference to a stored secret, not a value. It is kept as
written in records and ``--json`` (a public interface), shown as the marker, and resolved by
``outputs --show-secrets`` (``reference_name``, ``mask_references``, ``resolve_outputs`` below).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from infn_cloud.errors import ValidationError
from infn_cloud.secrets.base import MARKER, MARKER_RE, SECRET_NAME_PATTERN

__all__ = [
    "MARKER",
    "MARKER_RE",
    "NAME_KEYS",
    "Redactor",
    "contains_secret",
    "mask_references",
    "redact",
    "redact_plan",
    "redact_template_text",
    "reference_name",
    "resolve_outputs",
    "secret_role_vars",
    "unredact",
]

REFERENCE_PREFIX = "secret:"
_REFERENCE_RE = re.compile(rf"secret:({SECRET_NAME_PATTERN})")
# Top-level plan keys that hold secret *names* (chosen by the template author), not values.
NAME_KEYS = ("secret_inputs", "secrets_to_generate", "secret_values", "secret_vars")


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value)
        return text or None
    return None


class Redactor:
    """Replaces the values of ``secrets`` ({name: value}) by markers in any JSON-like data."""

    def __init__(self, secrets: Mapping[str, Any]):
        self.names: dict[str, str] = {}  # value text -> name (the first name, sorted, wins)
        for name in sorted(secrets):
            text = _text(secrets[name])
            if text is not None:
                self.names.setdefault(text, name)
        ordered = sorted(self.names, key=lambda t: (-len(t), t))
        # Existing markers match first and are kept as they are: redacting twice changes
        # nothing, and a secret such as "secret" cannot eat into a marker.
        self._pattern = (
            re.compile("|".join([MARKER_RE.pattern, *(re.escape(t) for t in ordered)])) if ordered else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def _replace(self, match: re.Match) -> str:
        if match.group(1) is not None:
            return match.group(0)
        return MARKER.format(self.names[match.group(0)])

    def text(self, value: str) -> str:
        if self._pattern is None or not isinstance(value, str):
            return value
        return self._pattern.sub(self._replace, value)

    def _in_text(self, value: str) -> bool:
        return any(m.group(1) is None for m in self._pattern.finditer(value))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        if isinstance(value, int | float) and not isinstance(value, bool) and str(value) in self.names:
            return MARKER.format(self.names[str(value)])
        return value

    def contains(self, value: Any) -> bool:
        if self._pattern is None:
            return False
        if isinstance(value, str):
            return self._in_text(value)
        if isinstance(value, Mapping):
            return any(self.contains(item) for item in value.values())
        if isinstance(value, list | tuple):
            return any(self.contains(item) for item in value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value) in self.names
        return False


def redact(value: Any, secrets: Mapping[str, Any]) -> Any:
    """A copy of ``value`` with every secret value replaced by its marker."""
    return Redactor(secrets)(value)


def redact_plan(plan: dict, secrets: Mapping[str, Any]) -> dict:
    """A plan (or resolved plan) for storing or printing: values redacted, secret names kept."""
    redactor = Redactor(secrets)
    return {key: (value if key in NAME_KEYS else redactor(value)) for key, value in plan.items()}


def unredact(value: Any, secrets: Mapping[str, Any]) -> Any:
    """A copy of ``value`` with every marker of a known secret replaced by the value."""

    def fill(text: str) -> Any:
        whole = MARKER_RE.fullmatch(text)
        if whole and whole.group(1) in secrets:
            return secrets[whole.group(1)]
        return MARKER_RE.sub(lambda m: str(secrets.get(m.group(1), m.group(0))), text)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return fill(item) if "<secret:" in item else item
        if isinstance(item, Mapping):
            return {key: walk(child) for key, child in item.items()}
        if isinstance(item, list | tuple):
            return [walk(child) for child in item]
        return item

    return walk(value)


def reference_name(value: Any) -> str | None:
    """NAME when ``value`` is a template output's reference ``secret:NAME``, else None."""
    if isinstance(value, str):
        match = _REFERENCE_RE.fullmatch(value)
        if match:
            return match.group(1)
    return None


def mask_references(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs for display: a ``secret:NAME`` reference is shown as the marker ``<secret:NAME>``."""
    return {key: (MARKER.format(reference_name(v)) if reference_name(v) else v) for key, v in outputs.items()}


def resolve_outputs(outputs: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs with their secrets (``outputs --show-secrets``): markers and references of a
    known secret replaced by its value; an unknown one is left as it is."""
    resolved = unredact(dict(outputs), secrets)
    names = {key: reference_name(value) for key, value in resolved.items()}
    return {key: (secrets[names[key]] if names[key] in secrets else v) for key, v in resolved.items()}


def contains_secret(value: Any, secrets: Mapping[str, Any]) -> bool:
    return Redactor(secrets).contains(value)


def _has_marker(value: Any) -> bool:
    if isinstance(value, str):
        return MARKER_RE.search(value) is not None
    if isinstance(value, Mapping):
        return any(_has_marker(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_marker(item) for item in value)
    return False


def secret_role_vars(plan: dict, secrets: Mapping[str, Any]) -> dict[str, Any]:
    """{role variable: value} for every role variable of the plan holding a secret (a value of
    ``secrets``, or a marker when the plan is already redacted).

    Extra vars are global, so one variable must carry the same value on every host; two
    different values for the same name are refused (ValidationError, exit 2).
    """
    redactor = Redactor(secrets)
    found: dict[str, Any] = {}
    nodes: dict[str, str] = {}
    for entry in plan.get("software") or []:
        for name, value in (entry.get("vars") or {}).items():
            if not (redactor.contains(value) or _has_marker(value)):
                continue
            if name in found and found[name] != value:
                raise ValidationError(
                    f"role variable {name} holds a secret with different values on nodes "
                    f"{nodes[name]} and {entry.get('node')}",
                    details=[
                        "secret role variables reach ansible-playbook as extra vars, one value per "
                        "deployment: give both nodes the same value, or deploy them separately"
                    ],
                )
            found[name] = value
            nodes.setdefault(name, str(entry.get("node")))
    return found


# -- the template text --------------------------------------------------------------------
def redact_template_text(text: str | None, secrets: Mapping[str, Any]) -> str | None:
    """The template's YAML text with every secret value (defaults included) replaced.

    Scalar values holding a secret are rewritten as double-quoted YAML strings with markers, so
    the text stays valid YAML and keeps its layout; comments are cleaned as they are written.
    Map keys are names and stay. If a value could still be read back from the result (an
    unusual spelling in the source), the text is not kept: None.
    """
    if text is None:
        return None
    redactor = Redactor(secrets)
    if not redactor:
        return text
    import json

    import yaml

    try:
        tokens = [t for t in yaml.scan(text, Loader=yaml.SafeLoader) if isinstance(t, yaml.ScalarToken)]
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:  # not YAML after all: clean it as plain text
        cleaned = redactor.text(text)
        return None if redactor.contains(cleaned) else cleaned
    values: dict[int, str] = {}  # start offset of a value scalar -> its replacement
    stack, seen = ([root] if root is not None else []), set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(item for _key, item in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode) and redactor.contains(node.value):
            values[node.start_mark.index] = json.dumps(redactor.text(node.value), ensure_ascii=False)
    out: list[str] = []
    position = 0
    for token in tokens:
        start, end = token.start_mark.index, token.end_mark.index
        out.append(redactor.text(text[position:start]))  # indicators, blanks and comments
        written = text[start:end]
        if start in values:  # a block scalar's span ends with its line break: keep it
            written = values[start] + written[len(written.rstrip()) :]
        out.append(written)
        position = end
    out.append(redactor.text(text[position:]))
    cleaned = "".join(out)
    try:
        readable = yaml.safe_load(cleaned)
    except yaml.YAMLError:
        return None
    return None if redactor.contains(readable) else cleaned
