"""The infn-cloud command line.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a parser
and sets ``func(args) -> int``. Errors derived from InfnCloudError become a message on stderr
(or a JSON object with --json) and the exit code documented in infn_cloud.errors.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from infn_cloud import __version__
from infn_cloud.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, InfnCloudError

# Order is the order of `infn-cloud --help`.
COMMAND_MODULES = [
    "templates",
    "validate",
    "survey",
    "plan",
    "sites",
    "deploy",
    "update",
    "deployments",
    "delete",
    "completion",
]


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors; 2 means "invalid template" here, so use 64."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="infn-cloud",
        description="Deploy research-computing services from TOSCA templates on INFN Cloud "
        "federated OpenStack sites or on the embedded local site (podman containers).",
        epilog="Exit codes: 0 ok, 1 failed, 2 invalid input, 3 not found, 4 no site fits, "
        "64 usage, 70 internal error, 130 interrupted. Run 'infn-cloud COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--no-color", action="store_true", help="no colours (as NO_COLOR=1 does)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"infn_cloud.cli.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet is simply absent
            if exc.name != f"infn_cloud.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["completion", "--complete"]:  # the completion scripts, at each TAB
        from infn_cloud.cli.completion import complete

        return complete(argv[2:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.no_color:
        os.environ["NO_COLOR"] = "1"  # rich reads it (https://no-color.org)
    as_json = getattr(args, "json", False)
    try:
        return int(args.func(args) or 0)
    except InfnCloudError as exc:
        if as_json:
            print(json.dumps(exc.to_dict(), indent=2))
        else:
            print(f"infn-cloud: error: {exc.message}", file=sys.stderr)
            for line in exc.details:
                print(f"  {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("infn-cloud: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"infn-cloud: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr
        )
        return EXIT_INTERNAL


def emit(args: argparse.Namespace, data, human) -> None:
    """Print `data` as JSON with --json, else call human(data) to print it for people."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        human(data)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
