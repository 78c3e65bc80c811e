"""Controller-side provisioning step for playbooks/provision.yml and deprovision.yml.

``infn-cloud deploy`` provisions in-process (it needs per-site fallback and progress); plain
ansible-playbook and AWX users run the same drivers through this entry point:

    python -m infn_cloud.deploy.provision create --plan-file P --placement-file C \
        --deployment-id ID --output DOC [--registry DIR]
    python -m infn_cloud.deploy.provision delete --site SITE --deployment-id ID [--registry DIR]
    python -m infn_cloud.deploy.provision remove-instances --site SITE --deployment-id ID \
        (--instance NAME ... | --all-but NAME ...) [--registry DIR]

``create`` writes the deployment document (0600) the infn.cloud.deployment inventory plugin
reads, with get_attribute expressions resolved and secret input values replaced by
``<secret:NAME>`` markers (pass the real values to configure.yml as extra vars). It prints one
JSON line: {"changed", "document", "site", "hosts", "secret_vars"}. ``remove-instances`` (the
scale-in of playbooks/update.yml, after scale_in.yml drained them) removes those instances and
their own volumes, the rest of the deployment stays; ``--all-but`` removes every instance of the
deployment at the site except those (what a failed update added); it prints {"changed", "removed"}. Errors:
message on stderr, the infn-cloud exit codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infn_cloud.deploy import document
from infn_cloud.errors import InfnCloudError, UsageError
from infn_cloud.federation.location import registry_location
from infn_cloud.tosca import secret_values


def _load_json(path: str, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{what} {path}: {exc}") from None


def create(args: argparse.Namespace) -> dict:
    from infn_cloud.federation import load_registry
    from infn_cloud.federation.drivers import driver_for
    from infn_cloud.tosca.attributes import resolve_attributes

    plan = _load_json(args.plan_file, "plan file")
    placement = _load_json(args.placement_file, "placement file")
    registry = load_registry(args.registry)
    site = registry.sites.get(placement.get("site"))
    unknown = [n for n in (placement.get("node_sites") or {}).values() if n not in registry.sites]
    if site is None or unknown:
        name = placement.get("site") if site is None else unknown[0]
        raise UsageError(f"placement names site {name!r}, not in the registry")
    # the site's driver, or one over every site of a placement across backbone sites
    driver = driver_for(registry, placement, public_key=args.public_key)
    before = driver.describe(args.deployment_id)
    driver.create(args.deployment_id, plan, placement, progress=lambda m: print(m, file=sys.stderr))
    resources = driver.wait(args.deployment_id, None, timeout=args.timeout)
    # Every secret value of the plan (secret inputs and secrets found in maps, lists and marked
    # properties); a plan from infn.cloud.tosca_plan already holds markers instead.
    secrets = secret_values.values(plan)
    resolved = resolve_attributes(plan, resources)
    doc = document.build(args.deployment_id, site, resolved, resources, secrets)
    for name in resources.get("sites") or []:  # each host gets its own site's role_vars
        doc["site_role_vars"][name] = dict(registry.sites[name].role_vars or {})
    document.write(Path(args.output), doc)
    secret_vars = doc["secret_vars"]
    hosts = [i["name"] for insts in resources["nodes"].values() for i in insts]
    return {
        "changed": not before.get("nodes"),
        "document": str(args.output),
        "site": site.name,
        "sites": resources.get("sites") or [site.name],
        "hosts": hosts,
        "secret_vars": secret_vars,
    }


def delete(args: argparse.Namespace) -> dict:
    from infn_cloud.federation import load_registry
    from infn_cloud.federation.drivers import site_driver

    registry = load_registry(args.registry)
    names = [n.strip() for n in args.site.split(",") if n.strip()]  # "A,B": a deployment across sites
    for name in names:
        if name not in registry.sites:
            raise UsageError(f"site {name} is not in the registry {args.registry}")
    removed: list[str] = []
    for name in names:
        found = site_driver(registry, name).delete(
            args.deployment_id, progress=lambda m: print(m, file=sys.stderr)
        )
        removed += [f"{name}: {r}" for r in found] if len(names) > 1 else found
    return {"changed": bool(removed), "removed": removed}


def remove_instances(args: argparse.Namespace) -> dict:
    from infn_cloud.federation import load_registry
    from infn_cloud.federation.drivers import site_driver

    registry = load_registry(args.registry)
    if args.site not in registry.sites:
        raise UsageError(
            f"site {args.site} is not in the registry {args.registry}",
            details=["remove-instances works on one site: the deployment's record names it"],
        )
    driver = site_driver(registry, args.site)
    names = list(args.instance or [])
    if args.all_but:
        nodes = (driver.describe(args.deployment_id).get("nodes") or {}).values()
        names += [i["name"] for insts in nodes for i in insts if i.get("name") not in args.all_but]
    if not names:
        return {"changed": False, "removed": []}
    removed = driver.remove_instances(args.deployment_id, names, progress=lambda m: print(m, file=sys.stderr))
    return {"changed": bool(removed), "removed": removed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infn_cloud.deploy.provision")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("create")
    p.add_argument("--plan-file", required=True)
    p.add_argument("--placement-file", required=True)
    p.add_argument("--deployment-id", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--public-key")
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--registry")
    p.set_defaults(func=create)
    p = sub.add_parser("delete")
    p.add_argument("--site", required=True)
    p.add_argument("--deployment-id", required=True)
    p.add_argument("--registry")
    p.set_defaults(func=delete)
    p = sub.add_parser("remove-instances")
    p.add_argument("--site", required=True)
    p.add_argument("--deployment-id", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--instance", action="append", help="an instance to remove (repeatable)")
    which.add_argument("--all-but", action="append", help="an instance to keep (repeatable)")
    p.add_argument("--registry")
    p.set_defaults(func=remove_instances)
    args = parser.parse_args(argv)
    args.registry = str(registry_location(args.registry))
    try:
        print(json.dumps(args.func(args)))
    except InfnCloudError as exc:
        print(f"infn-cloud provision: error: {exc.message}", file=sys.stderr)
        for line in exc.details:
            print(f"  {line}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
