"""Options and inputs the commands share: a template with its inputs, a site registry.

Command modules (plan, validate, deploy, sites, ...) import these; none imports another
command module for its helpers.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from infn_cloud.deploy.attempt import Timeouts
from infn_cloud.errors import UsageError, ValidationError
from infn_cloud.federation import Registry, load_registry
from infn_cloud.federation.location import REGISTRY_ENV, registry_location
from infn_cloud.state import StateStore, open_state
from infn_cloud.tosca.yamlio import Mapping, YamlSyntaxError, load_text, load_user_file

DEFAULT_REGISTRY = "inventories/local"
STATE_ENV = "INFN_CLOUD_STATE_DIR"
# The dest of a deployment ID positional: shell completion offers deployment ids for it.
ID_DEST = "id"


def add_json_argument(parser: argparse.ArgumentParser, **kwargs) -> None:
    """--json: the command prints its result as JSON (infn_cloud.cli.emit)."""
    parser.add_argument("--json", action="store_true", **{"help": "print JSON", **kwargs})


def add_id_argument(parser: argparse.ArgumentParser) -> None:
    """ID: a deployment of the state store (completed with the deployment ids)."""
    parser.add_argument(ID_DEST, metavar="ID")


def add_state_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help=f"where deployment records, logs and local secrets live (default: ${STATE_ENV} "
        "or $XDG_STATE_HOME/infn-cloud)",
    )


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    """--json and --state-dir, the last options of every command that reads or changes records."""
    add_json_argument(parser)
    add_state_argument(parser)


def open_state_from_args(args: argparse.Namespace) -> StateStore:
    # Passed on, not put in the environment: the lifecycle and the secret store take their
    # folder from the state store (state.directory).
    state_dir = getattr(args, "state_dir", None)
    return open_state(Path(state_dir).expanduser().resolve() if state_dir else None)


def add_template_arguments(parser: argparse.ArgumentParser) -> None:
    """TEMPLATE, its inputs (add_input_arguments) and --json: plan and deploy."""
    parser.add_argument(
        "template", metavar="TEMPLATE", help="template file or catalogue name (see `templates`)"
    )
    add_input_arguments(parser)
    add_json_argument(parser)


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """-i/--inputs, --set and --import-map (read by load_inputs and import_maps)."""
    parser.add_argument(
        "-i", "--inputs", action="append", default=[], metavar="FILE", help="YAML/JSON map of input values"
    )
    parser.add_argument(
        "--set",
        dest="set_values",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one input; VALUE is read as a YAML scalar (e.g. 4, true, '2 GB')",
    )
    add_import_map_argument(parser)


def add_import_map_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--import-map",
        action="append",
        default=[],
        metavar="FILE",
        help="import map resolving URL imports to local files (also INFN_CLOUD_IMPORT_MAP)",
    )


def load_inputs(args: argparse.Namespace) -> Mapping | None:
    """Merge -i files (in order) and --set values; None when neither was given."""
    if not args.inputs and not args.set_values:
        return None
    merged = Mapping()
    for name in args.inputs:
        path = Path(name)
        # Untrusted: unreadable YAML or anything but a map is an invalid input (exit 2), like a bad value.
        data = load_user_file(name, "inputs file")
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ValidationError(f"inputs file {name}: expected a map of input name to value")
        merged.update(data)
        merged.key_pos.update(getattr(data, "key_pos", {}))
        merged.raw.update(getattr(data, "raw", {}))
        merged.source = str(path)
    for item in args.set_values:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = load_text(text, "--set", plain=True) if text else ""
        except YamlSyntaxError:  # not YAML (or over the YAML limits): the text as given
            value = text
        if isinstance(value, dict | list):
            value = text  # --set takes scalars; use -i for lists and maps
        merged[key] = value
        merged.raw[key] = text
        merged.key_pos.pop(key, None)
        merged.source = merged.source or "--set"
    return merged


def import_maps(args: argparse.Namespace):
    return args.import_map or None


def add_site_arguments(parser: argparse.ArgumentParser) -> None:
    """--registry, --group and --site, as `plan` and `deploy` take them."""
    parser.add_argument(
        "--registry",
        metavar="DIR",
        help=f"site registry directory (default: ${REGISTRY_ENV} or {DEFAULT_REGISTRY} of the collection)",
    )
    parser.add_argument(
        "--group",
        metavar="GROUP",
        help="your identity-provider group, e.g. admins/cygno or infn-cloud:admins/cygno "
        "(default: the registry's default_group)",
    )
    parser.add_argument(
        "--site",
        metavar="POLICY",
        default="auto",
        help="auto (best site), backbone, federated, a site name or a region name (default: auto)",
    )


def registry_path(args: argparse.Namespace) -> Path:
    """--registry, else $INFN_CLOUD_REGISTRY, else the collection's inventories/local
    (infn_cloud.federation.location: the same rule for provision.yml's entry point)."""
    return registry_location(getattr(args, "registry", None))


def load_registry_from_args(args: argparse.Namespace) -> Registry:
    return load_registry(registry_path(args))


def add_offline_argument(parser: argparse.ArgumentParser) -> None:
    """--offline: select sites on the registry's values only (federation/signals.py)."""
    parser.add_argument(
        "--offline",
        action="store_true",
        help="select on the registry's values only: ask no site for live quotas, flavors, images or health",
    )


def add_timeout_arguments(parser: argparse.ArgumentParser, texts: dict[str, str]) -> None:
    """--FIELD-timeout S for each Timeouts field of texts (field -> what it bounds), with its default."""
    defaults = Timeouts()
    for field, text in texts.items():
        default = getattr(defaults, field)
        parser.add_argument(
            f"--{field}-timeout", type=int, default=default, metavar="S", help=f"{text} (default {default})"
        )


def timeouts_from_args(args: argparse.Namespace) -> Timeouts:
    """The Timeouts of the --FIELD-timeout options the command has (the others: defaults)."""
    given = {f.name: getattr(args, f"{f.name}_timeout", None) for f in dataclasses.fields(Timeouts)}
    return Timeouts(**{name: value for name, value in given.items() if value is not None})
