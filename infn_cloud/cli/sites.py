"""`infn-cloud sites`: the sites of a registry, their kind, capacity and status.

The options other commands share (--registry, --group, --site) live in cli/options.py.
"""

from __future__ import annotations

import argparse

from infn_cloud.cli import emit
from infn_cloud.cli.options import (
    DEFAULT_REGISTRY,
    REGISTRY_ENV,
    add_site_arguments,
    load_registry_from_args,
    registry_path,
)
from infn_cloud.errors import InfnCloudError
from infn_cloud.federation import load_registry

# add_site_arguments, load_registry_from_args and registry_path lived here: still importable.
__all__ = ["add_site_arguments", "load_registry_from_args", "register", "registry_path"]


def _local_usage(site) -> dict | None:
    """Instances/cores/RAM other deployments use on a local site (None if podman cannot tell)."""
    from infn_cloud.federation.drivers.local import LocalDriver

    try:
        return LocalDriver(site).usage()
    except InfnCloudError:
        return None


def _site_row(site) -> dict:
    row = {
        "name": site.name,
        "kind": site.kind,
        "driver": site.driver,
        "status": "enabled" if site.enabled else "disabled",
        "sla_priority": site.sla_priority,
        "regions": list(site.regions),
        "cloud": site.cloud,
        "capacity": dict(site.quotas),
        "flavors": len(site.flavors),
        "gpu_models": list(site.gpu_models),
        "object_storage": bool(site.capabilities.get("object_storage")),
        "replicated_object_storage": bool(site.capabilities.get("replicated_object_storage")),
        "s3_endpoint": site.capabilities.get("s3_endpoint"),
        "groups": len(site.groups()),
        "source": site.source,
    }
    if site.driver == "local":
        row["in_use"] = _local_usage(site)
    return row


def _print_sites(data: dict) -> None:
    print(f"Registry {data['registry']} ({data['name']}); default group: {data['default_group'] or '-'}")
    header = f"{'SITE':<22}{'KIND':<11}{'DRIVER':<10}{'STATUS':<10}{'SLA':>4}  {'CAPACITY':<36}FEATURES"
    print(header)
    for s in data["sites"]:
        cap = s["capacity"]
        capacity = f"{cap['instances']} VMs, {cap['cores']} cores, {cap['ram_mb'] // 1024} GB"
        if s.get("in_use"):
            capacity += f" ({s['in_use']['instances']} used)"
        features = []
        if s["replicated_object_storage"]:
            features.append("replicated object storage")
        elif s["object_storage"]:
            features.append("object storage")
        if s["gpu_models"]:
            features.append("GPU " + "/".join(s["gpu_models"]))
        features.append("regions " + ",".join(s["regions"]))
        print(
            f"{s['name']:<22}{s['kind']:<11}{s['driver']:<10}{s['status']:<10}{s['sla_priority']:>4}  "
            f"{capacity:<36}{'; '.join(features)}"
        )


def _handler(args: argparse.Namespace) -> int:
    path = registry_path(args)
    registry = load_registry(path)
    data = {
        "registry": str(path),
        "name": registry.name,
        "description": registry.description,
        "default_group": registry.default_group,
        "sites": [_site_row(s) for s in registry.sites.values()],
    }
    emit(args, data, _print_sites)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sites",
        help="list the sites of a registry",
        description="List the sites of a site registry: kind (backbone/federated/local), driver, status, "
        "SLA priority, capacity (quotas) and capabilities. Local sites also show what is in use.",
    )
    parser.add_argument(
        "--registry",
        metavar="DIR",
        help=f"site registry directory (default: ${REGISTRY_ENV} or {DEFAULT_REGISTRY} of the collection)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=_handler)
