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
