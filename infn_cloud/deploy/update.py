"""The change an update makes to a running deployment, computed before anything is touched.

``compute_change(current, target, resources, remove)`` compares the plan a deployment runs
(the record's plan: attributes resolved, secret values as markers) with the plan of its new
inputs (the same template, planned again, secret values as markers too) and the resources its
site reported. The result (``PlanChange``) says:

- ``add``: compute nodes that get more instances (``count`` went up), how many;
- ``remove``: the instances that go when a ``count`` goes down: those named with
  ``--remove`` first, then the highest indices;
- ``reconfigure``: software entries the configure run changes: their variables differ, or a
  node they run on (or reference with get_attribute) gains or loses instances;
- ``outputs``: outputs whose value changes (new instances show as ``<new NODE[INDEX]>``);
- ``refused``: changes that cannot be made in place, each with the reason and what to run
  instead: the site or region, the operating system, a node's size (flavor, disk, GPUs,
  volumes) or its open ports, adding or removing a node type or a software entry (a template
  change), and scaling in a node that holds data (``DATA_ROLES`` or block storage), unless
  ``allow_data_loss``.

The AWX module of playbooks/update.yml uses this function too (interfaces I4): keep its
signature and ``PlanChange.to_dict()`` stable.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from infn_cloud.model import Plan, plan_view

# Software whose host keeps data a user cares about: never removed by a scale-in unless the
# user says so (--allow-data-loss). The value says what would be lost.
DATA_ROLES: dict[str, str] = {
    "infn.cloud.jupyterhub": "users' notebooks and the hub database",
    "infn.cloud.object_storage": "the stored objects",
    "infn.cloud.sync_share": "the shared files",
}
# Entries of a role that hold state only in some configurations (variables -> what is lost).
_DATA_WHEN = {
    "infn.cloud.htcondor": lambda v: (
        "the job queue (schedd) and the pool's central manager"
        if {"central_manager", "submit"} & set(v.get("htcondor_roles") or [])
        else None
    ),
    "infn.cloud.kubernetes": lambda v: (
        "the cluster state (etcd) of the control plane"
        if v.get("kubernetes_role") in ("control_plane", "master")
        else None
    ),
}
# Sizes of a node that its instances were created with: not changed in place.
_SIZE_FIELDS = ("num_cpus", "mem_size_mb", "disk_size_gb", "num_gpus", "gpu_model")


@dataclass
class PlanChange:
    add: list[dict] = field(default_factory=list)  # {node, count, before, after}
    remove: list[dict] = field(default_factory=list)  # {node, instance, index}
    reconfigure: list[dict] = field(default_factory=list)  # {software, role, hosts, reasons}
    outputs: list[dict] = field(default_factory=list)  # {name, before, after}
    refused: list[dict] = field(default_factory=list)  # {what, reason, instead}
    counts: dict[str, dict] = field(default_factory=dict)  # node -> {before, after}

    @property
    def empty(self) -> bool:
        """Nothing to add, remove, reconfigure or show (refused changes aside)."""
        return not (self.add or self.remove or self.reconfigure or self.outputs)

    def to_dict(self) -> dict:
        return {
            "add": copy.deepcopy(self.add),
            "remove": copy.deepcopy(self.remove),
            "reconfigure": copy.deepcopy(self.reconfigure),
            "outputs": copy.deepcopy(self.outputs),
            "refused": copy.deepcopy(self.refused),
            "counts": copy.deepcopy(self.counts),
        }

    def lines(self) -> list[str]:
        """The change for people, one line each."""
        out: list[str] = []
        for item in self.add:
            out.append(
                f"+ {item['node']}: add {item['count']} instance(s) ({item['before']} -> {item['after']})"
            )
        for item in self.remove:
            out.append(f"- {item['node']}: remove {item['instance']}")
        for item in self.reconfigure:
            out.append(f"~ {item['software']} ({item['role'] or 'no role'}): {'; '.join(item['reasons'])}")
        for item in self.outputs:
            out.append(f"~ output {item['name']}: {_short(item['before'])} -> {_short(item['after'])}")
        for item in self.refused:
            out.append(f"! refused: {item['what']}: {item['reason']}")
            out.append(f"    instead: {item['instead']}")
        return out


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def data_held(entry_role: str | None, entry_vars: dict) -> str | None:
    """What an instance running this software entry would lose if removed, or None."""
    if entry_role in DATA_ROLES:
        return DATA_ROLES[entry_role]
    check = _DATA_WHEN.get(entry_role or "")
    return check(entry_vars or {}) if check else None


def _instances(resources: dict, node: str) -> list[dict]:
    return sorted(((resources or {}).get("nodes") or {}).get(node) or [], key=lambda i: i.get("index", 0))


def _references(value: Any) -> set[str]:
    """Node names a value's get_attribute expressions name."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"get_attribute"} and isinstance(value["get_attribute"], list):
            args = value["get_attribute"]
            if args and isinstance(args[0], str):
                found.add(args[0])
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def _compute_of(plan: Plan, node: str) -> str | None:
    seen: set[str] = set()
    while node not in plan.compute:
        if node in seen:
            return None
        seen.add(node)
        node = (plan.nodes.get(node) or {}).get("host")
        if not node:
            return None
    return node


def compute_change(
    current: Plan | dict,
    target: Plan | dict,
    resources: dict,
    remove: list[str] | None = None,
    *,
    allow_data_loss: bool = False,
    deployment_id: str = "ID",
) -> PlanChange:
    """What updating the deployment running ``current`` (on ``resources``) to ``target`` does.

    ``remove`` names instances (``resources["nodes"][node][i]["name"]``) to remove first when a
    count goes down. Both plans must hold secret markers, not values (the change is printed).
    """
    from infn_cloud.tosca.attributes import resolve_attributes

    current, target = plan_view(current), plan_view(target)
    resources = resources or {}
    remove = list(remove or [])
    change = PlanChange()
    replace = (
        f"deploy the template again with the new inputs (infn-cloud deploy TEMPLATE -i FILE), move "
        f"what you need, then infn-cloud delete {deployment_id}"
    )

    # ---- the shape: node types, software entries, placement
    for node in sorted(set(current.compute) - set(target.compute)):
        change.refused.append(
            {
                "what": f"node {node}",
                "reason": "the new plan has no such node (a template change)",
                "instead": replace,
            }
        )
    for node in sorted(set(target.compute) - set(current.compute)):
        change.refused.append(
            {
                "what": f"node {node}",
                "reason": "a node type the deployment does not have (a template change)",
                "instead": replace,
            }
        )
    before_entries = {e.node: e for e in current.software}
    after_entries = {e.node: e for e in target.software}
    for name in sorted(set(before_entries) ^ set(after_entries)):
        gone = name in before_entries
        change.refused.append(
            {
                "what": f"software {name}",
                "reason": ("removed by" if gone else "added by") + " the new plan (a template change)",
                "instead": replace,
            }
        )
    for name in sorted(set(before_entries) & set(after_entries)):
        if before_entries[name].role != after_entries[name].role:
            change.refused.append(
                {
                    "what": f"software {name}",
                    "reason": f"its role changes from {before_entries[name].role} "
                    f"to {after_entries[name].role}",
                    "instead": replace,
                }
            )
    for key, what in (("sites", "site"), ("regions", "region")):
        old, new = (current.placement or {}).get(key) or [], (target.placement or {}).get(key) or []
        if sorted(map(str, old)) != sorted(map(str, new)):
            change.refused.append(
                {
                    "what": what,
                    "reason": f"the placement changes ({old or 'any'} -> {new or 'any'}): "
                    "a deployment stays on its site",
                    "instead": replace,
                }
            )

    # Placement per node (policies with targets, the backbone): a node stays on its site.
    before_nodes = (current.placement or {}).get("nodes") or {}
    after_nodes = (target.placement or {}).get("nodes") or {}
    for node in sorted(set(before_nodes) & set(after_nodes)):
        for key, what in (("sites", "site"), ("regions", "region")):
            old = (before_nodes[node] or {}).get(key) or []
            new = (after_nodes[node] or {}).get(key) or []
            if sorted(map(str, old)) != sorted(map(str, new)):
                change.refused.append(
                    {
                        "what": f"node {node}: {what}",
                        "reason": f"its placement changes ({old or 'any'} -> {new or 'any'}): "
                        "a node stays on the site it was placed at",
                        "instead": replace,
                    }
                )

    # ---- each compute node: what its instances were made with, and its count
    known_instances = {
        i.get("name"): node for node in (resources.get("nodes") or {}) for i in _instances(resources, node)
    }
    for name in remove:
        if name not in known_instances:
            change.refused.append(
                {
                    "what": f"--remove {name}",
                    "reason": "no such instance in this deployment (instances: "
                    + (", ".join(sorted(n for n in known_instances if n)) or "none")
                    + ")",
                    "instead": f"infn-cloud show {deployment_id} lists its instances",
                }
            )
    for node in sorted(set(current.compute) & set(target.compute)):
        before, after = current.compute[node], target.compute[node]
        os_before = {k: (before.os or {}).get(k) for k in ("distribution", "version")}
        os_after = {k: (after.os or {}).get(k) for k in ("distribution", "version")}
        if os_before != os_after:
            change.refused.append(
                {
                    "what": f"node {node}: operating system",
                    "reason": f"{_os_text(os_before)} -> {_os_text(os_after)}: "
                    "instances are not reinstalled in place",
                    "instead": replace,
                }
            )
        sizes = [
            f"{f} {getattr(before, f)} -> {getattr(after, f)}"
            for f in _SIZE_FIELDS
            if getattr(before, f) != getattr(after, f)
        ]
        if _volume_shape(before.volumes) != _volume_shape(after.volumes):
            sizes.append(f"volumes {_volume_shape(before.volumes)} -> {_volume_shape(after.volumes)}")
        if sizes:
            change.refused.append(
                {
                    "what": f"node {node}: size",
                    "reason": "; ".join(sizes) + " (a running node's flavor and volumes are not resized)",
                    "instead": replace,
                }
            )
        if _port_shape(before) != _port_shape(after):
            change.refused.append(
                {
                    "what": f"node {node}: network access",
                    "reason": "its open ports or public address change "
                    "(its security group and address are made at create)",
                    "instead": replace,
                }
            )
        existing = _instances(resources, node)
        have = len(existing)
        change.counts[node] = {"before": have, "after": after.count}
        named = [i for i in existing if i.get("name") in remove]
        if after.count > have:
            if named:
                change.refused.append(
                    {
                        "what": f"--remove {', '.join(i['name'] for i in named)}",
                        "reason": f"{node} grows from {have} to {after.count} instance(s): "
                        "nothing of it is removed",
                        "instead": f"lower the input that sets the count of {node} as well",
                    }
                )
            change.add.append(
                {"node": node, "count": after.count - have, "before": have, "after": after.count}
            )
            continue
        drop = have - after.count
        if len(named) > drop:
            change.refused.append(
                {
                    "what": f"--remove {', '.join(i['name'] for i in named)}",
                    "reason": f"{len(named)} instance(s) of {node} named but its count goes from {have} to "
                    f"{after.count} (removes {drop})",
                    "instead": f"also lower the input that sets the count of {node} to {have - len(named)}",
                }
            )
            continue
        if drop <= 0:
            continue
        rest = [i for i in reversed(existing) if i not in named]
        going = named + rest[: drop - len(named)]
        lost = _data_on(current, node)
        if lost and not allow_data_loss:
            change.refused.append(
                {
                    "what": f"node {node}: remove {', '.join(i['name'] for i in going)}",
                    "reason": f"it holds {'; '.join(lost)}, which would be lost",
                    "instead": "pass --allow-data-loss to remove it anyway, after saving the data",
                }
            )
            continue
        for inst in sorted(going, key=lambda i: i.get("index", 0)):
            change.remove.append({"node": node, "instance": inst.get("name"), "index": inst.get("index")})

    # ---- what the configure run changes, and the outputs
    scaled = {item["node"] for item in change.add} | {item["node"] for item in change.remove}
    prospective = _prospective(resources, change)
    resolved = resolve_attributes(target.to_dict(), prospective)
    resolved_entries = {e["node"]: e for e in resolved.get("software") or []}
    for name in [e.node for e in target.software]:
        if name not in before_entries:
            continue
        entry, old = after_entries[name], before_entries[name]
        reasons: list[str] = []
        new_vars = resolved_entries[name].get("vars") or {}
        changed = sorted(
            k for k in set(old.vars or {}) | set(new_vars) if (old.vars or {}).get(k) != new_vars.get(k)
        )
        if changed:
            reasons.append("variables change: " + ", ".join(changed))
        hosts = [h for h in entry.hosts if h in scaled]
        if hosts:
            reasons.append(f"runs on {', '.join(hosts)}, whose instances change")
        referenced = sorted({_compute_of(target, n) for n in _references(entry.vars)} & scaled - set(hosts))
        if referenced and not changed:
            reasons.append(f"refers to {', '.join(n for n in referenced if n)}, whose instances change")
        if reasons:
            change.reconfigure.append(
                {"software": name, "role": entry.role, "hosts": list(entry.hosts), "reasons": reasons}
            )
    for name, output in (resolved.get("outputs") or {}).items():
        before_value = ((current.outputs or {}).get(name) or {}).get("value")
        if output.get("value") != before_value:
            change.outputs.append({"name": name, "before": before_value, "after": output.get("value")})
    return change


def _os_text(os_: dict) -> str:
    return " ".join(str(v) for v in (os_.get("distribution"), os_.get("version")) if v) or "any"


def _volume_shape(volumes: list[dict]) -> list[tuple]:
    return sorted((str(v.get("node")), v.get("size_gb"), str(v.get("mount_path"))) for v in volumes or [])


def _port_shape(node) -> tuple:
    ports = sorted(json.dumps(p, sort_keys=True, default=str) for p in node.ports or [])
    return (bool(node.public_ip), tuple(ports))


def _data_on(plan: Plan, node: str) -> list[str]:
    """What the instances of a compute node hold that removing one would lose."""
    lost = (
        [f"block storage ({', '.join(str(v.get('node')) for v in plan.compute[node].volumes)})"]
        if plan.compute[node].volumes
        else []
    )
    for entry in plan.software:
        if node in entry.hosts:
            what = data_held(entry.role, entry.vars)
            if what and what not in lost:
                lost.append(what)
    return lost


def _prospective(resources: dict, change: PlanChange) -> dict:
    """The resources as they will be: removed instances gone, added ones as placeholders."""
    result = copy.deepcopy(resources or {})
    nodes = result.setdefault("nodes", {})
    going = {item["instance"] for item in change.remove}
    for node, instances in list(nodes.items()):
        nodes[node] = [i for i in instances if i.get("name") not in going]
    for item in change.add:
        have = nodes.setdefault(item["node"], [])
        start = max((i.get("index", 0) for i in have), default=-1) + 1
        for index in range(start, start + item["count"]):
            placeholder = f"<new {item['node']}[{index}]>"
            have.append(
                {
                    "name": placeholder,
                    "index": index,
                    "private_ip": placeholder,
                    "public_ip": None,
                    "fqdn": placeholder,
                    "id": placeholder,
                }
            )
    return result


def instance_sites(
    plan: Plan | dict, resources: dict, sites: list[str], selected: dict[str, str] | None = None
) -> tuple[dict[str, str], list[dict]]:
    """Where the instances of each compute node of a deployment spanning ``sites`` go:
    (node -> site, refused changes).

    The rule (docs/cli.md "update"): a node's new instances go to the site that holds its
    instances now (the recorded placement: every instance the spanning driver describes carries
    its ``site``; deploy puts all instances of a node on one site, so one node = one site).
    A node with no instance left goes where placement selection of the new plan puts it
    (``selected``: node -> site, its ``node_sites`` with the first site for the others), else
    to the first site. A node whose instances are on several sites (deploy never does that:
    only a hand-made move) is refused when its count changes: its drivers would each number
    new instances from their own highest index.
    """
    plan = plan_view(plan)
    selected = selected or {}
    first = sites[0]
    where: dict[str, str] = {}
    refused: list[dict] = []
    for node in sorted(plan.compute):
        at = sorted({str(i.get("site") or first) for i in _instances(resources, node)})
        if len(at) == 1:
            where[node] = at[0]
        elif not at:
            where[node] = selected.get(node) if selected.get(node) in sites else first
        else:
            where[node] = at[0]
            if plan.compute[node].count != len(_instances(resources, node)):
                refused.append(
                    {
                        "what": f"node {node}: count",
                        "reason": f"its instances are on several sites ({', '.join(at)}): "
                        "update does not know where a new one goes",
                        "instead": "deploy the template again with the new inputs, then delete this one",
                    }
                )
    return where, refused


# Roles whose hosts read, at configure time, what another host of the same role publishes
# in the same play: those hosts are configured together (see configure_hosts).
# kubernetes: workers join with the token and CA hash the control plane publishes as facts;
# object_storage: the ring is built from every storage host of the play.
_PEERS_IN_PLAY: dict[str, Any] = {
    "infn.cloud.kubernetes": lambda v: (v or {}).get("kubernetes_role") in ("control_plane", "master"),
    "infn.cloud.object_storage": lambda v: True,
}


def configure_hosts(
    plan: Plan | dict, change: PlanChange | dict, resources: dict, added: list[str]
) -> list[str]:
    """The inventory hosts (instance names) the configure run of an update needs:

    - the instances the update added (they join);
    - every instance of the nodes running a software entry whose variables (or secrets) change;
    - for roles in ``_PEERS_IN_PLAY``: the hosts the configured ones read from in the play
      (the Kubernetes control plane when a worker is configured, every Swift storage host
      when one is).

    An entry that is listed only because its node scales (no variable changes) is not a reason
    to configure its existing instances: e.g. the HTCondor central manager does not list the
    execute nodes (they authenticate with the pool's token), so a scale-out configures the new
    execute nodes only. Empty: nothing to configure (a pure scale-in).
    """
    plan = plan_view(plan)
    change = change.to_dict() if isinstance(change, PlanChange) else dict(change or {})
    names = {node: [i.get("name") for i in _instances(resources, node)] for node in plan.compute}
    hosts: set[str] = {n for n in added if n}
    for item in change.get("reconfigure") or []:
        if any(r.startswith(("variables change", "secret changes")) for r in item.get("reasons") or []):
            for node in item.get("hosts") or []:
                hosts |= set(names.get(_compute_of(plan, node) or node) or [])
    entries = list(plan.software)
    for role, provides in _PEERS_IN_PLAY.items():
        role_entries = [e for e in entries if e.role == role]
        touched = {
            n
            for e in role_entries
            for node in e.hosts
            for n in names.get(_compute_of(plan, node) or node) or []
        } & hosts
        if not touched:
            continue
        for e in role_entries:
            if provides(e.vars):
                for node in e.hosts:
                    hosts |= set(names.get(_compute_of(plan, node) or node) or [])
    return sorted(h for h in hosts if h)


def _hosts_of(plan: Plan, names: dict[str, list], node: str) -> list[str]:
    return list(names.get(_compute_of(plan, node) or node) or [])


# ====================================================================== applying a change
UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_FAILED")
SCALE_IN_PLAYBOOK = "playbooks/scale_in.yml"
DEFAULT_DRAIN_TIMEOUT = 600


def has_scale_in_playbook() -> bool:
    """Whether the collection has the drain playbook (playbooks/scale_in.yml, interfaces I4)."""
    from infn_cloud.paths import collection_root

    return (collection_root() / SCALE_IN_PLAYBOOK).is_file()


@dataclass
class UpdateRequest:
    deployment_id: str
    inputs: Any = None  # new input values (cli.options.load_inputs), merged over the stored ones
    remove: list[str] = field(default_factory=list)
    dry_run: bool = False
    allow_data_loss: bool = False
    drain_timeout: int = DEFAULT_DRAIN_TIMEOUT
    import_map: list[str] | None = None
    timeouts: Any = None  # attempt.Timeouts
    on_change: Any = None  # called with (deployment id, PlanChange) before anything is applied


@dataclass
class UpdateResult:
    record: dict
    change: PlanChange
    applied: bool


class Updater:
    """``infn-cloud update`` and the ``retry`` of an update, on a Lifecycle's state and view.

    update: compute the change (nothing is touched when it is refused, empty or a dry run),
    claim the record (UPDATE_IN_PROGRESS, the store's ownership lock: one update at a time,
    never while deploying or deleting), record the pending update (target inputs and plan
    with secret markers, instances to remove) and run it as an attempt of operation
    ``update`` at the deployment's site: provision (the driver's idempotent create adds the
    new instances) -> configure (the whole configure playbook; new nodes join) -> scale_in
    (playbooks/scale_in.yml drains the hosts to remove, then ``remove_instances``) ->
    outputs (UPDATE_COMPLETE, the target plan, inputs, resources and outputs recorded).
    A failure or Ctrl-C leaves UPDATE_FAILED with the cause; instances that existed before
    are never removed; instances the update added are removed when it fails before they are
    configured. ``retry`` resumes the pending update (also after kill -9).
    """

    def __init__(self, lifecycle):
        self.lc = lifecycle
        self.state = lifecycle.state
        self.view = lifecycle.view

    # ------------------------------------------------------------------ update
    def update(self, request: UpdateRequest) -> UpdateResult:
        from infn_cloud.deploy.attempt import Timeouts
        from infn_cloud.deploy.redaction import Redactor, redact_plan
        from infn_cloud.errors import ValidationError
        from infn_cloud.tosca import secret_values

        timeouts = request.timeouts or Timeouts()
        record = self.state.get(request.deployment_id)
        deployment_id = record["id"]
        self._check_updatable(record)
        secrets = self.lc._load_secrets(deployment_id)
        inputs = self._merge_inputs(record, request.inputs, secrets)
        target, template = self._plan(record, inputs, secrets, request.import_map)
        new_secrets = secret_values.values(target)
        all_secrets = {**secrets, **new_secrets}
        self.view.redact = Redactor(all_secrets).text
        redacted = redact_plan(target, all_secrets)
        site, registry = self._site(record)
        sites = _record_sites(record)
        resources = self._driver(site, deployment_id, record, registry).describe(deployment_id)
        change = compute_change(
            record.get("plan") or {},
            redacted,
            resources,
            request.remove,
            allow_data_loss=request.allow_data_loss,
            deployment_id=deployment_id,
        )
        changed_secrets = sorted(n for n, v in new_secrets.items() if secrets.get(n) != v)
        _secret_reasons(change, redacted, changed_secrets)
        node_sites: dict[str, str] = {}
        if len(sites) > 1:  # spanning backbone sites: where each node's new instances go
            node_sites, refused = instance_sites(
                redacted, resources, sites, self._selected_sites(target, registry, record, resources)
            )
            change.refused += refused
        if request.on_change is not None:
            request.on_change(deployment_id, change)
        if change.refused:
            raise ValidationError(
                f"deployment {deployment_id}: {len(change.refused)} change(s) cannot be made in place; "
                "nothing was changed",
                details=[
                    line.strip() for line in change.lines() if line.lstrip().startswith(("!", "instead"))
                ],
            )
        if request.dry_run or change.empty:
            return UpdateResult(record, change, applied=False)
        claimed = self.state.take_ownership(deployment_id, UPDATABLE, "UPDATE_IN_PROGRESS")
        if claimed["previous_status"] not in UPDATABLE:  # its owner died meanwhile
            self.lc._take_over(deployment_id)
        for name in changed_secrets:  # new secret values (never a regenerated one)
            self.lc.secrets.put(deployment_id, name, new_secrets[name])
        from infn_cloud.deploy import deployment_secrets

        pending = {
            "template": template,
            "inputs": deployment_secrets.stored_inputs(inputs, target, all_secrets),
            "plan": redacted,
            "remove": [item["instance"] for item in change.remove],
            "before": sorted(_names(resources)),
            "drain_timeout": request.drain_timeout,
            "change": change.to_dict(),
            **({"node_sites": node_sites} if node_sites else {}),
        }
        self.state.update(deployment_id, pending_update=pending)
        self.view.attach_log(self.lc._dir(deployment_id) / "deploy.log")
        self.view.message(f"update of {deployment_id} at {', '.join(sites)}")
        record = self._run(deployment_id, pending, site, registry, all_secrets, timeouts)
        return UpdateResult(record, change, applied=True)

    def _check_updatable(self, record: dict) -> None:
        from infn_cloud.errors import UsageError
        from infn_cloud.state import owner_alive

        status, deployment_id = record["status"], record["id"]
        if status in UPDATABLE:
            return
        if status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS") and owner_alive(
            record
        ):
            raise UsageError(
                f"deployment {deployment_id} is {status} in process {record.get('owner_pid')}: "
                "it cannot be updated now",
                details=["wait for it to finish, then run update again"],
            )
        hint = {
            "UPDATE_IN_PROGRESS": f"an update was interrupted: infn-cloud retry {deployment_id} finishes it",
            "CREATE_IN_PROGRESS": f"its deploy was interrupted: infn-cloud retry {deployment_id}",
            "CREATE_FAILED": f"its deploy failed: infn-cloud retry {deployment_id}",
        }.get(status, f"see: infn-cloud show {deployment_id}")
        raise UsageError(
            f"deployment {deployment_id} is {status}: update needs one of {', '.join(UPDATABLE)}",
            details=[hint],
        )

    def _plan(self, record: dict, inputs, secrets: dict[str, str], import_map) -> tuple[dict, str]:
        """(the plan of the new inputs, the template path): planned from the template text the
        record keeps (what was deployed), even when the catalogue file changed since."""
        import shutil
        import tempfile
        from pathlib import Path

        from infn_cloud.deploy.redaction import redact_template_text, unredact
        from infn_cloud.errors import ValidationError
        from infn_cloud.tosca import make_plan

        path = Path(record["template"])
        stored = record.get("template_text")
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as exc:
            current = None
            if stored is None:
                raise ValidationError(
                    f"deployment {record['id']}: its template {path} cannot be read ({exc.strerror}) "
                    "and the record keeps no copy of it",
                    details=[f"deploy the template again, then infn-cloud delete {record['id']}"],
                ) from None
        if stored is None or (current is not None and redact_template_text(current, secrets) == stored):
            return make_plan(str(path), inputs, import_map=import_map), str(path)
        # The file changed (a newer catalogue) or is gone: plan the recorded text, in a copy of
        # its folder so that relative imports resolve. The text has secret markers, never values:
        # secret inputs are given explicitly and the plan's markers are filled in afterwards.
        self.view.message(f"   {path.name} changed since the deploy: planning the template recorded with it")
        folder = Path(tempfile.mkdtemp(prefix="infn-cloud-update-"))
        try:
            copy = folder / "templates"
            if path.parent.is_dir():
                shutil.copytree(path.parent, copy, ignore=shutil.ignore_patterns(".*", "__pycache__"))
            copy.mkdir(exist_ok=True)
            (copy / path.name).write_text(stored, encoding="utf-8")
            try:
                plan = unredact(make_plan(str(copy / path.name), inputs, import_map=import_map), secrets)
            except ValidationError as exc:  # name the deployment's template, not the copy
                raise ValidationError(
                    exc.message.replace(str(copy / path.name), f"{path} (as deployed)"),
                    details=[line.replace(str(copy / path.name), str(path)) for line in exc.details],
                ) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        plan["template"] = str(path)
        return plan, str(path)

    def _merge_inputs(self, record: dict, new, secrets: dict[str, str]):
        """The stored inputs (secret markers filled from the secret store) with the new ones
        over them; generated secrets are reused, never generated again."""
        from infn_cloud.deploy.redaction import unredact
        from infn_cloud.tosca.yamlio import Mapping

        merged = Mapping()
        merged.update(unredact(dict(record.get("inputs") or {}), secrets))
        plan = record.get("plan") or {}
        for name in {*(plan.get("secret_inputs") or []), *(plan.get("secrets_to_generate") or [])}:
            if merged.get(name) in (None, "") and name in secrets:
                merged[name] = secrets[name]
        if new:
            merged.update(new)
            for attr in ("key_pos", "raw"):
                getattr(merged, attr).update(getattr(new, attr, {}) or {})
            merged.source = getattr(new, "source", "") or ""
        return merged

    def _site(self, record: dict):
        """(the record's first site, the registry); every site of a deployment spanning the
        backbone ("A,B" in the record) must still be in the registry."""
        from infn_cloud.errors import NotFoundError
        from infn_cloud.federation import load_registry

        registry = load_registry(record.get("registry"))
        for name in _record_sites(record) or [""]:
            if registry.sites.get(name) is None:
                raise NotFoundError(
                    f"deployment {record['id']}: its site {name or '(none)'} is not in the registry "
                    f"{record.get('registry')}"
                )
        return registry.sites[_record_sites(record)[0]], registry

    def _driver(self, site, deployment_id: str, record: dict | None = None, registry=None, node_sites=None):
        """The site's driver; across backbone sites, a SpanningDriver whose node -> site map
        is ``node_sites`` (an update's decision) or where the nodes are now (describe)."""
        from infn_cloud.federation import get_driver
        from infn_cloud.federation.drivers import driver_for

        public_key = self.lc.secrets.ensure_ssh_keypair(deployment_id)
        sites = _record_sites(record or {})
        if len(sites) < 2:
            return get_driver(site, public_key=public_key)
        if node_sites is None:
            from infn_cloud.model import Deployment

            found = self.lc._candidate_at(Deployment.from_record(record), registry)
            node_sites = dict(found.node_sites) if found is not None else {}
        candidate = _spanning_candidate(sites, node_sites)
        return driver_for(registry, candidate, public_key=public_key, group=record.get("group_name"))

    def _selected_sites(self, plan: dict, registry, record: dict, resources: dict) -> dict[str, str]:
        """node -> site as placement selection puts the new plan, asked only when a node has
        no instance left (instance_sites); {} when selection refuses it."""
        from infn_cloud.errors import InfnCloudError
        from infn_cloud.federation import select_sites

        if all(_instances(resources, node) for node in plan.get("compute") or {}):
            return {}
        try:
            selection = select_sites(
                plan, registry, group=record.get("group_name"), policy=record.get("policy"), history=[]
            )
        except InfnCloudError:
            return {}
        sites = set(_record_sites(record))
        for candidate in selection.candidates:
            if set(candidate.sites) <= sites:
                return {node: candidate.site_of(node) for node in plan.get("compute") or {}}
        return {}

    # ------------------------------------------------------------------ retry
    def retry(self, deployment_id: str, timeouts=None) -> dict:
        from infn_cloud.deploy.attempt import Timeouts
        from infn_cloud.deploy.redaction import Redactor
        from infn_cloud.errors import UsageError

        claimed = self.state.take_ownership(deployment_id, ("UPDATE_FAILED",), "UPDATE_IN_PROGRESS")
        previous = claimed["previous_status"]
        if previous != "UPDATE_FAILED":
            self.lc._take_over(deployment_id)
        pending = claimed.get("pending_update")
        if not pending:
            self.state.update(deployment_id, status="UPDATE_FAILED", status_reason="no update to resume")
            raise UsageError(
                f"deployment {deployment_id} has no update to resume",
                details=[f"run infn-cloud update {deployment_id} with the change you want"],
            )
        self.view.attach_log(self.lc._dir(deployment_id) / "deploy.log")
        self.view.message(f"retry of the update of {deployment_id} (was {previous})")
        secrets = self.lc._load_secrets(deployment_id)
        self.view.redact = Redactor(secrets).text
        site, registry = self._site(claimed)
        return self._run(deployment_id, pending, site, registry, secrets, timeouts or Timeouts())

    # ------------------------------------------------------------------ the attempt
    def _run(self, deployment_id: str, pending: dict, site, registry, secrets: dict, timeouts) -> dict:
        return _UpdateAttempt(self, deployment_id, pending, site, registry, secrets, timeouts).run()


def _record_sites(record: dict) -> list[str]:
    """The sites of a record: one, or those of a deployment spanning the backbone ("A,B")."""
    return [n.strip() for n in str(record.get("site") or "").split(",") if n.strip()]


def _spanning_candidate(sites: list[str], node_sites: dict[str, str]):
    from infn_cloud.model import SiteCandidate

    first = sites[0]
    return SiteCandidate(site=first, node_sites={n: s for n, s in node_sites.items() if s != first})


def _names(resources: dict) -> set[str]:
    return {i.get("name") for insts in ((resources or {}).get("nodes") or {}).values() for i in insts}


def _without(resources: dict, names: set[str]) -> dict:
    result = copy.deepcopy(resources)
    result["nodes"] = {
        node: [i for i in insts if i.get("name") not in names]
        for node, insts in (result.get("nodes") or {}).items()
    }
    result["nodes"] = {node: insts for node, insts in result["nodes"].items() if insts}
    result["volumes"] = [
        v
        for v in result.get("volumes") or []
        if not any(str(v.get("name", "")).startswith(f"{n}-") for n in names)
    ]
    return result


def _secret_reasons(change: PlanChange, plan: dict, changed: list[str]) -> None:
    """Software whose variables hold a secret that changes (both plans only show its marker)."""
    if not changed:
        return
    listed = {item["software"]: item for item in change.reconfigure}
    for entry in plan.get("software") or []:
        text = json.dumps(entry.get("vars") or {})
        names = [n for n in changed if f"<secret:{n}>" in text]
        if not names:
            continue
        reason = f"secret changes: {', '.join(names)}"
        if entry["node"] in listed:
            listed[entry["node"]]["reasons"].append(reason)
        else:
            change.reconfigure.append(
                {
                    "software": entry["node"],
                    "role": entry.get("role"),
                    "hosts": list(entry.get("hosts") or []),
                    "reasons": [reason],
                }
            )


class _UpdateAttempt:
    def __init__(self, updater: Updater, deployment_id, pending, site, registry, secrets, timeouts):
        self.u = updater
        self.id = deployment_id
        self.pending = pending
        self.site = site
        self.registry = registry
        self.secrets = secrets
        self.timeouts = timeouts
        self.phase = "provision"
        self.timings: dict[str, float] = {}
        self.attempt_id = None
        self.driver = None
        self.removed: list[str] = []
        record = updater.state.get(deployment_id)
        self.sites = _record_sites(record) or [site.name]
        self.label = ",".join(self.sites)  # the attempt's site: "A,B" across backbone sites
        self.node_sites = pending.get("node_sites") if len(self.sites) > 1 else None

    @property
    def state(self):
        return self.u.state

    @property
    def view(self):
        return self.u.view

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.state.set_phase(self.attempt_id, phase, self.timings)

    def run(self) -> dict:
        import time

        from infn_cloud.deploy.configure import Cancelled
        from infn_cloud.deploy.redaction import redact, unredact
        from infn_cloud.errors import InfnCloudError, OperationFailed

        plan = unredact(self.pending["plan"], self.secrets)
        before = set(self.pending.get("before") or [])
        self.attempt_id = self.state.start_attempt(self.id, "update", self.label, "provision")
        try:
            started = time.monotonic()
            self.driver = self.u._driver(
                self.site, self.id, self.state.get(self.id), self.registry, self.node_sites
            )
            adding = sum(item["count"] for item in (self.pending.get("change") or {}).get("add") or [])
            self.view.phase(
                "provision", self.label, f"adding {adding} instance(s)" if adding else "nothing to add"
            )
            candidate = self._candidate(plan)
            self.driver.create(self.id, plan, candidate, progress=self.view)
            resources = self.driver.wait(self.id, None, timeout=self.timeouts.provision, progress=self.view)
            self.timings["provision_s"] = round(time.monotonic() - started, 1)
            added = sorted(_names(resources) - before)
            self.state.update(self.id, resources=resources, pending_update={**self.pending, "added": added})
            self._enter("configure")
            self._configure(plan, resources, added)
            remove = [n for n in self.pending.get("remove") or [] if n in _names(resources)]
            if remove:
                self._enter("scale_in")
                self._scale_in(plan, resources, remove)
            self.removed_names = set(self.pending.get("remove") or [])
            self._enter("outputs")
            return self._complete(plan, _without(resources, self.removed_names))
        except (KeyboardInterrupt, Cancelled):
            self._ended("cancelled", f"cancelled by the user during {self.phase}", [], before)
            raise KeyboardInterrupt from None
        except InfnCloudError as exc:
            cause, details = exc.message, list(exc.details)
        except Exception as exc:  # a driver or runner bug must not leave the record in progress
            cause, details = f"{type(exc).__name__}: {exc}", []
        cause, details = redact(cause, self.secrets), redact(details, self.secrets)
        self._ended("failed", cause, details, before)
        raise OperationFailed(
            f"update of {self.id} failed during {self.phase}: {cause}",
            details=[
                *details,
                "the instances that existed before the update were not removed",
                f"see: infn-cloud show {self.id}; resume: infn-cloud retry {self.id}",
            ],
        )

    def _candidate(self, plan: dict):
        """The deployment's site as selection sees it for the new plan (flavors and images);
        the bare site when selection refuses it (its check counts our own instances as others').
        Across backbone sites: the sites of the record, each node where the update put it."""
        from infn_cloud.errors import InfnCloudError
        from infn_cloud.federation import select_sites
        from infn_cloud.model import SiteCandidate

        record = self.state.get(self.id)
        if len(self.sites) > 1:
            return self._spanning_candidate(plan, record)
        try:
            selection = select_sites(
                plan, self.registry, group=record.get("group_name"), policy=self.site.name, history=[]
            )
            for candidate in selection.candidates:
                if candidate.site == self.site.name:
                    return candidate
        except InfnCloudError as exc:
            self.view.message(
                f"   selection at {self.site.name}: {exc.message} (the site's driver checks capacity)"
            )
        return SiteCandidate.for_site(self.site.name)

    def _spanning_candidate(self, plan: dict, record: dict):
        """The placement of a deployment across backbone sites: selection's flavors and images
        when it still proposes these sites, the node -> site map of the update always."""
        import dataclasses

        from infn_cloud.errors import InfnCloudError
        from infn_cloud.federation import select_sites

        node_sites = dict(self.node_sites or {})
        wanted = _spanning_candidate(self.sites, node_sites)
        try:
            selection = select_sites(
                plan, self.registry, group=record.get("group_name"), policy=record.get("policy"), history=[]
            )
            for candidate in selection.candidates:
                if set(candidate.sites) == set(wanted.sites):
                    return dataclasses.replace(candidate, site=wanted.site, node_sites=wanted.node_sites)
        except InfnCloudError as exc:
            self.view.message(
                f"   selection at {self.label}: {exc.message} (the sites' drivers check capacity)"
            )
        return wanted

    def _document(self, plan: dict, resources: dict, status: str):
        from infn_cloud.deploy import document
        from infn_cloud.tosca.attributes import resolve_attributes

        resolved = resolve_attributes(plan, resources)
        doc = document.build(self.id, self.site, resolved, resources, self.secrets, status)
        for name in self.sites[1:]:  # each host gets its own site's role_vars (as deploy does)
            doc["site_role_vars"][name] = dict(getattr(self.registry.sites[name], "role_vars", None) or {})
        path = document.deployment_dir(self.id, self.u.lc.state_dir) / document.FILE_NAME
        return resolved, document.write(path, doc), doc

    def _playbook(self, plan: dict, resources: dict, playbook: str, extravars: dict | None, timeout: int):
        import time

        from infn_cloud.deploy import document
        from infn_cloud.deploy.configure import Cancelled, ConfigureRun, configure
        from infn_cloud.deploy.redaction import secret_role_vars
        from infn_cloud.errors import OperationFailed

        resolved, path, _doc = self._document(plan, resources, "UPDATE_IN_PROGRESS")
        started = time.monotonic()
        run = ConfigureRun(
            deployment_id=self.id,
            directory=document.deployment_dir(self.id, self.u.lc.state_dir),
            document=path,
            resources=resources,
            secret_extravars=secret_role_vars(resolved, self.secrets),
            ssh_private_key=lambda: self.u.lc.secrets.ssh_private_key(self.id),
            job_timeout=timeout,
            idle_timeout=self.timeouts.idle,
            playbook=playbook,
            extravars=extravars,
        )
        result = configure(run, self.view, self.u.lc.cancel)
        self.timings[f"{self.phase}_s"] = round(time.monotonic() - started, 1)
        if result.status == "canceled":
            raise Cancelled()
        if not result.ok:
            raise OperationFailed(result.cause(), details=result.details())
        return result

    def _configure(self, plan: dict, resources: dict, added: list[str]) -> None:
        """configure.yml on the hosts that need it (configure_hosts), none for a pure scale-in."""
        hosts = configure_hosts(
            self.pending["plan"], self.pending.get("change") or {}, resources, list(added)
        )
        self.pending = {**self.pending, "configured": hosts}
        if not hosts:
            self.view.phase("configure", self.label, "nothing to configure")
            self.state.update(self.id, pending_update=self.pending)
            return
        self.view.phase(
            "configure", self.label, f"ansible-playbook playbooks/configure.yml on {', '.join(hosts)}"
        )
        result = self._playbook(
            plan,
            resources,
            "playbooks/configure.yml",
            {"infn_cloud_configure_hosts": ":".join(hosts)},
            self.timeouts.configure,
        )
        boundaries = list(getattr(result, "boundaries", None) or [])
        if boundaries:
            self.view.message("Stopped at documented boundaries:")
            for line in boundaries:
                self.view.message(f"   {line}")
        self.state.update(self.id, boundaries=boundaries)

    def _scale_in(self, plan: dict, resources: dict, remove: list[str]) -> None:
        drain = int(self.pending.get("drain_timeout") or DEFAULT_DRAIN_TIMEOUT)
        if has_scale_in_playbook():
            self.view.phase("scale_in", self.label, f"draining {', '.join(remove)} (up to {drain} s)")
            self._playbook(
                plan,
                resources,
                SCALE_IN_PLAYBOOK,
                {"infn_cloud_remove_hosts": remove, "infn_cloud_drain_timeout": drain},
                # the drain may take its whole timeout, then the play needs its own time
                drain + self.timeouts.configure,
            )
        else:
            self.view.message(
                f"   {SCALE_IN_PLAYBOOK} is missing: {', '.join(remove)} removed without a drain"
            )
        self.view.phase("scale_in", self.label, f"removing {', '.join(remove)}")
        self.removed = self.driver.remove_instances(self.id, remove, progress=self.view)
        self._forget_hosts(resources, remove)

    def _forget_hosts(self, resources: dict, names: list[str]) -> None:
        """Lines of the deployment's known_hosts naming a removed instance (name or address)."""
        from infn_cloud.deploy import document

        path = document.deployment_dir(self.id, self.u.lc.state_dir) / "known_hosts"
        if not path.is_file():
            return
        keys = set(names)
        for insts in (resources.get("nodes") or {}).values():
            for inst in insts:
                if inst.get("name") in names:
                    keys |= {str(inst[k]) for k in ("private_ip", "public_ip", "fqdn") if inst.get(k)}
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not (set(line.split(" ", 1)[0].split(",")) & keys)]
        if kept != lines:
            path.write_text("".join(kept), encoding="utf-8")

    def _complete(self, plan: dict, resources: dict) -> dict:
        from infn_cloud.deploy import document
        from infn_cloud.deploy.redaction import redact

        resolved, path, doc = self._document(plan, resources, "UPDATE_COMPLETE")
        outputs = {name: out.get("value") for name, out in (resolved.get("outputs") or {}).items()}
        self.state.update(
            self.id,
            status="UPDATE_COMPLETE",
            status_reason=None,
            plan=doc["plan"],
            inputs=self.pending.get("inputs") or {},
            resources=resources,
            outputs=redact(outputs, self.secrets),
            secret_vars=doc["secret_vars"],
            pending_update=None,
        )
        added = sorted(_names(resources) - set(self.pending.get("before") or []))
        details = [f"added: {', '.join(added)}"] if added else []
        if "configured" in self.pending:
            details.append(f"configured: {', '.join(self.pending['configured']) or 'nothing'}")
        if self.pending.get("remove"):
            details.append(f"removed: {', '.join(self.pending['remove'])}")
        self.state.finish_attempt(
            self.attempt_id, "ok", details=details, cleanup=self.removed, timings=self.timings
        )
        document.write(path, {**doc, "status": "UPDATE_COMPLETE"})
        total = sum(v for v in self.timings.values() if isinstance(v, int | float))
        self.view.phase("done", self.label, f"UPDATE_COMPLETE in {total:.0f} s")
        return self.state.get(self.id)

    def _ended(self, outcome: str, cause: str, details: list, before: set[str]) -> None:
        """UPDATE_FAILED; instances this update added go when they were never configured."""
        from infn_cloud.errors import InfnCloudError

        self.view.message(f"update {outcome} during {self.phase} at {self.label}: {cause}")
        for line in details:
            self.view.message(f"   {line}")
        cleanup: list[str] = []
        resources = None
        if self.driver is not None:
            try:
                current = self.driver.describe(self.id)
                added = sorted(_names(current) - before)
                if added and self.phase in ("provision", "configure"):
                    self.view.message(f"   removing the instances this update added: {', '.join(added)}")
                    cleanup = self.driver.remove_instances(self.id, added, progress=self.view)
                    current = self.driver.describe(self.id)
                resources = self._with_host_keys(current)
            except InfnCloudError as exc:
                cleanup.append(f"cleanup failed: {exc.message}")
            except Exception as exc:
                cleanup.append(f"cleanup failed: {type(exc).__name__}: {exc}")
        self.state.finish_attempt(
            self.attempt_id, outcome, cause=cause, details=details, cleanup=cleanup, timings=self.timings
        )
        fields = {
            "status": "UPDATE_FAILED",
            "status_reason": f"{cause} (during {self.phase}); infn-cloud retry {self.id} resumes the update",
        }
        if resources is not None:
            fields["resources"] = resources
        self.state.update(self.id, **fields)

    def _with_host_keys(self, described: dict) -> dict:
        """describe() knows no host keys: keep those the record has for the same instances."""
        record = self.state.get(self.id)
        known = {
            i.get("id"): i.get("host_key")
            for insts in ((record.get("resources") or {}).get("nodes") or {}).values()
            for i in insts
            if i.get("host_key")
        }
        for insts in (described.get("nodes") or {}).values():
            for inst in insts:
                if inst.get("id") in known:
                    inst["host_key"] = known[inst["id"]]
        return described
