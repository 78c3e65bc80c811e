"""Problems, reports and the collector every validation step writes to."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import yaml


@dataclass(frozen=True)
class Problem:
    """One error or warning: where it is, what it is about and which rule it breaks."""

    file: str
    line: int
    column: int
    subject: str  # e.g. "input 'num_cpus'", "node 'server' property 'num_cpus'"
    value: object
    rule: str  # e.g. "less_or_equal 32", "type integer", "required"
    message: str

    def format(self) -> str:
        where = _short(self.file)
        if self.line:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.subject}" if self.subject else where
        if self.value is not _NO_VALUE and self.value is not None:
            text += f" value {_show(self.value)}"
        return f"{text}: {self.message}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["value"] = None if self.value is _NO_VALUE else _jsonable(self.value)
        data["text"] = self.format()
        return data

    def __str__(self):
        return self.format()


class _NoValue:
    def __repr__(self):
        return "<no value>"


_NO_VALUE = _NoValue()
NO_VALUE = _NO_VALUE


def short_path(path: str) -> str:
    """`path` relative to the working directory when it is below it (or one level up)."""
    return _short(path)


def _short(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../../") else path


def _show(value) -> str:
    return yaml_text(value)


def yaml_text(value) -> str:
    """`value` as YAML writes it: `false`, `null`, `'-1'` (a string YAML would read as a number,
    a boolean or null is quoted), `[a, 1]`; a string with spaces is quoted too, so that a message
    shows where it ends."""
    value = _jsonable(value)
    if isinstance(value, str) and (value == "" or " " in value or value.strip() != value):
        if value.isprintable():
            return "'" + value.replace("'", "''") + "'"
    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, allow_unicode=True)
        if "\n" in text.strip().removesuffix("\n..."):  # a newline or control character: escaped
            text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, default_style='"')
    except yaml.YAMLError:  # pragma: no cover - _jsonable returns plain data
        return str(value)
    text = text.strip()
    return text.removesuffix("\n...")  # a plain scalar document ends with "..."


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass
class ValidationReport:
    """What `validate()` found: errors (blocking), warnings, and the inputs a deploy needs."""

    template: str
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    required_inputs: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)  # every declared input

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "template": self.template,
            "valid": self.valid,
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
            "required_inputs": _jsonable(self.required_inputs),
            "inputs": _jsonable(self.inputs),
        }


class Collector:
    """Accumulates problems so that every error is reported at once."""

    def __init__(self):
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self._seen: set = set()

    def _add(self, bucket, file, pos, subject, value, rule, message):
        line, column = pos if pos else (0, 0)
        problem = Problem(file or "", line, column, subject, value, rule, message)
        key = (problem.file, line, subject, rule, message)
        if key in self._seen:
            return
        self._seen.add(key)
        bucket.append(problem)

    def error(self, file, pos, subject, message, *, value=NO_VALUE, rule=""):
        self._add(self.errors, file, pos, subject, value, rule, message)

    def warn(self, file, pos, subject, message, *, value=NO_VALUE, rule=""):
        self._add(self.warnings, file, pos, subject, value, rule, message)
