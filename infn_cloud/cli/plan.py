"""`infn-cloud plan TEMPLATE`: show what a deployment would do.

The helpers here (add_template_arguments, load_inputs, build_plan, print_plan) are shared with
`validate` and `deploy`, which add their own options (site selection) on top.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infn_cloud.cli import emit
from infn_cloud.errors import UsageError, ValidationError
from infn_cloud.tosca import make_plan
from infn_cloud.tosca.yamlio import Mapping, YamlSyntaxError, load_file, load_text


def add_template_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "template", metavar="TEMPLATE", help="template file or catalogue name (see `templates`)"
    )
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
    parser.add_argument(
        "--import-map",
        action="append",
        default=[],
        metavar="FILE",
        help="import map resolving URL imports to local files (also INFN_CLOUD_IMPORT_MAP)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def load_inputs(args: argparse.Namespace) -> Mapping | None:
    """Merge -i files (in order) and --set values; None when neither was given."""
    if not args.inputs and not args.set_values:
        return None
    merged = Mapping()
    for name in args.inputs:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"inputs file {name} not found")
        # The file's content is untrusted input: unreadable YAML, a document over the YAML limits
        # or anything but a map is an invalid input (exit 2), like a bad value.
        try:
            data = load_file(path)
        except YamlSyntaxError as exc:
            raise ValidationError(f"inputs file {exc}") from None
        except UnicodeDecodeError:
            raise ValidationError(f"inputs file {name}: not a UTF-8 text file") from None
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


def build_plan(args: argparse.Namespace) -> dict:
    return make_plan(args.template, load_inputs(args), import_map=import_maps(args))


def print_plan(plan: dict) -> None:
    print(f"Template: {plan['template']}")
    if plan.get("description"):
        print(f"  {plan['description']}")
    demand = plan["demand"]
    print(
        f"Demand: {demand['instances']} instance(s), {demand['cpus']} vCPU, {demand['ram_mb']} MB RAM, "
        f"{demand['disk_gb']} GB disk, {demand['gpus']} GPU, {demand['volumes']} volume(s) "
        f"({demand['volume_gb']} GB), {demand['public_ips']} public IP(s)"
    )
    print("Compute:")
    for name, node in plan["compute"].items():
        os_ = node["os"]
        gpu = f", {node['num_gpus']} GPU {node['gpu_model'] or ''}".rstrip() if node["num_gpus"] else ""
        ports = ", ".join(f"{p['port']}/{p['protocol']}" for p in node["ports"]) or "none"
        print(
            f"  {name}: {node['count']} x {node['num_cpus']} vCPU, {node['mem_size_mb']} MB, "
            f"{node['disk_size_gb']} GB{gpu}, {os_['distribution'] or '?'} {os_['version'] or ''}".rstrip()
        )
        print(f"    public IP: {'yes' if node['public_ip'] else 'no'}; ports: {ports}")
        for volume in node["volumes"]:
            mount = volume["mount_path"] or "(not mounted)"
            print(f"    volume {volume['node']}: {volume['size_gb']} GB at {mount}")
    print("Software (by wave):")
    for entry in plan["software"]:
        what = entry["role"] or entry["implementation"] or "(no implementation)"
        print(f"  [{entry['wave']}] {entry['node']} on {', '.join(entry['hosts']) or '-'}: {what}")
    if plan.get("secret_values"):
        names = ", ".join(entry["name"] for entry in plan["secret_values"])
        print(f"Secret values (kept in the secret store, shown as <secret:NAME>): {names}")
    if plan.get("secrets_to_generate"):
        print(f"Secrets generated at deploy time: {', '.join(plan['secrets_to_generate'])}")
    if plan["outputs"]:
        print("Outputs (resolved after provisioning):")
        for name, output in plan["outputs"].items():
            print(f"  {name}: {json.dumps(output['value'])}")
    for warning in plan["warnings"]:
        print(f"warning: {warning}")


def redacted(plan: dict) -> dict:
    """The plan for printing: every secret value (secret inputs, secrets found in maps, lists
    and marked properties) replaced by its ``<secret:NAME>`` marker, as it is stored."""
    from infn_cloud.deploy.redaction import redact_plan
    from infn_cloud.tosca.secret_values import values

    return redact_plan(plan, values(plan))


def run(args: argparse.Namespace) -> int:
    plan = redacted(build_plan(args))
    if getattr(args, "no_sites", True):
        emit(args, plan, print_plan)
        return 0
    from infn_cloud.cli.plan_sites import plan_with_sites  # site selection (the CLI's part)

    return plan_with_sites(args, plan, print_plan, emit)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show the deployment plan of a template",
        description="Validate TEMPLATE with its inputs and print the deployment plan: compute nodes, "
        "demand, software roles in parallel waves, outputs. Nothing is deployed. Exit 0 valid, 2 invalid, "
        "3 template not found, 64 usage error.",
    )
    add_template_arguments(parser)
    from infn_cloud.cli.plan_sites import add_plan_site_arguments

    add_plan_site_arguments(parser)
    parser.set_defaults(func=run)
