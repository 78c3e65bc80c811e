"""The typed model of a deployment: what a plan holds, where it may go, what happened to it.

The plan's JSON (``infn-cloud plan --json``, the plan file ``site_select`` and
``python -m infn_cloud.deploy.provision`` read, the deployment document, the state database) is
a public interface (docs/tosca.md): ``to_dict()`` gives exactly today's JSON and
``from_dict()`` reads it back, keys this model does not know included (``extra``), so a plan
round-trips unchanged. Code reads the typed fields; the JSON is produced at the edges.

- ``Plan``: one validated template with its inputs (built by ``infn_cloud.tosca.make_plan``);
- ``ComputeNode``: one compute node of a plan (count, size, OS, ports, volumes, ...);
- ``SoftwareEntry``: one role run on the hosts of a node, in a wave;
- ``SiteCandidate``: a site that can host a plan, with the flavors and images chosen there;
- ``Deployment`` and ``Attempt``: the records of the state store.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _known(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name != "extra")


def _from_dict(cls, data: dict):
    """An instance of a model class with an ``extra`` field: unknown keys go there."""
    known = _known(cls)
    return cls(
        **{k: v for k, v in data.items() if k in known},
        extra={k: v for k, v in data.items() if k not in known},
    )


@dataclass
class ComputeNode:
    count: int = 1
    min: int = 1
    max: int = 1
    # Declared in the template (even at count 1): get_attribute without an index then gives
    # a list, as INDIGO does.
    scalable: bool = False
    num_cpus: int = 1
    mem_size_mb: int = 0
    disk_size_gb: int = 0
    num_gpus: int = 0
    gpu_model: str | None = None
    os: dict = field(default_factory=lambda: {"distribution": None, "version": None})
    ports: list[dict] = field(default_factory=list)  # {port, protocol, remote_cidr}
    public_ip: bool = False
    users: list[dict] = field(default_factory=list)
    volumes: list[dict] = field(default_factory=list)  # {node, size_gb, mount_path}
    software: list[str] = field(default_factory=list)  # software nodes on it, in wave order
    required_capabilities: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**{name: getattr(self, name) for name in _known(ComputeNode)}, **self.extra}

    @classmethod
    def from_dict(cls, data: dict) -> ComputeNode:
        return _from_dict(cls, data)


@dataclass
class SoftwareEntry:
    node: str
    type: str | None
    role: str | None  # infn.cloud.<role>, or None: a playbook this collection does not implement
    implementation: str | None
    vars: dict
    hosts: list[str] = field(default_factory=list)
    wave: int = 0
    merged_nodes: list[str] = field(default_factory=list)  # nodes folded into this run (common)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in _known(SoftwareEntry) if name != "merged_nodes"}
        if self.merged_nodes:
            data["merged_nodes"] = self.merged_nodes
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict) -> SoftwareEntry:
        return _from_dict(cls, data)

    @property
    def nodes(self) -> list[str]:
        """Its node and those merged into it."""
        return [self.node, *self.merged_nodes]


DEMAND_KEYS = ("instances", "cpus", "ram_mb", "disk_gb", "gpus", "volumes", "volume_gb", "public_ips")


@dataclass
class Plan:
    template: str = ""
    description: str = ""
    metadata: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    secret_inputs: list[str] = field(default_factory=list)
    secrets_to_generate: list[str] = field(default_factory=list)
    nodes: dict[str, dict] = field(default_factory=dict)
    compute: dict[str, ComputeNode] = field(default_factory=dict)
    software: list[SoftwareEntry] = field(default_factory=list)
    waves: list[list[str]] = field(default_factory=list)
    demand: dict[str, int] = field(default_factory=dict)
    placement: dict = field(default_factory=lambda: {"sites": [], "regions": [], "policy": None})
    outputs: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # secret_values, secret_constraints (added by later steps of make_plan), selection, ...
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in _known(Plan)}
        data["compute"] = {name: node.to_dict() for name, node in self.compute.items()}
        data["software"] = [entry.to_dict() for entry in self.software]
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        known = _known(cls)
        plan = cls(**{k: v for k, v in data.items() if k in known and k not in ("compute", "software")})
        plan.compute = {n: ComputeNode.from_dict(c) for n, c in (data.get("compute") or {}).items()}
        plan.software = [SoftwareEntry.from_dict(s) for s in data.get("software") or []]
        plan.extra = {k: v for k, v in data.items() if k not in known}
        return plan

    def compute_demand(self) -> dict[str, int]:
        """What the plan asks of a site in total (the plan's ``demand``)."""
        demand = dict.fromkeys(DEMAND_KEYS, 0)
        for node in self.compute.values():
            count = node.count
            demand["instances"] += count
            demand["cpus"] += count * node.num_cpus
            demand["ram_mb"] += count * node.mem_size_mb
            demand["disk_gb"] += count * node.disk_size_gb
            demand["gpus"] += count * node.num_gpus
            demand["volumes"] += count * len(node.volumes)
            demand["volume_gb"] += count * sum(v["size_gb"] for v in node.volumes)
            demand["public_ips"] += count if node.public_ip else 0
        return demand


@dataclass
class SiteCandidate:
    """A site that can host a plan (``infn_cloud.federation.select_sites``) and what it would use.

    Drivers read its flavors, images and region (``placement``). ``for_site`` is the candidate
    of a retry that resumes where the nodes already are, when selection no longer ranks it.
    """

    site: str
    kind: str = ""
    driver: str = ""
    score: float | None = None
    region: str = ""
    identity_provider: str = ""
    project: str = ""
    flavors: dict[str, dict] = field(default_factory=dict)  # compute node -> flavor
    images: dict[str, dict] = field(default_factory=dict)  # compute node -> image, user, ...
    demand: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    score_parts: dict[str, float] = field(default_factory=dict)
    # Compute node -> site, for a candidate spanning backbone sites; empty: every node on ``site``.
    node_sites: dict[str, str] = field(default_factory=dict)
    # Spanning candidates: site -> its region, identity provider, project, nodes, demand, score.
    per_site: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def for_site(cls, site: str) -> SiteCandidate:
        return cls(site=site)

    @property
    def sites(self) -> list[str]:
        """The sites this candidate uses: ``site`` first, then the others of ``node_sites``, once each."""
        sites = [self.site]
        for name in self.node_sites.values():
            if name and name not in sites:
                sites.append(name)
        return sites

    def site_of(self, node: str) -> str:
        """The site a compute node goes to."""
        return self.node_sites.get(node) or self.site

    def to_dict(self) -> dict:
        return {
            "site": self.site,
            "kind": self.kind,
            "driver": self.driver,
            "score": self.score,
            "score_parts": dict(self.score_parts),
            "region": self.region,
            "identity_provider": self.identity_provider,
            "project": self.project,
            "flavors": {k: dict(v) for k, v in self.flavors.items()},
            "images": {k: dict(v) for k, v in self.images.items()},
            "demand": dict(self.demand),
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            **({"node_sites": dict(self.node_sites)} if self.node_sites else {}),
            **({"per_site": {k: dict(v) for k, v in self.per_site.items()}} if self.per_site else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> SiteCandidate:
        """A placement file (``site_select``'s output): unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Attempt:
    """One operation (create, retry, delete) at one site, as the state store records it."""

    id: int
    operation: str
    site: str | None
    phase: str
    outcome: str = "running"  # then ok, failed, cancelled, forced, ...
    cause: str | None = None
    details: list[str] = field(default_factory=list)
    cleanup: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def from_record(cls, row: dict) -> Attempt:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in row.items() if k in known}
        for key in ("details", "cleanup"):
            data[key] = list(data.get(key) or [])
        data["timings"] = dict(data.get("timings") or {})
        return cls(**data)


@dataclass
class Deployment:
    """A deployment record of the state store (secret values replaced by markers)."""

    id: str
    template: str
    status: str
    plan: dict | None = None
    site: str | None = None
    status_reason: str | None = None
    group_name: str | None = None
    policy: str | None = None
    registry: str | None = None
    max_sites: int | None = None
    inputs: dict = field(default_factory=dict)
    resources: dict | None = None
    outputs: dict | None = None
    secret_vars: list[str] = field(default_factory=list)
    boundaries: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict) -> Deployment:
        known = _known(cls)
        data = {k: v for k, v in record.items() if k in known and k != "attempts"}
        for key in ("inputs",):
            data[key] = dict(data.get(key) or {})
        for key in ("secret_vars", "boundaries"):
            data[key] = list(data.get(key) or [])
        return cls(
            **data,
            attempts=[Attempt.from_record(a) for a in record.get("attempts") or []],
            extra={k: v for k, v in record.items() if k not in known},
        )

    @property
    def sites_touched(self) -> list[str]:
        """The record's site(s) and every site an attempt went to, in order, once each.

        An attempt across backbone sites records its sites joined with ","."""
        sites: list[str] = []
        for value in [self.site, *(a.site for a in self.attempts)]:
            for name in (value or "").split(","):
                name = name.strip()
                if name and name not in sites:
                    sites.append(name)
        return sites


def plan_view(plan: Any) -> Plan:
    """A typed view of a plan given as its JSON (the public interfaces take JSON)."""
    return plan if isinstance(plan, Plan) else Plan.from_dict(plan)
