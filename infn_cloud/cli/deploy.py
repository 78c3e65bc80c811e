"""`infn-cloud deploy TEMPLATE` and `infn-cloud retry ID`.

deploy: validate, select a site, provision, configure through ansible-runner, resolve outputs;
on a failure at a site, clean it and try the next ranked one (up to --max-sites). Progress goes
to stderr (a live view on a terminal, one line per phase event otherwise or with --plain, a line
per task with --verbose: infn_cloud.deploy.progress); with --json the final record is printed on
stdout.
"""

from __future__ import annotations

import argparse

from infn_cloud.cli.deployments import print_record, run_lifecycle
from infn_cloud.cli.options import (
    add_id_argument,
    add_json_argument,
    add_offline_argument,
    add_site_arguments,
    add_state_argument,
    add_template_arguments,
    add_timeout_arguments,
    import_maps,
    load_inputs,
    registry_path,
    timeouts_from_args,
)
from infn_cloud.cli.view import add_view_arguments
from infn_cloud.deploy.lifecycle import DEFAULT_MAX_SITES, DeployRequest

# --OPTION-timeout: the Timeouts field it sets and what it bounds.
_TIMEOUTS = {
    "provision": "seconds for the nodes of one site to be created and ready",
    "configure": "seconds for the whole configuration run",
    "idle": "fail configuration after this many seconds without output",
}


def _add_timeouts(parser: argparse.ArgumentParser) -> None:
    add_timeout_arguments(parser, _TIMEOUTS)
    add_view_arguments(parser)


def _print_result(view: dict) -> None:
    print_record(view)
    if view["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        print(f"\nNext: infn-cloud outputs {view['id']}  |  infn-cloud delete {view['id']}")


def _deploy(args: argparse.Namespace) -> int:
    request = DeployRequest(
        template=args.template,
        inputs=load_inputs(args),
        import_map=import_maps(args),
        registry=str(registry_path(args)),
        group=args.group,
        policy=args.site,
        max_sites=args.max_sites,
        timeouts=timeouts_from_args(args),
        live_signals=not args.offline,
    )
    return run_lifecycle(args, lambda lifecycle: lifecycle.deploy(request), _print_result)


def _retry(args: argparse.Namespace) -> int:
    def action(lifecycle):
        return lifecycle.retry(
            args.id, timeouts_from_args(args), max_sites=args.max_sites, live_signals=not args.offline
        )

    return run_lifecycle(args, action, _print_result)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="deploy a template",
        description="Deploy TEMPLATE: validate it, choose the best site (see `plan`; live site signals "
        "unless --offline), create the nodes, "
        "configure them with the collection's roles through ansible-runner and print the outputs. "
        "On a failure at a site the resources made there are deleted and the next ranked site is tried. "
        "Exit 0 CREATE_COMPLETE, 1 failed on every site tried, 2 invalid template/inputs, 3 not found, "
        "4 no site fits, 64 usage, 130 interrupted (then: retry or delete).",
    )
    add_template_arguments(parser)
    add_site_arguments(parser)
    add_offline_argument(parser)
    parser.add_argument(
        "--max-sites",
        type=int,
        default=DEFAULT_MAX_SITES,
        metavar="N",
        help=f"try at most N ranked sites (default {DEFAULT_MAX_SITES})",
    )
    _add_timeouts(parser)
    add_state_argument(parser)
    parser.set_defaults(func=_deploy)

    parser = subparsers.add_parser(
        "retry",
        help="resume a failed or interrupted deployment",
        description="Resume deployment ID after a failure, Ctrl-C or a crash of the command that ran it: "
        "if its nodes still exist, configure them again (roles are idempotent); otherwise select a site "
        "again and start over from the stored plan. Secrets come from the secret store.",
    )
    add_id_argument(parser)
    parser.add_argument(
        "--max-sites",
        type=int,
        default=None,
        metavar="N",
        help="try at most N ranked sites (default: as the deployment was made)",
    )
    add_offline_argument(parser)
    _add_timeouts(parser)
    add_json_argument(parser)
    add_state_argument(parser)
    parser.set_defaults(func=_retry)
