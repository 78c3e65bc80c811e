"""`infn-cloud delete ID [--force]`: remove every resource of a deployment, then its secrets."""

from __future__ import annotations

import argparse

from infn_cloud.cli.deployments import print_record, run_lifecycle
from infn_cloud.cli.options import add_id_argument, add_record_arguments
from infn_cloud.cli.view import add_view_arguments


def _delete(args: argparse.Namespace) -> int:
    return run_lifecycle(args, lambda lifecycle: lifecycle.delete(args.id, force=args.force), print_record)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "delete",
        help="delete a deployment",
        description="Delete deployment ID: every container/server, volume, network, security group, "
        "floating IP and keypair labelled or tagged with its id, on every site an attempt used (found "
        "from the site itself, so this also works after a crash), then its secrets. Works on stuck "
        "deployments. Without --force a failure leaves DELETE_FAILED (run delete again); with --force "
        "the record always ends DELETE_COMPLETE and what could not be removed is recorded. "
        "Exit 0 deleted, 1 failed, 3 unknown ID, 64 another live process owns it (use --force).",
    )
    add_id_argument(parser)
    parser.add_argument(
        "--force", action="store_true", help="end DELETE_COMPLETE even if some resources cannot be removed"
    )
    add_view_arguments(parser)
    add_record_arguments(parser)
    parser.set_defaults(func=_delete)
