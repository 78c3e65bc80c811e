"""`infn-cloud validate TEMPLATE`: report every problem of a template and its inputs."""

from __future__ import annotations

import argparse

from infn_cloud.cli import emit
from infn_cloud.cli.plan import add_template_arguments, import_maps, load_inputs
from infn_cloud.errors import EXIT_INVALID, EXIT_OK
from infn_cloud.tosca import validate


def print_report(data: dict) -> None:
    for problem in data["errors"]:
        print(f"error: {problem['text']}")
    for problem in data["warnings"]:
        print(f"warning: {problem['text']}")
    if data["valid"]:
        print(f"{data['template']}: valid")
    else:
        print(f"{data['template']}: INVALID ({len(data['errors'])} error(s))")
    if data["required_inputs"]:
        print("Inputs a deploy needs (no default):")
        for entry in data["required_inputs"]:
            text = f"  {entry['name']} ({entry['type']})"
            if entry.get("description"):
                text += f": {entry['description']}"
            if entry.get("constraints"):
                text += f" [constraints: {entry['constraints']}]"
            print(text)


def run(args: argparse.Namespace) -> int:
    inputs = load_inputs(args)
    report = validate(
        args.template, inputs=inputs, import_map=import_maps(args), require_inputs=inputs is not None
    )
    data = report.to_dict()
    emit(args, data, print_report)
    return EXIT_OK if report.valid else EXIT_INVALID


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate a template (and inputs)",
        description="Check TEMPLATE offline: types, every constraint, functions, requirements. Without -i "
        "it lists the inputs a deploy will need; with -i/--set a missing required input is an error. "
        "Exit 0 valid, 2 invalid, 3 template not found, 64 usage error.",
    )
    add_template_arguments(parser)
    parser.set_defaults(func=run)
