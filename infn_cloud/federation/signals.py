"""Live site signals for site selection: what each site says now, instead of the registry's guesses.

For an OpenStack site (its clouds.yaml entry, through the openstack driver's connection):

- health: a Keystone token and Nova's version document (``GET /`` on the compute endpoint),
  each within ``timeout`` seconds, no retries. A refused or silent endpoint marks the site
  ``down``: selection skips it and says why.
- quotas and usage: Nova ``GET /limits``, Cinder ``GET /limits`` and Neutron
  ``GET /quotas/{project}/details`` (floating IPs, used + reserved). Free capacity is
  ``min(registry quota, live limit) - used``: the registry quota stays as a cap the federation
  may put on a project (write a large value to let the live limit decide); -1 is unlimited.
- flavors (``GET /flavors/detail``, microversion 2.61 for extra specs) and active images
  (``GET /images``, every page). Registry flavors and images the site does not have are dropped
  (a warning says which); flavors the site has and the registry does not are added (GPUs from
  ``pci_passthrough:alias``); images with ``os_distro``/``os_version`` properties are added.
  Registry entries of the same name win for what the API cannot tell (GPU model, login user,
  default image, warnings).

A site that cannot be asked (no clouds.yaml entry, no openstacksdk, credentials refused) is
``unknown``: selection uses the registry values and the plan carries a warning saying so.

For a local site: podman's view of what runs there (the local driver's ``usage()``); podman
not answering marks the site ``down``.

Results of OpenStack sites are cached per site (and project, when asked as a user group's) in
``<state dir>/signals/<SITE>[@<project>].json`` (0600; no token, no credentials; a down site's
reason may name the URL that did not answer) for ``ttl`` seconds (a ``down`` result for at most
DOWN_TTL_S), so a second ``plan`` asks nothing. ``infn-cloud sites refresh`` refreshes.
Every site is asked in parallel and ``gather`` returns within ``timeout`` + 1 seconds whatever
the sites do: a site still silent then is ``down`` ("no answer within N s").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infn_cloud.errors import InfnCloudError, UsageError, ValidationError
from infn_cloud.federation.registry import QUOTA_KEYS, Flavor, Image, Registry, Site

TTL_ENV = "INFN_CLOUD_SIGNALS_TTL"
TIMEOUT_ENV = "INFN_CLOUD_SIGNALS_TIMEOUT"
DEFAULT_TTL_S = 600.0
DOWN_TTL_S = 60.0
DEFAULT_TIMEOUT_S = 5.0
FLAVOR_MICROVERSION = "2.61"  # flavors/detail with extra_specs
UNLIMITED = 10**9  # what "no limit" (-1) counts as
MAX_IMAGE_PAGES = 20
CACHE_VERSION = 1
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

UP, DOWN, UNKNOWN = "up", "down", "unknown"


class SiteDown(Exception):
    """Raised by SiteSignals.apply: the site cannot be used now (selection's rejection reason)."""


@dataclass
class SiteSignals:
    """What one site said (or why it said nothing). ``source``: live, cache or registry."""

    site: str
    driver: str
    status: str  # up | down | unknown
    source: str = "live"
    reason: str | None = None
    fetched_at: float | None = None
    cloud: str | None = None
    region: str | None = None
    project: str | None = None  # the group's project the site was asked as (None: the entry's own)
    limits: dict[str, int] = field(default_factory=dict)  # quota key -> limit (-1: none)
    used: dict[str, int] = field(default_factory=dict)  # quota key -> in use (+ reserved)
    flavors: list[dict] | None = None  # Flavor.to_dict() of what the site offers
    images: list[dict] | None = None  # {name, distribution, version, user}
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    # ------------------------------------------------------------------ views
    def age_s(self, now: float | None = None) -> float | None:
        if self.fetched_at is None:
            return None
        return max(0.0, (now or time.time()) - self.fetched_at)

    def free(self, registry_quotas: dict[str, int]) -> dict[str, int]:
        """Free capacity per quota key: min(registry cap, live limit) - used; registry for the rest."""
        out: dict[str, int] = {}
        for key in QUOTA_KEYS:
            cap = int(registry_quotas.get(key, 0))
            if key in self.limits:
                live = self.limits[key]
                limit = min(cap, UNLIMITED if live < 0 else live)
                out[key] = max(limit - int(self.used.get(key, 0)), 0)
            elif key in self.used:  # local sites: the registry is the limit, podman the usage
                out[key] = max(cap - int(self.used[key]), 0)
            else:
                out[key] = cap
        return out

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["age_s"] = None if self.fetched_at is None else round(self.age_s() or 0.0, 1)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SiteSignals:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    # ------------------------------------------------------------------ selection hook
    def apply(self, site: Site) -> Site:
        """The site as selection should see it now; SiteDown when it cannot be used."""
        if self.status == DOWN:
            raise SiteDown(f"site is down ({self.source} signal): {self.reason}")
        if self.status != UP:
            return site
        changes: dict[str, Any] = {}
        if self.limits or self.used:
            changes["quotas"] = self.free(site.quotas)
        if self.flavors is not None:
            flavors = _merge_flavors(site, self.flavors)
            if not flavors:
                raise SiteDown("site is up but offers no flavor to this project")
            changes["flavors"] = tuple(flavors)
            models = {f.gpu_model for f in flavors if f.gpus and f.gpu_model}
            if models - set(site.gpu_models):
                caps = dict(site.capabilities)
                caps["gpu_models"] = sorted(set(site.gpu_models) | models)
                changes["capabilities"] = caps
        if self.images is not None:
            changes["images"] = tuple(_merge_images(site, self.images))
        return dataclasses.replace(site, **changes) if changes else site

    def annotate(self, candidate, site: Site) -> None:
        """Say on a candidate where its capacity, flavors and images came from."""
        if self.status == UNKNOWN:
            candidate.warnings.append(
                f"live signals unavailable ({self.reason}): registry quotas, flavors and images used"
            )
            _unverified_capacity(candidate)
            return
        age = self.age_s()
        when = "just now" if age is None or age < 1 else f"{age:.0f} s ago"
        if self.driver == "local":
            candidate.reasons.append(f"podman usage read {when}")
        else:
            candidate.reasons.append(f"live quotas, flavors and images ({self.source}, fetched {when})")
        candidate.warnings.extend(self.warnings)
        if self.flavors is not None:
            live = {f["name"] for f in self.flavors}
            missing = sorted(f.name for f in site.flavors if f.name not in live)
            if missing:
                candidate.warnings.append(f"registry flavors not on the site: {', '.join(missing)}")
        if self.images is not None:
            live = {i["name"] for i in self.images}
            missing = sorted({i.image for i in site.images if i.image not in live})
            if missing:
                candidate.warnings.append(f"registry images not on the site: {', '.join(missing)}")


def _unverified_capacity(candidate) -> None:
    """Registry quotas of a site that could not be asked are placeholders: their capacity points
    are capped at half (as selection scores speed without history), so a site whose capacity was
    read ranks above one with the same SLA that only claims more. Called before the ranking sort."""
    from infn_cloud.federation.selection import WEIGHTS

    parts = candidate.score_parts
    if "capacity" not in parts or parts["capacity"] <= WEIGHTS["capacity"] / 2:
        return
    parts["capacity"] = round(WEIGHTS["capacity"] / 2, 2)
    candidate.score = round(sum(parts.values()), 2)
    candidate.reasons.append("capacity not verified with the site: half the capacity points")


def _merge_flavors(site: Site, live: list[dict]) -> list[Flavor]:
    known = {f.name: f for f in site.flavors}
    out = []
    for f in live:
        reg = known.get(f["name"])
        gpus, model = int(f.get("gpus") or 0), f.get("gpu_model")
        if reg is not None and reg.gpus:
            gpus, model = reg.gpus, reg.gpu_model
        out.append(
            Flavor(
                name=f["name"],
                vcpus=int(f["vcpus"]),
                ram_mb=int(f["ram_mb"]),
                disk_gb=int(f["disk_gb"]),
                gpus=gpus,
                gpu_model=model,
                id=f.get("id"),
            )
        )
    return out


def _merge_images(site: Site, live: list[dict]) -> list[Image]:
    names = {i["name"] for i in live}
    out = [i for i in site.images if i.image in names]
    covered = {i.image for i in out}
    for i in live:
        if i["name"] in covered or not i.get("distribution") or not i.get("version"):
            continue
        out.append(
            Image(
                distribution=str(i["distribution"]).lower(),
                versions=(str(i["version"]),),
                image=i["name"],
                user=i.get("user"),
            )
        )
    return out


# ---------------------------------------------------------------------- OpenStack
def _gpus(extra_specs: dict, site: Site) -> tuple[int, str | None]:
    """GPUs of a flavor from its extra specs: pci_passthrough:alias (model:count) or resources:VGPU."""
    alias = str(extra_specs.get("pci_passthrough:alias") or "")
    total, model = 0, None
    for part in filter(None, (p.strip() for p in alias.split(","))):
        name, _, count = part.partition(":")
        total += int(count) if count.isdigit() else 1
        model = next((m for m in site.gpu_models if m.lower() in name.lower()), None) or name
    vgpu = str(extra_specs.get("resources:VGPU") or "")
    if not total and vgpu.isdigit():
        total = int(vgpu)
    return total, model


def _classify(exc: BaseException) -> tuple[str, str]:
    """(status, reason) of a failed call: auth refused -> unknown, unreachable -> down."""
    from infn_cloud.federation.drivers.openstack import ApiError

    names = {c.__name__ for c in type(exc).__mro__}
    if isinstance(exc, ApiError):
        if exc.status in (401, 403):
            return UNKNOWN, f"credentials refused: {_short(exc)}"
        if exc.status == 0:  # the request itself failed: its message names the exception
            kind = "no answer" if "Timeout" in exc.message else "unreachable"
            return DOWN, f"{kind}: {_short(exc.message)}"
        return DOWN, _short(exc)
    if names & {"Unauthorized", "Forbidden"}:
        return UNKNOWN, f"credentials refused: {_short(exc)}"
    if names & {"ConnectTimeout", "ReadTimeout", "Timeout", "TimeoutError"}:
        return DOWN, f"no answer: {type(exc).__name__}"
    if names & {"ConnectFailure", "ConnectionError", "ConnectionRefusedError", "DiscoveryFailure"}:
        return DOWN, f"unreachable: {_short(exc)}"
    if "EndpointNotFound" in names:
        return DOWN, f"no compute endpoint in the catalog: {_short(exc)}"
    return DOWN, f"{type(exc).__name__}: {_short(exc)}"


def _causes(exc: BaseException, depth: int = 6) -> list[BaseException]:
    """The exceptions behind ``exc`` (context and cause chain), nearest first."""
    out: list[BaseException] = []
    current = exc.__cause__ or exc.__context__
    while current is not None and current not in out and len(out) < depth:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text.split(": HTTPConnectionPool(")[0]  # urllib3's repetition of what was just said
    return text[:200]


def fetch_openstack(
    site: Site, timeout: float = DEFAULT_TIMEOUT_S, connection=None, project: str | None = None
) -> SiteSignals:
    """Ask an OpenStack site (probe, limits, flavors, images). Never raises for the site's failures.

    ``project``: the user group's project there; the driver authenticates to it (per-group
    credentials: clouds.yaml entry ``<cloud>/<project>`` or the site's entry scoped to it), so
    quotas and flavors are that project's."""
    from infn_cloud.federation.drivers import get_driver
    from infn_cloud.federation.drivers.openstack import ApiError

    start = time.monotonic()
    sig = SiteSignals(
        site=site.name,
        driver=site.driver,
        status=UNKNOWN,
        cloud=site.cloud,
        region=site.regions[0],
        project=project,
    )
    options = {"project": project} if project else {}
    driver = get_driver(site, connection=connection, retries=0, **options)
    try:
        conn = driver._connection()
    except InfnCloudError as exc:
        sig.reason = exc.message.removeprefix(f"site {site.name}: ")
        # Authenticating there may have failed (the driver authorizes a project scope at once):
        # unreachable or silent is down, refused credentials unknown. The driver raises `from
        # None`; the causes are still chained (openstacksdk wraps keystoneauth's exception).
        for cause in _causes(exc):
            status, reason = _classify(cause)
            if status == DOWN and not reason.startswith(type(cause).__name__):
                sig.status, sig.reason = DOWN, f"health probe: {reason}"
                break
            if reason.startswith("credentials refused"):
                sig.reason = f"health probe: {reason}"
                break
        return _done(sig, start)
    session = getattr(conn, "session", None)
    if session is not None and hasattr(session, "timeout"):
        session.timeout = timeout
    try:
        if session is not None and hasattr(session, "get_token"):
            session.get_token()
        driver._request("compute", "GET", "/")
    except Exception as exc:  # keystoneauth, ApiError: classified, never raised
        sig.status, reason = _classify(exc)
        sig.reason = f"health probe: {reason}"
        return _done(sig, start)
    sig.status = UP

    def part(what: str, call):
        try:
            return call()
        except (ApiError, KeyError, TypeError, ValueError) as exc:
            sig.warnings.append(f"{what}: not available ({_short(exc)}); registry values used")
        except Exception as exc:  # a timeout mid-way: keep what came, say what did not
            sig.warnings.append(f"{what}: {_classify(exc)[1]}; registry values used")
        return None

    nova = part("Nova limits", lambda: driver._request("compute", "GET", "/limits")["limits"]["absolute"])
    if nova is not None:
        for key, limit, used in (
            ("instances", "maxTotalInstances", "totalInstancesUsed"),
            ("cores", "maxTotalCores", "totalCoresUsed"),
            ("ram_mb", "maxTotalRAMSize", "totalRAMUsed"),
        ):
            sig.limits[key], sig.used[key] = int(nova[limit]), int(nova.get(used) or 0)
    cinder = part(
        "Cinder limits", lambda: driver._request("block_storage", "GET", "/limits")["limits"]["absolute"]
    )
    if cinder is not None:
        for key, limit, used in (
            ("volumes", "maxTotalVolumes", "totalVolumesUsed"),
            ("volume_gb", "maxTotalVolumeGigabytes", "totalGigabytesUsed"),
        ):
            sig.limits[key], sig.used[key] = int(cinder[limit]), int(cinder.get(used) or 0)
    project = getattr(conn, "current_project_id", None)
    neutron = part(
        "Neutron quota details",
        lambda: driver._request("network", "GET", f"/quotas/{project}/details")["quota"]["floatingip"],
    )
    if neutron is not None:
        sig.limits["public_ips"] = int(neutron["limit"])
        sig.used["public_ips"] = int(neutron.get("used") or 0) + int(neutron.get("reserved") or 0)
    flavors = part(
        "flavors",
        lambda: driver._request("compute", "GET", "/flavors/detail", microversion=FLAVOR_MICROVERSION)[
            "flavors"
        ],
    )
    if flavors is not None:
        sig.flavors = []
        for f in flavors:
            if f.get("OS-FLV-DISABLED:disabled"):
                continue
            gpus, model = _gpus(f.get("extra_specs") or {}, site)
            sig.flavors.append(
                Flavor(
                    name=f["name"],
                    vcpus=int(f["vcpus"]),
                    ram_mb=int(f["ram"]),
                    disk_gb=int(f.get("disk") or 0),
                    gpus=gpus,
                    gpu_model=model,
                    id=f.get("id"),
                ).to_dict()
            )
        sig.flavors.sort(key=lambda f: (f["gpus"], f["vcpus"], f["ram_mb"], f["name"]))
    images = part("images", lambda: _images(driver))
    if images is not None:
        sig.images = images
    return _done(sig, start)


def _images(driver) -> list[dict]:
    out: list[dict] = []
    params: dict[str, Any] = {"status": "active", "limit": 200}
    for _ in range(MAX_IMAGE_PAGES):
        page = driver._request("image", "GET", "/images", params=params)
        for i in page["images"]:
            if not i.get("name"):
                continue
            out.append(
                {
                    "name": i["name"],
                    "distribution": i.get("os_distro"),
                    "version": None if i.get("os_version") is None else str(i["os_version"]),
                    "user": i.get("os_admin_user"),
                }
            )
        nxt = page.get("next")
        if not nxt or "marker=" not in nxt or not page["images"]:
            break
        params = {**params, "marker": page["images"][-1]["id"]}
    return sorted(out, key=lambda i: i["name"])


def _done(sig: SiteSignals, start: float) -> SiteSignals:
    sig.fetched_at = time.time()
    sig.elapsed_s = round(time.monotonic() - start, 3)
    return sig


# ---------------------------------------------------------------------- local
def fetch_local(site: Site) -> SiteSignals:
    """A local site's signal: podman answering, and what its containers use."""
    from infn_cloud.federation.drivers.local import LocalDriver

    start = time.monotonic()
    sig = SiteSignals(site=site.name, driver=site.driver, status=UP)
    try:
        sig.used = {k: int(v) for k, v in LocalDriver(site).usage().items() if k in QUOTA_KEYS}
    except InfnCloudError as exc:
        sig.status, sig.reason = DOWN, f"podman not reachable: {exc.message}"
    return _done(sig, start)


# ---------------------------------------------------------------------- cache
def cache_dir(state_dir: str | os.PathLike | None = None) -> Path:
    from infn_cloud.paths import state_home

    return Path(state_dir or state_home()) / "signals"


def _cache_file(directory: Path, site: str, project: str | None = None) -> Path:
    if not _SAFE_NAME.match(site):
        raise UsageError(f"site name {site!r} cannot name a cache file")
    if project is None:
        return directory / f"{site}.json"
    if not _SAFE_NAME.match(project):
        project = hashlib.sha256(project.encode()).hexdigest()[:16]
    return directory / f"{site}@{project}.json"


def read_cache(directory: Path, site: Site, project: str | None = None) -> SiteSignals | None:
    """The cached signals of a site (as ``project``) when they are for its current cloud entry
    and region."""
    try:
        data = json.loads(_cache_file(directory, site.name, project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return None
    try:
        sig = SiteSignals.from_dict(data.get("signals") or {})
    except TypeError:
        return None
    if (sig.site, sig.cloud, sig.region, sig.project) != (site.name, site.cloud, site.regions[0], project):
        return None
    sig.source = "cache"
    return sig


def write_cache(directory: Path, sig: SiteSignals) -> None:
    from infn_cloud.paths import private_dir

    private_dir(directory, "signal cache directory")
    path = _cache_file(directory, sig.site, sig.project)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    data = {"version": CACHE_VERSION, "signals": {**dataclasses.asdict(sig), "source": "live"}}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def fresh(sig: SiteSignals, ttl: float, now: float | None = None) -> bool:
    age = sig.age_s(now)
    if age is None:
        return False
    return age < (min(ttl, DOWN_TTL_S) if sig.status == DOWN else ttl)


# ---------------------------------------------------------------------- gather
def _env_float(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text in (None, ""):
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"{name}={text!r}: expected a number of seconds") from None
    if value < 0:
        raise ValidationError(f"{name}={text!r}: expected a number of seconds >= 0")
    return value


def settings(ttl: float | None = None, timeout: float | None = None) -> tuple[float, float]:
    """(ttl, timeout) from the arguments, else INFN_CLOUD_SIGNALS_TTL / _TIMEOUT, else defaults."""
    ttl = _env_float(TTL_ENV, DEFAULT_TTL_S) if ttl is None else ttl
    timeout = _env_float(TIMEOUT_ENV, DEFAULT_TIMEOUT_S) if timeout is None else timeout
    if timeout <= 0:
        raise ValidationError(f"signal timeout must be > 0 seconds (got {timeout})")
    return ttl, timeout


def gather(
    registry: Registry,
    sites: list[str] | None = None,
    *,
    refresh: bool = False,
    ttl: float | None = None,
    timeout: float | None = None,
    state_dir: str | os.PathLike | None = None,
    connections: dict[str, Any] | None = None,
    group: str | None = None,
) -> dict[str, SiteSignals]:
    """Signals of the registry's enabled sites (or of ``sites``), asked in parallel.

    With a ``group``, each OpenStack site is asked as the project the group maps to there
    (sites where it has none are left out: selection rejects them anyway); without, as the
    site's clouds.yaml entry. Fresh cache entries are used unless ``refresh``; what is fetched
    is cached. Returns within ``timeout`` + 1 s: a site with no answer by then is ``down``.
    ``connections`` (site -> openstacksdk-like connection) is for tests.
    """
    ttl, timeout = settings(ttl, timeout)
    names = sites if sites is not None else [n for n, s in registry.sites.items() if s.enabled]
    directory = cache_dir(state_dir)
    out: dict[str, SiteSignals] = {}
    todo: list[Site] = []
    projects: dict[str, str | None] = {}
    for name in names:
        site = registry.site(name)
        if group and site.driver == "openstack":
            found = site.project_for(group)
            if found is None:
                continue
            projects[name] = found[1]
        if site.driver == "openstack" and not refresh:
            cached = read_cache(directory, site, projects.get(name))
            if cached is not None and fresh(cached, ttl):
                out[name] = cached
                continue
        todo.append(site)
    results: dict[str, SiteSignals] = {}

    def run(site: Site) -> None:
        try:
            if site.driver == "openstack":
                conn = (connections or {}).get(site.name)
                results[site.name] = fetch_openstack(
                    site, timeout, connection=conn, project=projects.get(site.name)
                )
            elif site.driver == "local":
                results[site.name] = fetch_local(site)
            else:
                results[site.name] = SiteSignals(
                    site.name, site.driver, UNKNOWN, reason=f"no live signals for driver {site.driver}"
                )
        except Exception as exc:  # a bug or an SDK surprise must not stop plan: say it, go on
            results[site.name] = SiteSignals(
                site.name, site.driver, UNKNOWN, reason=f"{type(exc).__name__}: {_short(exc)}"
            )

    # Daemon threads: a site that hangs past the deadline cannot keep the command from exiting.
    threads = [threading.Thread(target=run, args=(s,), daemon=True, name=f"signals-{s.name}") for s in todo]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 1.0
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    for site in todo:
        sig = results.get(site.name)
        if sig is None:
            sig = SiteSignals(
                site.name,
                site.driver,
                DOWN,
                reason=f"no answer within {timeout:g} s",
                fetched_at=time.time(),
                cloud=site.cloud,
                region=site.regions[0],
                project=projects.get(site.name),
                elapsed_s=round(timeout + 1.0, 3),
            )
        if sig.status == UNKNOWN:
            sig.source = "registry"
        elif site.driver == "openstack":
            try:
                write_cache(directory, sig)
            except (OSError, UsageError) as exc:
                sig.warnings.append(f"signal cache not written: {exc}")
        out[site.name] = sig
    return {n: out[n] for n in names if n in out}


def for_selection(
    registry: Registry,
    policy: str | None = None,
    group: str | None = None,
    state_dir: str | os.PathLike | None = None,
) -> dict[str, SiteSignals]:
    """The signals site selection needs for a ``--site`` policy and a user group: with a
    named site only that site is asked (only it can be chosen), otherwise every enabled site;
    OpenStack sites are asked as the project the group (default: the registry's) maps to."""
    group = group or registry.default_group
    if policy in registry.sites:
        return (
            gather(registry, [policy], group=group, state_dir=state_dir)
            if registry.sites[policy].enabled
            else {}
        )
    return gather(registry, group=group, state_dir=state_dir)


def summary(signals: dict[str, SiteSignals]) -> dict[str, dict]:
    """site -> {status, source, reason, age_s}: what `plan --json` shows about the signals."""
    return {
        name: {
            "status": s.status,
            "source": s.source,
            "reason": s.reason,
            "age_s": None if s.fetched_at is None else round(s.age_s() or 0.0, 1),
        }
        for name, s in signals.items()
    }
