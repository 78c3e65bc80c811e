"""Loading a TOSCA service template and everything it imports, offline.

URL imports resolve only through import maps (YAML files mapping URL prefixes to local
directories or files); nothing is ever fetched from the network. Relative imports resolve
against the importing file, so our own types need no map.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from infn_cloud.errors import NotFoundError, UsageError
from infn_cloud.tosca.model import Collector
from infn_cloud.tosca.types import TypeRegistry
from infn_cloud.tosca.yamlio import Mapping, YamlSyntaxError, load_file, position

IMPORT_MAP_ENV = "INFN_CLOUD_IMPORT_MAP"
TOSCA_VERSIONS = {
    "tosca_simple_yaml_1_0",
    "tosca_simple_yaml_1_1",
    "tosca_simple_yaml_1_2",
    "tosca_simple_yaml_1_3",
}
_ENV_RE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


@dataclass
class ImportMap:
    """URL prefix -> local path rules; `*` in a prefix matches one path segment (e.g. a git ref)."""

    rules: list[tuple[str, re.Pattern, Path]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, paths) -> ImportMap:
        result = cls()
        for path in paths:
            result.add_file(Path(path))
        return result

    def add_file(self, path: Path) -> None:
        if not path.is_file():
            raise UsageError(f"import map {path} not found")
        try:
            doc = load_file(path)
        except YamlSyntaxError as exc:
            raise UsageError(f"import map {exc}") from None
        entries = doc.get("imports") if isinstance(doc, dict) else None
        if not isinstance(entries, dict):
            raise UsageError(
                f"import map {path}: expected a top-level 'imports:' map of URL prefix -> local path"
            )
        for prefix, target in entries.items():
            if not isinstance(prefix, str) or not isinstance(target, str):
                line = position(entries, prefix)[0]
                raise UsageError(f"import map {path}:{line}: entries must map a URL prefix to a path")
            target = _ENV_RE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), target)
            local = Path(os.path.expanduser(target))
            if not local.is_absolute():
                local = path.parent / local
            pattern = re.compile("^" + re.escape(prefix).replace(r"\*", "[^/]+"))
            self.rules.append((prefix, pattern, local))
        self.files.append(str(path))
        # Longest prefix first: the most specific rule wins.
        self.rules.sort(key=lambda rule: len(rule[0]), reverse=True)

    def resolve(self, url: str) -> Path | None:
        for _prefix, pattern, local in self.rules:
            match = pattern.match(url)
            if match:
                rest = url[match.end() :]
                return local / rest if rest else local
        return None


def import_map_paths(import_map=None) -> list[str]:
    """Explicit map(s) first, then those named by INFN_CLOUD_IMPORT_MAP (os.pathsep-separated)."""
    paths: list[str] = []
    if import_map:
        paths.extend([import_map] if isinstance(import_map, str | Path) else list(import_map))
    env = os.environ.get(IMPORT_MAP_ENV)
    if env:
        paths.extend(p for p in env.split(os.pathsep) if p)
    return [str(p) for p in paths]


@dataclass
class Template:
    """A loaded service template: its document, the types it sees and where they came from."""

    path: str
    doc: Mapping
    registry: TypeRegistry
    imports: list[dict] = field(default_factory=list)

    @property
    def topology(self) -> Mapping:
        topology = self.doc.get("topology_template")
        return topology if isinstance(topology, dict) else Mapping()

    def section(self, name) -> Mapping:
        value = self.topology.get(name)
        return value if isinstance(value, dict) else Mapping()

    @property
    def inputs(self) -> Mapping:
        return self.section("inputs")

    @property
    def node_templates(self) -> Mapping:
        return self.section("node_templates")

    @property
    def outputs(self) -> Mapping:
        return self.section("outputs")

    @property
    def description(self) -> str:
        value = self.doc.get("description")
        return value.strip() if isinstance(value, str) else ""

    @property
    def metadata(self) -> dict:
        value = self.doc.get("metadata")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def policies(self) -> list:
        value = self.topology.get("policies")
        if isinstance(value, dict):  # map form, tolerated
            return [{k: v} for k, v in value.items()]
        return value if isinstance(value, list) else []


def load(path, import_map=None, sink: Collector | None = None) -> Template | None:
    """Load a template into a Template, reporting problems to `sink`; None when it cannot be read."""
    sink = sink if sink is not None else Collector()
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"template {path} not found")
    maps = ImportMap.load(import_map_paths(import_map))
    try:
        doc = load_file(path)
    except YamlSyntaxError as exc:
        sink.error(exc.file, (exc.line, exc.column), "", exc.message, rule="yaml")
        return None
    except UnicodeDecodeError as exc:
        sink.error(str(path), (0, 0), "", f"not a UTF-8 text file: {exc}", rule="yaml")
        return None
    if not isinstance(doc, Mapping):
        sink.error(str(path), (1, 1), "", "a TOSCA template must be a YAML map", rule="structure")
        return None
    file = str(path)
    version = doc.get("tosca_definitions_version")
    if version is None:
        sink.error(file, (1, 1), "tosca_definitions_version", "is missing", rule="structure")
    elif version not in TOSCA_VERSIONS:
        sink.error(
            file,
            doc.pos("tosca_definitions_version"),
            "tosca_definitions_version",
            f"unsupported version '{version}' (supported: {', '.join(sorted(TOSCA_VERSIONS))})",
            rule="structure",
        )
    if "topology_template" in doc and not isinstance(doc.get("topology_template"), dict):
        sink.error(file, doc.pos("topology_template"), "topology_template", "must be a map", rule="structure")
    registry = TypeRegistry()
    template = Template(file, doc, registry)
    _process_imports(doc, path, maps, registry, template, sink, {path.resolve()})
    registry.add_document(doc, file)
    return template


def _import_entries(doc, file, sink):
    imports = doc.get("imports")
    if imports is None:
        return []
    if not isinstance(imports, list):
        sink.error(file, doc.pos("imports"), "imports", "must be a list", rule="imports")
        return []
    entries = []
    for index, entry in enumerate(imports):
        pos = position(imports, index)
        if isinstance(entry, str):
            entries.append((entry, pos))
        elif isinstance(entry, dict) and len(entry) == 1:
            value = next(iter(entry.values()))
            if isinstance(value, dict):
                value = value.get("file")
            if isinstance(value, str):
                entries.append((value, pos))
            else:
                sink.error(file, pos, "import", f"cannot read import entry {entry!r}", rule="imports")
        elif isinstance(entry, dict) and isinstance(entry.get("file"), str):
            entries.append((entry["file"], pos))
        else:
            sink.error(file, pos, "import", f"cannot read import entry {entry!r}", rule="imports")
    return entries


def _process_imports(doc, path: Path, maps: ImportMap, registry, template, sink, seen) -> None:
    file = str(path)
    for target, pos in _import_entries(doc, file, sink):
        local = _resolve_import(target, path, maps)
        if local is None:
            hint = (
                f"no import map entry matches (import maps: {', '.join(maps.files)})"
                if maps.files
                else f"no import map given (use --import-map FILE or {IMPORT_MAP_ENV})"
            )
            sink.error(
                file,
                pos,
                f"import '{target}'",
                f"cannot be resolved offline: {hint}; nothing is fetched from the network",
                rule="imports",
            )
            continue
        if not local.is_file():
            sink.error(
                file, pos, f"import '{target}'", f"resolves to {local}, which does not exist", rule="imports"
            )
            continue
        resolved = local.resolve()
        template.imports.append({"import": target, "file": str(local)})
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            imported = load_file(local, cache=True)
        except YamlSyntaxError as exc:
            sink.error(exc.file, (exc.line, exc.column), f"import '{target}'", exc.message, rule="yaml")
            continue
        if not isinstance(imported, dict):
            sink.error(
                str(local), (1, 1), f"import '{target}'", "is not a TOSCA definitions file", rule="imports"
            )
            continue
        _process_imports(imported, local, maps, registry, template, sink, seen)
        registry.add_document(imported, str(local))


def _resolve_import(target: str, importer: Path, maps: ImportMap) -> Path | None:
    parsed = urlparse(target)
    if parsed.scheme in ("http", "https"):
        return maps.resolve(target)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # other schemes (ftp:, git:) only via a map
        return maps.resolve(target)
    local = Path(os.path.expanduser(target))
    return local if local.is_absolute() else importer.parent / local
