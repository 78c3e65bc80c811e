"""Site selection: which sites of a registry can host a plan, best first, and why the others cannot.

Filters, in order (the first failing one is the reason a site is rejected):
  1. the site is enabled;
  2. it matches the policy: auto | backbone | federated | a site name | a region name, and the
     plan's TOSCA placement (sites/regions) when the template has one;
  3. the user group has a project there;
  4. the site has every capability the plan's compute nodes require (gpu with the GPU model,
     object_storage, replicated_object_storage which only backbone sites offer, ...);
  5. every compute node gets an image for its OS and the smallest flavor satisfying its CPUs,
     RAM, disk and GPUs (GPU flavors are never used for nodes that ask for no GPU);
  6. the total demand with those flavors fits the site's quotas.
Per-node placement (docs/federation.md "Backbone vs federated"): when the template places its
compute nodes differently (the plan's ``placement.nodes``: the policies targeting each node) or
asks for distinct sites (``placement.spread``), filter 2 applies node by node. A candidate is
one site hosting every node or, on the registry's backbone only, several backbone sites each
hosting some nodes (``SiteCandidate.node_sites``): each such site must fit its nodes' share
of the demand. Spanning candidates are made only when the template asks for distinct sites, or
places nodes differently and no single site can host every node, and the policy is not one site
or federated; federated sites never share a deployment.
Ranking (score 0..100): SLA priority (40), free capacity left after placement (25), recent
failure rate (20) and mean deploy time (10) from history, user preference from the plan's
placement order (5). Ties break on SLA priority, then site name, so equal input gives equal
output.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from infn_cloud.errors import NoSiteError, NotFoundError
from infn_cloud.federation.history import summarise
from infn_cloud.federation.registry import QUOTA_KEYS, Flavor, Registry, Site
from infn_cloud.federation.signals import SiteDown
from infn_cloud.model import ComputeNode, Plan, SiteCandidate, plan_view

POLICIES = ("auto", "backbone", "federated")
WEIGHTS = {"sla": 40.0, "capacity": 25.0, "reliability": 20.0, "speed": 10.0, "preference": 5.0}
SLOW_DEPLOY_S = 3600.0  # a mean deploy time this long or longer earns no speed points


Candidate = SiteCandidate  # the name this module used before the typed model


@dataclass
class Selection:
    policy: str
    group: str
    candidates: list[SiteCandidate]
    rejected: dict[str, str]
    # Per compute node, the sites it fits and why not the others: only when the template places
    # its nodes differently (per-node policies, distinct sites).
    nodes: dict[str, dict] | None = None

    @property
    def best(self) -> SiteCandidate:
        return self.candidates[0]

    def to_dict(self) -> dict:
        return describe_selection(self)


class _Reject(Exception):
    pass


def _plan_compute(plan: Plan) -> dict[str, ComputeNode]:
    return {name: plan.compute[name] for name in sorted(plan.compute)}


def _required_capabilities(compute: dict[str, ComputeNode]) -> list[str]:
    caps: set[str] = set()
    for node in compute.values():
        caps.update(node.required_capabilities or [])
        if int(node.num_gpus or 0) > 0:
            caps.add("gpu")
    return sorted(caps)


def _is_policy(value, registry: Registry) -> bool:
    return value in POLICIES or value in registry.sites or value in registry.regions()


def _resolve_policy(policy: str, plan: Plan, registry: Registry) -> str:
    placement = plan.placement or {}
    # The template's placement policy counts only when it names a policy we know: the TOSCA
    # engine may also put the policy *type* there (infn.cloud.policies.Placement).
    if policy in (None, "", "auto") and _is_policy(placement.get("policy"), registry):
        policy = placement["policy"]
    policy = policy or "auto"
    if _is_policy(policy, registry):
        return policy
    raise NotFoundError(
        f"unknown site policy '{policy}'",
        details=[
            "expected auto, backbone, federated, a site name or a region name",
            f"sites: {', '.join(sorted(registry.sites))}",
            f"regions: {', '.join(sorted(registry.regions()))}",
        ],
    )


def _site_matches(site: Site, token) -> bool:
    """A template placement entry names a site, one of its regions, or a kind (backbone, ...)."""
    token = str(token).lower()
    return token in (site.name.lower(), site.kind) or token in (r.lower() for r in site.regions)


def _allowed_regions(site: Site, policy: str, placement: dict, node: str | None = None) -> list[str]:
    """The regions of this site a placement allows (best first), or raise _Reject."""
    wanted_sites = placement.get("sites") or []
    wanted_regions = placement.get("regions") or []
    of = f" for node {node}" if node else ""
    if policy in ("backbone", "federated") and site.kind != policy:
        raise _Reject(f"policy {policy} wants a {policy} site, this one is {site.kind}")
    if policy not in POLICIES and policy != site.name and policy not in site.regions:
        raise _Reject(f"policy names {policy}, which is neither this site nor one of its regions")
    if wanted_sites and not any(_site_matches(site, w) for w in wanted_sites):
        names = ", ".join(f"'{p}'" for p in placement.get("policies") or [])
        by = f"placement polic{'ies' if ', ' in names else 'y'} {names}" if names else "placement policy"
        verb = "allow" if ", " in names else "allows"
        raise _Reject(f"the template's {by} {verb} only {', '.join(map(str, wanted_sites))}{of}")
    if policy in site.regions:
        return [policy]
    if wanted_regions:
        regions = [r for r in site.regions if r in wanted_regions]
        if not regions:
            raise _Reject(f"the template's placement policy wants region {', '.join(wanted_regions)}{of}")
        return regions
    return list(site.regions)


def _check_policy(site: Site, policy: str, plan: Plan) -> str:
    """The region to use on this site, or raise _Reject."""
    node_placement = _node_placement(plan)
    if not node_placement:
        return _allowed_regions(site, policy, plan.placement or {})[0]
    common: list[str] | None = None
    for node in sorted(node_placement):
        regions = _allowed_regions(site, policy, node_placement[node], node)
        common = regions if common is None else [r for r in common if r in regions]
    if not common:
        raise _Reject("the template's placement policies want different regions of this site")
    return common[0]


def _node_placement(plan: Plan) -> dict[str, dict]:
    """Per compute node, the placement of the policies targeting it (empty: all nodes alike)."""
    nodes = (plan.placement or {}).get("nodes") or {}
    return {n: p for n, p in nodes.items() if n in plan.compute} if isinstance(nodes, dict) else {}


def _spread(plan: Plan) -> list[dict]:
    """Groups of compute nodes the template wants on distinct sites (DistinctSites policies)."""
    groups = []
    for item in (plan.placement or {}).get("spread") or []:
        nodes = [n for n in item.get("nodes") or [] if n in plan.compute]
        if len(nodes) > 1:
            groups.append(
                {"policy": item.get("policy"), "nodes": nodes, "required": item.get("required", True)}
            )
    return groups


def _check_capabilities(site: Site, compute: dict[str, ComputeNode]) -> None:
    caps = site.capabilities
    missing: list[str] = []
    for cap in _required_capabilities(compute):
        if cap == "gpu":
            if not site.gpu_models:
                missing.append("gpu (no GPU flavors)")
                continue
            models = sorted(
                {n.gpu_model for n in compute.values() if int(n.num_gpus or 0) > 0 and n.gpu_model}
            )
            absent = [m for m in models if m not in site.gpu_models]
            if absent:
                missing.append(f"GPU model {', '.join(absent)} (has {', '.join(site.gpu_models)})")
        elif cap == "object_storage":
            if not (caps.get("object_storage") or caps.get("replicated_object_storage")):
                missing.append("object_storage")
        elif cap == "replicated_object_storage":
            if not caps.get("replicated_object_storage"):
                missing.append("replicated_object_storage (backbone sites only)")
        elif not caps.get(cap):
            missing.append(cap)
    if missing:
        raise _Reject(f"lacks required capability: {'; '.join(missing)}")


def _flavor_key(flavor: Flavor) -> tuple:
    return (flavor.gpus, flavor.vcpus, flavor.ram_mb, flavor.disk_gb, flavor.name)


def _choose_flavor(site: Site, name: str, node: ComputeNode) -> Flavor:
    cpus = int(node.num_cpus or 1)
    ram = int(node.mem_size_mb or 0)
    disk = int(node.disk_size_gb or 0)
    gpus = int(node.num_gpus or 0)
    model = node.gpu_model or None
    fits = [
        f
        for f in site.flavors
        if f.vcpus >= cpus
        and f.ram_mb >= ram
        and f.disk_gb >= disk
        and f.gpus >= gpus
        and ((gpus == 0 and f.gpus == 0) or (gpus > 0 and (model is None or f.gpu_model == model)))
    ]
    if not fits:
        need = f"{cpus} CPUs, {ram} MB RAM, {disk} GB disk" + (
            f", {gpus} GPU {model or ''}".rstrip() if gpus else ""
        )
        biggest = max(site.flavors, key=_flavor_key)
        raise _Reject(
            f"no flavor for node {name} ({need}); largest is {biggest.name} "
            f"({biggest.vcpus} CPUs, {biggest.ram_mb} MB, {biggest.disk_gb} GB, {biggest.gpus} GPU)"
        )
    return min(fits, key=_flavor_key)


def _choose_image(site: Site, name: str, node: ComputeNode) -> tuple[dict, str | None]:
    os_ = node.os or {}
    dist, version = os_.get("distribution"), os_.get("version")
    image = site.image_for(dist, None if version is None else str(version))
    if image is None:
        have = sorted({f"{i.distribution} {'/'.join(i.versions)}" for i in site.images})
        raise _Reject(
            f"no image for node {name} ({dist} {version or ''}".rstrip() + f"); has {', '.join(have)}"
        )
    warning = f"node {name}: {image.warning}" if image.warning else None
    return (
        {"image": image.image, "distribution": image.distribution, "version": version, "user": image.user},
        warning,
    )


def _demand(compute: dict[str, ComputeNode], flavors: dict[str, Flavor]) -> dict[str, int]:
    demand = dict.fromkeys(QUOTA_KEYS, 0)
    for name, node in compute.items():
        count = int(node.count or 0)
        flavor = flavors[name]
        demand["instances"] += count
        demand["cores"] += count * flavor.vcpus
        demand["ram_mb"] += count * flavor.ram_mb
        volumes = node.volumes or []
        demand["volumes"] += count * len(volumes)
        demand["volume_gb"] += count * sum(int(v.get("size_gb") or 0) for v in volumes)
        demand["public_ips"] += count if node.public_ip else 0
    return demand


def _check_quotas(site: Site, demand: dict[str, int]) -> float:
    """Smallest fraction of quota left after placement; raise _Reject when something does not fit."""
    over = [
        f"{k} needs {demand[k]}, quota {site.quotas[k]}" for k in QUOTA_KEYS if demand[k] > site.quotas[k]
    ]
    if over:
        raise _Reject(f"quota exceeded: {'; '.join(over)}")
    fractions = [
        1 - demand[k] / site.quotas[k] for k in ("instances", "cores", "ram_mb") if site.quotas[k] > 0
    ]
    return min(fractions) if fractions else 0.0


def _score(site: Site, free: float, history: list[dict] | None, plan: Plan) -> tuple[float, dict, list[str]]:
    reasons = [f"SLA priority {site.sla_priority}", f"{free:.0%} of quota free after placement"]
    stats = summarise(history, site.name)
    parts = {
        "sla": WEIGHTS["sla"] * min(site.sla_priority, 100) / 100,
        "capacity": WEIGHTS["capacity"] * free,
        "reliability": WEIGHTS["reliability"] * (1 - stats.failure_rate),
    }
    if stats.attempts:
        reasons.append(f"{stats.failures} of the last {stats.attempts} deployments failed")
    else:
        reasons.append("no deployment history")
    if stats.mean_duration_s is None:
        parts["speed"] = WEIGHTS["speed"] / 2
    else:
        parts["speed"] = WEIGHTS["speed"] * (1 - min(stats.mean_duration_s, SLOW_DEPLOY_S) / SLOW_DEPLOY_S)
        reasons.append(f"mean deploy time {stats.mean_duration_s:.0f} s")
    wanted = list((plan.placement or {}).get("sites") or [])
    rank = next((i for i, w in enumerate(wanted) if _site_matches(site, w)), None)
    if rank is not None and len(wanted) > 1:
        parts["preference"] = WEIGHTS["preference"] * (1 - rank / len(wanted))
        reasons.append(f"preferred by the template (choice {rank + 1} of {len(wanted)})")
    else:
        parts["preference"] = 0.0
    parts = {k: round(v, 2) for k, v in parts.items()}
    return round(sum(parts.values()), 2), parts, reasons


def _evaluate(site: Site, plan: Plan, compute: dict, group: str, policy: str, history) -> SiteCandidate:
    if not site.enabled:
        raise _Reject("site is disabled in the registry")
    region = _check_policy(site, policy, plan)
    found = site.project_for(group)
    if found is None:
        raise _Reject(f"group '{group}' has no project here")
    idp, project = found
    _check_capabilities(site, compute)
    images: dict[str, dict] = {}
    warnings: list[str] = []
    flavors: dict[str, Flavor] = {}
    for name, node in compute.items():
        images[name], warning = _choose_image(site, name, node)
        if warning:
            warnings.append(warning)
        flavors[name] = _choose_flavor(site, name, node)
    demand = _demand(compute, flavors)
    free = _check_quotas(site, demand)
    score, parts, reasons = _score(site, free, history, plan)
    return SiteCandidate(
        site=site.name,
        kind=site.kind,
        driver=site.driver,
        score=score,
        region=region,
        identity_provider=idp,
        project=project,
        flavors={n: f.to_dict() for n, f in flavors.items()},
        images=images,
        demand=demand,
        reasons=reasons,
        warnings=warnings,
        score_parts=parts,
    )


def select_sites(
    plan: dict | Plan,
    registry: Registry,
    group: str | None = None,
    policy: str = "auto",
    history: list[dict] | None = None,
    signals: dict | None = None,
) -> Selection:
    """Rank the registry's sites for a plan (its JSON, as the module and the CLI pass it, or a
    typed Plan). Raises NoSiteError (with one line per site) if none fits. ``signals`` (site ->
    federation.signals.SiteSignals) replaces the registry's quotas, flavors and images with what
    the site says now, and rejects sites that are down."""
    plan = plan_view(plan)
    group = group or registry.default_group
    if not group:
        raise NotFoundError(
            "no user group given and the registry has no default_group",
            details=["pass --group GROUP (the identity provider group you deploy as)"],
        )
    policy = _resolve_policy(policy, plan, registry)
    compute = _plan_compute(plan)
    spread = _spread(plan)
    candidates: list[SiteCandidate] = []
    rejected: dict[str, str] = {}
    usable: dict[str, Site] = {}  # sites as selection sees them now (live signals applied)
    for name in sorted(registry.sites):
        live = (signals or {}).get(name) if registry.sites[name].enabled else None
        try:
            site = registry.sites[name] if live is None else live.apply(registry.sites[name])
            usable[name] = site
            candidate = _evaluate(site, plan, compute, group, policy, history)
            _check_spread(candidate, spread)
            candidates.append(candidate)
        except (_Reject, SiteDown) as exc:
            rejected[name] = str(exc)
            continue
        if live is not None:
            live.annotate(candidates[-1], registry.sites[name])
    sla = {n: s.sla_priority for n, s in registry.sites.items()}
    candidates.sort(key=lambda c: (-c.score, -sla[c.site], c.site))
    nodes: dict[str, dict] | None = None
    if _node_placement(plan) or spread:
        nodes = _node_fits(usable, plan, compute, group, policy)
    spanning: list[SiteCandidate] = []
    why_not_spanning: list[str] = []
    # Across sites only when the template places nodes differently or wants distinct sites, and
    # the policy leaves a choice of sites (not one site, not federated).
    may_span = (spread or nodes) and policy not in registry.sites and policy != "federated"
    if may_span and (spread or not candidates):
        spanning, why_not_spanning = _spanning(
            registry, usable, plan, compute, group, policy, history, spread
        )
        for candidate in spanning:
            for name in candidate.sites:
                live = (signals or {}).get(name)
                if live is not None:
                    live.annotate(candidate, registry.sites[name])
    # Spanning candidates come first when the template asks for distinct sites (then the single
    # sites it allows as a preference only); otherwise they are there only when no site alone fits.
    candidates = [*spanning, *candidates]
    if not candidates:
        details = [f"{site}: {reason}" for site, reason in rejected.items()]
        details += why_not_spanning
        raise NoSiteError(
            f"no site can host this deployment (policy {policy}, group {group})", details=details
        )
    return Selection(policy=policy, group=group, candidates=candidates, rejected=rejected, nodes=nodes)


def _check_spread(candidate: SiteCandidate, spread: list[dict]) -> None:
    """One site for every node: refused when the template requires distinct sites, else warned."""
    for item in spread:
        text = f"placement policy '{item['policy']}' wants {', '.join(item['nodes'])} on distinct sites"
        if item["required"]:
            raise _Reject(f"{text}: one site cannot host them")
        candidate.warnings.append(f"{text} (a preference): all on {candidate.site}")


def _evaluate_node(site: Site, plan: Plan, name: str, node: ComputeNode, group: str, policy: str):
    """(regions, idp, project, image, image warning, flavor) of one node at one site, or _Reject."""
    if not site.enabled:
        raise _Reject("site is disabled in the registry")
    placement = _node_placement(plan).get(name) or (plan.placement or {})
    regions = _allowed_regions(site, policy, placement, name)
    found = site.project_for(group)
    if found is None:
        raise _Reject(f"group '{group}' has no project here")
    _check_capabilities(site, {name: node})
    image, warning = _choose_image(site, name, node)
    flavor = _choose_flavor(site, name, node)
    return regions, found[0], found[1], image, warning, flavor


def _node_fits(sites: dict[str, Site], plan: Plan, compute: dict, group: str, policy: str) -> dict:
    """Per compute node: the sites it fits alone and why each other site does not."""
    fits: dict[str, dict] = {}
    for name, node in compute.items():
        entry: dict = {"sites": [], "rejected": {}}
        for site_name, site in sites.items():
            try:
                _evaluate_node(site, plan, name, node, group, policy)
                entry["sites"].append(site_name)
            except _Reject as exc:
                entry["rejected"][site_name] = str(exc)
        fits[name] = entry
    return fits


MAX_ASSIGNMENTS = 20000  # node -> site assignments tried for a spanning placement


def _spanning(registry, sites, plan, compute, group, policy, history, spread):
    """Candidates placing the nodes over two or more backbone sites, best first, one per set of
    sites; and the lines saying why there are none."""
    backbone = [n for n in registry.backbone_sites() if n in sites and sites[n].enabled]
    names = list(compute)
    if len(backbone) < 2:
        why = (
            "the registry declares no backbone"
            if not registry.backbone_sites()
            else "fewer than two backbone sites are enabled and up"
        )
        return [], [f"no placement across sites: {why} (only backbone sites share a deployment)"]
    options: dict[str, dict[str, tuple]] = {n: {} for n in names}
    problems: list[str] = []
    for name in names:
        for site_name in backbone:
            try:
                options[name][site_name] = _evaluate_node(
                    sites[site_name], plan, name, compute[name], group, policy
                )
            except _Reject as exc:
                problems.append(f"across backbone sites: node {name} cannot go to {site_name}: {exc}")
    homeless = [n for n in names if not options[n]]
    if homeless:
        outside = _outside_backbone(registry, sites, plan, compute, group, policy, homeless)
        return [], [*problems, *outside]
    best: dict[frozenset, tuple] = {}
    tried = 0
    # Ties break on SLA priority, then the registry's backbone order.
    rank = {n: (-sites[n].sla_priority, i) for i, n in enumerate(backbone)}
    for choice in itertools.product(*(sorted(options[n], key=rank.__getitem__) for n in names)):
        tried += 1
        if tried > MAX_ASSIGNMENTS:
            problems.append(f"across backbone sites: stopped after {MAX_ASSIGNMENTS} node placements tried")
            break
        assignment = dict(zip(names, choice, strict=True))
        used = frozenset(choice)
        if len(used) < 2:
            continue
        clash = next((g for g in spread if len({assignment[n] for n in g["nodes"]}) < len(g["nodes"])), None)
        if clash is not None and clash["required"]:
            continue
        try:
            candidate = _spanning_candidate(sites, plan, compute, assignment, options, history)
        except _Reject as exc:
            problems.append(f"across backbone sites ({_assignment_text(assignment)}): {exc}")
            continue
        if clash is not None:
            candidate.warnings.append(
                f"placement policy '{clash['policy']}' wants {', '.join(clash['nodes'])} on distinct "
                "sites (a preference): not all of them are"
            )
        kept = best.get(used)  # the first of equal scores: the tie-break order above
        if kept is None or candidate.score > kept[0].score:
            best[used] = (candidate,)
    found = sorted((c for (c,) in best.values()), key=lambda c: (-c.score, [rank[s] for s in c.sites]))
    if found:
        return found, []
    return [], problems or ["across backbone sites: no placement fits"]


def _assignment_text(assignment: dict[str, str]) -> str:
    by_site: dict[str, list[str]] = {}
    for node, site in assignment.items():
        by_site.setdefault(site, []).append(node)
    return ", ".join(f"{', '.join(nodes)} at {site}" for site, nodes in by_site.items())


def _outside_backbone(registry, sites, plan, compute, group, policy, homeless) -> list[str]:
    """Why nodes that fit only outside the backbone make a placement across sites impossible."""
    lines = []
    for name in homeless:
        elsewhere = []
        for site_name, site in sites.items():
            try:
                _evaluate_node(site, plan, name, compute[name], group, policy)
                elsewhere.append(f"{site_name} ({site.kind})")
            except _Reject:
                continue
        if elsewhere:
            lines.append(
                f"node {name} fits only at {', '.join(elsewhere)}: federated sites never share a deployment, "
                f"only the backbone ({', '.join(registry.backbone_sites())}) does"
            )
        else:
            lines.append(f"node {name} fits at no site (the reasons are given per site)")
    return lines


def _spanning_candidate(sites, plan, compute, assignment, options, history) -> SiteCandidate:
    """One placement over several backbone sites: each site fits its nodes' share of the demand."""
    used = list(dict.fromkeys(assignment.values()))
    per_site: dict[str, dict] = {}
    parts_sum: dict[str, float] = {}
    reasons = [f"spans the backbone: {_assignment_text(assignment)}"]
    warnings: list[str] = []
    total = dict.fromkeys(QUOTA_KEYS, 0)
    regions: dict[str, str] = {}
    for site_name in used:
        site = sites[site_name]
        mine = {n: compute[n] for n in compute if assignment[n] == site_name}
        _check_capabilities(site, mine)
        common: list[str] | None = None
        for n in mine:
            allowed = options[n][site_name][0]
            common = allowed if common is None else [r for r in common if r in allowed]
        if not common:
            raise _Reject(f"{site_name}: the nodes placed there want different regions")
        regions[site_name] = common[0]
        flavors = {n: options[n][site_name][5] for n in mine}
        demand = _demand(mine, flavors)
        try:
            free = _check_quotas(site, demand)
        except _Reject as exc:
            raise _Reject(f"{site_name} cannot hold its share ({', '.join(mine)}): {exc}") from None
        score, parts, site_reasons = _score(site, free, history, plan)
        for key, value in parts.items():
            parts_sum[key] = parts_sum.get(key, 0.0) + value
        reasons += [f"{site_name}: {r}" for r in site_reasons]
        for key in QUOTA_KEYS:
            total[key] += demand[key]
        _, idp, project, _, _, _ = options[next(iter(mine))][site_name]
        per_site[site_name] = {
            "region": regions[site_name],
            "identity_provider": idp,
            "project": project,
            "nodes": list(mine),
            "demand": demand,
            "score": score,
        }
    for n in compute:
        warning = options[n][assignment[n]][4]
        if warning:
            warnings.append(warning)
    parts = {k: round(v / len(used), 2) for k, v in parts_sum.items()}
    first = assignment[next(iter(compute))]
    main = sites[first]
    return SiteCandidate(
        site=first,
        kind=main.kind,
        driver=main.driver,
        score=round(sum(parts.values()), 2),
        region=regions[first],
        identity_provider=per_site[first]["identity_provider"],
        project=per_site[first]["project"],
        flavors={n: options[n][assignment[n]][5].to_dict() for n in compute},
        images={n: options[n][assignment[n]][3] for n in compute},
        demand=total,
        reasons=reasons,
        warnings=warnings,
        score_parts=parts,
        node_sites=dict(assignment),
        per_site=per_site,
    )


def describe_selection(selection: Selection) -> dict[str, Any]:
    """JSON-ready summary for `infn-cloud plan --json`: chosen site, why, and every rejection."""
    best = selection.candidates[0] if selection.candidates else None
    data = {
        "policy": selection.policy,
        "group": selection.group,
        "chosen": best.to_dict() if best else None,
        "candidates": [c.to_dict() for c in selection.candidates],
        "rejected": dict(selection.rejected),
    }
    if selection.nodes is not None:
        data["nodes"] = {
            n: {"sites": list(e["sites"]), "rejected": dict(e["rejected"])}
            for n, e in selection.nodes.items()
        }
    return data


def format_selection(selection: Selection) -> str:
    """Human-readable text of a selection (the plan command prints this)."""
    lines: list[str] = []
    best = selection.candidates[0]
    if best.node_sites:
        lines.append(
            f"Sites: {' + '.join(best.sites)} (one deployment across the backbone) score {best.score}  "
            f"[policy {selection.policy}, group {selection.group}]"
        )
        for name in best.sites:
            part = best.per_site.get(name) or {}
            lines.append(f"  {name}: region {part.get('region')}, project {part.get('project')}")
    else:
        lines.append(
            f"Site: {best.site} ({best.kind}, region {best.region}, project {best.project}) "
            f"score {best.score}  [policy {selection.policy}, group {selection.group}]"
        )
    lines.append(f"  why: {'; '.join(best.reasons)}")
    for node in sorted(best.flavors):
        f, i = best.flavors[node], best.images[node]
        where = f" at {best.node_sites[node]}" if node in best.node_sites else ""
        lines.append(
            f"  {node}{where}: flavor {f['name']} ({f['vcpus']} CPU, {f['ram_mb']} MB, {f['disk_gb']} GB"
            f"{', ' + str(f['gpus']) + ' GPU ' + (f['gpu_model'] or '') if f['gpus'] else ''}), "
            f"image {i['image']}"
        )
    for warning in best.warnings:
        lines.append(f"  warning: {warning}")
    if len(selection.candidates) > 1:
        lines.append("Fallback sites, in order:")
        for c in selection.candidates[1:]:
            lines.append(f"  {' + '.join(c.sites)} ({c.kind}) score {c.score}: {'; '.join(c.reasons)}")
    if selection.rejected:
        lines.append("Rejected sites:")
        for site, reason in selection.rejected.items():
            lines.append(f"  {site}: {reason}")
    if selection.nodes:
        lines.append("Sites each node fits alone:")
        for node, entry in selection.nodes.items():
            lines.append(f"  {node}: {', '.join(entry['sites']) or 'none'}")
            for site, reason in entry["rejected"].items():
                if selection.rejected.get(site) != reason:  # said above already
                    lines.append(f"    not {site}: {reason}")
    return "\n".join(lines)
