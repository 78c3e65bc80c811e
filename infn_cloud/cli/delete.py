"""`infn-cloud delete ID [--force]`: remove every resource of a deployment, then its secrets."""

from __future__ import annotations

import argparse

from infn_cloud.cli import emit
from infn_cloud.cli.deployments import add_state_argument, open_state_from_args, print_record, record_view
from infn_cloud.cli.view import add_view_arguments, make_view
from infn_cloud.deploy.lifecycle import Lifecycle


def _delete(args: argparse.Namespace) -> int:
    view = make_view(args)
    try:
        with open_state_from_args(args) as state:
            record = Lifecycle(state, view).delete(args.id, force=args.force)
            data = record_view(record)
    finally:
        view.close()
    emit(args, data, print_record)
    return 0


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
    parser.add_argument("id", metavar="ID")
    parser.add_argument(
        "--force", action="store_true", help="end DELETE_COMPLETE even if some resources cannot be removed"
    )
    add_view_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_state_argument(parser)
    parser.set_defaults(func=_delete)
