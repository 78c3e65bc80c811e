"""The `local` driver: each VM is a podman container with systemd as PID 1.

- image ``localhost/debian:<suite>`` (built by scripts/test-hosts.sh), ``--systemd=always``,
  ``/sbin/init``, host name = container name ``<deployment>-<node>-<index>``;
- one podman network per site (``infn-cloud-<site>``, DNS on: containers reach each other by
  name), removed when the last container on it goes. Creating it and attaching containers,
  and checking it is unused and removing it, hold a lock file per network, so that two
  ``infn-cloud`` processes working on the same site (two deploys, a deploy and a delete)
  neither both create it nor remove it under each other;
- block storage = a podman volume per (instance, volume) mounted at the volume's mount path;
- every container and volume carries the labels org.infn.cloud.deployment/site/node/index, so
  ``describe``/``delete`` find them from podman alone, also after the caller crashed;
- capacity: the site's quotas are checked against this deployment plus every container and
  volume other deployments have on the site;
- the flavor's CPU and memory are the container's limits: a CPU set of the flavor's size
  (``--cpuset-cpus``, so ``nproc`` inside counts the flavor's vCPUs) and the same CPU quota
  (``--cpus``), both capped at the host's CPUs, and ``--memory``; /proc/meminfo inside still
  shows the host's memory (no lxcfs). ``describe`` reports each instance's ``cpus_limit`` and
  ``memory_limit_mb`` (what the node really got), which the inventory gives the hosts as
  ``infn_cloud_cpus_limit``/``infn_cloud_memory_limit_mb`` (docs/federation.md "Local sites");
- a deployment spanning backbone sites (``backbone_network``, from ``drivers.driver_for``):
  each container is on its site network and on the shared backbone network, where its
  ``private_ip`` is; each site's driver sees only its own site's containers and volumes;
- containers run with ``--restart=unless-stopped`` and come back with systemd after
  ``podman restart``;
- nested containers: a node whose software runs a container engine (the plan gives it
  infn.cloud.docker, docker_compose, kubernetes, sync_share with its own docker, or jupyterhub
  with the docker spawner: ``NESTED_CONTAINER_ROLES``) runs ``--privileged`` with a private
  cgroup namespace (dockerd/containerd need to create namespaces, mounts, cgroups and iptables
  rules; with the host's cgroup v1 namespace runc cannot mount cgroups in nested containers), and
  gets a podman volume at the engine's data directory (``/var/lib/docker``,
  ``/var/lib/containerd``): on the container's own overlay root overlay2 cannot mount
  ("failed to mount overlay: invalid argument") and Docker falls back to the slow vfs driver,
  while on the volume (the host's file system) it uses overlay2 as on a VM. Only those nodes get
  it: privileged containers see the host's devices, which a plain VM node does not need. These
  volumes stand for the VM's root disk: they carry the label ``org.infn.cloud.purpose=engine``,
  do not count against the site's volume quota and are not listed as block storage, and
  ``delete`` removes them with the deployment;
- Ansible reaches them like VMs (site option ``connection: ssh``, the default): the image has
  sshd and makes its host keys on first boot; ``wait`` then does what cloud-init does on a VM
  (the deployment's public key into root's authorized_keys) and returns each node's host key,
  which the inventory plugin pins, so the first connection is verified.
  ``connection: podman`` uses ``podman exec`` instead (rootless podman: container addresses
  are not reachable from the host).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infn_cloud.errors import OperationFailed
from infn_cloud.federation.drivers.base import (
    LABEL_DEPLOYMENT,
    LABEL_INDEX,
    LABEL_NODE,
    LABEL_SITE,
    Driver,
    Progress,
    check_deployment_id,
    empty_resources,
    node_slug,
    placement_dict,
)

LABEL_FLAVOR = "org.infn.cloud.flavor"
LABEL_VCPUS = "org.infn.cloud.vcpus"
LABEL_RAM = "org.infn.cloud.ram_mb"
LABEL_SIZE = "org.infn.cloud.size_gb"
LABEL_MOUNT = "org.infn.cloud.mount_path"
LABEL_PURPOSE = "org.infn.cloud.purpose"
LABEL_NESTED = "org.infn.cloud.nested_containers"
LABEL_CPUS = "org.infn.cloud.cpus_limit"
LABEL_BACKBONE = "org.infn.cloud.backbone"
PODMAN_TIMEOUT = 120


def _int_label(labels: dict, key: str) -> int | None:
    """A positive integer label of a container (None when absent, 0 or not a number)."""
    try:
        value = int(labels.get(key) or 0)
    except ValueError:
        return None
    return value if value > 0 else None


def host_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask): those a container's set comes from."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return list(range(os.cpu_count() or 1))


# Roles that run a container engine on their host, with the engine's data directories; a
# predicate on the entry's variables when only some configurations do (role defaults apply
# to variables the plan does not set).
NESTED_CONTAINER_ROLES: dict[str, tuple[tuple[str, ...], Any]] = {
    "infn.cloud.docker": (("/var/lib/docker",), None),
    "infn.cloud.docker_compose": (("/var/lib/docker",), None),
    "infn.cloud.kubernetes": (("/var/lib/containerd",), None),
    "infn.cloud.sync_share": (
        ("/var/lib/docker",),
        lambda v: v.get("sync_share_manage_docker", True) not in (False, "false", "no"),
    ),
    "infn.cloud.jupyterhub": (("/var/lib/docker",), lambda v: v.get("jupyterhub_spawner") == "docker"),
}


def engine_dirs(plan: dict) -> dict[str, list[str]]:
    """Compute node -> data directories of the container engines its software runs (sorted)."""
    found: dict[str, set[str]] = {}
    for entry in plan.get("software") or []:
        if not isinstance(entry, dict) or entry.get("role") not in NESTED_CONTAINER_ROLES:
            continue
        dirs, wanted = NESTED_CONTAINER_ROLES[entry["role"]]
        if wanted is not None and not wanted(entry.get("vars") or {}):
            continue
        for host in entry.get("hosts") or []:
            found.setdefault(host, set()).update(dirs)
    return {host: sorted(dirs) for host, dirs in found.items()}


class LocalDriver(Driver):
    name = "local"

    def __init__(self, site, podman: str = "podman", backbone_network: str | None = None, **options):
        super().__init__(site, **options)
        self.podman = podman
        self.network = site.network or f"infn-cloud-{site.name.lower()}"
        # A deployment spanning backbone sites (drivers.driver_for): every container joins
        # this network too, and its address there is its private_ip. `delete` removes it when
        # no container uses it any more.
        self.backbone_network = backbone_network

    # ---------------------------------------------------------------- podman helpers
    def _run(
        self, *args: str, timeout: float = PODMAN_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess:
        argv = [self.podman, *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise OperationFailed(
                f"site {self.site.name}: podman is not installed",
                details=["the local driver runs VMs as podman containers: apt-get install podman runc"],
            ) from None
        except subprocess.TimeoutExpired:
            raise OperationFailed(
                f"site {self.site.name}: `podman {args[0]}` timed out after {timeout:.0f} s"
            ) from None
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise OperationFailed(
                f"site {self.site.name}: `podman {' '.join(args[:2])}` failed (exit {proc.returncode})",
                details=detail[-5:],
            )
        return proc

    @contextlib.contextmanager
    def _network_lock(self, network: str | None = None, shared: bool = False) -> Iterator[None]:
        """Serialise network create/attach against network removal across processes. Who
        needs both takes the site network's lock first, then the backbone's. The backbone's
        is shared among creators (the sites of one deployment are created in parallel) and
        exclusive for removal."""
        path = Path(tempfile.gettempdir()) / f"infn-cloud-{network or self.network}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _json(self, *args: str) -> Any:
        out = self._run(*args).stdout.strip()
        return json.loads(out) if out else []

    def _containers(self, *labels: str) -> list[dict]:
        """Containers carrying every one of these labels (podman ANDs label filters)."""
        filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
        return self._json("ps", "-a", *filters, "--format", "json")

    def _volumes(self, *labels: str) -> list[dict]:
        """Volumes carrying every one of these labels. `podman volume ls` ORs repeated label
        filters (podman 4.3), unlike `ps`: one filter there, the others checked here."""
        filters = ["--filter", f"label={labels[0]}"] if labels else []
        wanted = [label.split("=", 1) for label in labels[1:]]
        return [
            v
            for v in self._json("volume", "ls", *filters, "--format", "json")
            if all((v.get("Labels") or {}).get(key) == value for key, value in wanted)
        ]

    def _mine(self, deployment_id: str) -> tuple[str, str]:
        """Label filters of this deployment's resources on this site (a deployment spanning
        backbone sites has containers of several sites on this podman)."""
        return (f"{LABEL_DEPLOYMENT}={deployment_id}", f"{LABEL_SITE}={self.site.name}")

    # ---------------------------------------------------------------- capacity
    def _usage_by_others(self, deployment_id: str) -> dict[str, int]:
        usage = dict.fromkeys(("instances", "cores", "ram_mb", "volumes", "volume_gb", "public_ips"), 0)
        for c in self._containers(f"{LABEL_SITE}={self.site.name}"):
            labels = c.get("Labels") or {}
            if labels.get(LABEL_DEPLOYMENT) == deployment_id:
                continue
            usage["instances"] += 1
            usage["cores"] += int(labels.get(LABEL_VCPUS, 1))
            usage["ram_mb"] += int(labels.get(LABEL_RAM, 0))
        for v in self._volumes(f"{LABEL_SITE}={self.site.name}"):
            labels = v.get("Labels") or {}
            if labels.get(LABEL_DEPLOYMENT) == deployment_id or labels.get(LABEL_PURPOSE) == "engine":
                continue
            usage["volumes"] += 1
            usage["volume_gb"] += int(labels.get(LABEL_SIZE, 0))
        return usage

    def usage(self) -> dict[str, int]:
        """Instances, cores, RAM and volumes every deployment uses on this site (`infn-cloud sites`)."""
        return self._usage_by_others("")

    def _check_capacity(self, deployment_id: str, demand: dict[str, int]) -> None:
        used = self._usage_by_others(deployment_id)
        over = [
            f"{key}: {used[key]} in use by other deployments + {demand[key]} requested > {limit}"
            for key, limit in self.site.quotas.items()
            if key in demand and used[key] + demand[key] > limit
        ]
        if over:
            raise OperationFailed(f"site {self.site.name}: not enough capacity", details=over)

    # ---------------------------------------------------------------- plan -> instances
    def _instances(
        self, deployment_id: str, plan: dict, placement: dict, existing: dict[str, list[int]] | None = None
    ) -> list[dict]:
        """The instances of the plan: those that exist (``existing``: node -> indices) are kept,
        ``count - existing`` fresh indices are added after the highest one (never reused)."""
        existing = existing or {}
        instances = []
        flavors = placement.get("flavors") or {}
        images = placement.get("images") or {}
        engines = engine_dirs(plan)
        for node in sorted(plan.get("compute") or {}):
            spec = plan["compute"][node]
            flavor = flavors.get(node) or {}
            image = (images.get(node) or {}).get("image")
            if image is None:
                os_ = spec.get("os") or {}
                found = self.site.image_for(os_.get("distribution"), os_.get("version"))
                image = found.image if found else None
            if image is None:
                raise OperationFailed(f"site {self.site.name}: no image for node {node}")
            kept = sorted(existing.get(node) or [])
            missing = max(int(spec.get("count", 1) or 0) - len(kept), 0)
            start = max(kept, default=-1) + 1
            for index in [*kept, *range(start, start + missing)]:
                name = f"{deployment_id}-{node_slug(node)}-{index}"
                volumes = []
                for vol in spec.get("volumes") or []:
                    vname = f"{name}-{node_slug(vol.get('node') or 'vol')}"
                    mount = vol.get("mount_path") or f"/mnt/{node_slug(vol.get('node') or 'vol')}"
                    volumes.append(
                        {
                            "name": vname,
                            "node": vol.get("node"),
                            "size_gb": int(vol.get("size_gb") or 0),
                            "mount_path": mount,
                        }
                    )
                instances.append(
                    {
                        "name": name,
                        "node": node,
                        "index": index,
                        "image": image,
                        "flavor": flavor.get("name") or "",
                        "vcpus": int(flavor.get("vcpus") or spec.get("num_cpus") or 1),
                        "ram_mb": int(flavor.get("ram_mb") or spec.get("mem_size_mb") or 0),
                        "volumes": volumes,
                        "engine_dirs": engines.get(node, []),
                    }
                )
        return instances

    @staticmethod
    def _engine_volume(name: str, path: str) -> str:
        """Name of the volume holding an engine's data directory (/var/lib/docker -> NAME-engine-docker)."""
        return f"{name}-engine-{node_slug(Path(path).name)}"

    @staticmethod
    def _demand(instances: list[dict]) -> dict[str, int]:
        return {
            "instances": len(instances),
            "cores": sum(i["vcpus"] for i in instances),
            "ram_mb": sum(i["ram_mb"] for i in instances),
            "volumes": sum(len(i["volumes"]) for i in instances),
            "volume_gb": sum(v["size_gb"] for i in instances for v in i["volumes"]),
        }

    def _labels(self, deployment_id: str, node: str, index: int) -> list[str]:
        return [
            "--label",
            f"{LABEL_DEPLOYMENT}={deployment_id}",
            "--label",
            f"{LABEL_SITE}={self.site.name}",
            "--label",
            f"{LABEL_NODE}={node}",
            "--label",
            f"{LABEL_INDEX}={index}",
        ]

    # ---------------------------------------------------------------- driver API
    def create(self, deployment_id: str, plan: dict, placement: Any, progress: Progress = None) -> dict:
        check_deployment_id(deployment_id)
        self._check_test_hook()
        placement = placement_dict(placement)
        existing: dict[str, list[int]] = {}
        for c in self._containers(*self._mine(deployment_id)):
            labels = c.get("Labels") or {}
            existing.setdefault(labels.get(LABEL_NODE, ""), []).append(int(labels.get(LABEL_INDEX, 0)))
        instances = self._instances(deployment_id, plan, placement, existing)
        self._check_capacity(deployment_id, self._demand(instances))
        for image in sorted({i["image"] for i in instances}):
            if self._run("image", "exists", image, check=False).returncode != 0:
                raise OperationFailed(
                    f"site {self.site.name}: image {image} is missing",
                    details=["build the local images with: scripts/test-hosts.sh"],
                )
        try:
            with self._network_lock(), self._backbone_lock():
                self._create(deployment_id, instances, progress)
        except Exception as exc:
            self._progress(progress, f"creation failed, removing what was created for {deployment_id}")
            if existing:  # a deployment that grows (infn-cloud update): only what this call made
                kept = {
                    f"{deployment_id}-{node_slug(n)}-{i}" for n, indices in existing.items() for i in indices
                }
                removed = self.remove_instances(
                    deployment_id, [i["name"] for i in instances if i["name"] not in kept]
                )
            else:
                removed = self.delete(deployment_id)
            details = [*getattr(exc, "details", []), f"cleaned up: {', '.join(removed) or 'nothing'}"]
            raise OperationFailed(getattr(exc, "message", str(exc)), details=details) from exc
        return self.describe(deployment_id)

    def _backbone_lock(self) -> contextlib.AbstractContextManager:
        if self.backbone_network:
            return self._network_lock(self.backbone_network, shared=True)
        return contextlib.nullcontext()

    def _limits(self, inst: dict, progress: Progress) -> list[str]:
        """The flavor as cgroup limits, so that the node looks like a VM of that flavor.

        CPUs: a CPU set of the flavor's size (``--cpuset-cpus``: the affinity mask, which
        ``nproc``, ``os.cpu_count``-style probes and HTCondor count) plus the same CFS quota
        (``--cpus``), both capped at the host's CPUs with a warning. The set starts at a CPU
        chosen from the container's name, so single-CPU nodes spread over the host's CPUs.
        Memory: ``--memory``; /proc/meminfo inside still shows the host's (no lxcfs), see
        docs/federation.md "Local sites". The labels record the CPUs the node really has.
        """
        args: list[str] = []
        host = host_cpus()
        cpus = min(inst["vcpus"], len(host))
        if cpus < inst["vcpus"]:
            self._progress(
                progress,
                f"warning: {inst['name']}: flavor {inst['flavor'] or '?'} has {inst['vcpus']} vCPUs, "
                f"this host {len(host)}: limited to {cpus}",
            )
        if cpus > 0:
            start = zlib.crc32(inst["name"].encode()) % len(host)
            chosen = sorted(host[(start + i) % len(host)] for i in range(cpus))
            args += [
                "--cpus",
                str(cpus),
                "--cpuset-cpus",
                ",".join(str(c) for c in chosen),
                "--label",
                f"{LABEL_CPUS}={cpus}",
            ]
        if inst["ram_mb"] > 0:
            args += ["--memory", f"{inst['ram_mb']}m"]
        return args

    def _ensure_network(self, network: str, progress: Progress, label: str) -> None:
        if self._run("network", "exists", network, check=False).returncode == 0:
            return
        self._progress(progress, f"creating network {network}")
        proc = self._run("network", "create", "--label", label, network, check=False)
        # another site of the deployment may have created it in between (shared lock)
        if proc.returncode != 0 and self._run("network", "exists", network, check=False).returncode != 0:
            raise OperationFailed(
                f"site {self.site.name}: `podman network create {network}` failed (exit {proc.returncode})",
                details=(proc.stderr or proc.stdout).strip().splitlines()[-5:],
            )

    def _create(self, deployment_id: str, instances: list[dict], progress: Progress) -> None:
        self._ensure_network(self.network, progress, f"{LABEL_SITE}={self.site.name}")
        networks = ["--network", self.network]
        if self.backbone_network:
            self._ensure_network(self.backbone_network, progress, f"{LABEL_BACKBONE}=true")
            networks += ["--network", self.backbone_network]
            networks += ["--label", f"{LABEL_BACKBONE}={self.backbone_network}"]
        existing = {c["Names"][0] for c in self._containers(*self._mine(deployment_id))}
        for inst in instances:
            labels = self._labels(deployment_id, inst["node"], inst["index"])
            mounts: list[str] = []
            for vol in inst["volumes"]:
                if self._run("volume", "exists", vol["name"], check=False).returncode != 0:
                    self._progress(progress, f"creating volume {vol['name']} ({vol['size_gb']} GB)")
                    self._run(
                        "volume",
                        "create",
                        *labels,
                        "--label",
                        f"{LABEL_SIZE}={vol['size_gb']}",
                        "--label",
                        f"{LABEL_MOUNT}={vol['mount_path']}",
                        vol["name"],
                    )
                mounts += ["--volume", f"{vol['name']}:{vol['mount_path']}"]
            nested: list[str] = []
            for path in inst["engine_dirs"]:
                vname = self._engine_volume(inst["name"], path)
                if self._run("volume", "exists", vname, check=False).returncode != 0:
                    self._progress(progress, f"creating volume {vname} for {path} (container engine data)")
                    self._run(
                        "volume",
                        "create",
                        *labels,
                        "--label",
                        f"{LABEL_PURPOSE}=engine",
                        "--label",
                        f"{LABEL_MOUNT}={path}",
                        vname,
                    )
                mounts += ["--volume", f"{vname}:{path}"]
            if inst["engine_dirs"]:
                nested = ["--privileged", "--cgroupns=private", "--label", f"{LABEL_NESTED}=true"]
            if inst["name"] in existing:  # re-run of create: keep the container, make sure it runs
                self._run("start", inst["name"])
                continue
            self._progress(
                progress, f"starting {inst['name']} ({inst['image']}, {inst['flavor'] or 'no flavor'})"
            )
            self._run(
                "run",
                "--detach",
                "--name",
                inst["name"],
                "--hostname",
                inst["name"],
                *networks,
                *self._limits(inst, progress),
                "--systemd=always",
                "--restart=unless-stopped",
                *nested,
                *labels,
                "--label",
                f"{LABEL_FLAVOR}={inst['flavor']}",
                "--label",
                f"{LABEL_VCPUS}={inst['vcpus']}",
                "--label",
                f"{LABEL_RAM}={inst['ram_mb']}",
                *mounts,
                inst["image"],
                "/sbin/init",
            )

    def wait(
        self,
        deployment_id: str,
        resources: dict | None = None,
        timeout: float = 180,
        progress: Progress = None,
    ) -> dict:
        names = sorted(c["Names"][0] for c in self._containers(*self._mine(deployment_id)))
        if not names:
            raise OperationFailed(f"site {self.site.name}: deployment {deployment_id} has no containers")
        deadline = time.monotonic() + timeout
        pending = list(names)
        states: dict[str, str] = {}
        while pending:
            for name in list(pending):
                proc = self._run("exec", name, "systemctl", "is-system-running", check=False, timeout=30)
                states[name] = proc.stdout.strip() or proc.stderr.strip()
                if states[name] in ("running", "degraded"):
                    pending.remove(name)
                    self._progress(progress, f"{name}: systemd {states[name]}")
            if not pending:
                break
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"site {self.site.name}: nodes not ready after {timeout:.0f} s",
                    details=[f"{n}: systemd state {states.get(n) or 'unknown'}" for n in pending],
                )
            time.sleep(1)
        resources = self.describe(deployment_id)
        if self.site.connection == "ssh":
            for nodes in resources["nodes"].values():
                for node in nodes:
                    node["host_key"] = self._first_boot(node["name"])
        return resources

    def _first_boot(self, name: str) -> str:
        """What cloud-init does on a VM: authorize the deployment's key for root; the host key."""
        script = (
            "set -e; install -d -m 0700 /root/.ssh; f=/root/.ssh/authorized_keys; touch $f; chmod 0600 $f; "
            'if [ -n "$1" ] && ! grep -qxF "$1" $f; then printf "%s\\n" "$1" >> $f; fi; '
            "systemctl is-active --quiet ssh; cat /etc/ssh/ssh_host_ed25519_key.pub"
        )
        key = self.options.get("public_key") or ""
        proc = self._run("exec", name, "sh", "-c", script, "sh", key, check=False, timeout=30)
        host_key = " ".join(proc.stdout.split()[:2])
        if proc.returncode != 0 or not host_key.startswith("ssh-ed25519 "):
            raise OperationFailed(
                f"site {self.site.name}: {name} has no running SSH server",
                details=[
                    *(proc.stderr.strip().splitlines()[-2:]),
                    "rebuild the local images (scripts/test-hosts.sh), or set `connection: podman` "
                    "for this site in the registry",
                ],
            )
        return host_key

    def _connection(self, name: str, ip: str | None) -> dict:
        if self.site.connection == "podman":
            return {
                "ansible_connection": "containers.podman.podman",
                "ansible_host": name,
                "ansible_python_interpreter": "/usr/bin/python3",
            }
        return {
            "ansible_connection": "ssh",
            "ansible_host": ip,
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def describe(self, deployment_id: str) -> dict:
        check_deployment_id(deployment_id)
        resources = empty_resources(deployment_id, self.site.name, self.name)
        containers = self._containers(*self._mine(deployment_id))
        inspected = {}
        if containers:
            names = [c["Names"][0] for c in containers]
            inspected = {c["Name"].lstrip("/"): c for c in self._json("container", "inspect", *names)}
        for c in sorted(containers, key=lambda c: c["Names"][0]):
            name = c["Names"][0]
            labels = c.get("Labels") or {}
            nets = ((inspected.get(name) or {}).get("NetworkSettings") or {}).get("Networks") or {}
            # On the backbone network when the container is on it (the address nodes of the
            # other backbone site reach), else on the site network.
            ip = (
                nets.get(labels.get(LABEL_BACKBONE) or "")
                or nets.get(self.network)
                or next(iter(nets.values()), {})
                or {}
            ).get("IPAddress") or None
            node = labels.get(LABEL_NODE, "unknown")
            resources["nodes"].setdefault(node, []).append(
                {
                    "name": name,
                    "index": int(labels.get(LABEL_INDEX, 0)),
                    "id": c.get("Id"),
                    "status": c.get("State"),
                    "private_ip": ip,
                    "public_ip": None,
                    "fqdn": name,
                    "flavor": labels.get(LABEL_FLAVOR) or None,
                    # The container's limits, what the node really has (a VM's OS sees its
                    # size; a container's /proc shows the host's): the inventory passes them on.
                    "cpus_limit": _int_label(labels, LABEL_CPUS),
                    "memory_limit_mb": _int_label(labels, LABEL_RAM),
                    "connection": self._connection(name, ip),
                }
            )
        for node in resources["nodes"].values():
            node.sort(key=lambda n: n["index"])
        for v in sorted(self._volumes(*self._mine(deployment_id)), key=lambda v: v["Name"]):
            labels = v.get("Labels") or {}
            if labels.get(LABEL_PURPOSE) == "engine":  # the node's own disk, not block storage
                continue
            resources["volumes"].append(
                {
                    "id": v["Name"],
                    "name": v["Name"],
                    "node": labels.get(LABEL_NODE),
                    "size_gb": int(labels.get(LABEL_SIZE, 0)),
                    "mount_path": labels.get(LABEL_MOUNT),
                }
            )
        if containers:
            resources["networks"].append({"id": self.network, "name": self.network})
            backbones = sorted({(c.get("Labels") or {}).get(LABEL_BACKBONE) for c in containers} - {None, ""})
            resources["networks"] += [{"id": b, "name": b, "backbone": True} for b in backbones]
        return resources

    def delete(self, deployment_id: str, progress: Progress = None) -> list[str]:
        check_deployment_id(deployment_id)
        deleted: list[str] = []
        containers = self._containers(*self._mine(deployment_id))
        names = sorted(c["Names"][0] for c in containers)
        # the backbone network these containers are on, and this driver's (a crash may have
        # left it before any container was made)
        backbones = [(c.get("Labels") or {}).get(LABEL_BACKBONE) for c in containers]
        backbones = [b for b in [*backbones, self.backbone_network] if b]
        if names:
            self._progress(progress, f"removing containers {', '.join(names)}")
            self._run("rm", "--force", "--time", "0", *names)
            deleted += [f"container/{n}" for n in names]
        volumes = sorted(v["Name"] for v in self._volumes(*self._mine(deployment_id)))
        if volumes:
            self._progress(progress, f"removing volumes {', '.join(volumes)}")
            self._run("volume", "rm", "--force", *volumes)
            deleted += [f"volume/{v}" for v in volumes]
        with self._network_lock():
            deleted += self._remove_unused_network(self.network, progress)
        for network in sorted(set(backbones)):
            with self._network_lock(network):
                deleted += self._remove_unused_network(network, progress)
        return deleted

    def _remove_unused_network(self, network: str, progress: Progress) -> list[str]:
        if self._run("network", "exists", network, check=False).returncode != 0:
            return []
        users = self._json("ps", "-a", "--filter", f"network={network}", "--format", "json")
        if users:
            return []
        self._progress(progress, f"removing network {network} (no other deployment uses it)")
        proc = self._run("network", "rm", network, check=False)
        if proc.returncode != 0:
            # A deployment of another process attached a container after the check (it holds
            # the site network's lock, not necessarily this one's): still in use is fine.
            if self._json("ps", "-a", "--filter", f"network={network}", "--format", "json"):
                return []
            raise OperationFailed(
                f"site {self.site.name}: `podman network rm {network}` failed (exit {proc.returncode})",
                details=(proc.stderr or proc.stdout).strip().splitlines()[-5:],
            )
        return [f"network/{network}"]

    # ---------------------------------------------------------------- scale in (infn-cloud update)
    def remove_instances(
        self, deployment_id: str, instances: list[str], progress: Progress = None
    ) -> list[str]:
        """Remove these containers and their own volumes (block storage, engine disk); the
        site network stays. Names not of this deployment are refused; gone ones are fine."""
        check_deployment_id(deployment_id)
        foreign = [n for n in instances if not n.startswith(f"{deployment_id}-")]
        if foreign:
            raise OperationFailed(
                f"site {self.site.name}: not instances of deployment {deployment_id}: {', '.join(foreign)}"
            )
        removed: list[str] = []
        containers = {c["Names"][0] for c in self._containers(f"{LABEL_DEPLOYMENT}={deployment_id}")}
        volumes = self._volumes(f"{LABEL_DEPLOYMENT}={deployment_id}")
        for name in instances:
            if name in containers:
                self._progress(progress, f"removing container {name}")
                self._run("rm", "--force", "--time", "0", name)
                removed.append(f"container/{name}")
            # its volumes (block storage, engine disk) carry its node and index labels
            own = sorted(v["Name"] for v in volumes if self._owner_of(deployment_id, v) == name)
            if own:
                self._progress(progress, f"removing volumes {', '.join(own)}")
                self._run("volume", "rm", "--force", *own)
                removed += [f"volume/{v}" for v in own]
        return removed

    @staticmethod
    def _owner_of(deployment_id: str, volume: dict) -> str:
        labels = volume.get("Labels") or {}
        return f"{deployment_id}-{node_slug(labels.get(LABEL_NODE, ''))}-{labels.get(LABEL_INDEX, '')}"
