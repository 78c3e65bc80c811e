"""YAML loading that remembers where every key and list item came from.

Errors must say file:line, so mappings and sequences are built as dict/list subclasses that
carry the line and column of each key or item. The raw text of plain scalars is kept too:
YAML 1.1 reads an unquoted `20.10` as the float 20.1, and versions need the text as written.

Every YAML file a user can hand us goes through here and is untrusted: documents over the limits
(size, number of nodes, nesting depth, aliases and what they expand to) are refused from the
parser's event stream before anything is built; see `check_limits` and docs/tosca.md.
"""

from __future__ import annotations

import gc
import os
import stat
from pathlib import Path

import yaml

from infn_cloud.errors import UsageError, ValidationError

try:  # libyaml's parser is ~10x faster and still gives node marks
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _BaseLoader = yaml.SafeLoader


class Mapping(dict):
    """A dict that knows the position of itself and of each key (1-based lines)."""

    __slots__ = ("column", "key_pos", "line", "raw", "source")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = ""  # for inputs: the file they came from
        self.line = 0
        self.column = 0
        self.key_pos: dict = {}
        self.raw: dict = {}

    def pos(self, key=None) -> tuple[int, int]:
        if key is not None and key in self.key_pos:
            return self.key_pos[key]
        return self.line, self.column


class Sequence(list):
    """A list that knows the position of itself and of each item (1-based lines)."""

    __slots__ = ("column", "item_pos", "line", "raw")

    def __init__(self, *args):
        super().__init__(*args)
        self.line = 0
        self.column = 0
        self.item_pos: list = []
        self.raw: dict = {}

    def pos(self, index=None) -> tuple[int, int]:
        if index is not None and 0 <= index < len(self.item_pos):
            return self.item_pos[index]
        return self.line, self.column


def position(container, key=None) -> tuple[int, int]:
    """(line, column) of `key` in `container` (or of the container), (0, 0) if unknown."""
    if isinstance(container, Mapping | Sequence):
        return container.pos(key)
    return 0, 0


def raw_text(container, key):
    """The scalar as written in the file (e.g. '20.10'), or None."""
    if isinstance(container, Mapping | Sequence):
        return container.raw.get(key)
    return None


class MarkedLoader(_BaseLoader):
    """SafeLoader building Mapping/Sequence with positions."""


def _mark(node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _construct_mapping(loader, node):
    data = Mapping()
    data.line, data.column = _mark(node)
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found an unhashable key",
                key_node.start_mark,
            ) from None
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_pos[key] = _mark(key_node)
        if isinstance(value_node, yaml.ScalarNode) and not value_node.style:
            data.raw[key] = value_node.value


def _construct_sequence(loader, node):
    data = Sequence()
    data.line, data.column = _mark(node)
    yield data
    for index, item in enumerate(node.value):
        data.append(loader.construct_object(item, deep=False))
        data.item_pos.append(_mark(item))
        if isinstance(item, yaml.ScalarNode) and not item.style:
            data.raw[index] = item.value


MarkedLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
MarkedLoader.add_constructor("tag:yaml.org,2002:omap", _construct_mapping)
MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


class YamlSyntaxError(Exception):
    """A YAML file that cannot be read (syntax or a limit); carries file, line and column."""

    def __init__(self, file: str, line: int, column: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.column, self.message = file, line, column, message


class YamlLimitError(YamlSyntaxError):
    """A YAML document over one of the limits below (size, nesting, aliases)."""


# Limits for every YAML file a user can hand us (templates, imported types, inputs files, site
# registries, import maps). They are checked on the parser's event stream *before* anything is
# built, so a hostile document is refused in milliseconds, whatever it would expand to.
MAX_BYTES = 1024 * 1024  # document size
MAX_DEPTH = 64  # maps and lists inside each other, aliases expanded
MAX_NODES = 20_000  # scalars, maps and lists written in a document (INFN's largest file: 1,534)
MAX_ALIASES = 100  # `*name` references per document
MAX_ALIAS_NODES = 10_000  # nodes that aliases add to a document once expanded

LIMITS_TEXT = (
    f"at most {MAX_BYTES // 1024 // 1024} MiB, {MAX_NODES} nodes, {MAX_DEPTH} levels of nesting, "
    f"{MAX_ALIASES} aliases "
    f"adding at most {MAX_ALIAS_NODES} nodes"
)


_TOO_DEEP = (
    f"maps and lists are nested more than {MAX_DEPTH} levels deep; at most {MAX_DEPTH} levels are allowed"
)


def _limit(file: str, mark, message: str) -> YamlLimitError:
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return YamlLimitError(file, line, column, message)


class NodeBudget:
    """Nodes several documents read together may hold (a template and everything it imports)."""

    def __init__(self, total: int, what: str):
        self.total, self.left, self.what = total, total, what


def check_limits(text: str, file: str = "<string>", budget: NodeBudget | None = None) -> None:
    """Refuse a document over the limits, naming the line where a limit is first exceeded.

    Walks the parser's events (no tree is built, nothing recursive): tracks the nesting depth,
    the number of aliases and, for every anchor, how many nodes and levels it stands for, so
    that an alias counts as what it will expand to ("billion laughs" is refused at the first
    alias that pushes the total past the limit, before anything is expanded).
    """
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        cut = text.encode("utf-8", "surrogatepass")[:MAX_BYTES].decode("utf-8", "ignore")
        line = cut.count("\n") + 1
        raise YamlLimitError(
            file,
            line,
            1,
            f"the document is larger than {MAX_BYTES // 1024 // 1024} MiB ({MAX_BYTES} bytes, "
            f"exceeded at line {line}); YAML files may be at most {MAX_BYTES // 1024 // 1024} MiB",
        )
    stack: list[list] = []  # per open map/list: [nodes inside, levels below, anchor]
    anchors: dict = {}  # anchor -> (nodes, levels) of the finished node it names
    open_anchors: set = set()
    aliases = alias_nodes = written = 0

    def add(nodes: int, levels: int) -> None:
        if stack:
            stack[-1][0] += nodes
            stack[-1][1] = max(stack[-1][1], levels)

    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.NodeEvent) and not isinstance(event, yaml.AliasEvent):
            written += 1
            if written > MAX_NODES:
                raise _limit(
                    file,
                    event.start_mark,
                    f"the document has more than {MAX_NODES} scalars, maps and lists; "
                    f"at most {MAX_NODES} are allowed",
                )
            if budget is not None:
                budget.left -= 1
                if budget.left < 0:
                    raise _limit(
                        file,
                        event.start_mark,
                        f"{budget.what} hold more than {budget.total} scalars, maps and lists "
                        f"together; at most {budget.total} are allowed",
                    )
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _limit(file, event.start_mark, _TOO_DEEP)
            stack.append([1, 0, event.anchor])
            if event.anchor is not None:
                open_anchors.add(event.anchor)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            nodes, levels, anchor = stack.pop()
            if anchor is not None:
                anchors[anchor] = (nodes, levels + 1)
                open_anchors.discard(anchor)
            add(nodes, levels + 1)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
            add(1, 0)
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            name = event.anchor
            if aliases > MAX_ALIASES:
                raise _limit(
                    file,
                    event.start_mark,
                    f"alias *{name} is alias number {aliases}; at most {MAX_ALIASES} aliases "
                    "are allowed in a document",
                )
            if name in open_anchors:
                raise _limit(
                    file,
                    event.start_mark,
                    f"alias *{name} refers to a map or list that contains it; recursive aliases "
                    "are not allowed",
                )
            nodes, levels = anchors.get(name, (1, 0))  # an unknown anchor is a syntax error later
            alias_nodes += nodes
            if alias_nodes > MAX_ALIAS_NODES:
                raise _limit(
                    file,
                    event.start_mark,
                    f"alias *{name} brings the nodes added by aliases past {MAX_ALIAS_NODES} "
                    f"(it stands for {nodes} nodes); aliases may add at most {MAX_ALIAS_NODES} "
                    "nodes to a document",
                )
            if len(stack) + levels > MAX_DEPTH:
                raise _limit(
                    file,
                    event.start_mark,
                    f"alias *{name} nests maps and lists more than {MAX_DEPTH} levels deep once "
                    f"expanded; at most {MAX_DEPTH} levels are allowed",
                )
            add(nodes, levels)
        elif isinstance(event, yaml.DocumentStartEvent):
            anchors.clear()
            open_anchors.clear()


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether maps and lists in `value` (e.g. inputs given as Python data) nest deeper than `limit`.

    Iterative, so a hostile structure cannot exhaust the stack here; a self-containing structure
    is simply too deep.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _checked(constructor, what: str):
    """Wrap a scalar constructor so that a value Python refuses becomes a YAML error with a line.

    E.g. an integer of 5000 digits (ValueError from int()) or the date 2001-13-45.
    """

    def construct(loader, node):
        try:
            return constructor(loader, node)
        except (ValueError, OverflowError) as exc:
            value = node.value if len(node.value) <= 40 else node.value[:40] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {value!r} as {what}: {str(exc).split(';')[0]}", node.start_mark
            ) from None

    return construct


class PlainLoader(_BaseLoader):
    """SafeLoader building plain dicts and lists (site registries, --set values)."""


for _loader in (MarkedLoader, PlainLoader):
    _loader.add_constructor(
        "tag:yaml.org,2002:int", _checked(yaml.constructor.SafeConstructor.construct_yaml_int, "an integer")
    )
    _loader.add_constructor(
        "tag:yaml.org,2002:float", _checked(yaml.constructor.SafeConstructor.construct_yaml_float, "a float")
    )
    _loader.add_constructor(
        "tag:yaml.org,2002:timestamp",
        _checked(yaml.constructor.SafeConstructor.construct_yaml_timestamp, "a timestamp"),
    )


def load_text(text: str, file: str = "<string>", *, plain: bool = False, budget: NodeBudget | None = None):
    """Parse one YAML document within the limits; plain=True builds ordinary dicts and lists."""
    try:
        check_limits(text, file, budget)
        # Building tens of thousands of containers triggers the cyclic GC over and over (3x slower);
        # nothing here creates garbage cycles worth collecting mid-parse.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return yaml.load(text, Loader=PlainLoader if plain else MarkedLoader)  # noqa: S506 - SafeLoader subclasses
        finally:
            if enabled:
                gc.enable()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own bound, met scanning ahead
            raise YamlLimitError(file, line, column, _TOO_DEEP) from None
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise YamlSyntaxError(file, line, column, f"YAML syntax error: {message}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(file, 0, 0, f"YAML error: {exc}") from None


def read_text(path: str | Path) -> str:
    """A file's text, refusing one over MAX_BYTES without reading it all; UnicodeDecodeError if not UTF-8."""
    path = Path(path)
    # O_NONBLOCK: a FIFO named like a YAML file must not block us waiting for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise YamlSyntaxError(str(path), 0, 0, "not a regular file")
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        line = data[:MAX_BYTES].count(b"\n") + 1
        raise YamlLimitError(
            str(path),
            line,
            1,
            f"the file is larger than {MAX_BYTES // 1024 // 1024} MiB ({MAX_BYTES} bytes, exceeded at "
            f"line {line}); YAML files may be at most {MAX_BYTES // 1024 // 1024} MiB",
        )
    return data.decode("utf-8")


_CACHE: dict = {}


def load_file(
    path: str | Path, *, cache: bool = False, plain: bool = False, budget: NodeBudget | None = None
):
    """Parse a YAML file within the limits; with cache=True reuse the parse while the file is unchanged.

    Callers must treat cached documents as read-only (type definitions are).
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, plain)
    if cache and key in _CACHE:
        return _CACHE[key]
    data = load_text(read_text(path), str(path), plain=plain, budget=budget)
    if cache:
        _CACHE[key] = data
    return data


def load_user_file(path: str | Path, what: str):
    """A YAML file the user names (an inputs file, an import map). Its content is untrusted: a missing
    file is a usage error (exit 64); unreadable YAML, a document over the limits or a file that is not
    UTF-8 text an invalid input (exit 2). Messages start with `what` and the path as given."""
    if not Path(path).is_file():
        raise UsageError(f"{what} {path} not found")
    try:
        return load_file(path)
    except YamlSyntaxError as exc:
        raise ValidationError(f"{what} {exc}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{what} {path}: not a UTF-8 text file") from None
