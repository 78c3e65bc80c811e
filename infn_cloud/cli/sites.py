"""`infn-cloud sites`: the sites of a registry, their kind, capacity and status, and what they say now.

`infn-cloud sites refresh [SITE...]` asks the sites again (federation/signals.py).

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
from infn_cloud.federation import load_registry
from infn_cloud.federation.signals import DEFAULT_TIMEOUT_S, DEFAULT_TTL_S, TIMEOUT_ENV, TTL_ENV

# add_site_arguments, load_registry_from_args and registry_path lived here: still importable.
__all__ = ["add_site_arguments", "load_registry_from_args", "register", "registry_path"]


def _site_row(site, sig=None) -> dict:
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
        "live": _live(site, sig),
    }
    if site.driver == "local":
        row["in_use"] = dict(sig.used) if sig is not None and sig.status == "up" else None
    return row


def _live(site, sig) -> dict | None:
    """What the site says now next to the registry's values (None: not asked, --offline)."""
    if sig is None:
        return None
    live = {
        "status": sig.status,
        "source": sig.source,
        "reason": sig.reason,
        "age_s": None if sig.fetched_at is None else round(sig.age_s() or 0.0, 1),
        "elapsed_s": sig.elapsed_s,
        "warnings": list(sig.warnings),
    }
    if sig.status == "up":
        live["limits"] = dict(sig.limits)
        live["used"] = dict(sig.used)
        live["free"] = sig.free(site.quotas)
        live["flavors"] = sig.flavors
        live["images"] = sig.images
    return live


def _print_sites(data: dict) -> None:
    print(f"Registry {data['registry']} ({data['name']}); default group: {data['default_group'] or '-'}")
    header = f"{'SITE':<22}{'KIND':<11}{'DRIVER':<10}{'STATUS':<10}{'SLA':>4}  {'CAPACITY':<36}FEATURES"
    print(header)
    for s in data["sites"]:
        cap = s["capacity"]
        capacity = f"{cap['instances']} VMs, {cap['cores']} cores, {cap['ram_mb'] // 1024} GB"
        if s.get("in_use"):
            capacity += f" ({s['in_use']['instances']} used)"
        live = s.get("live")
        if live and live["status"] == "up" and s["driver"] != "local":
            free = live["free"]
            capacity = f"{free['instances']} VMs, {free['cores']} cores, {free['ram_mb'] // 1024} GB free"
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
        if live is not None:
            print(f"{'':<22}{_live_text(live)}")
    if not data.get("live"):
        print("(registry values only: --offline)")


def _live_text(live: dict) -> str:
    if live["status"] == "up" and not live["limits"] and live.get("flavors") is None:
        return "live: up (podman answers; usage read now)"
    if live["status"] == "up":
        age = live["age_s"]
        when = f", {age:.0f} s old" if live["source"] == "cache" and age is not None else ""
        text = f"live: up ({live['source']}{when})"
        if live.get("flavors") is not None:
            text += f", {len(live['flavors'])} flavors, {len(live['images'] or [])} images"
        return text + "".join(f"; {w}" for w in live["warnings"])
    if live["status"] == "down":
        return f"live: DOWN ({live['source']}): {live['reason']}"
    return f"live: unavailable, registry values used ({live['reason']})"


def _handler(args: argparse.Namespace) -> int:
    if getattr(args, "sites_action", None) == "refresh":
        return _refresh(args)
    from infn_cloud.federation.signals import gather

    path = registry_path(args)
    registry = load_registry(path)
    signals = {} if args.offline else gather(registry)
    data = {
        "registry": str(path),
        "name": registry.name,
        "description": registry.description,
        "default_group": registry.default_group,
        "live": not args.offline,
        "sites": [_site_row(s, signals.get(s.name)) for s in registry.sites.values()],
    }
    emit(args, data, _print_sites)
    return 0


def _refresh(args: argparse.Namespace) -> int:
    """Ask the sites now (cache ignored and rewritten); exit 1 when one asked by name is down."""
    from infn_cloud.federation.signals import DOWN, gather

    path = registry_path(args)
    registry = load_registry(path)
    names = list(dict.fromkeys(args.names)) or None
    for name in names or []:
        registry.site(name)  # NotFoundError (exit 3) naming the known sites
    signals = gather(registry, names, refresh=True, timeout=args.timeout)
    data = {
        "registry": str(path),
        "sites": {n: _live(registry.sites[n], sig) for n, sig in signals.items()},
    }

    def human(d):
        for name, live in d["sites"].items():
            print(f"{name:<22}{_live_text(live)} in {live['elapsed_s']:.1f} s")

    emit(args, data, human)
    down = [n for n, s in signals.items() if s.status == DOWN]
    return 1 if names and down else 0


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def _registry_argument(parser: argparse.ArgumentParser, **kwargs) -> None:
    parser.add_argument(
        "--registry",
        metavar="DIR",
        **kwargs,
        help=f"site registry directory (default: ${REGISTRY_ENV} or {DEFAULT_REGISTRY} of the collection)",
    )


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sites",
        help="list the sites of a registry",
        description="List the sites of a site registry: kind (backbone/federated/local), driver, status, "
        "SLA priority, capacity (quotas) and capabilities, and what each site says now (live signals: "
        "OpenStack limits, flavors, images and health, cached with a TTL; podman usage on local sites). "
        "`sites refresh` asks the sites again.",
    )
    _registry_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--offline", action="store_true", help="registry values only: ask no site (no live signals)"
    )
    parser.set_defaults(func=_handler, sites_action=None)
    actions = parser.add_subparsers(dest="sites_action", metavar="ACTION")
    refresh = actions.add_parser(
        "refresh",
        help="ask the sites now: quotas and usage, flavors, images, health (rewrites the cache)",
        description="Ask each site (or the SITEs named) now, in parallel: health probe, quotas and "
        "usage, flavors and images; the results replace the cached ones (state directory, signals/). "
        f"Exit 1 when a site named is down. Cache TTL: ${TTL_ENV} (default {DEFAULT_TTL_S:g} s).",
    )
    refresh.add_argument(
        "names", nargs="*", metavar="SITE", help="sites to refresh (default: every enabled site)"
    )
    # SUPPRESS: `sites --registry DIR --json refresh` keeps what was given before `refresh`
    _registry_argument(refresh, default=argparse.SUPPRESS)
    refresh.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    refresh.add_argument(
        "--timeout",
        type=_timeout,
        metavar="SECONDS",
        help=f"per-site limit (default ${TIMEOUT_ENV} or {DEFAULT_TIMEOUT_S:g})",
    )
    refresh.set_defaults(func=_handler)
