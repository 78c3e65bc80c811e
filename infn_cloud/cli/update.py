"""`infn-cloud update ID`: change a running deployment's inputs, scale its nodes out and in.

The change is computed and printed first (nodes to add, instances to remove, software to
reconfigure, outputs that change; refused changes with the reason and what to run instead);
``--dry-run`` stops there. Then it is applied at the deployment's site
(infn_cloud.deploy.update): progress on stderr as for deploy, the record at the end (``--json``:
``{"change", "applied", "deployment"}`` on stdout).
"""

from __future__ import annotations

import argparse

from infn_cloud.cli import emit
from infn_cloud.cli.deployments import print_record, record_view
from infn_cloud.cli.options import (
    add_id_argument,
    add_input_arguments,
    add_record_arguments,
    add_timeout_arguments,
    import_maps,
    load_inputs,
    open_state_from_args,
    timeouts_from_args,
)
from infn_cloud.cli.view import add_view_arguments, make_view
from infn_cloud.deploy.lifecycle import Lifecycle
from infn_cloud.deploy.update import DEFAULT_DRAIN_TIMEOUT, UpdateRequest
from infn_cloud.errors import UsageError

_TIMEOUTS = {
    "provision": "seconds for new instances to be created and ready",
    "configure": "seconds for the whole configuration run (and for scale_in after the drain)",
    "idle": "fail a playbook run after this many seconds without output",
}


def _print_change(lines: list[str], deployment_id: str) -> None:
    print(f"Change to deployment {deployment_id}:", flush=True)
    for line in lines or ["nothing to do"]:
        print(f"  {line}", flush=True)


def _update(args: argparse.Namespace) -> int:
    if args.drain_timeout < 0:
        raise UsageError("--drain-timeout must be 0 or more seconds")
    request = UpdateRequest(
        deployment_id=args.id,
        inputs=load_inputs(args),
        remove=list(args.remove),
        dry_run=args.dry_run,
        allow_data_loss=args.allow_data_loss,
        drain_timeout=args.drain_timeout,
        import_map=import_maps(args),
        timeouts=timeouts_from_args(args),
    )
    view = make_view(args)
    try:
        with open_state_from_args(args) as state:
            if not args.json:  # the change first, before anything is applied
                request.on_change = lambda ident, change: _print_change(change.lines(), ident)
            result = Lifecycle(state, view).update(request)
            data = {
                "change": result.change.to_dict(),
                "applied": result.applied,
                "dry_run": bool(args.dry_run),
                "deployment": record_view(state.get(result.record["id"])),
            }
    finally:
        view.close()

    def human(d: dict) -> None:
        if d["applied"]:
            print()
            print_record(d["deployment"])
        elif d["dry_run"] and (d["change"]["add"] or d["change"]["remove"] or d["change"]["reconfigure"]):
            print("dry run: nothing was changed; run without --dry-run to apply")

    emit(args, data, human)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "update",
        help="change a running deployment: inputs, scale out and in",
        description="Change deployment ID: new input values (-i/--set, merged over the stored ones; "
        "secrets stay in the secret store and generated ones are reused) are validated against the "
        "deployment's template; the change is printed first (nodes to add, instances to remove, software "
        "to reconfigure, outputs that change), then applied at the deployment's site (across backbone sites: "
        "new instances at their node's site): new instances are created and configured, with the hosts "
        "whose software variables change and the peers they read from (roles are idempotent), "
        "instances to remove are drained (playbooks/scale_in.yml) and removed. A count that goes down "
        "removes the highest indices unless --remove names the instances. Changes that cannot be made in "
        "place (site, operating system, a node's size or ports, a template change, scaling in a node "
        "holding data) are refused with what to run instead. A failure leaves UPDATE_FAILED and the "
        "instances that existed before; `retry ID` resumes the update. Exit 0 done (or nothing to do), "
        "1 failed, 2 invalid inputs or refused change, 3 not found, 64 usage or busy deployment, "
        "130 interrupted.",
    )
    add_id_argument(parser)
    add_input_arguments(parser)
    parser.add_argument(
        "--remove",
        action="append",
        default=[],
        metavar="INSTANCE",
        help="remove this instance (a name from `infn-cloud show ID`) when a count goes down; repeatable",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the change and stop")
    parser.add_argument(
        "--allow-data-loss",
        action="store_true",
        help="allow removing instances that hold data (storage, JupyterHub, a control plane, block storage)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=int,
        default=DEFAULT_DRAIN_TIMEOUT,
        metavar="S",
        help="seconds running work may take to finish on the instances to remove "
        f"(default {DEFAULT_DRAIN_TIMEOUT})",
    )
    add_timeout_arguments(parser, _TIMEOUTS)
    add_view_arguments(parser)
    add_record_arguments(parser)
    parser.set_defaults(func=_update)
