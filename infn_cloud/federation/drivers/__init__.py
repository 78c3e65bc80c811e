"""Provisioning drivers: one per site `driver` value of the registry.

``get_driver(site)`` is one site's driver; ``driver_for(registry, candidate)`` is the driver of
a placement: the site's own driver when every node is on one site, else a SpanningDriver over
one driver per site (interfaces I3, docs/federation.md "Provisioning across sites").
"""

from __future__ import annotations

from typing import Any

from infn_cloud.errors import ValidationError
from infn_cloud.federation.drivers.base import Driver

# The podman network joining the containers of the local backbone sites when the registry
# does not name one (``backbone.network`` in federation.yml).
DEFAULT_BACKBONE_NETWORK = "infn-cloud-backbone"


def get_driver(site, **options) -> Driver:
    """The driver for a registry Site (imported lazily: openstacksdk is only needed for openstack)."""
    if site.driver == "local":
        from infn_cloud.federation.drivers.local import LocalDriver

        return LocalDriver(site, **options)
    if site.driver == "openstack":
        from infn_cloud.federation.drivers.openstack import OpenStackDriver

        return OpenStackDriver(site, **options)
    raise ValidationError(
        f"site {site.name}: unknown driver {site.driver!r}", details=["expected local or openstack"]
    )


def _on_backbone(registry, name: str) -> bool:
    """Whether the site is one of the backbone's (federation.yml ``backbone.sites``; sites of
    kind backbone when the registry declares no backbone)."""
    backbone = getattr(registry, "backbone", None)
    if backbone is not None:
        return name in backbone.sites
    return registry.site(name).kind == "backbone"


def backbone_network(registry) -> str:
    """The name of the network joining the backbone sites (the local driver's podman network)."""
    return getattr(getattr(registry, "backbone", None), "network", None) or DEFAULT_BACKBONE_NETWORK


def site_driver(registry, name: str, group: str | None = None, **options) -> Driver:
    """One site's driver as a deployment spanning sites uses it: a local backbone site gets
    the backbone network (its ``create`` attaches the containers to it, its ``delete``
    removes it once no container uses it). Lifecycle's delete and resume go site by site
    with it, so what a spanning deployment left is found from each site alone.

    ``group``: the deployment's user group; an OpenStack site then authenticates to the
    project the registry maps that group to (where the deployment's resources are)."""
    site = registry.site(name)
    if group and site.driver == "openstack" and "project" not in options:
        found = site.project_for(group)
        if found is not None:
            options = {**options, "project": found[1]}
    if site.driver == "local" and _on_backbone(registry, name):
        options = {**options, "backbone_network": backbone_network(registry)}
    return get_driver(site, **options)


def driver_for(registry, candidate: Any, **options) -> Driver:
    """The driver of a placement (a SiteCandidate or its dict): the site's own for one site,
    a SpanningDriver over the sites of ``candidate.node_sites`` otherwise."""
    from infn_cloud.federation.drivers.spanning import SpanningDriver, placement_sites

    sites, node_sites = placement_sites(candidate)
    if not sites:
        raise ValidationError("placement names no site", details=["expected a candidate with `site`"])
    if len(sites) == 1:
        return get_driver(registry.site(sites[0]), **options)
    not_backbone = [n for n in sites if not _on_backbone(registry, n)]
    if not_backbone:
        raise ValidationError(
            f"placement across {', '.join(sites)}: only backbone sites share a deployment",
            details=[
                f"{n} is a {registry.site(n).kind} site, not in the registry's backbone" for n in not_backbone
            ],
        )
    drivers = {name: site_driver(registry, name, **options) for name in sites}
    return SpanningDriver(drivers, node_sites)


__all__ = ["Driver", "backbone_network", "driver_for", "get_driver", "site_driver"]
