"""AWX survey specs from TOSCA template inputs, and survey answers back to template inputs.

``survey_spec(template)`` maps every declared input of a template to one AWX survey question
(AWX's survey spec JSON: ``name``, ``description``, ``spec`` items with ``question_name``,
``question_description``, ``variable``, ``type``, ``required``, ``default``, ``min``, ``max``,
``choices``):

- the variable is ``infn_cloud_input_<input name>`` (characters other than letters, digits and
  ``_`` become ``_``), so answers never clash with Ansible's own variable names; playbooks/deploy.yml
  collects these variables and ``inputs_from_answers`` turns them back into template inputs;
- ``valid_values`` -> ``multiplechoice`` with the values as choices (booleans: true/false);
- ``in_range``/``greater_or_equal``/``less_or_equal``/``greater_than``/``less_than`` on integers and
  floats -> ``min``/``max``; ``min_length``/``max_length``/``length`` on strings -> ``min``/``max``
  (AWX checks the answer's length);
- secret inputs -> ``password`` (their default is never put in the survey: left empty, the value is
  generated for the deployment, as the CLI does);
- scalar units (``4 GB``) and versions -> ``text`` with the unit and range explained in the question;
  lists -> ``textarea`` (one item per line, or a YAML/JSON list); maps -> ``textarea`` (YAML/JSON).

What a survey cannot check (patterns, maps, ranges of scalar units, list items) is explained in the
question and returned as warnings: the plan checks every constraint anyway, and a bad answer fails
the job at its first task, before anything is created.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from infn_cloud.errors import ValidationError

VARIABLE_PREFIX = "infn_cloud_input_"
TEXT_MAX = 1024  # AWX's default maximum length of a text answer
TEXTAREA_MAX = 65536
NUMBER_LIMIT = 2**31 - 1  # AWX stores integer bounds as 32-bit integers
_SCALAR_PREFIX = "scalar-unit."


@dataclass
class Survey:
    spec: dict
    warnings: list[str] = field(default_factory=list)


def variable_name(input_name: str) -> str:
    """The survey variable of a template input."""
    return VARIABLE_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", str(input_name))


def _constraints(entry: dict) -> list[dict]:
    raw = entry.get("constraints") or []
    if isinstance(raw, dict):  # some INFN templates write one constraint as a map
        raw = [{k: v} for k, v in raw.items()]
    return [c for c in raw if isinstance(c, dict)]


def _text(value) -> str:
    """A value as a survey shows and returns it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _number(value, kind: str):
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if kind == "integer" else float(value)


def _list_default(value) -> str:
    if not value:
        return ""
    if all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in value):
        if all("\n" not in str(item) for item in value):
            return "\n".join(str(item) for item in value)
    return json.dumps(value)


def _question(entry: dict, definition, secret: bool, warnings: list[str], label: str) -> dict:
    name = entry["name"]
    schema = definition.get("entry_schema") if isinstance(definition, dict) else None
    entry_type = (
        schema.get("type") if isinstance(schema, dict) else schema if isinstance(schema, str) else None
    )
    kind = str(entry.get("type") or "string")
    description = " ".join(str(entry.get("description") or "").split())
    default = entry.get("default")
    constraints = _constraints(entry)
    notes: list[str] = []
    item: dict = {
        "question_name": name,
        "variable": variable_name(name),
        "required": bool(entry.get("required")) and default is None and not secret,
        "new_question": True,
    }
    valid = next((c["valid_values"] for c in constraints if isinstance(c.get("valid_values"), list)), None)
    if secret:
        item.update(type="password", default="", min=0, max=TEXT_MAX)
        notes.append("secret: never shown or stored in clear")
        if default in (None, ""):
            notes.append("leave empty to have one generated for the deployment")
        else:
            notes.append("leave empty to use the template's default")
    elif valid is not None:
        item.update(type="multiplechoice", choices=[_text(v) for v in valid], default=_text(default))
    elif kind == "boolean":
        item.update(type="multiplechoice", choices=["true", "false"], default=_text(default))
    elif kind in ("integer", "float"):
        item.update(type=kind, default=_number(default, kind) if default is not None else "")
    elif kind == "list":
        item.update(type="textarea", default=_list_default(default), min=0, max=TEXTAREA_MAX)
        if entry_type in (None, "string", "integer", "float", "boolean", "version") or str(
            entry_type
        ).startswith(_SCALAR_PREFIX):
            notes.append("a list: one item per line, or a YAML/JSON list")
        else:
            notes.append(
                f"a list written as YAML or JSON, each item a {entry_type} (a map of its properties)"
            )
        warnings.append(f"{label}: input '{name}' is a list: its items are not checked by the survey")
    elif kind == "map":
        item.update(type="textarea", default=json.dumps(default) if default else "", min=0, max=TEXTAREA_MAX)
        notes.append("a map: write it as YAML or JSON")
        warnings.append(
            f"{label}: input '{name}' is a map: the survey takes YAML/JSON text and cannot check it"
        )
    else:
        item.update(type="text", default=_text(default), min=0, max=TEXT_MAX)
        if kind.startswith(_SCALAR_PREFIX):
            notes.append(
                f"a {kind[len(_SCALAR_PREFIX) :]} with its unit, e.g. {_text(default) or _unit_example(kind)}"
            )
        elif kind == "version":
            notes.append("a version, e.g. 13 or 22.04")
        elif kind != "string":
            notes.append(f"TOSCA type {kind}")
    _apply_constraints(item, kind, constraints, notes, warnings, label)
    item["question_description"] = " ".join(part for part in [description, _notes(notes)] if part)
    if item["type"] in ("integer", "float") and item["default"] == "":
        item.pop("default")  # AWX wants a number or nothing
    return item


def _notes(notes: list[str]) -> str:
    return f"({'; '.join(notes)})" if notes else ""


def _unit_example(kind: str) -> str:
    return {"scalar-unit.size": "4 GB", "scalar-unit.time": "30 s", "scalar-unit.frequency": "2 GHz"}.get(
        kind, "1"
    )


def _apply_constraints(item, kind, constraints, notes, warnings, label) -> None:
    name = item["question_name"]
    numeric = item["type"] in ("integer", "float")
    lengths = item["type"] in ("text", "textarea", "password") and kind in ("string", "version")
    for constraint in constraints:
        for op, value in constraint.items():
            if op == "valid_values":
                if item["type"] != "multiplechoice":  # a secret with valid values: say them
                    notes.append(f"one of {', '.join(_text(v) for v in value)}")
                continue
            if op == "pattern":
                notes.append(f"must match the regular expression {value}")
                warnings.append(
                    f"{label}: input '{name}' has a pattern ({value}): the survey cannot check it; "
                    "the plan does"
                )
                continue
            bounds = {
                "in_range": (value[0], value[1]) if isinstance(value, list) and len(value) == 2 else None,
                "greater_or_equal": (value, None),
                "less_or_equal": (None, value),
                "greater_than": (value, None),
                "less_than": (None, value),
                "equal": (value, value),
            }.get(op)
            if numeric and bounds is not None:
                low, high = (_number(v, item["type"]) if v is not None else None for v in bounds)
                if op == "greater_than" and low is not None:
                    low = low + 1 if item["type"] == "integer" else low
                if op == "less_than" and high is not None:
                    high = high - 1 if item["type"] == "integer" else high
                if item["type"] == "float" and op in ("greater_than", "less_than"):
                    notes.append(f"{op.replace('_', ' ')} {_text(value)}")
                if low is not None:
                    item["min"] = max(low, item.get("min", low))
                if high is not None:
                    item["max"] = min(high, item.get("max", high))
                continue
            if lengths and op in ("min_length", "max_length", "length") and isinstance(value, int):
                if op in ("min_length", "length"):
                    item["min"] = value
                if op in ("max_length", "length"):
                    item["max"] = value
                continue
            if bounds is not None:  # scalar units, versions, strings: explained, checked by the plan
                low, high = bounds
                if op == "in_range":
                    notes.append(f"between {_text(low)} and {_text(high)}")
                else:
                    notes.append(f"{op.replace('_', ' ')} {_text(value)}")
                if not kind.startswith(_SCALAR_PREFIX):
                    warnings.append(
                        f"{label}: input '{name}' constraint {op} {_text(value)}: "
                        "the survey cannot check it; the plan does"
                    )
                continue
            notes.append(f"{op.replace('_', ' ')} {_text(value)}")
            if not (op in ("min_length", "max_length", "length") and kind in ("list", "map")):
                warnings.append(
                    f"{label}: input '{name}' constraint {op}: the survey cannot check it; the plan does"
                )
    if numeric:
        for key in ("min", "max"):
            if key in item and item["type"] == "integer":
                item[key] = max(-NUMBER_LIMIT, min(NUMBER_LIMIT, item[key]))


def survey_spec(template, import_map=None) -> Survey:
    """The AWX survey spec of ``template`` (a path or a catalogue name) and its warnings."""
    from infn_cloud.tosca.api import load_template, validate
    from infn_cloud.tosca.validate import is_secret_input

    loaded = load_template(template, import_map=import_map)  # unreadable: ValidationError, exit 2
    report = validate(template, import_map=import_map)
    label = _label(report.template)
    warnings: list[str] = []
    spec = []
    seen: dict[str, str] = {}
    for entry in report.inputs:
        name = entry["name"]
        secret = bool(entry.get("secret")) or is_secret_input(name, loaded.inputs.get(name), loaded.metadata)
        question = _question(entry, loaded.inputs.get(name), secret, warnings, label)
        if question["variable"] in seen:
            raise ValidationError(
                f"{label}: inputs '{seen[question['variable']]}' and '{name}' map to the same survey "
                f"variable {question['variable']}",
                details=["rename one of them: survey variables allow letters, digits and '_' only"],
            )
        seen[question["variable"]] = name
        spec.append(question)
    if report.errors:
        warnings.append(
            f"{label}: the template has {len(report.errors)} validation problem(s): "
            "run `infn-cloud validate` before offering it in AWX"
        )
    description = " ".join(loaded.description.split())[:1000]
    return Survey(
        spec={"name": _label(report.template, stem=True), "description": description, "spec": spec},
        warnings=warnings,
    )


def _label(path: str, stem: bool = False) -> str:
    from pathlib import Path

    p = Path(path)
    return p.stem if stem else p.name


# ------------------------------------------------------------------ answers -> inputs
def inputs_from_answers(template, answers: dict, import_map=None) -> dict:
    """Template inputs from survey answers (``infn_cloud_input_*`` variables, as AWX passes them).

    Answers are converted to each input's TOSCA type: numbers and booleans from the strings
    multiple-choice questions return, lists from one item per line (or a YAML/JSON list), maps
    from YAML/JSON text. An empty answer to a non-string input leaves the input unset (its
    default applies). Variables that match no input of the template are an error (exit 2).
    """
    from infn_cloud.tosca.api import validate

    report = validate(template, import_map=import_map)
    label = _label(report.template)
    by_variable = {variable_name(e["name"]): e for e in report.inputs}
    problems: list[str] = []
    inputs: dict = {}
    for variable, answer in sorted((answers or {}).items()):
        entry = by_variable.get(variable)
        if entry is None:
            problems.append(f"survey variable {variable}: {label} has no such input")
            continue
        try:
            value = _convert(answer, str(entry.get("type") or "string"))
        except ValueError as exc:
            problems.append(f"survey variable {variable} (input '{entry['name']}'): {exc}")
            continue
        if value is not _UNSET:
            inputs[entry["name"]] = value
    if problems:
        raise ValidationError(
            f"{label}: {len(problems)} survey answer(s) do not fit the template", details=problems
        )
    return inputs


_UNSET = object()


def _convert(answer, kind: str):
    if answer is None:
        return _UNSET
    if kind in ("string", "version") or kind.startswith(_SCALAR_PREFIX):
        if isinstance(answer, dict | list):
            raise ValueError(f"expected a {kind}, got a {type(answer).__name__}")
        return answer if isinstance(answer, str) else _text(answer)
    if isinstance(answer, str) and not answer.strip():
        return _UNSET
    if kind == "boolean":
        if isinstance(answer, bool):
            return answer
        text = str(answer).strip().lower()
        if text in ("true", "yes", "1"):
            return True
        if text in ("false", "no", "0"):
            return False
        raise ValueError(f"expected true or false, got {str(answer)[:40]!r}")
    if kind == "integer":
        if isinstance(answer, int) and not isinstance(answer, bool):
            return answer
        try:
            return int(str(answer).strip())
        except ValueError:
            raise ValueError(f"expected an integer, got {str(answer)[:40]!r}") from None
    if kind == "float":
        if isinstance(answer, int | float) and not isinstance(answer, bool):
            return float(answer)
        try:
            return float(str(answer).strip())
        except ValueError:
            raise ValueError(f"expected a number, got {str(answer)[:40]!r}") from None
    if kind == "list":
        if isinstance(answer, list):
            return answer
        parsed = _structured(answer)
        if isinstance(parsed, list):
            return parsed
        return [line.strip() for line in str(answer).splitlines() if line.strip()]
    if kind == "map":
        if isinstance(answer, dict):
            return answer
        parsed = _structured(answer)
        if not isinstance(parsed, dict):
            raise ValueError("expected a map written as YAML or JSON")
        return parsed
    return answer  # other TOSCA types: the plan checks them


def _structured(text):
    """YAML/JSON text within the template reader's limits; None if it is not YAML."""
    from infn_cloud.tosca.yamlio import YamlSyntaxError, load_text

    try:
        return load_text(str(text), "survey answer", plain=True)
    except (YamlSyntaxError, ValueError):
        return None
