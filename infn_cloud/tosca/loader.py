"""Loading a TOSCA service template and everything it imports, offline.

URL imports resolve only through import maps (YAML files mapping URL prefixes to local
directories or files); nothing is ever fetched from the network. Relative imports resolve
against the importing file, so our own types need no map.

Templates and import maps are untrusted: an import may only read a file inside the template's
own folder, a type library (the bundled tosca_templates/types, INFN's reference types, folders
the operator lists in INFN_CLOUD_IMPORT_ROOTS) or an import-map target, after symlinks are
resolved; import-map targets must lie in the map's own folder or a type library. Absolute
paths, file:// URLs and `~` are refused, and an import outside is refused with one message
whether or not the file exists. Rules in docs/tosca.md ("Untrusted templates: the rules").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from infn_cloud.errors import NotFoundError, ValidationError
from infn_cloud.paths import collection_root
from infn_cloud.tosca.model import Collector, yaml_text
from infn_cloud.tosca.types import TypeRegistry
from infn_cloud.tosca.yamlio import Mapping, NodeBudget, YamlSyntaxError, load_file, load_user_file, position

IMPORT_MAP_ENV = "INFN_CLOUD_IMPORT_MAP"
IMPORT_ROOTS_ENV = "INFN_CLOUD_IMPORT_ROOTS"
REFERENCE_ENV = "INFN_CLOUD_REFERENCE_DIR"
TOSCA_VERSIONS = {
    "tosca_simple_yaml_1_0",
    "tosca_simple_yaml_1_1",
    "tosca_simple_yaml_1_2",
    "tosca_simple_yaml_1_3",
}
_ENV_RE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
# Beyond the YAML limits (infn_cloud.tosca.yamlio), what the engine walks must stay small enough
# to validate and plan in well under a second: INFN's templates have < 20 nodes and types
# derive from < 10 ancestors.
MAX_NODE_TEMPLATES = 1000
MAX_TYPE_DEPTH = 64
# A template and all it imports (INFN's: at most 4 files, 6,000 nodes together).
MAX_IMPORTED_FILES = 64
MAX_TOTAL_NODES = 50_000
# The only environment variables an import-map target may name: folders, never credentials.
_MAP_VARIABLE_RE = re.compile(r"INFN_CLOUD_\w*_DIR")
# Our own type library has a URL like INFN's, so a template anywhere can import it without a map
# (never fetched: it resolves to tosca_templates/types of this collection).
BUNDLED_TYPES_URL = "https://baltig.infn.it/infn-cloud/infn.cloud/raw/*/tosca_templates/types/"
REFUSED_FORM = (
    "absolute paths, file:// URLs and '~' are not allowed in imports: import relative to the "
    "template, or map a URL to a type library with an import map"
)


_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def _scheme(text: str) -> str:
    """The URL scheme of `text` in lower case ('' for a path); never raises on malformed URLs."""
    match = _SCHEME_RE.match(text)
    return match.group(1).lower() if match else ""


def _real(path) -> Path:
    """The path with symlinks resolved and `..` folded (never raises, even on symlink loops)."""
    return Path(os.path.realpath(path))


def _inside(path: Path, roots) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def type_libraries() -> list[Path]:
    """Folders of TOSCA types every template and import map may read (symlinks resolved).

    The bundled library (tosca_templates/types), INFN's reference types ($INFN_CLOUD_REFERENCE_DIR,
    else ../shared/reference next to the collection, /infn-tosca-types) and the folders the
    operator lists in INFN_CLOUD_IMPORT_ROOTS (os.pathsep-separated).
    """
    roots: list[Path] = []
    try:
        home = collection_root()
    except FileNotFoundError:  # not a checkout: no bundled library
        home = None
    if home is not None:
        roots.append(home / "tosca_templates" / "types")
    reference = os.environ.get(REFERENCE_ENV)
    if reference:
        roots.append(Path(reference) / "infn-tosca-types")
    elif home is not None:
        roots.append(home.parent / "shared" / "reference" / "infn-tosca-types")
    roots.extend(Path(p) for p in os.environ.get(IMPORT_ROOTS_ENV, "").split(os.pathsep) if p)
    return [_real(root) for root in roots]


@dataclass
class ImportMap:
    """URL prefix -> local path rules; `*` in a prefix matches one path segment (e.g. a git ref)."""

    rules: list[tuple[str, re.Pattern, Path]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    targets: list[Path] = field(default_factory=list)  # where the rules point, symlinks resolved

    @classmethod
    def load(cls, paths) -> ImportMap:
        result = cls()
        try:
            bundled = collection_root() / "tosca_templates" / "types"
        except FileNotFoundError:  # not a checkout: no bundled library
            bundled = None
        if bundled is not None:
            result.add_rule(BUNDLED_TYPES_URL, bundled)
        for path in paths:
            result.add_file(Path(path))
        return result

    def add_file(self, path: Path) -> None:
        """Read an import map; its content is untrusted (problems: ValidationError, exit 2)."""
        doc = load_user_file(path, "import map")
        entries = doc.get("imports") if isinstance(doc, dict) else None
        if not isinstance(entries, dict):
            raise ValidationError(
                f"import map {path}: expected a top-level 'imports:' map of URL prefix -> local path"
            )
        libraries = type_libraries()
        allowed = [_real(path.parent), *libraries]
        for prefix, target in entries.items():
            line = position(entries, prefix)[0]
            if not isinstance(prefix, str) or not isinstance(target, str):
                raise ValidationError(f"import map {path}:{line}: entries must map a URL prefix to a path")
            if re.search(r"[^/]\*|\*[^/]", prefix):  # `**`, `v*`: backtracking on long URLs
                raise ValidationError(
                    f"import map {path}:{line}: prefix '{prefix}': a '*' must be a whole path segment "
                    "('.../raw/*/')"
                )
            expanded = _expand(target, f"{path}:{line}")
            if "\x00" in expanded:
                raise ValidationError(f"import map {path}:{line}: target contains a NUL character")
            local = Path(expanded)
            if expanded.startswith("~") or _scheme(expanded):
                raise ValidationError(
                    f"import map {path}:{line}: target '{target}': '~' and URLs are not allowed; a "
                    "target is a path relative to the map, or an absolute path inside a type library"
                )
            if not local.is_absolute():
                local = path.parent / local
            if not _inside(_real(local), allowed):
                raise ValidationError(
                    f"import map {path}:{line}: target '{target}' is outside the folders an import "
                    f"map may point to: its own folder and the type libraries "
                    f"({', '.join(str(p) for p in allowed)}; operators add folders with {IMPORT_ROOTS_ENV})"
                )
            self.add_rule(prefix, local)
        self.files.append(str(path))

    def add_rule(self, prefix: str, local: Path) -> None:
        pattern = re.compile("^" + re.escape(prefix).replace(r"\*", "[^/]+"))
        self.rules.append((prefix, pattern, local))
        self.targets.append(_real(local))
        # Longest prefix first: the most specific rule wins.
        self.rules.sort(key=lambda rule: len(rule[0]), reverse=True)

    def resolve(self, url: str) -> Path | None:
        for _prefix, pattern, local in self.rules:
            match = pattern.match(url)
            if match:
                rest = url[match.end() :]
                return local / rest if rest else local
        return None


def _expand(target: str, where: str) -> str:
    """Expand ${INFN_CLOUD_..._DIR} (with an optional :-default); any other variable is refused.

    An import map must not be able to read the environment: the expanded path can appear in
    messages, so ${GITHUB_TOKEN} would print a credential.
    """

    def variable(match: re.Match) -> str:
        name = match.group(1)
        if not _MAP_VARIABLE_RE.fullmatch(name):
            raise ValidationError(
                f"import map {where}: ${{{name}}}: only ${{INFN_CLOUD_..._DIR}} variables may be "
                "used in targets"
            )
        return os.environ.get(name) or (match.group(2) or "")

    return _ENV_RE.sub(variable, target)


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
    budget = NodeBudget(MAX_TOTAL_NODES, "the template and its imports")
    try:
        doc = load_file(path, budget=budget)
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
    elif not isinstance(version, str) or version not in TOSCA_VERSIONS:
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
    allowed = [_real(path.parent), *type_libraries(), *maps.targets]
    _process_imports(doc, path, maps, registry, template, sink, {_real(path)}, allowed, budget)
    registry.add_document(doc, file)
    if not _within_scale(template, sink):
        return None
    return template


def _within_scale(template: Template, sink: Collector) -> bool:
    """Refuse templates the engine could only analyse slowly: too many nodes, too deep a type chain."""
    nodes = template.node_templates
    if len(nodes) > MAX_NODE_TEMPLATES:
        sink.error(
            template.path,
            template.topology.pos("node_templates"),
            "node_templates",
            f"{len(nodes)} node templates; a template may have at most {MAX_NODE_TEMPLATES}",
            rule="limits",
        )
        return False
    registry = template.registry
    for section, table in registry.defs.items():
        depth: dict = {}  # type name -> number of types in its derived_from chain
        for name, typedef in table.items():
            path, current = [], name
            while current is not None and current not in depth and current not in path:
                path.append(current)
                if len(path) > MAX_TYPE_DEPTH:
                    break
                parent = table[current].get("derived_from")
                current = registry.resolve_name(section, parent) if parent else None
            base = depth.get(current, 0) if current is not None and current not in path else 0
            for offset, item in enumerate(reversed(path)):
                depth[item] = base + offset + 1
            if depth[name] > MAX_TYPE_DEPTH:
                sink.error(
                    typedef.file,
                    position(typedef.body),
                    f"{section[:-1].replace('_', ' ')} '{name}'",
                    f"derives from more than {MAX_TYPE_DEPTH} types (derived_from chain); at most "
                    f"{MAX_TYPE_DEPTH} are allowed",
                    rule="limits",
                )
                return False
    return True


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
                sink.error(
                    file, pos, "import", f"cannot read import entry {yaml_text(entry)}", rule="imports"
                )
        elif isinstance(entry, dict) and isinstance(entry.get("file"), str):
            entries.append((entry["file"], pos))
        else:
            sink.error(file, pos, "import", f"cannot read import entry {yaml_text(entry)}", rule="imports")
    return entries


def _process_imports(
    doc, path: Path, maps: ImportMap, registry, template, sink, seen, allowed, budget
) -> None:
    file = str(path)
    for target, pos in _import_entries(doc, file, sink):
        subject = f"import '{target}'"
        if "\x00" in target:
            sink.error(file, pos, subject.replace("\x00", "\\0"), "contains a NUL character", rule="imports")
            continue
        kind, local = _resolve_import(target, path, maps)
        if kind == "refused":
            sink.error(file, pos, subject, REFUSED_FORM, rule="imports")
            continue
        if local is None:
            hint = (
                f"no import map entry matches (import maps: {', '.join(maps.files)})"
                if maps.files
                else f"no import map given (use --import-map FILE or {IMPORT_MAP_ENV})"
            )
            sink.error(
                file,
                pos,
                subject,
                f"cannot be resolved offline: {hint}; nothing is fetched from the network",
                rule="imports",
            )
            continue
        resolved = _real(local)
        # Confinement comes before any look at the file: the same message whether it exists or not.
        if not _inside(resolved, allowed):
            sink.error(
                file,
                pos,
                subject,
                "is outside the folders imports may read: the template's own folder, the type "
                "libraries and import-map targets (symlinks are followed before checking)",
                rule="imports",
            )
            continue
        if not resolved.is_file():
            sink.error(file, pos, subject, f"resolves to {local}, which does not exist", rule="imports")
            continue
        template.imports.append(
            {"import": target, "file": str(local), "resolved": str(resolved), "by": file, "line": pos[0]}
        )
        if resolved in seen:
            continue
        if len(seen) > MAX_IMPORTED_FILES:
            sink.error(
                file,
                pos,
                subject,
                f"the template imports more than {MAX_IMPORTED_FILES} files; at most "
                f"{MAX_IMPORTED_FILES} are allowed",
                rule="limits",
            )
            return
        seen.add(resolved)
        try:
            imported = load_file(resolved, cache=True, budget=budget)
        except YamlSyntaxError as exc:
            sink.error(exc.file, (exc.line, exc.column), subject, exc.message, rule="yaml")
            continue
        except UnicodeDecodeError:
            sink.error(str(local), (0, 0), subject, "not a UTF-8 text file", rule="yaml")
            continue
        if not isinstance(imported, dict):
            sink.error(str(local), (1, 1), subject, "is not a TOSCA definitions file", rule="imports")
            continue
        _process_imports(imported, resolved, maps, registry, template, sink, seen, allowed, budget)
        registry.add_document(imported, str(resolved))


def _resolve_import(target: str, importer: Path, maps: ImportMap) -> tuple[str, Path | None]:
    """("refused", None) for absolute/file:/~ imports, ("url", path or None), ("relative", path)."""
    scheme = _scheme(target)
    if scheme == "file" or target.startswith("~") or Path(target).is_absolute():
        return "refused", None
    if len(scheme) > 1:  # http(s) and any other scheme: only via a map (`c:` is not a scheme)
        local = maps.resolve(target)
        return "url", local
    return "relative", importer.parent / target
