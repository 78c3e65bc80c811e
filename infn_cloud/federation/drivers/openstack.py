"""The `openstack` driver: servers, volumes, security group, keypair and floating IPs via openstacksdk.

Connection: ``openstack.connect(cloud=<site.cloud>, region_name=<region>)``: credentials come
from the operator's clouds.yaml, never from the registry. Requests go through the SDK's service
adapters (``conn.compute``, ``conn.network``, ``conn.block_storage``, ``conn.image``) with
explicit microversions, so the calls made are exactly the ones listed here:

create:  networks by name -> security group ``infn-cloud-<id>`` (tagged) with SSH, the plan's
         ports (remote CIDR from the plan) and all traffic between the deployment's servers ->
         keypair ``infn-cloud-<id>`` (when a public key is given) -> flavor and image ids ->
         servers (metadata infn_cloud_* and tag ``infn-cloud:<id>``) -> wait ACTIVE ->
         volumes (metadata) and attachments -> floating IPs (tagged) on the public network.
delete:  everything found by tag/metadata: servers, floating IPs, volumes, security group,
         keypair, so it also works after the caller crashed; 404s are fine (idempotent).

Transient errors (HTTP 500/502/503/504, connection reset/refused) are retried with
exponential backoff; waits have deadlines. No live OpenStack is reachable from this project's
machines: tests replay recorded API exchanges (tests/fixtures/openstack, docs/federation.md).
"""

from __future__ import annotations

import json
import time
from typing import Any

from infn_cloud.errors import OperationFailed
from infn_cloud.federation.drivers.base import (
    Driver,
    Progress,
    check_deployment_id,
    empty_resources,
    node_slug,
    placement_dict,
)

TAG_PREFIX = "infn-cloud:"
TRANSIENT = {500, 502, 503, 504}
COMPUTE_MICROVERSION = "2.47"  # tag filters (2.26) and flavor names in server documents (2.47)


class ApiError(Exception):
    def __init__(self, method: str, url: str, status: int, message: str):
        super().__init__(f"{method} {url}: HTTP {status}: {message}")
        self.status = status
        self.message = message


def _error_message(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:300]
    if isinstance(body, dict):
        for value in body.values():  # {"forbidden": {"message": ...}}, {"NeutronError": {...}}
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        if body.get("message"):
            return str(body["message"])
    return json.dumps(body)[:300]


class OpenStackDriver(Driver):
    name = "openstack"

    def __init__(
        self,
        site,
        *,
        connection=None,
        retries: int = 4,
        retry_delay: float = 1.0,
        poll_interval: float = 2.0,
        public_key: str | None = None,
        ssh_cidr: str = "0.0.0.0/0",
        **options,
    ):
        super().__init__(site, **options)
        self._conn = connection
        self.retries = retries
        self.retry_delay = retry_delay
        self.poll_interval = poll_interval
        self.public_key = public_key
        self.ssh_cidr = ssh_cidr
        self._region: str | None = None

    # ------------------------------------------------------------------ plumbing
    def _connection(self):
        if self._conn is None:
            try:
                import openstack
            except ImportError:
                raise OperationFailed(
                    "the openstack driver needs openstacksdk (pip install openstacksdk)"
                ) from None
            try:
                self._conn = openstack.connect(
                    cloud=self.site.cloud, region_name=self._region or self.site.regions[0]
                )
            except Exception as exc:
                raise OperationFailed(
                    f"site {self.site.name}: cannot use clouds.yaml entry '{self.site.cloud}'",
                    details=[
                        str(exc),
                        "credentials live in clouds.yaml (OS_CLIENT_CONFIG_FILE), never in the registry",
                    ],
                ) from None
        return self._conn

    def _request(
        self,
        service: str,
        method: str,
        url: str,
        *,
        json_body=None,
        params=None,
        ok=(200, 201, 202, 204),
        microversion: str | None = None,
    ) -> Any:
        adapter = getattr(self._connection(), service)
        kwargs: dict[str, Any] = {"raise_exc": False}
        if json_body is not None:
            kwargs["json"] = json_body
        if params:
            kwargs["params"] = params
        if microversion:
            kwargs["microversion"] = microversion
        delay = self.retry_delay
        for attempt in range(self.retries + 1):
            try:
                resp = adapter.request(url, method, **kwargs)
            except Exception as exc:  # keystoneauth ConnectFailure, ConnectionResetError, ...
                if attempt == self.retries or not _is_connection_error(exc):
                    raise ApiError(method, url, 0, f"{type(exc).__name__}: {exc}") from None
            else:
                if resp.status_code in ok:
                    return resp.json() if resp.content else None
                if resp.status_code not in TRANSIENT or attempt == self.retries:
                    raise ApiError(method, url, resp.status_code, _error_message(resp))
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _tag(self, deployment_id: str) -> str:
        return f"{TAG_PREFIX}{deployment_id}"

    def _meta(self, deployment_id: str, node: str | None = None, index: int | None = None) -> dict:
        meta = {"infn_cloud_deployment": deployment_id, "infn_cloud_site": self.site.name}
        if node is not None:
            meta.update(infn_cloud_node=node, infn_cloud_index=str(index))
        return meta

    # ------------------------------------------------------------------ lookups
    def _network_id(self, name: str) -> str:
        nets = self._request("network", "GET", "/networks", params={"name": name})["networks"]
        if not nets:
            raise OperationFailed(f"site {self.site.name}: network '{name}' not found (registry networks)")
        return nets[0]["id"]

    def _flavor_ids(self) -> dict[str, str]:
        flavors = self._request("compute", "GET", "/flavors/detail", microversion=COMPUTE_MICROVERSION)[
            "flavors"
        ]
        return {f["name"]: f["id"] for f in flavors}

    def _image_id(self, name: str) -> str:
        images = self._request("image", "GET", "/images", params={"name": name})["images"]
        if not images:
            raise OperationFailed(f"site {self.site.name}: image '{name}' not found")
        return images[0]["id"]

    # ------------------------------------------------------------------ create
    def create(self, deployment_id: str, plan: dict, placement: Any, progress: Progress = None) -> dict:
        check_deployment_id(deployment_id)
        self._check_test_hook()
        placement = placement_dict(placement)
        self._region = placement.get("region") or self.site.regions[0]
        try:
            self._create(deployment_id, plan, placement, progress)
            return self.wait(deployment_id, progress=progress)
        except (ApiError, OperationFailed) as exc:
            message = exc.message if isinstance(exc, OperationFailed) else str(exc)
            details = list(getattr(exc, "details", []))
            if isinstance(exc, ApiError) and exc.status in (403, 413) and "quota" in exc.message.lower():
                message = f"site {self.site.name}: quota exceeded: {exc.message}"
            self._progress(progress, f"creation failed ({message}); removing what was created")
            try:
                removed = self.delete(deployment_id, progress=progress)
                details.append(f"cleaned up: {', '.join(removed) or 'nothing'}")
            except (ApiError, OperationFailed) as cleanup_exc:
                details.append(f"cleanup failed, run delete again: {cleanup_exc}")
            raise OperationFailed(message, details=details) from None

    def _create(self, deployment_id: str, plan: dict, placement: dict, progress: Progress) -> None:
        tag = self._tag(deployment_id)
        compute = plan.get("compute") or {}
        private = self.site.networks.get("private")
        net_id = self._network_id(private) if private else None

        self._progress(progress, f"creating security group infn-cloud-{deployment_id}")
        sg = self._request(
            "network",
            "POST",
            "/security-groups",
            json_body={
                "security_group": {
                    "name": f"infn-cloud-{deployment_id}",
                    "description": f"infn.cloud deployment {deployment_id}",
                }
            },
        )["security_group"]
        self._request("network", "PUT", f"/security-groups/{sg['id']}/tags/{tag}")
        for rule in self._rules(compute, sg["id"]):
            self._request("network", "POST", "/security-group-rules", json_body={"security_group_rule": rule})

        key_name = None
        public_key = self.public_key or placement.get("public_key")
        if public_key:
            key_name = f"infn-cloud-{deployment_id}"
            self._request(
                "compute",
                "POST",
                "/os-keypairs",
                json_body={"keypair": {"name": key_name, "public_key": public_key}},
            )

        flavor_ids = self._flavor_ids()
        image_ids: dict[str, str] = {}
        created: list[tuple[str, int, dict, dict]] = []
        for node in sorted(compute):
            spec = compute[node]
            flavor = (placement.get("flavors") or {}).get(node) or {}
            image = ((placement.get("images") or {}).get(node) or {}).get("image")
            if flavor.get("name") not in flavor_ids:
                raise OperationFailed(
                    f"site {self.site.name}: flavor {flavor.get('name')!r} for node {node} not found"
                )
            if not image:
                raise OperationFailed(f"site {self.site.name}: no image chosen for node {node}")
            if image not in image_ids:
                image_ids[image] = self._image_id(image)
            for index in range(int(spec.get("count", 1) or 0)):
                name = f"{deployment_id}-{node_slug(node)}-{index}"
                self._progress(progress, f"creating server {name} ({flavor['name']}, {image})")
                server = {
                    "name": name,
                    "flavorRef": flavor_ids[flavor["name"]],
                    "imageRef": image_ids[image],
                    "metadata": self._meta(deployment_id, node, index),
                    "security_groups": [{"name": sg["name"]}],
                }
                if net_id:
                    server["networks"] = [{"uuid": net_id}]
                if key_name:
                    server["key_name"] = key_name
                made = self._request(
                    "compute",
                    "POST",
                    "/servers",
                    json_body={"server": server},
                    microversion=COMPUTE_MICROVERSION,
                )["server"]
                self._request(
                    "compute", "PUT", f"/servers/{made['id']}/tags/{tag}", microversion=COMPUTE_MICROVERSION
                )
                created.append((node, index, spec, made))

        for node, index, _spec, made in created:
            self._wait_active(made["id"], f"{deployment_id}-{node_slug(node)}-{index}", progress)
        for node, index, spec, made in created:
            for vol in spec.get("volumes") or []:
                self._create_volume(deployment_id, node, index, vol, made["id"], progress)
            if spec.get("public_ip"):
                self._floating_ip(deployment_id, made["id"], progress)

    def _rules(self, compute: dict, sg_id: str) -> list[dict]:
        rules = [
            {
                "security_group_id": sg_id,
                "direction": "ingress",
                "ethertype": "IPv4",
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "remote_ip_prefix": self.ssh_cidr,
            },
            # servers of the deployment talk to each other freely (HTCondor, Kubernetes, ...)
            {
                "security_group_id": sg_id,
                "direction": "ingress",
                "ethertype": "IPv4",
                "remote_group_id": sg_id,
            },
        ]
        seen = {("tcp", 22, 22, self.ssh_cidr)}
        for node in sorted(compute):
            for port in compute[node].get("ports") or []:
                low, _, high = str(port.get("port")).partition("-")
                key = (
                    port.get("protocol", "tcp"),
                    int(low),
                    int(high or low),
                    port.get("remote_cidr") or "0.0.0.0/0",
                )
                if key in seen:
                    continue
                seen.add(key)
                rules.append(
                    {
                        "security_group_id": sg_id,
                        "direction": "ingress",
                        "ethertype": "IPv4",
                        "protocol": key[0],
                        "port_range_min": key[1],
                        "port_range_max": key[2],
                        "remote_ip_prefix": key[3],
                    }
                )
        return rules

    def _wait_active(self, server_id: str, name: str, progress: Progress, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            server = self._request(
                "compute", "GET", f"/servers/{server_id}", microversion=COMPUTE_MICROVERSION
            )["server"]
            status = server.get("status")
            if status == "ACTIVE":
                self._progress(progress, f"server {name} is ACTIVE")
                return server
            if status == "ERROR":
                fault = (server.get("fault") or {}).get("message") or "no fault message"
                raise OperationFailed(f"site {self.site.name}: server {name} went to ERROR: {fault}")
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"site {self.site.name}: server {name} still {status} after {timeout:.0f} s"
                )
            time.sleep(self.poll_interval)

    def _create_volume(self, deployment_id, node, index, vol, server_id, progress, timeout: float = 600):
        name = f"{deployment_id}-{node_slug(node)}-{index}-{node_slug(vol.get('node') or 'vol')}"
        self._progress(progress, f"creating volume {name} ({vol.get('size_gb')} GB)")
        meta = self._meta(deployment_id, node, index)
        meta["infn_cloud_mount_path"] = vol.get("mount_path") or ""
        volume = self._request(
            "block_storage",
            "POST",
            "/volumes",
            json_body={"volume": {"name": name, "size": int(vol.get("size_gb") or 1), "metadata": meta}},
        )["volume"]
        deadline = time.monotonic() + timeout
        while volume.get("status") != "available":
            if volume.get("status") == "error":
                raise OperationFailed(f"site {self.site.name}: volume {name} went to error")
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"site {self.site.name}: volume {name} not available after {timeout:.0f} s"
                )
            time.sleep(self.poll_interval)
            volume = self._request("block_storage", "GET", f"/volumes/{volume['id']}")["volume"]
        self._request(
            "compute",
            "POST",
            f"/servers/{server_id}/os-volume_attachments",
            json_body={"volumeAttachment": {"volumeId": volume["id"]}},
        )

    def _floating_ip(self, deployment_id: str, server_id: str, progress: Progress) -> None:
        public = self.site.networks.get("public")
        if not public:
            raise OperationFailed(
                f"site {self.site.name}: a public IP is needed but the registry has no public network"
            )
        ports = self._request("network", "GET", "/ports", params={"device_id": server_id})["ports"]
        if not ports:
            raise OperationFailed(f"site {self.site.name}: server {server_id} has no port for a floating IP")
        fip = self._request(
            "network",
            "POST",
            "/floatingips",
            json_body={
                "floatingip": {
                    "floating_network_id": self._network_id(public),
                    "port_id": ports[0]["id"],
                    "description": self._tag(deployment_id),
                }
            },
        )["floatingip"]
        self._request("network", "PUT", f"/floatingips/{fip['id']}/tags/{self._tag(deployment_id)}")
        self._progress(progress, f"floating IP {fip.get('floating_ip_address')} -> server {server_id}")

    # ------------------------------------------------------------------ find by tag
    def _servers(self, deployment_id: str) -> list[dict]:
        return self._request(
            "compute",
            "GET",
            "/servers/detail",
            params={"tags": self._tag(deployment_id)},
            microversion=COMPUTE_MICROVERSION,
        )["servers"]

    def _volumes(self, deployment_id: str) -> list[dict]:
        meta = json.dumps({"infn_cloud_deployment": deployment_id}, separators=(",", ":"))
        return self._request("block_storage", "GET", "/volumes/detail", params={"metadata": meta})["volumes"]

    def _tagged(self, collection: str, deployment_id: str) -> list[dict]:
        key = collection.replace("-", "_")
        return self._request("network", "GET", f"/{collection}", params={"tags": self._tag(deployment_id)})[
            key
        ]

    # ------------------------------------------------------------------ API
    def wait(
        self,
        deployment_id: str,
        resources: dict | None = None,
        timeout: float = 900,
        progress: Progress = None,
    ) -> dict:
        for server in self._servers(deployment_id):
            if server.get("status") != "ACTIVE":
                self._wait_active(server["id"], server.get("name") or server["id"], progress, timeout)
        return self.describe(deployment_id)

    def describe(self, deployment_id: str) -> dict:
        check_deployment_id(deployment_id)
        resources = empty_resources(deployment_id, self.site.name, self.name)
        user = self.site.ssh_user
        for server in sorted(self._servers(deployment_id), key=lambda s: s.get("name") or ""):
            meta = server.get("metadata") or {}
            private_ip = public_ip = None
            for addresses in (server.get("addresses") or {}).values():
                for addr in addresses:
                    if addr.get("OS-EXT-IPS:type") == "floating":
                        public_ip = public_ip or addr.get("addr")
                    elif addr.get("version", 4) == 4:
                        private_ip = private_ip or addr.get("addr")
            conn = {"ansible_connection": "ssh", "ansible_host": public_ip or private_ip}
            if user:
                conn["ansible_user"] = user
            resources["nodes"].setdefault(meta.get("infn_cloud_node", "unknown"), []).append(
                {
                    "name": server.get("name"),
                    "index": int(meta.get("infn_cloud_index", 0)),
                    "id": server["id"],
                    "status": server.get("status"),
                    "private_ip": private_ip,
                    "public_ip": public_ip,
                    "fqdn": server.get("name"),
                    "flavor": (server.get("flavor") or {}).get("original_name"),
                    "connection": conn,
                }
            )
        for node in resources["nodes"].values():
            node.sort(key=lambda n: n["index"])
        for vol in sorted(self._volumes(deployment_id), key=lambda v: v.get("name") or ""):
            meta = vol.get("metadata") or {}
            resources["volumes"].append(
                {
                    "id": vol["id"],
                    "name": vol.get("name"),
                    "node": meta.get("infn_cloud_node"),
                    "size_gb": vol.get("size"),
                    "mount_path": meta.get("infn_cloud_mount_path"),
                }
            )
        resources["security_groups"] = [
            {"id": sg["id"], "name": sg.get("name")} for sg in self._tagged("security-groups", deployment_id)
        ]
        private = self.site.networks.get("private")
        if private:
            resources["networks"] = [{"id": None, "name": private}]
        resources["floating_ips"] = [
            {"id": f["id"], "address": f.get("floating_ip_address")}
            for f in self._tagged("floatingips", deployment_id)
        ]
        # The keypair is only made when a public key was given (see _create).
        resources["keypair"] = f"infn-cloud-{deployment_id}" if self.public_key else None
        return resources

    def _delete(self, service: str, url: str, microversion: str | None = None) -> bool:
        """True if deleted now, False if it was already gone."""
        try:
            self._request(service, "DELETE", url, ok=(200, 202, 204), microversion=microversion)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete(self, deployment_id: str, progress: Progress = None, timeout: float = 600) -> list[str]:
        check_deployment_id(deployment_id)
        deleted: list[str] = []
        for fip in self._tagged("floatingips", deployment_id):
            if self._delete("network", f"/floatingips/{fip['id']}"):
                deleted.append(f"floating_ip/{fip.get('floating_ip_address') or fip['id']}")
        servers = self._servers(deployment_id)
        for server in servers:
            self._progress(progress, f"deleting server {server.get('name')}")
            if self._delete("compute", f"/servers/{server['id']}", COMPUTE_MICROVERSION):
                deleted.append(f"server/{server.get('name') or server['id']}")
        deadline = time.monotonic() + timeout
        for server in servers:  # volumes and the security group stay in use until servers are gone
            while True:
                try:
                    self._request(
                        "compute", "GET", f"/servers/{server['id']}", microversion=COMPUTE_MICROVERSION
                    )
                except ApiError as exc:
                    if exc.status == 404:
                        break
                    raise
                if time.monotonic() > deadline:
                    raise OperationFailed(
                        f"site {self.site.name}: server {server.get('name')} not gone after "
                        f"{timeout:.0f} s; run delete again"
                    )
                time.sleep(self.poll_interval)
        for vol in self._volumes(deployment_id):
            if self._delete("block_storage", f"/volumes/{vol['id']}"):
                deleted.append(f"volume/{vol.get('name') or vol['id']}")
        for sg in self._tagged("security-groups", deployment_id):
            if self._delete("network", f"/security-groups/{sg['id']}"):
                deleted.append(f"security_group/{sg.get('name') or sg['id']}")
        if self._delete("compute", f"/os-keypairs/infn-cloud-{deployment_id}"):
            deleted.append(f"keypair/infn-cloud-{deployment_id}")
        return deleted


def _is_connection_error(exc: Exception) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "ConnectFailure",
            "ConnectionError",
            "ConnectionResetError",
            "RetriableConnectionFailure",
            "ConnectTimeout",
        }
    )
