"""`infn-cloud survey TEMPLATE`: the AWX survey spec of a template's inputs (JSON on stdout).

Import it into a job template that runs playbooks/deploy.yml (docs/awx.md): each question's
variable is ``infn_cloud_input_<input>``, which deploy.yml turns back into the template's inputs.
Inputs a survey cannot check exactly (patterns, maps, list items, scalar-unit ranges) are listed as
warnings on stderr; the plan checks them when the job runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from infn_cloud.cli.options import add_import_map_argument
from infn_cloud.errors import EXIT_OK
from infn_cloud.tosca.survey import survey_spec


def run(args: argparse.Namespace) -> int:
    survey = survey_spec(args.template, import_map=args.import_map or None)
    text = json.dumps(survey.spec, indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    if not args.quiet:
        for line in survey.warnings:
            print(f"warning: {line}", file=sys.stderr)
    return EXIT_OK


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "survey",
        help="print the AWX survey spec of a template's inputs",
        description="Print the AWX survey spec (JSON) of TEMPLATE's inputs: valid_values become multiple "
        "choice questions, ranges min/max, secret inputs password questions, lists and maps text areas. "
        "Question variables are infn_cloud_input_<input>, as playbooks/deploy.yml reads them. What a survey "
        "cannot check (patterns, maps, ...) is listed as warnings on stderr. The output is always JSON. "
        "Exit 0 ok, 2 unreadable template, 3 template not found, 64 usage.",
    )
    parser.add_argument(
        "template", metavar="TEMPLATE", help="template file or catalogue name (see `templates`)"
    )
    add_import_map_argument(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write the spec to FILE instead of stdout")
    parser.add_argument("--quiet", action="store_true", help="no warnings on stderr")
    parser.add_argument(
        "--json", action="store_true", help="accepted for symmetry: the output is always JSON (errors too)"
    )
    parser.set_defaults(func=run)
