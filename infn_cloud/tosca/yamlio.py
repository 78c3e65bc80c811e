"""YAML loading that remembers where every key and list item came from.

Errors must say file:line, so mappings and sequences are built as dict/list subclasses that
carry the line and column of each key or item. The raw text of plain scalars is kept too:
YAML 1.1 reads an unquoted `20.10` as the float 20.1, and versions need the text as written.
"""

from __future__ import annotations

from pathlib import Path

import yaml

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
    """A YAML file that does not parse; carries file, line and column."""

    def __init__(self, file: str, line: int, column: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.column, self.message = file, line, column, message


def load_text(text: str, file: str = "<string>"):
    try:
        return yaml.load(text, Loader=MarkedLoader)  # noqa: S506 - MarkedLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise YamlSyntaxError(file, line, column, f"YAML syntax error: {message}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(file, 0, 0, f"YAML error: {exc}") from None


_CACHE: dict = {}


def load_file(path: str | Path, *, cache: bool = False):
    """Parse a YAML file; with cache=True reuse the parse while the file is unchanged.

    Callers must treat cached documents as read-only (type definitions are).
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if cache and key in _CACHE:
        return _CACHE[key]
    text = path.read_text(encoding="utf-8")
    data = load_text(text, str(path))
    if cache:
        _CACHE[key] = data
    return data
