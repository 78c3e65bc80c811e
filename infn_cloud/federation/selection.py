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
Ranking (score 0..100): SLA priority (40), free capacity left after placement (25), recent
failure rate (20) and mean deploy time (10) from history, user preference from the plan's
placement order (5). Ties break on SLA priority, then site name, so equal input gives equal
output.
"""

from __future__ import annotations

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


def _check_policy(site: Site, policy: str, plan: Plan) -> str:
    """The region to use on this site, or raise _Reject."""
    placement = plan.placement or {}
    wanted_sites = placement.get("sites") or []
    wanted_regions = placement.get("regions") or []
    if policy in ("backbone", "federated") and site.kind != policy:
        raise _Reject(f"policy {policy} wants a {policy} site, this one is {site.kind}")
    if policy not in POLICIES and policy != site.name and policy not in site.regions:
        raise _Reject(f"policy names {policy}, which is neither this site nor one of its regions")
    if wanted_sites and not any(_site_matches(site, w) for w in wanted_sites):
        raise _Reject(f"the template's placement policy allows only {', '.join(map(str, wanted_sites))}")
    if policy in site.regions:
        return policy
    if wanted_regions:
        regions = [r for r in site.regions if r in wanted_regions]
        if not regions:
            raise _Reject(f"the template's placement policy wants region {', '.join(wanted_regions)}")
        return regions[0]
    return site.regions[0]


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
    candidates: list[SiteCandidate] = []
    rejected: dict[str, str] = {}
    for name in sorted(registry.sites):
        live = (signals or {}).get(name) if registry.sites[name].enabled else None
        try:
            site = registry.sites[name] if live is None else live.apply(registry.sites[name])
            candidates.append(_evaluate(site, plan, compute, group, policy, history))
        except (_Reject, SiteDown) as exc:
            rejected[name] = str(exc)
            continue
        if live is not None:
            live.annotate(candidates[-1], registry.sites[name])
    sla = {n: s.sla_priority for n, s in registry.sites.items()}
    candidates.sort(key=lambda c: (-c.score, -sla[c.site], c.site))
    if not candidates:
        raise NoSiteError(
            f"no site can host this deployment (policy {policy}, group {group})",
            details=[f"{site}: {reason}" for site, reason in rejected.items()],
        )
    return Selection(policy=policy, group=group, candidates=candidates, rejected=rejected)


def describe_selection(selection: Selection) -> dict[str, Any]:
    """JSON-ready summary for `infn-cloud plan --json`: chosen site, why, and every rejection."""
    best = selection.candidates[0] if selection.candidates else None
    return {
        "policy": selection.policy,
        "group": selection.group,
        "chosen": best.to_dict() if best else None,
        "candidates": [c.to_dict() for c in selection.candidates],
        "rejected": dict(selection.rejected),
    }


def format_selection(selection: Selection) -> str:
    """Human-readable text of a selection (the plan command prints this)."""
    lines: list[str] = []
    best = selection.candidates[0]
    lines.append(
        f"Site: {best.site} ({best.kind}, region {best.region}, project {best.project}) "
        f"score {best.score}  [policy {selection.policy}, group {selection.group}]"
    )
    lines.append(f"  why: {'; '.join(best.reasons)}")
    for node in sorted(best.flavors):
        f, i = best.flavors[node], best.images[node]
        lines.append(
            f"  {node}: flavor {f['name']} ({f['vcpus']} CPU, {f['ram_mb']} MB, {f['disk_gb']} GB"
            f"{', ' + str(f['gpus']) + ' GPU ' + (f['gpu_model'] or '') if f['gpus'] else ''}), "
            f"image {i['image']}"
        )
    for warning in best.warnings:
        lines.append(f"  warning: {warning}")
    if len(selection.candidates) > 1:
        lines.append("Fallback sites, in order:")
        for c in selection.candidates[1:]:
            lines.append(f"  {c.site} ({c.kind}) score {c.score}: {'; '.join(c.reasons)}")
    if selection.rejected:
        lines.append("Rejected sites:")
        for site, reason in selection.rejected.items():
            lines.append(f"  {site}: {reason}")
    return "\n".join(lines)
