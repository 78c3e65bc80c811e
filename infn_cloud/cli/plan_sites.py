"""Site selection for `infn-cloud plan`: which site would be chosen and why, and why not the others.

Kept out of plan.py (the TOSCA engine's command) so that each part has one owner. Nothing is
created: selection reads the registry and the sites' live signals (federation/signals.py:
OpenStack limits, flavors, images and health, cached with a TTL; podman usage on local sites),
unless --offline.
"""

from __future__ import annotations

import argparse

from infn_cloud.cli.options import add_offline_argument, add_site_arguments, load_registry_from_args
from infn_cloud.errors import EXIT_NO_SITE, NoSiteError
from infn_cloud.federation import Selection, format_selection


def print_selection(selection: Selection) -> None:
    print(format_selection(selection))


def add_plan_site_arguments(parser: argparse.ArgumentParser) -> None:
    add_site_arguments(parser)
    parser.add_argument("--no-sites", action="store_true", help="only the TOSCA plan: skip site selection")
    add_offline_argument(parser)


def _signals(args: argparse.Namespace, registry) -> dict:
    """Live site signals (infn_cloud.federation.signals), unless --offline."""
    if getattr(args, "offline", False):
        return {}
    from infn_cloud.federation.signals import for_selection

    return for_selection(registry, getattr(args, "site", None), getattr(args, "group", None))


def _signal_lines(signals: dict) -> list[str]:
    from infn_cloud.federation.signals import UNKNOWN

    lines = []
    for name, sig in signals.items():
        if sig.status == UNKNOWN:
            lines.append(f"  {name}: registry values (live signals unavailable: {sig.reason})")
    return lines


def _history() -> list[dict]:
    """Past attempts from the state store, if there is one (plan never creates it)."""
    from infn_cloud.state import default_db_path, open_state

    if not default_db_path().exists():
        return []
    with open_state() as state:
        return state.site_history()


def plan_with_sites(args: argparse.Namespace, plan: dict, print_plan, emit) -> int:
    from infn_cloud.federation import describe_selection, select_sites
    from infn_cloud.federation.signals import summary

    registry = load_registry_from_args(args)
    signals = _signals(args, registry)
    try:
        selection = select_sites(
            plan, registry, group=args.group, policy=args.site, history=_history(), signals=signals
        )
    except NoSiteError as exc:
        message, details = exc.message, exc.details
        data = dict(
            plan,
            selection={"chosen": None, "error": message, "rejected": details, "signals": summary(signals)},
        )

        def human(d):
            print_plan(plan)
            print(f"No site: {message}")
            for line in details:
                print(f"  {line}")
            for line in _signal_lines(signals):
                print(f"warning: {line.strip()}")

        emit(args, data, human)
        return EXIT_NO_SITE
    data = dict(plan, selection=dict(describe_selection(selection), signals=summary(signals)))
    best = selection.best
    data["compute"] = {n: dict(c, site=best.site_of(n)) for n, c in (plan.get("compute") or {}).items()}

    def human(d):
        print_plan(plan)
        print_selection(selection)
        lines = _signal_lines(signals)
        if lines:
            print("Registry values used (live signals unavailable):")
            print("\n".join(lines))

    emit(args, data, human)
    return 0
