"""Federation: site registries, site selection and provisioning drivers.

Public API::

    registry = load_registry("inventories/local")            # ValidationError on bad files
    selection = select_sites(plan, registry, group=None, policy="auto", history=None)
    driver = get_driver(registry.site(selection.best.site))
    resources = driver.create(deployment_id, plan, selection.best, progress=print)
    driver.wait(deployment_id, resources)
    driver.describe(deployment_id); driver.delete(deployment_id)
"""

from __future__ import annotations

from infn_cloud.federation.drivers import get_driver
from infn_cloud.federation.registry import Flavor, Image, Registry, Site, load_registry
from infn_cloud.federation.selection import (
    Candidate,
    Selection,
    describe_selection,
    format_selection,
    select_sites,
)

__all__ = [
    "Candidate",
    "Flavor",
    "Image",
    "Registry",
    "Selection",
    "Site",
    "describe_selection",
    "format_selection",
    "get_driver",
    "load_registry",
    "select_sites",
]
