"""One deployment provisioned across several sites as one unit (the backbone, issue 16).

A ``SpanningDriver`` holds one driver per site (any driver: local, openstack) and the map of
compute node -> site of the placement (``SiteCandidate.node_sites``; a node not in it goes to
the candidate's first site). Every operation runs on all its sites in parallel, one thread
per site:

- ``create`` gives each site the plan restricted to its own compute nodes (the software
  entries stay whole: a driver only reads them for its hosts). When any site fails, what every
  site made is removed (each site's ``delete``) and OperationFailed is raised with the
  failure and the cleanup of each site in its details, one line each, prefixed by the site.
- ``wait``, ``describe``: the resources of all sites merged; every node instance carries a
  ``"site"`` key, the top level ``"site"`` is the first site and ``"sites"`` all of them.
- ``delete`` and ``remove_instances``: on every site, all of them tried even when one fails.

Nothing here knows what a site's driver does: the network joining the sites (the local
backbone network, a routed provider network on OpenStack) is the per-site drivers' business,
configured by ``infn_cloud.federation.drivers.driver_for``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from infn_cloud.errors import InfnCloudError, OperationFailed
from infn_cloud.federation.drivers.base import Driver, Progress, check_deployment_id, placement_dict


def placement_sites(placement: Any) -> tuple[list[str], dict[str, str]]:
    """(sites, node -> site) of a SiteCandidate or its dict: the candidate's site first, then
    the other sites of ``node_sites`` in the order their nodes appear, each once."""
    data = placement_dict(placement)
    node_sites = dict(data.get("node_sites") or getattr(placement, "node_sites", None) or {})
    sites = [data.get("site") or getattr(placement, "site", None)]
    for name in node_sites.values():
        if name not in sites:
            sites.append(name)
    return [s for s in sites if s], node_sites


def _message(site: str, exc: BaseException) -> str:
    if not isinstance(exc, InfnCloudError):
        return f"{type(exc).__name__}: {exc}"
    prefix = f"site {site}: "  # drivers name their site: said once
    return exc.message[len(prefix) :] if exc.message.startswith(prefix) else exc.message


def _failure(site: str, exc: BaseException) -> list[str]:
    details = exc.details if isinstance(exc, InfnCloudError) else []
    return [f"{site}: {_message(site, exc)}", *(f"{site}: {d}" for d in details)]


class SpanningDriver(Driver):
    name = "spanning"

    def __init__(self, drivers: dict[str, Driver], node_sites: dict[str, str] | None = None):
        if len(drivers) < 2:
            raise ValueError("a spanning driver needs two sites or more")
        self.drivers = dict(drivers)  # site name -> driver, the first is the candidate's site
        self.sites = list(self.drivers)
        self.node_sites = dict(node_sites or {})
        unknown = sorted(set(self.node_sites.values()) - set(self.sites))
        if unknown:
            raise ValueError(f"node_sites names sites without a driver: {', '.join(unknown)}")
        super().__init__(next(iter(self.drivers.values())).site)

    # ---------------------------------------------------------------- helpers
    def site_of(self, node: str) -> str:
        return self.node_sites.get(node) or self.sites[0]

    def _parallel(self, call: Callable[[str, Driver], Any]) -> tuple[dict[str, Any], dict[str, Exception]]:
        """call(site, driver) on every site at once: (results, failures) by site."""
        results: dict[str, Any] = {}
        failures: dict[str, Exception] = {}
        with ThreadPoolExecutor(max_workers=len(self.sites), thread_name_prefix="site") as pool:
            futures = {site: pool.submit(call, site, driver) for site, driver in self.drivers.items()}
            for site, future in futures.items():
                try:
                    results[site] = future.result()
                except Exception as exc:  # reported per site by the caller
                    failures[site] = exc
        return results, failures

    def _site_plan(self, plan: dict, site: str) -> dict:
        """The plan with only the compute nodes placed at this site."""
        sub = copy.deepcopy(plan)
        sub["compute"] = {
            node: spec for node, spec in (plan.get("compute") or {}).items() if self.site_of(node) == site
        }
        return sub

    def _site_placement(self, placement: dict, site: str) -> dict:
        """The placement as one site's driver reads it: that site's name, its own default
        region unless it is the candidate's site, and the nodes placed there."""
        sub = {**placement, "site": site, "node_sites": {}}
        if site != self.sites[0]:
            sub["region"] = ""
        for key in ("flavors", "images"):
            sub[key] = {n: v for n, v in (placement.get(key) or {}).items() if self.site_of(n) == site}
        return sub

    def _merge(self, deployment_id: str, per_site: dict[str, dict]) -> dict:
        merged: dict = {
            "deployment_id": deployment_id,
            "site": self.sites[0],
            "sites": list(self.sites),
            "driver": self.name,
            "drivers": {site: driver.name for site, driver in self.drivers.items()},
            "nodes": {},
            "volumes": [],
            "networks": [],
            "security_groups": [],
            "keypair": None,
        }
        for site in self.sites:
            resources = per_site.get(site) or {}
            for node, instances in (resources.get("nodes") or {}).items():
                merged["nodes"].setdefault(node, []).extend({**inst, "site": site} for inst in instances)
            for key in ("volumes", "networks", "security_groups"):
                merged[key] += [{**item, "site": site} for item in resources.get(key) or []]
            if merged["keypair"] is None and resources.get("keypair"):
                merged["keypair"] = resources["keypair"]
        for instances in merged["nodes"].values():
            instances.sort(key=lambda inst: inst.get("index", 0))
        return merged

    # ---------------------------------------------------------------- driver API
    def create(self, deployment_id: str, plan: dict, placement: Any, progress: Progress = None) -> dict:
        check_deployment_id(deployment_id)
        placement = placement_dict(placement)
        self._progress(progress, f"provisioning across {', '.join(self.sites)} in parallel")

        def one(site: str, driver: Driver) -> dict:
            return driver.create(
                deployment_id,
                self._site_plan(plan, site),
                self._site_placement(placement, site),
                progress=progress,
            )

        results, failures = self._parallel(one)
        if not failures:
            return self._merge(deployment_id, results)
        details: list[str] = []
        for site in self.sites:
            if site in failures:
                details += _failure(site, failures[site])
        # A failing driver removed its own part already; remove the other sites' too (and the
        # failing ones again: delete is idempotent and finds what a crash left).
        self._progress(progress, f"creation failed at {', '.join(failures)}: removing it at every site")
        removed, problems = self._parallel(
            lambda site, driver: driver.delete(deployment_id, progress=progress)
        )
        for site in self.sites:
            if site in problems:
                exc = problems[site]
                details.append(f"{site}: cleanup failed: {_message(site, exc)}")
                details += [f"{site}: {d}" for d in getattr(exc, "details", None) or []]
            else:
                details.append(f"{site}: cleaned up: {', '.join(removed.get(site) or []) or 'nothing'}")
        first = next(s for s in self.sites if s in failures)
        cause = _message(first, failures[first])
        raise OperationFailed(
            f"provisioning across {', '.join(self.sites)} failed at {first}: {cause}",
            details=details,
        )

    def wait(
        self,
        deployment_id: str,
        resources: dict | None = None,
        timeout: float = 600,
        progress: Progress = None,
    ) -> dict:
        def one(site: str, driver: Driver) -> dict:
            return driver.wait(deployment_id, None, timeout=timeout, progress=progress)

        return self._merge(deployment_id, self._all(one))

    def describe(self, deployment_id: str) -> dict:
        return self._merge(deployment_id, self._all(lambda site, driver: driver.describe(deployment_id)))

    def delete(self, deployment_id: str, progress: Progress = None) -> list[str]:
        removed = self._all(lambda site, driver: driver.delete(deployment_id, progress=progress))
        return [f"{site}: {name}" for site in self.sites for name in removed.get(site) or []]

    def remove_instances(
        self, deployment_id: str, instances: list[str], progress: Progress = None
    ) -> list[str]:
        """Each name goes to the site that holds it (``describe``); names no site holds are
        already gone (idempotent)."""
        where: dict[str, list[str]] = {}
        for node in self.describe(deployment_id)["nodes"].values():
            for inst in node:
                if inst["name"] in instances:
                    where.setdefault(inst["site"], []).append(inst["name"])

        def one(site: str, driver: Driver) -> list[str]:
            names = where.get(site) or []
            return driver.remove_instances(deployment_id, names, progress=progress) if names else []

        removed = self._all(one)
        return [f"{site}: {name}" for site in self.sites for name in removed.get(site) or []]

    def _all(self, call: Callable[[str, Driver], Any]) -> dict[str, Any]:
        """call on every site; when any fails, OperationFailed with every site's failure."""
        results, failures = self._parallel(call)
        if failures:
            details = [
                line for site in self.sites if site in failures for line in _failure(site, failures[site])
            ]
            raise OperationFailed(
                f"failed at {', '.join(s for s in self.sites if s in failures)}", details=details
            )
        return results
