"""Provisioning drivers: one per site `driver` value of the registry."""

from __future__ import annotations

from infn_cloud.errors import ValidationError
from infn_cloud.federation.drivers.base import Driver


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


__all__ = ["Driver", "get_driver"]
