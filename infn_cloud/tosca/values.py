"""Checking values against TOSCA data types and constraints.

`ValueChecker.check()` returns the value normalised (scalar units as Scalar, versions as
Version) and reports every mismatch to a Collector with the subject, the value, the rule and
the file:line of the value.
"""

from __future__ import annotations

import datetime as dt
import re
import signal
import threading
import time

from infn_cloud.tosca.model import Collector, yaml_text
from infn_cloud.tosca.types import PRIMITIVES, TypeRegistry
from infn_cloud.tosca.units import KINDS, Scalar, UnitError, Version, parse_scalar
from infn_cloud.tosca.yamlio import Mapping, Sequence, position, raw_text

FUNCTIONS = frozenset(
    {
        "get_input",
        "get_property",
        "get_attribute",
        "concat",
        "join",
        "token",
        "get_operation_output",
        "get_artifact",
    }
)
# Quoted numbers the production parsers convert ('-1', "8080", '1.5e3'): decimal digits only.
_INTEGER_RE = re.compile(r"[-+]?[0-9]+")
_FLOAT_RE = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
# integer and float: the Python types a value may be, the text a quoted one must match, its reading
_NUMBERS = {"integer": ((int,), _INTEGER_RE, int), "float": ((int, float), _FLOAT_RE, float)}
OPERATORS = (
    "equal",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
    "in_range",
    "valid_values",
    "length",
    "min_length",
    "max_length",
    "pattern",
)


def is_function(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in FUNCTIONS


def contains_function(value) -> bool:
    if is_function(value):
        return True
    if isinstance(value, dict):
        return any(contains_function(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_function(v) for v in value)
    return False


class Where:
    """Where a value sits: file, (line, column), subject text, and raw text of the scalar."""

    __slots__ = ("file", "pos", "raw", "subject")

    def __init__(self, file: str, pos, subject: str, raw=None):
        self.file, self.pos, self.subject, self.raw = file, pos or (0, 0), subject, raw

    def child(self, container, key, subject: str) -> Where:
        pos = position(container, key)
        return Where(self.file, pos if pos != (0, 0) else self.pos, subject, raw_text(container, key))


def show_arg(arg) -> str:
    if isinstance(arg, list):
        return "[" + ", ".join(show_arg(a) for a in arg) + "]"
    if isinstance(arg, str):
        return arg
    return str(arg)


class ValueChecker:
    def __init__(self, registry: TypeRegistry, sink: Collector):
        self.registry = registry
        self.sink = sink

    # -- types --------------------------------------------------------------------------
    def check(self, value, type_name, where: Where, *, entry_schema=None, constraints=None, depth=0):
        """Validate `value` (no functions inside) against a type; return the normalised value."""
        if depth > 20:
            return value
        if value is None:
            return None
        if not isinstance(type_name, str):
            self.sink.error(
                where.file,
                where.pos,
                where.subject,
                f"has no valid type ({yaml_text(type_name)})",
                rule="type",
            )
            return value
        if type_name in PRIMITIVES:
            value, ok = self._primitive(value, type_name, where, entry_schema, depth)
        else:
            value, ok = self._data_type(value, type_name, where, depth)
        if ok and constraints:
            self.check_constraints(value, type_name, constraints, where)
        return value

    def _coerced(self, where, value, message, type_name):
        """A value of another type that tosca-parser and the orchestrators convert: accepted,
        with a warning (an error under `validate --strict`)."""
        self.sink.warn(where.file, where.pos, where.subject, message, value=value, rule=f"type {type_name}")

    def _fail_type(self, value, type_name, where, detail=""):
        message = f"expected {_article(type_name)}" + (f" ({detail})" if detail else "")
        self.sink.error(where.file, where.pos, where.subject, message, value=value, rule=f"type {type_name}")
        return value, False

    def _number(self, value, type_name, where):
        """integer or float (_NUMBERS): a number of its kinds, or quoted text of one (a warning)."""
        kinds, pattern, read = _NUMBERS[type_name]
        if isinstance(value, kinds) and not isinstance(value, bool):
            return value, True
        if isinstance(value, str) and pattern.fullmatch(value.strip()):
            number = read(value.strip())
            self._coerced(
                where, value, f"quoted number read as the {type_name} {number} (unquote it)", type_name
            )
            return number, True
        return self._fail_type(value, type_name, where)

    def _primitive(self, value, type_name, where, entry_schema, depth):
        if type_name == "any":
            return value, True
        if type_name == "string":
            if isinstance(value, str):
                return value, True
            if isinstance(value, int | float) and not isinstance(value, bool):
                text = where.raw if isinstance(where.raw, str) else str(value)
                self._coerced(
                    where, value, f"unquoted number used as a string, read as '{text}' (quote it)", type_name
                )
                return text, True
            if isinstance(value, bool):  # tosca-parser and the orchestrators take it as text
                text = where.raw if isinstance(where.raw, str) else yaml_text(value)
                self._coerced(
                    where, value, f"boolean used as a string, read as '{text}' (quote it)", type_name
                )
                return text, True
            return self._fail_type(value, type_name, where)
        if type_name in _NUMBERS:
            return self._number(value, type_name, where)
        if type_name == "boolean":
            if isinstance(value, bool):
                return value, True
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                flag = value.strip().lower() == "true"
                self._coerced(
                    where, value, f"quoted boolean read as {yaml_text(flag)} (unquote it)", type_name
                )
                return flag, True
            return self._fail_type(value, type_name, where, "true or false")
        if type_name == "null":
            return (value, True) if value is None else self._fail_type(value, type_name, where)
        if type_name == "timestamp":
            if isinstance(value, dt.date | dt.datetime):
                return value.isoformat(), True
            if isinstance(value, str):
                try:
                    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                    return value, True
                except ValueError:
                    pass
            return self._fail_type(value, type_name, where, "ISO 8601")
        if type_name == "version":
            return self._version(value, where)
        if type_name == "range":
            return self._range(value, where)
        if type_name in KINDS:
            try:
                return parse_scalar(value, type_name), True
            except UnitError as exc:
                return self._fail_type(value, type_name, where, str(exc))
        if type_name == "list":
            if not isinstance(value, list):
                return self._fail_type(value, type_name, where)
            return self._entries(value, enumerate(value), entry_schema, where, depth, "[{}]"), True
        if type_name == "map":
            if not isinstance(value, dict):
                return self._fail_type(value, type_name, where)
            return self._entries(value, value.items(), entry_schema, where, depth, "['{}']"), True
        return value, True  # pragma: no cover - PRIMITIVES is exhaustive above

    def _entries(self, container, items, entry_schema, where, depth, fmt):
        if entry_schema is None:
            return container
        if isinstance(entry_schema, str):
            entry_type, entry_constraints, nested = entry_schema, None, None
        elif isinstance(entry_schema, dict):
            entry_type = entry_schema.get("type")
            entry_constraints = entry_schema.get("constraints")
            nested = entry_schema.get("entry_schema")
        else:
            self.sink.error(where.file, where.pos, where.subject, "entry_schema must be a type name or a map")
            return container
        result = Mapping() if isinstance(container, dict) else Sequence()
        for key, item in items:
            sub = where.child(container, key, where.subject + fmt.format(key))
            if contains_function(item):
                checked = item
            else:
                checked = self.check(
                    item, entry_type, sub, entry_schema=nested, constraints=entry_constraints, depth=depth + 1
                )
            if isinstance(result, dict):
                result[key] = checked
            else:
                result.append(checked)
        _copy_positions(container, result)
        return result

    def _version(self, value, where):
        if isinstance(value, Version):
            return value, True
        if isinstance(value, bool):
            return self._fail_type(value, "version", where)
        if isinstance(value, int | float):
            text = where.raw if isinstance(where.raw, str) else str(value)
            if isinstance(value, float):
                # YAML reads 20.04 as a float (and 20.10 as 20.1); INFN templates do this.
                self.sink.warn(
                    where.file,
                    where.pos,
                    where.subject,
                    f"unquoted version read as '{text}' (quote it: YAML would turn 20.10 into 20.1)",
                    value=value,
                    rule="type version",
                )
            value = text
        if isinstance(value, str):
            try:
                return Version(value), True
            except UnitError as exc:
                return self._fail_type(value, "version", where, str(exc))
        return self._fail_type(value, "version", where)

    def _range(self, value, where):
        if (
            isinstance(value, list)
            and len(value) == 2
            and all((isinstance(v, int) and not isinstance(v, bool)) or v == "UNBOUNDED" for v in value)
        ):
            low, high = value
            if low == "UNBOUNDED" or (high != "UNBOUNDED" and high < low):
                return self._fail_type(value, "range", where, "lower bound must be an integer <= upper bound")
            return value, True
        return self._fail_type(value, "range", where, "[lower, upper]")

    def _data_type(self, value, type_name, where, depth):
        registry = self.registry
        typedef = registry.get("data_types", type_name)
        if typedef is None:
            self.sink.error(
                where.file,
                where.pos,
                where.subject,
                f"unknown data type '{type_name}'",
                rule="type",
            )
            return value, False
        base = registry.data_type_base(type_name)
        if base is not None:
            checked, ok = self._primitive(value, base, where, None, depth)
            if ok:
                for t in registry.chain("data_types", type_name):
                    if t.get("constraints"):
                        self.check_constraints(checked, base, t.get("constraints"), where)
            return checked, ok
        if not isinstance(value, dict):
            return self._fail_type(value, typedef.name, where, "a map of its properties")
        definitions = registry.merged("data_types", typedef.name, "properties")
        result = Mapping(value)
        _copy_positions(value, result)
        for key, item in value.items():
            sub = where.child(value, key, f"{where.subject}.{key}")
            if key not in definitions:
                known = ", ".join(sorted(definitions)) or "none"
                self.sink.error(
                    sub.file,
                    sub.pos,
                    sub.subject,
                    f"is not a property of {typedef.name} (known: {known})",
                    rule="unknown property",
                )
                continue
            definition = definitions[key][0] if isinstance(definitions[key][0], dict) else {}
            if contains_function(item):
                continue
            result[key] = self.check(
                item,
                definition.get("type"),
                sub,
                entry_schema=definition.get("entry_schema"),
                constraints=definition.get("constraints"),
                depth=depth + 1,
            )
        for key, (definition, _file) in definitions.items():
            if key in value or not isinstance(definition, dict):
                continue
            if is_required(definition) and definition.get("default") is None:
                self.sink.error(
                    where.file,
                    where.pos,
                    f"{where.subject}.{key}",
                    f"is required by {typedef.name} and missing",
                    rule="required",
                )
        return result, True

    # -- constraints ----------------------------------------------------------------------
    def normalise_constraints(self, constraints, where: Where) -> list[tuple[str, object, object]]:
        """[(operator, argument, container-for-positions)]; accepts INFN's map form with a warning."""
        items = []
        if isinstance(constraints, dict):
            self.sink.warn(
                where.file,
                position(constraints),
                where.subject,
                "constraints should be a list of single-key maps ('- in_range: [...]'); accepted",
                rule="constraints",
            )
            items = [(op, arg, constraints) for op, arg in constraints.items()]
        elif isinstance(constraints, list):
            for entry in constraints:
                if isinstance(entry, dict) and len(entry) == 1:
                    op, arg = next(iter(entry.items()))
                    items.append((op, arg, entry))
                else:
                    self.sink.error(
                        where.file,
                        position(constraints),
                        where.subject,
                        f"invalid constraint {yaml_text(entry)}: expected a single-key map "
                        "such as '- less_or_equal: 32'",
                        rule="constraints",
                    )
        else:
            self.sink.error(
                where.file, where.pos, where.subject, "constraints must be a list", rule="constraints"
            )
        return items

    def check_constraints(self, value, type_name, constraints, where: Where) -> bool:
        ok = True
        for op, arg, container in self.normalise_constraints(constraints, where):
            ok = self.check_constraint(value, type_name, op, arg, container, where) and ok
        return ok

    def _coerce_arg(self, arg, type_name, raw=None):
        """Read a constraint argument in the value's type (e.g. '1 GB' for a size)."""
        if type_name in KINDS:
            return parse_scalar(arg, type_name)
        if type_name == "version":
            if isinstance(arg, Version):
                return arg
            return Version(raw if isinstance(raw, str) else str(arg))
        if type_name == "string" and isinstance(arg, int | float) and not isinstance(arg, bool):
            return raw if isinstance(raw, str) else str(arg)
        if type_name in ("integer", "float") and (isinstance(arg, bool) or not isinstance(arg, int | float)):
            raise UnitError(f"{yaml_text(arg)} is not a number")
        base = self.registry.data_type_base(type_name) if type_name not in PRIMITIVES else None
        if base:
            return self._coerce_arg(arg, base, raw)
        return arg

    def check_constraint(self, value, type_name, op, arg, container, where: Where) -> bool:
        pos = position(container, op)
        if op not in OPERATORS:
            self.sink.error(
                where.file,
                pos,
                where.subject,
                f"unknown constraint operator '{op}' (use one of {', '.join(OPERATORS)})",
                rule="constraints",
            )
            return False
        try:
            if op in ("in_range", "valid_values"):
                if op == "in_range" and isinstance(arg, dict):
                    # Seen in the wild: in_range: {min: 1, max: 4}
                    self.sink.warn(
                        where.file,
                        pos,
                        where.subject,
                        "in_range should be a list [min, max]; accepted",
                        rule="in_range",
                    )
                    arg = Sequence([arg.get("min", arg.get("lower")), arg.get("max", arg.get("upper"))])
                if not isinstance(arg, list) or (op == "in_range" and len(arg) != 2):
                    raise UnitError(f"{op} needs a list" + (" [min, max]" if op == "in_range" else ""))
                args = [
                    a
                    if a == "UNBOUNDED" and op == "in_range"
                    else self._coerce_arg(a, type_name, raw_text(arg, i))
                    for i, a in enumerate(arg)
                ]
            elif op in ("length", "min_length", "max_length"):
                if isinstance(arg, bool) or not isinstance(arg, int) or arg < 0:
                    raise UnitError(f"{op} needs a non-negative integer")
                args = arg
            elif op == "pattern":
                if not isinstance(arg, str):
                    raise UnitError("pattern needs a string")
                args = re.compile(arg)
            else:
                args = self._coerce_arg(arg, type_name, raw_text(container, op))
        except (UnitError, re.error, TypeError) as exc:
            self.sink.error(
                where.file,
                pos,
                where.subject,
                f"invalid constraint {op}: {yaml_text(arg)}: {exc}",
                rule="constraints",
            )
            return False
        rule = f"{op} {show_arg(arg)}"
        try:
            ok = _evaluate(op, args, value)
        except TypeError:
            ok = False
        except PatternTooSlow:
            self.sink.error(
                where.file,
                pos,
                where.subject,
                f"constraint pattern {yaml_text(arg)} takes too long to match this value (more than "
                f"{PATTERN_SECONDS} s, or {PATTERN_BUDGET} s for all patterns; catastrophic "
                "backtracking): use a pattern without nested repetition",
                rule="constraints",
            )
            return False
        if ok is None:
            self.sink.error(
                where.file,
                where.pos,
                where.subject,
                f"constraint {op} does not apply to {_article(type_name)}",
                value=value,
                rule=rule,
            )
            return False
        if not ok:
            self.sink.error(where.file, where.pos, where.subject, f"violates {rule}", value=value, rule=rule)
        return ok


def evaluate_constraint(op: str, arg, value) -> bool | None:
    """Evaluate one constraint on already-normalised operands (None: not applicable)."""
    return _evaluate(op, arg, value)


def _evaluate(op, arg, value):
    if op == "equal":
        return value == arg
    if op == "greater_than":
        return value > arg
    if op == "greater_or_equal":
        return value >= arg
    if op == "less_than":
        return value < arg
    if op == "less_or_equal":
        return value <= arg
    if op == "in_range":
        low, high = arg
        if isinstance(value, list) and len(value) == 2:  # a range value: both bounds inside
            lo, hi = value
            return (low == "UNBOUNDED" or lo >= low) and (
                high == "UNBOUNDED" or (hi != "UNBOUNDED" and hi <= high)
            )
        return (low == "UNBOUNDED" or value >= low) and (high == "UNBOUNDED" or value <= high)
    if op == "valid_values":
        return value in arg
    if op in ("length", "min_length", "max_length"):
        if not isinstance(value, str | list | dict):
            return None
        n = len(value)
        return n == arg if op == "length" else (n >= arg if op == "min_length" else n <= arg)
    if op == "pattern":
        if not isinstance(value, str):
            return None
        return _fullmatch(arg, value) is not None
    return None


# A template brings both a `pattern` and (or) values to match: a pattern such as (a+)+$ takes
# minutes on 40 characters (catastrophic backtracking). Python's regex engine checks signals
# while matching, so in the main thread (the CLI, Ansible modules) a timer stops it: one match
# may take PATTERN_SECONDS, and all matches of one analysis together PATTERN_BUDGET (so that many
# slow-but-not-quite patterns cannot add up). Legitimate patterns take microseconds.
PATTERN_SECONDS = 0.25
PATTERN_BUDGET = 2.0
_pattern_budget = {"left": PATTERN_BUDGET}


def reset_pattern_budget() -> None:
    """Give the next validation its own PATTERN_BUDGET (called once per template analysis)."""
    _pattern_budget["left"] = PATTERN_BUDGET


class PatternTooSlow(Exception):
    """A pattern constraint that did not finish matching in time."""


def _fullmatch(pattern: re.Pattern, value: str):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return pattern.fullmatch(value)
    if _pattern_budget["left"] <= 0:
        raise PatternTooSlow(pattern.pattern)

    def expired(_signum, _frame):
        raise PatternTooSlow(pattern.pattern)

    previous = signal.signal(signal.SIGALRM, expired)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, min(PATTERN_SECONDS, _pattern_budget["left"]))
    try:
        return pattern.fullmatch(value)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _pattern_budget["left"] -= time.monotonic() - start


def is_required(definition) -> bool:
    required = definition.get("required", True) if isinstance(definition, dict) else True
    if isinstance(required, str):  # "yes"/"no" quoted
        return required.lower() in ("yes", "true", "y", "on")
    return bool(required)


def _article(type_name) -> str:
    text = str(type_name)
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


def _copy_positions(source, target):
    if isinstance(source, Mapping) and isinstance(target, Mapping):
        target.line, target.column = source.line, source.column
        target.key_pos, target.raw = source.key_pos, source.raw
    elif isinstance(source, Sequence) and isinstance(target, Sequence):
        target.line, target.column = source.line, source.column
        target.item_pos, target.raw = source.item_pos, source.raw


def to_plain(value):
    """Normalised values back to JSON-friendly data (Scalar -> '2 GB', Version -> '20.04')."""
    if isinstance(value, Scalar | Version):
        return str(value)
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
