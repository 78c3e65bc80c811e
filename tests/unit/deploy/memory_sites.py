"""Test doubles for applying updates without podman: sites whose instances live in memory, and
playbook runs that are recorded and fail on demand; plus a deployment record as deploy leaves it.

Used by test_update_apply.py (one site) and test_update_spanning.py (two backbone sites behind
the real SpanningDriver). The drivers' contract they keep: create keeps existing instances and
adds fresh indices, remove_instances removes exactly those named, describe rebuilds from the site.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

from infn_cloud.deploy import deployment_secrets
from infn_cloud.deploy.lifecycle import Lifecycle
from infn_cloud.deploy.redaction import redact_plan, redact_template_text
from infn_cloud.paths import collection_root
from infn_cloud.tosca.attributes import resolve_attributes

TEMPLATE = str(collection_root() / "tosca_templates" / "htcondor_cluster.yaml")
SECRET = "pool-password-0123456789"


class MemoryDriver:
    """One site's instances in memory, kept per site name in ``stores`` (reset by the fixtures)."""

    name = "local"
    stores: ClassVar[dict[str, dict[str, list[dict]]]] = {}

    def __init__(self, site, **options):
        self.site = site
        self.nodes = self.stores.setdefault(site.name, {})

    def create(self, deployment_id, plan, placement, progress=None):
        for node, spec in plan["compute"].items():
            have = self.nodes.setdefault(node, [])
            start = max((i["index"] for i in have), default=-1) + 1
            for index in range(start, start + max(spec["count"] - len(have), 0)):
                have.append(
                    {
                        "name": f"{deployment_id}-{node}-{index}",
                        "index": index,
                        "id": uuid.uuid4().hex,
                        "private_ip": f"10.{len(self.site.name)}.{len(self.nodes)}.{index}",
                        "public_ip": None,
                        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTests",
                    }
                )
        return self.describe(deployment_id)

    def wait(self, deployment_id, resources=None, timeout=600, progress=None):
        return self.describe(deployment_id)

    def describe(self, deployment_id):
        nodes = {n: [dict(i) for i in insts] for n, insts in self.nodes.items() if insts}
        return {"deployment_id": deployment_id, "site": self.site.name, "driver": "local", "nodes": nodes}

    def remove_instances(self, deployment_id, instances, progress=None):
        removed = []
        for insts in self.nodes.values():
            for inst in list(insts):
                if inst["name"] in instances:
                    insts.remove(inst)
                    removed.append(f"container/{inst['name']}")
        return removed

    def delete(self, deployment_id, progress=None):
        self.nodes.clear()
        return []


class PlaybookRuns:
    """Stands for infn_cloud.deploy.configure.configure: records (playbook, extravars, hosts) of
    each run; a playbook named in ``fail`` fails once with ``cause``."""

    def __init__(self, cause: str = "a task failed"):
        self.calls: list[tuple[str, dict | None, list[str]]] = []
        self.fail: set[str] = set()
        self.cause = cause

    def __call__(self, run, view, cancel):
        name = Path(run.playbook).name
        hosts = [i["name"] for insts in run.resources["nodes"].values() for i in insts]
        self.calls.append((name, run.extravars, hosts))
        if name in self.fail:
            self.fail.discard(name)
            return SimpleNamespace(status="failed", ok=False, cause=lambda: self.cause, details=lambda: [])
        return SimpleNamespace(status="successful", ok=True, boundaries=[])


def record_deployment(state, dep: str, plan: dict, resources: dict, site: str, executes: int) -> str:
    """A CREATE_COMPLETE htcondor_cluster record as deploy leaves it (secrets in the local store)."""
    lifecycle = Lifecycle(state)
    lifecycle.secrets.put(dep, "cluster_secret", SECRET)
    lifecycle.secrets.ensure_ssh_keypair(dep)
    secrets = {"cluster_secret": SECRET}
    resolved = redact_plan(resolve_attributes(plan, resources), secrets)
    state.create_deployment(
        {
            "id": dep,
            "template": TEMPLATE,
            "template_text": redact_template_text(Path(TEMPLATE).read_text(), secrets),
            "inputs": deployment_secrets.stored_inputs({"num_execute_nodes": executes}, plan, secrets),
            "registry": str(collection_root() / "inventories" / "local"),
            "status": "CREATE_COMPLETE",
            "site": site,
            "plan": resolved,
            "resources": resources,
            "outputs": {n: o["value"] for n, o in resolved["outputs"].items()},
        }
    )
    state.update(dep, owner_pid=None)
    return dep
