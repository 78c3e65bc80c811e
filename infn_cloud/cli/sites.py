"""`infn-cloud sites`: the sites of a registry, their kind, capacity and status.

Also the pieces other commands share: ``add_site_arguments(parser)`` (--registry, --group,
--site), ``registry_path(args)`` / ``load_registry_from_args(args)``, ``describe_selection``
and ``print_selection`` for `infn-cloud plan` and `infn-cloud deploy`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from infn_cloud.cli import emit
from infn_cloud.errors import InfnCloudError
from infn_cloud.federation import Registry, Selection, describe_selection, format_selection, load_registry
from infn_cloud.federation.location import REGISTRY_ENV, registry_location

DEFAULT_REGISTRY = "inventories/local"

__all__ = [
    "add_site_arguments",
    "describe_selection",
    "load_registry_from_args",
    "print_selection",
    "register",
    "registry_path",
]


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


def print_selection(selection: Selection) -> None:
    print(format_selection(selection))


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
