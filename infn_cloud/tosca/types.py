"""The TOSCA type system: normative types, imported type files, inheritance lookups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import toscaparser

from infn_cloud.tosca.yamlio import Mapping, load_file

SECTIONS = (
    "node_types",
    "relationship_types",
    "capability_types",
    "data_types",
    "interface_types",
    "artifact_types",
    "policy_types",
    "group_types",
)
PREFIX = {
    "node_types": "tosca.nodes.",
    "relationship_types": "tosca.relationships.",
    "capability_types": "tosca.capabilities.",
    "data_types": "tosca.datatypes.",
    "interface_types": "tosca.interfaces.",
    "artifact_types": "tosca.artifacts.",
    "policy_types": "tosca.policies.",
    "group_types": "tosca.groups.",
}
PRIMITIVES = {
    "string",
    "integer",
    "float",
    "boolean",
    "timestamp",
    "null",
    "version",
    "range",
    "list",
    "map",
    "any",
    "scalar-unit.size",
    "scalar-unit.time",
    "scalar-unit.frequency",
    "scalar-unit.bitrate",
}

# tosca-parser's copy of the TOSCA Simple Profile 1.0 normative types is correct: reuse it.
NORMATIVE_FILE = Path(toscaparser.__file__).parent / "elements" / "TOSCA_definition.yaml"


@dataclass(frozen=True)
class TypeDef:
    name: str
    section: str
    body: Mapping
    file: str

    def get(self, key, default=None):
        return self.body.get(key, default) if isinstance(self.body, dict) else default


class TypeRegistry:
    """All types visible to a template; child definitions override their parents'."""

    def __init__(self):
        self.defs: dict[str, dict[str, TypeDef]] = {section: {} for section in SECTIONS}
        self._merged: dict = {}
        self._chains: dict = {}
        self.add_document(load_file(NORMATIVE_FILE, cache=True), str(NORMATIVE_FILE), normative=True)

    def add_document(self, doc, file: str, normative: bool = False) -> None:
        for section in SECTIONS:
            entries = doc.get(section) if isinstance(doc, dict) else None
            if not isinstance(entries, dict):
                continue
            for name, body in entries.items():
                if body is None:
                    body = Mapping()
                # Later definitions of the same name (INFN repeats some in several files)
                # replace earlier ones, except that nobody silently redefines a normative type.
                existing = self.defs[section].get(name)
                if existing is not None and not normative and existing.file == str(NORMATIVE_FILE):
                    if not _extends_normative(body):
                        continue
                self.defs[section][name] = TypeDef(name, section, body, file)
        self._merged.clear()
        self._chains.clear()

    def resolve_name(self, section: str, name) -> str | None:
        if not isinstance(name, str):
            return None
        table = self.defs[section]
        if name in table:
            return name
        # TOSCA short names, as the spec and tosca-parser read them: "Compute", "tosca:Compute",
        # and the normative network types ("PortSpec", "Port", "LinksTo", "Bindable").
        short = name.split(":", 1)[1] if name.startswith("tosca:") else name
        for candidate in (short, PREFIX[section] + short, PREFIX[section] + "network." + short):
            if candidate in table:
                return candidate
        return None

    def get(self, section: str, name) -> TypeDef | None:
        resolved = self.resolve_name(section, name)
        return self.defs[section][resolved] if resolved else None

    def chain(self, section: str, name) -> list[TypeDef]:
        """The type and its ancestors, most derived first (stops at cycles or unknown parents)."""
        if not isinstance(name, str):  # a list or map where a type name belongs: no type
            return []
        key = (section, name)
        if key in self._chains:
            return self._chains[key]
        result: list[TypeDef] = []
        seen = set()
        current = self.get(section, name)
        while current is not None and current.name not in seen:
            seen.add(current.name)
            result.append(current)
            parent = current.get("derived_from")
            current = self.get(section, parent) if parent else None
        self._chains[key] = result
        return result

    def has_cycle(self, section: str, name) -> bool:
        chain = self.chain(section, name)
        if not chain:
            return False
        parent = chain[-1].get("derived_from")
        return bool(parent) and self.resolve_name(section, parent) in {t.name for t in chain}

    def is_a(self, section: str, name, parent: str) -> bool:
        return any(t.name == parent for t in self.chain(section, name))

    def merged(self, section: str, name, key: str) -> dict:
        """Merge `key` (properties, attributes, capabilities, interfaces) along the chain.

        Returns {item_name: (definition, file)}; a child's definition is merged over its
        parent's so that e.g. a redefined property keeps the parent's type when it only
        changes the default.
        """
        if not isinstance(name, str):
            return {}
        cache_key = (section, name, key)
        if cache_key in self._merged:
            return self._merged[cache_key]
        result: dict = {}
        for typedef in reversed(self.chain(section, name)):
            items = typedef.get(key)
            if not isinstance(items, dict):
                continue
            for item_name, definition in items.items():
                if (
                    isinstance(definition, dict)
                    and item_name in result
                    and isinstance(result[item_name][0], dict)
                ):
                    combined = Mapping(result[item_name][0])
                    combined.update(definition)
                    combined.line, combined.column = (
                        getattr(definition, "line", 0),
                        getattr(definition, "column", 0),
                    )
                    result[item_name] = (combined, typedef.file)
                else:
                    result[item_name] = (definition, typedef.file)
        self._merged[cache_key] = result
        return result

    def requirements(self, node_type) -> list[tuple[str, dict, str]]:
        """Requirement definitions of a node type, parents first, a child's replacing its parent's."""
        if not isinstance(node_type, str):
            return []
        cache_key = ("node_types", node_type, "requirements")
        if cache_key in self._merged:
            return self._merged[cache_key]
        order: list[str] = []
        found: dict = {}
        for typedef in reversed(self.chain("node_types", node_type)):
            for entry in typedef.get("requirements") or []:
                if not isinstance(entry, dict) or len(entry) != 1:
                    continue
                req_name, definition = next(iter(entry.items()))
                if req_name not in found:
                    order.append(req_name)
                found[req_name] = (
                    definition if isinstance(definition, dict) else {"capability": definition},
                    typedef.file,
                )
        result = [(n, found[n][0], found[n][1]) for n in order]
        self._merged[cache_key] = result
        return result

    def data_type_base(self, name) -> str | None:
        """The primitive a data type derives from (e.g. PortDef -> integer), or None for complex types."""
        for typedef in self.chain("data_types", name):
            if isinstance(typedef.get("type"), str) and typedef.get("type") in PRIMITIVES:
                return typedef.get("type")
            parent = typedef.get("derived_from")
            if isinstance(parent, str) and parent in PRIMITIVES:
                return parent
        return None


def _extends_normative(body) -> bool:
    # INFN files re-declare tosca.datatypes.Root / tosca.artifacts.Implementation.YAML; accept a
    # re-declaration only when it adds something beyond a description.
    return isinstance(body, dict) and bool(set(body) - {"description", "derived_from"})
