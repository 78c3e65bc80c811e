"""`infn-cloud validate TEMPLATE...`: report every problem of templates and their inputs.

Several templates (files, catalogue names, folders) are validated in one run; `--strict` makes
warnings errors (for catalogue authors) and `--junit FILE` writes a JUnit XML report, one
testcase per template, so that template repositories can gate merges on it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from infn_cloud.cli import emit
from infn_cloud.cli.options import add_input_arguments, import_maps, load_inputs
from infn_cloud.errors import EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK, NotFoundError, UsageError
from infn_cloud.paths import display_path
from infn_cloud.tosca import validate

UNUSED_TYPES_RULE = "unused types"  # infn_cloud.tosca.validate.UNUSED_TYPES_RULE
_TEMPLATE_RE = re.compile(r"^topology_template\s*:", re.MULTILINE)
# Characters XML 1.0 cannot hold (a template may put any of them in a value a message quotes).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def expand_templates(names: list[str]) -> list[str]:
    """Files and catalogue names as given; a folder gives its TOSCA service templates.

    In a folder (searched recursively, sorted), a template is a .yaml/.yml file with a top-level
    `topology_template:`; type libraries and import maps next to the templates are skipped.
    """
    result: list[str] = []
    for name in names:
        path = Path(name)
        if not path.is_dir():
            result.append(name)
            continue
        found = []
        for candidate in sorted(path.rglob("*")):
            if candidate.suffix not in (".yaml", ".yml") or not candidate.is_file():
                continue
            try:
                head = candidate.read_text(encoding="utf-8", errors="replace")[: 1 << 20]
            except OSError:
                continue
            if _TEMPLATE_RE.search(head):
                found.append(str(candidate))
        if not found:
            raise UsageError(f"folder {name} holds no TOSCA template (.yaml/.yml with topology_template)")
        result.extend(found)
    return result


def _strict(data: dict) -> dict:
    """--strict: every warning is an error (the report is invalid when it had any)."""
    promoted = [{**w, "text": w["text"] + " [--strict]"} for w in data["warnings"]]
    errors = data["errors"] + promoted
    return {**data, "errors": errors, "warnings": [], "valid": not errors, "strict": True}


def _validate_one(name: str, args, inputs) -> dict:
    started = time.monotonic()
    try:
        report = validate(
            name, inputs=inputs, import_map=import_maps(args), require_inputs=inputs is not None
        )
    except NotFoundError as exc:
        data = {"template": name, "valid": False, "not_found": exc.message, "errors": [], "warnings": []}
    else:
        data = report.to_dict()
        if args.strict:
            data = _strict(data)
    data["seconds"] = round(time.monotonic() - started, 3)
    return data


def print_report(data: dict, shown: set | None = None) -> None:
    """Errors on stdout, warnings on stderr; a types-file warning already shown is not repeated."""
    shown = shown if shown is not None else set()
    if data.get("not_found"):
        print(f"error: {data['not_found']}")
        return
    for problem in data["errors"]:
        print(f"error: {problem['text']}")
    repeated = 0
    for problem in data["warnings"]:
        key = (problem["file"], problem["line"], problem["message"])
        if problem.get("rule") == UNUSED_TYPES_RULE and key in shown:
            repeated += 1
            continue
        shown.add(key)
        print(f"warning: {problem['text']}", file=sys.stderr)
    if repeated:
        print(f"warning: {repeated} types-file warning(s) as above, not repeated", file=sys.stderr)
    if data["valid"]:
        print(
            f"{data['template']}: valid"
            + (f" ({len(data['warnings'])} warning(s))" if data["warnings"] else "")
        )
    else:
        print(f"{data['template']}: INVALID ({len(data['errors'])} error(s))")
    if data.get("required_inputs"):
        print("Inputs a deploy needs (no default):")
        for entry in data["required_inputs"]:
            text = f"  {entry['name']} ({entry['type']})"
            if entry.get("description"):
                text += f": {entry['description']}"
            if entry.get("constraints"):
                text += f" [constraints: {entry['constraints']}]"
            print(text)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def junit_xml(reports: list[dict], strict: bool) -> bytes:
    """A JUnit XML document: one testcase per template, failures carry the error lines."""
    failures = sum(1 for r in reports if not r["valid"] and not r.get("not_found"))
    errors = sum(1 for r in reports if r.get("not_found"))
    total = round(sum(r.get("seconds", 0) for r in reports), 3)
    suite_name = "infn-cloud validate" + (" --strict" if strict else "")
    root = ET.Element(
        "testsuites", name=suite_name, tests=str(len(reports)), failures=str(failures), errors=str(errors)
    )
    root.set("time", str(total))
    suite = ET.SubElement(
        root,
        "testsuite",
        name=suite_name,
        tests=str(len(reports)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=str(total),
        timestamp=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )
    for report in reports:
        name = _xml_text(display_path(report["template"]))
        parent = str(Path(name).parent)
        classname = "templates" if parent in ("", ".") else parent.strip("/").replace("/", ".")
        case = ET.SubElement(
            suite, "testcase", classname=classname, name=name, file=name, time=str(report.get("seconds", 0))
        )
        if report.get("not_found"):
            error = ET.SubElement(case, "error", message=_xml_text(report["not_found"]), type="not found")
            error.text = _xml_text(report["not_found"])
        elif not report["valid"]:
            lines = [p["text"] for p in report["errors"]]
            failure = ET.SubElement(
                case, "failure", message=_xml_text(f"{len(lines)} error(s): {lines[0]}"), type="invalid"
            )
            failure.text = _xml_text("\n".join(lines))
        if report.get("warnings"):
            err = ET.SubElement(case, "system-err")
            err.text = _xml_text("\n".join(f"warning: {p['text']}" for p in report["warnings"]))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _write_junit(path: str, reports: list[dict], strict: bool) -> None:
    target = Path(path)
    if target.is_dir() or not target.parent.is_dir():
        raise UsageError(f"--junit {path}: not a file in an existing folder")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(junit_xml(reports, strict))
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"--junit {path}: cannot write it ({exc.strerror})") from None


def run(args: argparse.Namespace) -> int:
    inputs = load_inputs(args)
    names = expand_templates(args.template)
    if len(names) == 1 and not args.junit:
        # One template: exit 3 when it does not exist, as plan and deploy do.
        report = validate(
            names[0], inputs=inputs, import_map=import_maps(args), require_inputs=inputs is not None
        )
        data = report.to_dict()
        if args.strict:
            data = _strict(data)
        emit(args, data, print_report)
        return EXIT_OK if data["valid"] else EXIT_INVALID
    reports = [_validate_one(name, args, inputs) for name in names]
    if args.junit:
        _write_junit(args.junit, reports, args.strict)
    if len(reports) == 1:
        emit(args, reports[0], print_report)
    else:
        valid = all(r["valid"] for r in reports)
        shown: set = set()

        def human(data):
            for report in data["templates"]:
                print_report(report, shown)
            bad = [r["template"] for r in data["templates"] if not r["valid"]]
            print(f"{len(data['templates']) - len(bad)} of {len(data['templates'])} template(s) valid")

        emit(args, {"valid": valid, "strict": bool(args.strict), "templates": reports}, human)
    if any(not r["valid"] and not r.get("not_found") for r in reports):
        return EXIT_INVALID
    return EXIT_NOT_FOUND if any(r.get("not_found") for r in reports) else EXIT_OK


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate templates (and inputs)",
        description="Check TEMPLATEs offline: types, every constraint, functions, requirements. Without -i "
        "it lists the inputs a deploy will need; with -i/--set a missing required input is an error. "
        "Errors go to stdout, warnings to stderr (and to --json output as a list). "
        "Exit 0 valid, 2 invalid, 3 template not found, 64 usage error.",
    )
    parser.add_argument(
        "template",  # `template`: shell completion offers catalogue names
        metavar="TEMPLATE",
        nargs="+",
        help="template file, catalogue name (see `templates`) or folder (its templates, recursively)",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--json", action="store_true", help="print JSON (several templates: {valid, templates})"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="warnings are errors (accepted coercions, problems in unused imported types, ...)",
    )
    parser.add_argument(
        "--junit", metavar="FILE", help="also write a JUnit XML report: one testcase per template"
    )
    parser.set_defaults(func=run)
