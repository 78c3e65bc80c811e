"""`infn-cloud plan TEMPLATE`: show what a deployment would do (site selection: plan_sites.py)."""

from __future__ import annotations

import argparse
import json

from infn_cloud.cli import emit
from infn_cloud.cli.options import add_template_arguments, import_maps, load_inputs
from infn_cloud.tosca import make_plan

# Their home was this module: kept importable from here for callers outside the package.
__all__ = ["add_template_arguments", "import_maps", "load_inputs", "print_plan", "register", "run"]


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
    plan = redacted(make_plan(args.template, load_inputs(args), import_map=import_maps(args)))
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
