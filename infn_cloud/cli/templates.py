"""`infn-cloud templates`: the service catalogue."""

from __future__ import annotations

import argparse

from infn_cloud.cli import emit
from infn_cloud.tosca.catalogue import entries


def print_catalogue(items: list[dict]) -> None:
    if not items:
        print("No templates in the catalogue.")
        return
    width = max(len(item["name"]) for item in items)
    for item in items:
        print(f"{item['name']:<{width}}  [{item['category']}] {item['display_name']}")
        print(f"{'':<{width}}  {item['description']}")


def run(args: argparse.Namespace) -> int:
    emit(args, entries(), print_catalogue)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "templates",
        help="list the service catalogue",
        description="List the TOSCA templates shipped in tosca_templates/ with their display name, "
        "category and description. Use the name as TEMPLATE in validate/plan/deploy.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)
