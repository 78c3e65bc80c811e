"""Find the secret values of a plan: where they are, and a stable name for each.

A value is secret when

- it is a top-level input the template declares secret (``validate.is_secret_input``: listed
  in ``metadata.secret_inputs``, ``metadata: {secret: true}``, or named/described like one);
- it sits under a key that names a secret, at any depth of the inputs and of the node
  properties: maps, lists, and INFN's list-of-single-entry-maps style for environment
  variables (``[{MYSQL_ROOT_PASSWORD: x}]``) as well as ``[{name: DB_PASSWORD, value: x}]``;
- it is the value of a property (of a node type or of a data type) whose definition carries
  ``metadata: {secret: true}``;
- it is a PEM private key, whatever its key is called.

Role variables a template sets directly (``interfaces.Standard.configure.inputs`` with a literal
value) are searched the same way, by key name.

Everything below a secret key is secret (``credentials: {user: a, pass: b}``). Booleans (flags
like ``ssh_password_authentication``), empty values, unresolved TOSCA functions and SSH/PEM
public keys are never secret values. Numbers under a secret key are (stored as text).

``discover`` returns, for the plan, ``[{"name": NAME, "paths": [path, ...]}]``: each path is a
list of keys/indexes into the plan (``["inputs", "env", "DB_PASSWORD"]``,
``["nodes", "app", "properties", "environment", "DB_PASSWORD"]``). One value reached in several
places (an input and the property fed from it) gets one name. Names are stable: the same
template and inputs give the same names, so ``retry`` finds the stored values again.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from infn_cloud.secrets.base import MARKER_RE
from infn_cloud.tosca.values import is_function

# A word of a key (split at _, -, ., spaces and camelCase) equal to one of these names a secret.
SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "tokens",
        "credential",
        "credentials",
        "creds",
        "key",
        "keys",
        "apikey",
        "privatekey",
        "secretkey",
        "accesskey",
        "pat",
    }
)
# A word containing one of these names a secret too (DBPASSWORD, mysqlpasswd, xapikey).
SECRET_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "credential",
    "apikey",
    "secretkey",
    "privatekey",
    "accesskey",
)
# A key ending with one of these words describes a secret without holding it: a file or URL,
# a length or lifetime, a name or id, a switch.
QUALIFIERS = frozenset(
    {
        "file",
        "files",
        "path",
        "dir",
        "directory",
        "url",
        "uri",
        "endpoint",
        "length",
        "len",
        "size",
        "bits",
        "ttl",
        "lifetime",
        "expiry",
        "expiration",
        "expires",
        "timeout",
        "type",
        "name",
        "names",
        "id",
        "ids",
        "format",
        "algorithm",
        "enabled",
        "enable",
        "disabled",
        "authentication",
        "policy",
        "mode",
        "min",
        "max",
        "count",
        "header",
        "claim",
        "location",
        "ref",
    }
)
# SSH and PEM public material: never a secret, whatever the key says.
_PUBLIC_VALUE = re.compile(
    r"^\s*((ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s"
    r"|-----BEGIN (PUBLIC KEY|CERTIFICATE|SSH2 PUBLIC KEY)-----)"
)
_PRIVATE_VALUE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 128


def key_words(key: str) -> list[str]:
    """Lower-case words of a key: ``MYSQL_ROOT_PASSWORD`` -> mysql root password, ``apiKey`` -> api key."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(key))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_key(key: Any) -> bool:
    """Whether a map key (property, input, environment variable) names a secret value."""
    if not isinstance(key, str):
        return False
    words = key_words(key)
    if not words:
        return False
    if {"public", "pub", "authorized"} & set(words):
        return False
    if "ssh" in words and {"key", "keys"} & set(words) and "private" not in words:
        return False  # ssh_key, ssh_keys: authorized public keys
    if words[-1] in QUALIFIERS:
        return False
    return any(w in SECRET_WORDS or any(p in w for p in SECRET_PARTS) for w in words)


def is_public_value(value: Any) -> bool:
    return isinstance(value, str) and bool(_PUBLIC_VALUE.match(value))


def is_private_key_value(value: Any) -> bool:
    return isinstance(value, str) and bool(_PRIVATE_VALUE.search(value))


def _is_secret_leaf(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return value != "" and not is_public_value(value)
    return isinstance(value, int | float)


def secret_name(parts: list) -> str:
    """A secret-store name for a path: ``env.DB_PASSWORD``; list indexes are left out."""
    words = [str(p) for p in parts if not isinstance(p, int)]
    name = _NAME_CHARS.sub("_", ".".join(words)).lstrip("._-") or "secret"
    if name != ".".join(words) or len(name) > _MAX_NAME:
        digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:8]
        name = f"{name[: _MAX_NAME - 9]}-{digest}"
    return name


def _value_key(value) -> tuple:
    return (str if isinstance(value, str) else float, value)


class _Finder:
    def __init__(self, registry=None):
        self.registry = registry
        self.entries: list[dict] = []
        self._by_value: dict[tuple[type, Any], dict] = {}
        self._names: set[str] = set()
        self.seen: set[tuple] = set()  # every value met in inputs and properties
        self.literals_only = False  # role variables: only values no input or property gave

    # -- type definitions (optional: without a registry only key names count) ---------------
    def _data_properties(self, definition) -> dict:
        """{property: definition} of the data type a definition (or its entry_schema) names."""
        if self.registry is None or not isinstance(definition, dict):
            return {}
        type_name = definition.get("type")
        if not isinstance(type_name, str) or self.registry.get("data_types", type_name) is None:
            return {}
        return {k: d for k, (d, _f) in self.registry.merged("data_types", type_name, "properties").items()}

    @staticmethod
    def _entry_schema(definition):
        schema = definition.get("entry_schema") if isinstance(definition, dict) else None
        if isinstance(schema, str):
            return {"type": schema}
        return schema if isinstance(schema, dict) else None

    @staticmethod
    def marking(definition) -> bool | None:
        """``metadata: {secret: true|false}`` of a definition; None when it does not say."""
        meta = definition.get("metadata") if isinstance(definition, dict) else None
        flag = meta.get("secret") if isinstance(meta, dict) else None
        if flag in (True, "true"):
            return True
        if flag in (False, "false"):
            return False
        return None

    @classmethod
    def is_secret(cls, key, definition, inherited: bool) -> bool:
        """A type's explicit marking wins over the key's name and over an enclosing secret."""
        marking = cls.marking(definition)
        return marking if marking is not None else inherited or is_secret_key(key)

    # -- walking ------------------------------------------------------------------------------
    def walk(self, value, path: list, name_parts: list, secret: bool, definition=None) -> None:
        if is_function(value):
            return  # known only after deployment (get_attribute): not a value yet
        if isinstance(value, dict):
            props = self._data_properties(definition)
            entry = self._entry_schema(definition)
            pair_secret = is_secret_key(value.get("name")) and "value" in value
            for key, child in value.items():
                child_def = props.get(key) if key in props else entry
                child_secret = self.is_secret(key, child_def, secret) or (pair_secret and key == "value")
                label = value.get("name") if pair_secret and key == "value" else key
                self.walk(child, [*path, key], [*name_parts, label], child_secret, child_def)
            return
        if isinstance(value, list | tuple):
            entry = self._entry_schema(definition)
            for index, child in enumerate(value):
                self.walk(child, [*path, index], [*name_parts, index], secret, entry)
            return
        if self.literals_only:
            if _value_key(value) in self.seen:
                return  # fed from an input or a property: decided there (types may say not secret)
        elif _is_secret_leaf(value):
            self.seen.add(_value_key(value))
        if (secret and _is_secret_leaf(value)) or is_private_key_value(value):
            self.add(value, path, name_parts)

    def add(self, value, path: list, name_parts: list, name: str | None = None) -> None:
        key = _value_key(value)
        found = self._by_value.get(key)
        if found is not None and name is None:
            if path not in found["paths"]:
                found["paths"].append(path)
            return
        name = name or secret_name(name_parts)
        base, n = name, 2
        while name in self._names:  # same name, another value: number it
            name = f"{base}.{n}"
            n += 1
        self._names.add(name)
        found = {"name": name, "paths": [path]}
        self._by_value.setdefault(key, found)
        self.entries.append(found)


def discover(plan: dict, analysis=None) -> list[dict]:
    """The secret values of a plan (built by planner.plan_from_analysis): ``[{"name", "paths"}]``.

    ``analysis`` (validate.Analysis) gives the type definitions: properties marked
    ``metadata: {secret: true}`` and data-type properties inside lists and maps. Without it
    only key names, declared secret inputs and private keys count.
    """
    template = getattr(analysis, "template", None)
    registry = getattr(template, "registry", None)
    declared = getattr(template, "inputs", None) or {}
    finder = _Finder(registry)
    inputs = plan.get("inputs") or {}
    secret_inputs = set(plan.get("secret_inputs") or [])
    # Declared secret inputs first: their names are the input names (generated secrets and
    # the `secret:NAME` output references use them).
    for name in sorted(secret_inputs):
        value = inputs.get(name)
        if isinstance(value, dict | list):
            finder.walk(value, ["inputs", name], [name], True, declared.get(name))
        elif _is_secret_leaf(value):
            finder.add(value, ["inputs", name], [name], name=name)
    for name in sorted(inputs, key=str):
        if name in secret_inputs:
            continue
        finder.walk(
            inputs[name],
            ["inputs", name],
            [name],
            _Finder.is_secret(name, declared.get(name), False),
            declared.get(name),
        )
    for node in sorted(plan.get("nodes") or {}):
        body = plan["nodes"][node]
        definitions = {}
        if registry is not None and body.get("type"):
            definitions = {
                k: d for k, (d, _f) in registry.merged("node_types", body["type"], "properties").items()
            }
        for prop in sorted(body.get("properties") or {}, key=str):
            definition = definitions.get(prop)
            finder.walk(
                body["properties"][prop],
                ["nodes", node, "properties", prop],
                [node, prop],
                _Finder.is_secret(prop, definition, False),
                definition,
            )
    # Role variables a template sets directly (operation inputs with a literal value); those fed
    # from properties or inputs hold values found above already.
    finder.literals_only = True
    for index, entry in enumerate(plan.get("software") or []):
        for var in sorted(entry.get("vars") or {}, key=str):
            finder.walk(
                entry["vars"][var],
                ["software", index, "vars", var],
                [entry.get("node"), var],
                is_secret_key(var),
            )
    return finder.entries


def _at(plan: Any, path: list) -> Any:
    for step in path:
        if isinstance(plan, dict) and step in plan:
            plan = plan[step]
        elif isinstance(plan, list) and isinstance(step, int) and 0 <= step < len(plan):
            plan = plan[step]
        else:
            return None
    return plan


def values(plan: dict) -> dict[str, str]:
    """{name: value as text} of the plan's ``secret_values`` (the plan must not be redacted)."""
    found: dict[str, str] = {}
    for entry in plan.get("secret_values") or []:
        for path in entry.get("paths") or []:
            value = _at(plan, path)
            if isinstance(value, str) and MARKER_RE.fullmatch(value):
                continue  # a redacted plan: the value is in the secret store
            if _is_secret_leaf(value) or is_private_key_value(value):
                found[entry["name"]] = str(value)
                break
    return found


def of_inputs(analysis, provided) -> dict[str, str]:
    """Secret values among the inputs as given (valid or not) and the declared defaults, found
    before there is a plan: for keeping them out of validation messages and `validate` output."""
    declared = [e for e in getattr(analysis, "declared_inputs", None) or [] if isinstance(e, dict)]
    inputs = {e["name"]: e.get("default") for e in declared}
    for name, value in dict(provided or {}).items():
        inputs[name] = value
    pseudo = {
        "inputs": _plain(inputs),
        "secret_inputs": [e["name"] for e in declared if e.get("secret")],
    }
    pseudo["secret_values"] = discover(pseudo, analysis)
    return values(pseudo)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


__all__ = ["discover", "is_public_value", "is_secret_key", "of_inputs", "secret_name", "values"]
