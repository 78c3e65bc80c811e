"""TOSCA scalar-unit and version values: parsing, normalising and ordering."""

from __future__ import annotations

import functools
import re

# TOSCA Simple Profile 1.3, 3.3.6: unit names are case-insensitive except the bitrate
# family, where "bps" (bits) and "Bps" (bytes) differ.
SIZE_UNITS = {
    "B": 1,
    "kB": 10**3,
    "KiB": 2**10,
    "MB": 10**6,
    "MiB": 2**20,
    "GB": 10**9,
    "GiB": 2**30,
    "TB": 10**12,
    "TiB": 2**40,
}
TIME_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
FREQUENCY_UNITS = {"Hz": 1, "kHz": 10**3, "MHz": 10**6, "GHz": 10**9}
BITRATE_UNITS = {
    "bps": 1,
    "Kbps": 10**3,
    "Kibps": 2**10,
    "Mbps": 10**6,
    "Mibps": 2**20,
    "Gbps": 10**9,
    "Gibps": 2**30,
    "Tbps": 10**12,
    "Tibps": 2**40,
    "Bps": 8,
    "KBps": 8 * 10**3,
    "KiBps": 8 * 2**10,
    "MBps": 8 * 10**6,
    "MiBps": 8 * 2**20,
    "GBps": 8 * 10**9,
    "GiBps": 8 * 2**30,
    "TBps": 8 * 10**12,
    "TiBps": 8 * 2**40,
}
KINDS = {
    "scalar-unit.size": SIZE_UNITS,
    "scalar-unit.time": TIME_UNITS,
    "scalar-unit.frequency": FREQUENCY_UNITS,
    "scalar-unit.bitrate": BITRATE_UNITS,
}
_CASE_INSENSITIVE = {
    kind: {unit.lower(): unit for unit in units}
    for kind, units in KINDS.items()
    if kind != "scalar-unit.bitrate"
}
_SCALAR_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]+)\s*$")


class UnitError(ValueError):
    pass


@functools.total_ordering
class Scalar:
    """A scalar-unit value such as `2 GB`; compares by its value in base units."""

    __slots__ = ("base", "kind", "number", "unit")

    def __init__(self, number: float, unit: str, kind: str):
        self.number, self.unit, self.kind = number, unit, kind
        self.base = number * KINDS[kind][unit]

    def __eq__(self, other):
        return isinstance(other, Scalar) and other.kind == self.kind and other.base == self.base

    def __lt__(self, other):
        if not isinstance(other, Scalar) or other.kind != self.kind:
            return NotImplemented
        return self.base < other.base

    def __hash__(self):
        return hash((self.kind, self.base))

    def to(self, unit: str) -> float:
        return self.base / KINDS[self.kind][unit]

    def __str__(self):
        number = int(self.number) if float(self.number).is_integer() else self.number
        return f"{number} {self.unit}"

    __repr__ = __str__


def parse_scalar(value, kind: str) -> Scalar:
    """Parse '8 GB' / '8GB' / '2 gib' into a Scalar of `kind` (e.g. 'scalar-unit.size')."""
    if kind not in KINDS:
        raise UnitError(f"unknown scalar-unit type {kind}")
    if isinstance(value, Scalar):
        if value.kind != kind:
            raise UnitError(f"expected a {kind}, got a {value.kind}")
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise UnitError(f"a {kind} needs a unit, e.g. '{value} {_example_unit(kind)}'")
        raise UnitError(f"expected a {kind} such as '2 {_example_unit(kind)}'")
    match = _SCALAR_RE.match(value)
    if not match:
        raise UnitError(f"expected a {kind} such as '2 {_example_unit(kind)}' (number then unit)")
    number_text, unit = match.groups()
    units = KINDS[kind]
    if unit not in units:
        canonical = _CASE_INSENSITIVE.get(kind, {}).get(unit.lower())
        if canonical is None:
            raise UnitError(f"unknown unit '{unit}' for {kind} (use one of {', '.join(units)})")
        unit = canonical
    number = float(number_text)
    if number.is_integer() and "." not in number_text and "e" not in number_text.lower():
        number = int(number)
    return Scalar(number, unit, kind)


def _example_unit(kind: str) -> str:
    return {"scalar-unit.size": "GB", "scalar-unit.time": "s", "scalar-unit.frequency": "GHz"}.get(
        kind, "Mbps"
    )


_VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.([0-9A-Za-z_]+))?(?:-(\d+))?$")


@functools.total_ordering
class Version:
    """A TOSCA version `major.minor[.fix[.qualifier[-build]]]` (major alone is tolerated)."""

    __slots__ = ("key", "text")

    def __init__(self, text: str):
        match = _VERSION_RE.match(text.strip())
        if not match:
            raise UnitError(f"'{text}' is not a version (major.minor[.fix[.qualifier[-build]]])")
        major, minor, fix, qualifier, build = match.groups()
        self.text = text.strip()
        self.key = (int(major), int(minor or 0), int(fix or 0), qualifier or "", int(build or 0))

    def __eq__(self, other):
        return isinstance(other, Version) and other.key == self.key

    def __lt__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return self.key < other.key

    def __hash__(self):
        return hash(self.key)

    def __str__(self):
        return self.text

    __repr__ = __str__
