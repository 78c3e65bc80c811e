"""The interface every provisioning driver implements, and what they share.

A driver provisions the compute nodes of one plan on one site:

- ``create(deployment_id, plan, placement, progress=None) -> resources`` creates every
  resource, each labelled/tagged with the deployment id; on failure it removes what it made
  (the same way ``delete`` does) and raises OperationFailed. It is idempotent: instances that
  exist are kept (never recreated, never restarted if running) and each compute node gets
  ``count - existing`` new instances with fresh indices (the highest existing index + 1, ...),
  so after removing index 1 of [0, 1, 2] a create with count 2 adds nothing. Instances beyond
  ``count`` are not removed by create (``infn-cloud update`` grows a deployment this way).
- ``remove_instances(deployment_id, instances, progress=None) -> [removed resource names]``
  removes exactly these instances (names as in ``resources["nodes"][node][i]["name"]``) with
  what belongs to them alone (their volumes, ports, floating IPs, engine disk), never what
  the deployment shares (network, security groups, keypair); idempotent (already gone is
  fine). ``infn-cloud update`` scales in with it.
- ``wait(deployment_id, resources, timeout=...) -> resources`` waits until nodes are usable.
- ``describe(deployment_id) -> resources`` rebuilds the resources from the site alone.
- ``delete(deployment_id) -> [deleted resource names]`` finds everything by the deployment
  label/tag (also after a crash of the caller) and is idempotent.

``resources`` follows the "Deployment resources contract" of docs/federation.md.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from infn_cloud.errors import OperationFailed
from infn_cloud.module_utils import check_deployment_id  # noqa: F401 - the one rule, re-exported for the drivers

Progress = Callable[[str], None] | None

LABEL_DEPLOYMENT = "org.infn.cloud.deployment"
LABEL_SITE = "org.infn.cloud.site"
LABEL_NODE = "org.infn.cloud.node"
LABEL_INDEX = "org.infn.cloud.index"

# Test hook (documented in docs/federation.md): comma-separated site names whose driver
# refuses to create anything, as `fail_on_create: true` in the registry does.
FAIL_SITES_ENV = "INFN_CLOUD_FAIL_SITES"


def node_slug(name: str) -> str:
    """A TOSCA node name as a host name part (my_server -> my-server)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return slug or "node"


def placement_dict(placement: Any) -> dict:
    """Accept a selection Candidate or its dict."""
    if placement is None:
        return {}
    if hasattr(placement, "to_dict"):
        return placement.to_dict()
    return dict(placement)


def empty_resources(deployment_id: str, site: str, driver: str) -> dict:
    return {
        "deployment_id": deployment_id,
        "site": site,
        "driver": driver,
        "nodes": {},
        "volumes": [],
        "networks": [],
        "security_groups": [],
        "keypair": None,
    }


class Driver(ABC):
    name = "base"

    def __init__(self, site, **options):
        self.site = site
        self.options = options

    def _progress(self, progress: Progress, message: str) -> None:
        if progress is not None:
            progress(f"{self.site.name}: {message}")

    def _check_test_hook(self) -> None:
        failing = {s.strip() for s in os.environ.get(FAIL_SITES_ENV, "").split(",") if s.strip()}
        if self.site.fail_on_create or self.site.name in failing:
            raise OperationFailed(
                f"site {self.site.name}: refusing to create resources (test hook: "
                f"{'fail_on_create in the registry' if self.site.fail_on_create else FAIL_SITES_ENV})"
            )

    @abstractmethod
    def create(self, deployment_id: str, plan: dict, placement: Any, progress: Progress = None) -> dict: ...

    @abstractmethod
    def wait(
        self,
        deployment_id: str,
        resources: dict | None = None,
        timeout: float = 600,
        progress: Progress = None,
    ) -> dict: ...

    @abstractmethod
    def describe(self, deployment_id: str) -> dict: ...

    @abstractmethod
    def delete(self, deployment_id: str, progress: Progress = None) -> list[str]: ...

    def remove_instances(
        self, deployment_id: str, instances: list[str], progress: Progress = None
    ) -> list[str]:
        """Remove these instances and what belongs to them alone (see the module docstring)."""
        raise OperationFailed(
            f"site {self.site.name}: the {self.name} driver cannot remove single instances",
            details=["scale in is not available on this site; delete and deploy again to shrink"],
        )
