"""The `openstack` driver: servers, volumes, security groups, keypair and floating IPs via openstacksdk.

Connection: ``openstack.connect(cloud=<entry>, region_name=<region>)``: credentials come
from the operator's clouds.yaml, never from the registry; per group, the entry
``<cloud>/<project>`` or the site's entry scoped to the group's project (``cloud_entry``).
Resources are made, listed, waited for and deleted through openstacksdk's proxies and
resource layer (``conn.compute.create_server``/``wait_for_server``/``servers``,
``conn.network.create_security_group``/``add_tag``/``create_ip``, ``conn.block_storage
.create_volume``/``wait_for_status``, ``conn.compute.create_volume_attachment``, ...); failures
are ``openstack.exceptions`` types (turned into ApiError with the HTTP status). Only Nova's
version document goes through the service adapter as a raw ``GET /``.

Every resource carries the deployment's label in its create request, so no crash or failed
call can leave an unlabelled resource behind:

- servers: metadata ``infn_cloud_*`` and tag ``infn-cloud:<id>`` in ``POST /servers`` (Nova
  microversion 2.52; ``create`` reads Nova's version document first and refuses older clouds);
- security groups and floating IPs: description ``infn.cloud deployment <id>`` in the POST, then
  tag ``infn-cloud:<id>`` by ``PUT .../tags/<tag>`` where Neutron lists ``standard-attr-tag``
  (Neutron refuses ``tags`` in these POST bodies, ``tag-creation`` or not: a real Neutron
  showed it; the description is what ``delete`` uses);
- volumes: metadata in ``POST /volumes``; the keypair is named ``infn-cloud-<id>``.

create:  Nova version check -> Neutron extensions -> networks by name -> security groups (one
         shared by the deployment's servers that only admits traffic from its members, one per
         node with SSH from the site's ``ssh_cidr`` and the node's own ports, each from its
         ``remote_cidr``) -> keypair -> flavor and image ids -> servers -> wait ACTIVE ->
         volumes and attachments -> floating IPs -> SSH host keys from each server's console
         output (cloud-init prints them), pinned in the resources (``host_key``).
delete:  servers by tag and by name prefix ``<id>-`` confirmed by metadata, floating IPs and
         security groups by description, volumes by metadata, the keypair by name; so it also
         works after the caller crashed or a tag call failed; 404s are fine (idempotent).

Transient errors (HTTP 500/502/503/504, refused connections) are retried by keystoneauth
(``status_code_retries``/``connect_retries``, exponential backoff); the SDK's waits have
deadlines. ``create`` is idempotent and ``remove_instances`` scales in (interfaces I1).
Tested end to end against a real OpenStack (scripts/openstack-dev.sh,
tests/integration/openstack) and, fast, against API exchanges
written by hand (tests/fixtures/openstack); docs/federation.md says what each proves.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import time
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions

from infn_cloud.errors import OperationFailed, ValidationError
from infn_cloud.federation.drivers.base import (
    Driver,
    Progress,
    check_deployment_id,
    empty_resources,
    node_slug,
    placement_dict,
)
from infn_cloud.tosca.ports import PortRule, network, port_rules

TAG_PREFIX = "infn-cloud:"
TRANSIENT = {500, 502, 503, 504}
# 2.52: tags in the server create request (2.26 tag filters, 2.47 flavor names come with it).
COMPUTE_MICROVERSION = "2.52"
SSH_PORT = 22
HOST_KEYS_BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
HOST_KEYS_END = "-----END SSH HOST KEY KEYS-----"
# Preference order for the key that is pinned (OpenSSH then negotiates that algorithm).
HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class ApiError(Exception):
    """An SDK call that failed: what was asked and the cloud's answer (HTTP status, message)."""

    def __init__(self, what: str, exc: Exception):
        self.status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None) or 0
        # no answer at all (keystoneauth ConnectFailure, ConnectTimeout): the message names it
        self.message = _sdk_message(exc) if self.status else f"{type(exc).__name__}: {_sdk_message(exc)}"
        super().__init__(
            f"{what}: HTTP {self.status}: {self.message}" if self.status else f"{what}: {self.message}"
        )


def _sdk_message(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    if details and str(details).strip():
        return " ".join(str(details).split())[:300]
    return " ".join(str(getattr(exc, "message", None) or exc).split())[:300]


def _version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = str(text or "").partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return (0, 0)


def description(deployment_id: str) -> str:
    """The description every Neutron resource of a deployment gets in its create request."""
    return f"infn.cloud deployment {deployment_id}"


def valid_host_key(line: str) -> str | None:
    """``"<type> <base64>"`` if ``line`` is a well-formed public host key, else None.

    The console is written by the server, so nothing but a known key type and a base64 blob
    whose embedded type matches is accepted (the key ends up on an ssh command line).
    """
    parts = line.strip().split()
    if len(parts) < 2 or parts[0] not in HOST_KEY_TYPES or not _BASE64_RE.match(parts[1]):
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        return None
    if embedded != parts[0] or len(blob) <= 4 + length:
        return None
    return f"{parts[0]} {parts[1]}"


def host_keys_from_console(output: str) -> list[str]:
    """The valid keys of the first complete host-key block cloud-init printed, best type first.

    Lines may carry a console prefix (``[   12.0] cloud-init[790]: ``): a key is read from its
    type onwards. An unfinished block (cloud-init still printing) gives no keys yet.
    """
    lines = (output or "").splitlines()
    begin = next((i for i, line in enumerate(lines) if line.rstrip().endswith(HOST_KEYS_BEGIN)), None)
    if begin is None:
        return []
    keys: list[str] = []
    for line in lines[begin + 1 :]:
        if line.rstrip().endswith(HOST_KEYS_END):
            return sorted(set(keys), key=lambda k: (HOST_KEY_TYPES.index(k.split()[0]), keys.index(k)))
        tokens = line.split()
        start = next((i for i, t in enumerate(tokens) if t in HOST_KEY_TYPES), None)
        key = valid_host_key(" ".join(tokens[start:])) if start is not None else None
        if key:
            keys.append(key)
    return []


def _rule(sg_id: str, net, protocol: str | None = None, low: int | None = None, high: int | None = None):
    rule: dict[str, Any] = {
        "security_group_id": sg_id,
        "direction": "ingress",
        "ethertype": "IPv6" if net.version == 6 else "IPv4",
        "remote_ip_prefix": str(net),
    }
    if protocol:
        rule.update(protocol=protocol, port_range_min=low, port_range_max=high)
    return rule


def node_rules(site_name: str, ssh_cidr: str | None, node: str, spec: dict) -> list[tuple]:
    """Ingress rules of one node's security group: [(protocol, low, high, network)].

    SSH from the site's ``ssh_cidr`` first, then each declared port from its ``remote_cidr``.
    Raises ValidationError (exit 2) for a port that is not a number or range, a protocol other
    than tcp/udp, a bad CIDR, or a port rule that would open SSH wider than ``ssh_cidr``.
    """
    if not ssh_cidr:
        raise ValidationError(
            f"site {site_name}: the registry sets no ssh_cidr",
            details=[
                "infn-cloud opens SSH (22/tcp) only from the site's ssh_cidr: set it to the network "
                "infn-cloud connects from (0.0.0.0/0 opens SSH to the world, only if written there)"
            ],
        )
    ssh_net = network(ssh_cidr, f"site {site_name}: ssh_cidr")
    rules = [PortRule("tcp", SSH_PORT, SSH_PORT, ssh_net)]
    for i, rule in enumerate(port_rules(node, spec.get("ports"))):
        protocol, low, high, net = rule
        if (
            protocol == "tcp"
            and low <= SSH_PORT <= high
            and (net.version != ssh_net.version or not net.subnet_of(ssh_net))
        ):
            raise ValidationError(
                f"node {node}: ports[{i}]: port {low}-{high}/tcp from {net} would open SSH wider than "
                f"the site's ssh_cidr ({ssh_net})",
                details=["SSH is opened by the driver from the registry's ssh_cidr only"],
            )
        if rule not in rules:
            rules.append(rule)
    return rules


def _over_quota(exc: Exception) -> bool:
    """Nova refused the request for quota: at the API (403/413), or, when concurrent requests
    all passed the API's check, at build time (Nova's quota recheck puts the server in ERROR
    with a "Quota exceeded for instances" fault)."""
    if isinstance(exc, ApiError):
        return exc.status in (403, 413) and "quota" in exc.message.lower()
    return isinstance(exc, OperationFailed) and "quota exceeded" in exc.message.lower()


class OpenStackDriver(Driver):
    name = "openstack"

    def __init__(
        self,
        site,
        *,
        connection=None,
        retries: int = 4,
        retry_delay: float | None = None,
        poll_interval: float = 2.0,
        public_key: str | None = None,
        ssh_cidr: str | None = None,
        host_key_timeout: float | None = None,
        project: str | None = None,
        **options,
    ):
        super().__init__(site, **options)
        self._conn = connection
        self.retries = retries
        self.retry_delay = retry_delay
        self.poll_interval = poll_interval
        self.public_key = public_key
        self.ssh_cidr = ssh_cidr or getattr(site, "ssh_cidr", None)
        self.host_key_timeout = host_key_timeout
        # The project the user's group maps to on this site (SiteCandidate.project): the driver
        # authenticates to it (see _connection). None: the site's clouds.yaml entry as it is.
        self.project: str | None = project or None
        self._region: str | None = None
        self._host_keys: dict[str, str] = {}

    # ------------------------------------------------------------------ plumbing
    def cloud_entry(self) -> tuple[str, dict]:
        """(clouds.yaml entry, auth overrides) this driver authenticates with.

        Per-group credentials: with a project (the one the registry maps the user's group to on
        this site), the entry ``<cloud>/<project>`` when clouds.yaml has one (its own user,
        application credential or token), else the site's entry ``<cloud>`` scoped to that
        project (Keystone then checks the entry's user has a role there). Without a project,
        the site's entry as written.
        """
        cloud = self.site.cloud
        if not self.project:
            return cloud, {}
        import openstack.config

        per_project = f"{cloud}/{self.project}"
        try:
            names = set(openstack.config.OpenStackConfig().get_cloud_names())
        except Exception:  # an unreadable clouds.yaml is reported by openstack.connect below
            names = set()
        if per_project in names:
            return per_project, {}
        return cloud, {"auth": {"project_name": self.project}}

    def _connection(self):
        if self._conn is None:
            try:
                import openstack
            except ImportError:
                raise OperationFailed(
                    "the openstack driver needs openstacksdk (pip install openstacksdk)"
                ) from None
            entry, overrides = self.cloud_entry()
            scope = f" scoped to project {self.project}" if overrides else ""
            try:
                conn = openstack.connect(
                    cloud=entry,
                    region_name=self._region or self.site.regions[0],
                    # keystoneauth retries transient answers and refused connections itself
                    connect_retries=self.retries,
                    status_code_retries=self.retries,
                    retriable_status_codes=sorted(TRANSIENT),
                    # None: keystoneauth's exponential backoff (0.5 s doubling); a number: fixed
                    connect_retry_delay=self.retry_delay,
                    status_code_retry_delay=self.retry_delay,
                    **overrides,
                )
                if self.project:
                    conn.authorize()  # a wrong project or user is said now, before any request
            except Exception as exc:
                raise OperationFailed(
                    f"site {self.site.name}: cannot authenticate with clouds.yaml entry '{entry}'{scope}",
                    details=[
                        _one_line(exc),
                        "credentials live in clouds.yaml (OS_CLIENT_CONFIG_FILE), never in the registry; "
                        "per group: an entry named '<cloud>/<project>' for each project of the "
                        "registry's identity_providers (docs/federation.md, OpenStack driver)",
                    ],
                ) from None
            self._conn = conn
        return self._conn

    def _request(
        self, service: str, method: str, url: str, *, json_body=None, params=None, microversion=None
    ) -> Any:
        """A raw request through the SDK's service adapter, for the few calls that have no proxy
        (Nova's version document; the live signals' limits): its JSON, or ApiError."""
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["json"] = json_body
        if params:
            kwargs["params"] = params
        if microversion:
            kwargs["microversion"] = microversion
        try:
            resp = getattr(self._connection(), service).request(url, method, **kwargs)
            exceptions.raise_from_response(resp)
        except (exceptions.SDKException, ks_exceptions.ClientException) as exc:
            raise ApiError(f"{method} {url}", exc) from None
        return resp.json() if resp.content else None

    def _version_document(self) -> dict:
        """Nova's version document (``GET /`` of the compute endpoint)."""
        return self._request("compute", "GET", "/") or {}

    def _tag(self, deployment_id: str) -> str:
        return f"{TAG_PREFIX}{deployment_id}"

    def _meta(self, deployment_id: str, node: str | None = None, index: int | None = None) -> dict:
        meta = {"infn_cloud_deployment": deployment_id, "infn_cloud_site": self.site.name}
        if node is not None:
            meta.update(infn_cloud_node=node, infn_cloud_index=str(index))
        return meta

    # ------------------------------------------------------------------ capabilities
    def _check_compute_version(self) -> None:
        """Refuse a Nova that cannot take tags in the server create request (< 2.52)."""
        doc = self._version_document()
        version = doc.get("version") or {}
        if _version_tuple(version.get("version")) < _version_tuple(COMPUTE_MICROVERSION):
            raise OperationFailed(
                f"site {self.site.name}: Nova supports compute API microversions up to "
                f"{version.get('version') or 'none (2.1 only)'}; the openstack driver needs "
                f"{COMPUTE_MICROVERSION} (server tags in the create request)",
                details=["nothing was created; ask the site to upgrade Nova, or disable the site"],
            )

    def _call(self, what: str, fn, *args, **kwargs):
        """An SDK proxy call; its failure as ApiError (what was asked, HTTP status, message)."""
        try:
            return fn(*args, **kwargs)
        except (exceptions.SDKException, ks_exceptions.ClientException) as exc:
            raise ApiError(what, exc) from None

    def _neutron_tagging(self) -> bool:
        """Whether Neutron tags resources (``PUT .../tags/<tag>``), from its extension list.

        ``tag-creation`` does not put tags in POST bodies: it is ``PUT .../tags`` with a list.
        Neutron refuses ``tags`` in a security group or floating IP POST (only ports take them).
        """
        net = self._connection().network
        exts = self._call("Neutron extensions", lambda: [e.alias for e in net.extensions()])
        return "standard-attr-tag" in exts

    # ------------------------------------------------------------------ lookups
    def _id_of(self, kind: str, listing, name: str, hint: str = "") -> str:
        """The id of the first resource listing(name=name) returns (a network, an image)."""
        found = self._call(f"{kind} {name}", lambda: list(listing(name=name)))
        if not found:
            raise OperationFailed(f"site {self.site.name}: {kind} '{name}' not found{hint}")
        return found[0].id

    def _network_id(self, name: str) -> str:
        return self._id_of("network", self._connection().network.networks, name, " (registry networks)")

    def _flavor_ids(self) -> dict[str, str]:
        compute = self._connection().compute
        flavors = self._call("flavors", lambda: list(compute.flavors(details=True)))
        return {f.name: f.id for f in flavors}

    def _image_id(self, name: str) -> str:
        return self._id_of("image", self._connection().image.images, name)

    # ------------------------------------------------------------------ create
    def create(self, deployment_id: str, plan: dict, placement: Any, progress: Progress = None) -> dict:
        check_deployment_id(deployment_id)
        self._check_test_hook()
        placement = placement_dict(placement)
        self._region = placement.get("region") or self.site.regions[0]
        if self._conn is None and not self.project:
            # the group's project on this site (per-group credentials); a placement across
            # sites names each site's own in per_site
            own = (placement.get("per_site") or {}).get(self.site.name) or {}
            self.project = own.get("project") or placement.get("project") or None
        compute = plan.get("compute") or {}
        # Bad ports or a missing ssh_cidr are refused (exit 2) before anything is created.
        rules = {node: node_rules(self.site.name, self.ssh_cidr, node, compute[node]) for node in compute}
        self._check_compute_version()
        self._new_servers: list[str] = []
        existing: list[dict] = []
        try:
            # Idempotent (interfaces I1): what exists is kept, each node gets count - existing.
            existing = self._servers(deployment_id)
            self._create(deployment_id, compute, rules, placement, existing, progress)
            return self.wait(deployment_id, progress=progress)
        except (ApiError, OperationFailed) as exc:
            message = exc.message if isinstance(exc, OperationFailed) else str(exc)
            details = list(getattr(exc, "details", []))
            if _over_quota(exc):
                detail = exc.message.removeprefix(f"site {self.site.name}: ")
                message = f"site {self.site.name}: quota exceeded: {detail}"
            try:
                if existing:
                    # Growing a deployment: only the servers this call made go, the rest stays.
                    self._progress(progress, f"creation failed ({message}); removing the new servers")
                    removed = self.remove_instances(deployment_id, self._new_servers, progress=progress)
                else:
                    self._progress(progress, f"creation failed ({message}); removing what was created")
                    removed = self.delete(deployment_id, progress=progress)
                details.append(f"cleaned up: {', '.join(removed) or 'nothing'}")
            except (ApiError, OperationFailed) as cleanup_exc:
                details.append(f"cleanup failed, run delete again: {cleanup_exc}")
            raise OperationFailed(message, details=details) from None

    def _labelled(self, kind: str, attrs: dict, deployment_id: str, tagging: bool):
        """Create a Neutron resource (``security_group``, ``ip``) with the deployment's
        description, then tag it if Neutron can (``conn.network.add_tag``)."""
        net = self._connection().network
        made = self._call(
            f"create {kind}", getattr(net, f"create_{kind}"), description=description(deployment_id), **attrs
        )
        if tagging:
            self._call(f"tag {kind} {made.id}", net.add_tag, made, self._tag(deployment_id))
        return made

    def _create(
        self, deployment_id: str, compute: dict, rules: dict, placement: dict, existing: list[dict], progress
    ) -> None:
        # Servers already there, by node: their indices (kept; new ones get fresh indices).
        have: dict[str, list[int]] = {}
        for server in existing:
            meta = server.get("metadata") or {}
            have.setdefault(meta.get("infn_cloud_node", ""), []).append(int(meta.get("infn_cloud_index", 0)))
        new_indices: dict[str, range] = {}
        for node in compute:
            first = max(have.get(node, [-1])) + 1
            missing = max(0, int(compute[node].get("count", 1) or 0) - len(have.get(node, [])))
            new_indices[node] = range(first, first + missing)
        if existing and not any(new_indices.values()):
            self._progress(progress, "every server exists already; nothing to create")
            return
        tagging = self._neutron_tagging()
        private = self.site.networks.get("private")
        net_id = self._network_id(private) if private else None
        groups = self._security_groups(deployment_id, compute, rules, existing, tagging, progress)
        key_name = self._keypair(deployment_id, placement, growing=bool(existing))
        created = self._servers_of(
            deployment_id, compute, placement, new_indices, net_id, groups, key_name, progress
        )
        for node, index, _spec, made in created:
            self._wait_active(made["id"], f"{deployment_id}-{node_slug(node)}-{index}", progress)
        for node, index, spec, made in created:
            for vol in spec.get("volumes") or []:
                self._create_volume(deployment_id, node, index, vol, made["id"], progress)
            if spec.get("public_ip"):
                self._floating_ip(deployment_id, made["id"], tagging, progress)

    def _security_groups(
        self, deployment_id: str, compute: dict, rules: dict, existing: list[dict], tagging: bool, progress
    ) -> dict[str, list[str]]:
        """The ids of the security groups of each node's servers: the deployment's members group
        and the node's own (its port rules), made where missing."""
        groups = (
            {g.get("name"): g for g in self._described("security_groups", deployment_id)} if existing else {}
        )
        self._progress(progress, f"creating security groups infn-cloud-{deployment_id}(-<node>)")
        members = groups.get(f"infn-cloud-{deployment_id}")
        if members is None:
            members = self._labelled(
                "security_group", {"name": f"infn-cloud-{deployment_id}"}, deployment_id, tagging
            )
            self._members_rule(members["id"])
        node_groups: dict[str, list[str]] = {}
        for node in sorted(compute):
            name = f"infn-cloud-{deployment_id}-{node_slug(node)}"
            if name in groups:
                node_groups[node] = [members["id"], groups[name]["id"]]
                continue
            sg = self._labelled("security_group", {"name": name}, deployment_id, tagging)
            node_groups[node] = [members["id"], sg["id"]]
            for protocol, low, high, net in rules[node]:
                self._call(
                    f"rule of security group {name}",
                    self._connection().network.create_security_group_rule,
                    **_rule(sg["id"], net, protocol, low, high),
                )
        return node_groups

    def _members_rule(self, group_id: str) -> None:
        # The deployment's servers reach each other on every port; nobody else through this group.
        self._call(
            "members rule",
            self._connection().network.create_security_group_rule,
            security_group_id=group_id,
            direction="ingress",
            ethertype="IPv4",
            remote_group_id=group_id,
        )

    def _keypair(self, deployment_id: str, placement: dict, growing: bool) -> str | None:
        """The deployment's keypair (None without a public key); growing, it may exist already."""
        public_key = self.public_key or placement.get("public_key")
        if not public_key:
            return None
        key_name = f"infn-cloud-{deployment_id}"
        try:
            self._call(
                f"keypair {key_name}",
                self._connection().compute.create_keypair,
                name=key_name,
                public_key=public_key,
            )
        except ApiError as exc:
            if exc.status != 409 or not growing:  # 409: the deployment's keypair exists (growing)
                raise
        return key_name

    def _servers_of(
        self,
        deployment_id: str,
        compute: dict,
        placement: dict,
        new_indices: dict[str, range],
        net_id: str | None,
        groups: dict[str, list[str]],
        key_name: str | None,
        progress,
    ) -> list[tuple[str, int, dict, dict]]:
        """Create the servers of new_indices on the private network net_id (None: "auto") with
        each node's security groups and the keypair; (node, index, plan entry, server) of each."""
        tag = self._tag(deployment_id)
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
            for index in new_indices[node]:
                name = f"{deployment_id}-{node_slug(node)}-{index}"
                self._progress(progress, f"creating server {name} ({flavor['name']}, {image})")
                server = {
                    "name": name,
                    "flavor_id": flavor_ids[flavor["name"]],
                    "image_id": image_ids[image],
                    "metadata": self._meta(deployment_id, node, index),
                    "tags": [tag],
                    # ids, not names: Neutron names are not unique within a project
                    "security_groups": [{"name": group} for group in groups[node]],
                    # required from microversion 2.37 on
                    "networks": [{"uuid": net_id}] if net_id else "auto",
                }
                if key_name:
                    server["key_name"] = key_name
                made = self._call(f"create server {name}", self._connection().compute.create_server, **server)
                self._new_servers.append(name)
                created.append((node, index, spec, made))
        return created

    def _wait_active(self, server_id: str, name: str, progress: Progress, timeout: float = 900):
        """``conn.compute.wait_for_server`` until ACTIVE; ERROR fails with Nova's fault message."""
        compute = self._connection().compute
        server = self._call(f"server {name}", compute.get_server, server_id)
        server = self._wait_for(
            f"server {name}",
            compute.wait_for_server,
            server,
            ("ACTIVE", "ERROR"),
            timeout,
            failed=lambda s: f"went to ERROR: {(s.fault or {}).get('message') or 'no fault message'}",
            late=lambda s: f"still {s.status}",
        )
        self._progress(progress, f"server {name} is ACTIVE")
        return server

    def _wait_for(self, what: str, waiter, resource, states: tuple[str, str], timeout: float, failed, late):
        """Wait with an SDK proxy's waiter (``wait_for_server``, ``wait_for_status``) until resource
        reaches states[0]; states[1] is its failure. failed(resource) / late(resource): what the
        error says (the waiter refreshes the resource in place: its fault, its last status)."""
        status, failure = states
        try:
            return waiter(
                resource, status=status, failures=[failure], interval=self.poll_interval, wait=timeout
            )
        except exceptions.ResourceFailure:
            raise OperationFailed(f"site {self.site.name}: {what} {failed(resource)}") from None
        except exceptions.ResourceTimeout:
            raise OperationFailed(
                f"site {self.site.name}: {what} {late(resource)} after {timeout:.0f} s"
            ) from None
        except exceptions.SDKException as exc:
            raise ApiError(what, exc) from None

    def _create_volume(self, deployment_id, node, index, vol, server_id, progress, timeout: float = 600):
        name = f"{deployment_id}-{node_slug(node)}-{index}-{node_slug(vol.get('node') or 'vol')}"
        self._progress(progress, f"creating volume {name} ({vol.get('size_gb')} GB)")
        meta = self._meta(deployment_id, node, index)
        meta["infn_cloud_mount_path"] = vol.get("mount_path") or ""
        storage = self._connection().block_storage
        volume = self._call(
            f"create volume {name}",
            storage.create_volume,
            name=name,
            size=int(vol.get("size_gb") or 1),
            metadata=meta,
        )
        self._wait_for(
            f"volume {name}",
            storage.wait_for_status,
            volume,
            ("available", "error"),
            timeout,
            failed=lambda _: "went to error",
            late=lambda _: "not available",
        )
        self._call(
            f"attach volume {name}",
            self._connection().compute.create_volume_attachment,
            server_id,
            volume,
        )

    def _floating_ip(self, deployment_id: str, server_id: str, tagging, progress: Progress) -> None:
        public = self.site.networks.get("public")
        if not public:
            raise OperationFailed(
                f"site {self.site.name}: a public IP is needed but the registry has no public network"
            )
        net = self._connection().network
        ports = self._call(f"ports of server {server_id}", lambda: list(net.ports(device_id=server_id)))
        if not ports:
            raise OperationFailed(f"site {self.site.name}: server {server_id} has no port for a floating IP")
        fip = self._labelled(
            "ip",
            {"floating_network_id": self._network_id(public), "port_id": ports[0].id},
            deployment_id,
            tagging,
        )
        self._progress(progress, f"floating IP {fip.floating_ip_address} -> server {server_id}")

    # ------------------------------------------------------------------ host keys
    def _host_key(self, server_id: str, name: str, deadline: float, timeout: float, progress) -> str:
        """The host key cloud-init printed on the server's console (cached per server)."""
        if server_id in self._host_keys:
            return self._host_keys[server_id]
        lines = 0
        while True:
            try:
                out = self._call(
                    f"console of server {name}",
                    self._connection().compute.get_server_console_output,
                    server_id,
                )
            except ApiError as exc:
                if exc.status != 409:  # 409: console not ready yet
                    raise OperationFailed(
                        f"site {self.site.name}: cannot read the console output of server {name} "
                        "to pin its SSH host key",
                        details=[str(exc)],
                    ) from None
                out = None
            output = str((out or {}).get("output") or "")
            lines = output.count("\n")
            keys = host_keys_from_console(output)
            if keys:
                self._host_keys[server_id] = keys[0]
                self._progress(progress, f"server {name}: SSH host key pinned ({keys[0].split()[0]})")
                return keys[0]
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"site {self.site.name}: cannot pin the SSH host key of server {name}: its console "
                    f"output (Nova os-getConsoleOutput, {lines} lines) has no valid key between "
                    f"{HOST_KEYS_BEGIN} and {HOST_KEYS_END} after {timeout:.0f} s",
                    details=[
                        "cloud-init prints the host keys on the console at first boot: use an image "
                        "with cloud-init; the key is never trusted on first use instead"
                    ],
                )
            time.sleep(self.poll_interval)

    # ------------------------------------------------------------------ find
    def _servers(self, deployment_id: str) -> list[dict]:
        """Servers by tag, and by name prefix ``<id>-`` confirmed by their metadata."""
        compute = self._connection().compute
        found: dict[str, dict] = {}
        for query in ({"tags": self._tag(deployment_id)}, {"name": f"^{deployment_id}-"}):
            servers = self._call("servers", lambda q=query: list(compute.servers(details=True, **q)))
            for server in servers:
                meta = server.metadata or {}
                if "tags" in query or meta.get("infn_cloud_deployment") == deployment_id:
                    found.setdefault(server.id, server)
        return list(found.values())

    def _volumes(self, deployment_id: str) -> list[dict]:
        meta = json.dumps({"infn_cloud_deployment": deployment_id}, separators=(",", ":"))
        storage = self._connection().block_storage
        return self._call("volumes", lambda: list(storage.volumes(details=True, properties=meta)))

    def _described(self, collection: str, deployment_id: str) -> list[dict]:
        """Security groups (``security_groups``) or floating IPs (``ips``) by description."""
        listing = getattr(self._connection().network, collection)
        items = self._call(collection, lambda: list(listing(description=description(deployment_id))))
        return [i for i in items if i.description == description(deployment_id)]

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
        resources = self.describe(deployment_id)
        key_timeout = self.host_key_timeout if self.host_key_timeout is not None else timeout
        deadline = time.monotonic() + key_timeout
        for nodes in resources["nodes"].values():
            for node in nodes:
                node["host_key"] = self._host_key(node["id"], node["name"], deadline, key_timeout, progress)
        return resources

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
        resources["security_groups"] = sorted(
            (
                {"id": sg["id"], "name": sg.get("name")}
                for sg in self._described("security_groups", deployment_id)
            ),
            key=lambda sg: sg["name"] or "",
        )
        private = self.site.networks.get("private")
        if private:
            resources["networks"] = [{"id": None, "name": private}]
        fips = self._described("ips", deployment_id)
        resources["floating_ips"] = [{"id": f["id"], "address": f.get("floating_ip_address")} for f in fips]
        # Nova learns of a floating IP from Neutron's notification, a moment after it is made:
        # a server whose addresses do not show it yet gets it from Neutron by its fixed IP.
        by_fixed = {f.get("fixed_ip_address"): f.get("floating_ip_address") for f in fips}
        for node in (n for nodes in resources["nodes"].values() for n in nodes):
            if node["public_ip"] is None and by_fixed.get(node["private_ip"]):
                node["public_ip"] = by_fixed[node["private_ip"]]
                node["connection"]["ansible_host"] = node["public_ip"]
        # The keypair is only made when a public key was given (see _create).
        resources["keypair"] = f"infn-cloud-{deployment_id}" if self.public_key else None
        return resources

    def _delete(self, what: str, fn, resource) -> bool:
        """An SDK ``delete_*`` call: True if deleted now, False if it was already gone."""
        try:
            fn(resource, ignore_missing=False)
        except exceptions.NotFoundException:
            return False
        except exceptions.SDKException as exc:
            raise ApiError(f"delete {what}", exc) from None
        return True

    def remove_instances(
        self, deployment_id: str, instances: list[str], progress: Progress = None, timeout: float = 600
    ) -> list[str]:
        """Remove these servers with their floating IPs and volumes (interfaces I1).

        The deployment's security groups, keypair and network stay. A name that is not (or no
        longer) a server of the deployment is skipped: removing twice is fine. Through the
        SDK's proxies (``conn.network.ips``, ``conn.compute.delete_server`` and
        ``wait_for_delete``, ``conn.block_storage.delete_volume``).
        """
        from openstack import exceptions as os_exc

        check_deployment_id(deployment_id)
        wanted = set(instances)
        servers = sorted(
            (s for s in self._servers(deployment_id) if s.get("name") in wanted), key=lambda s: s["name"]
        )
        if not servers:
            return []
        conn = self._connection()
        removed: list[str] = []
        try:
            for server in servers:
                for port in conn.network.ports(device_id=server["id"]):
                    for fip in conn.network.ips(port_id=port.id):
                        conn.network.delete_ip(fip, ignore_missing=True)
                        removed.append(f"floating_ip/{fip.floating_ip_address or fip.id}")
                self._progress(progress, f"removing server {server['name']}")
                conn.compute.delete_server(server["id"], ignore_missing=True)
                removed.append(f"server/{server['name']}")
            for server in servers:  # its volumes stay attached until the server is gone
                try:
                    conn.compute.wait_for_delete(
                        conn.compute.get_server(server["id"]), interval=self.poll_interval, wait=timeout
                    )
                except os_exc.NotFoundException:
                    pass
            keys = {
                (
                    (s.get("metadata") or {}).get("infn_cloud_node"),
                    (s.get("metadata") or {}).get("infn_cloud_index"),
                )
                for s in servers
            }
            for vol in self._volumes(deployment_id):
                meta = vol.get("metadata") or {}
                if (meta.get("infn_cloud_node"), meta.get("infn_cloud_index")) not in keys:
                    continue
                volume = conn.block_storage.get_volume(vol["id"])
                if volume.status not in ("available", "error"):
                    conn.block_storage.wait_for_status(
                        volume,
                        status="available",
                        failures=["error"],
                        interval=self.poll_interval,
                        wait=timeout,
                    )
                conn.block_storage.delete_volume(vol["id"], ignore_missing=True)
                removed.append(f"volume/{vol.get('name') or vol['id']}")
        except os_exc.NotFoundException:
            pass
        except os_exc.ResourceTimeout as exc:
            raise OperationFailed(
                f"site {self.site.name}: removing {', '.join(sorted(wanted))}: {_one_line(exc)}",
                details=[f"removed so far: {', '.join(removed) or 'nothing'}; run the removal again"],
            ) from None
        except (os_exc.SDKException, ApiError) as exc:
            raise OperationFailed(
                f"site {self.site.name}: removing {', '.join(sorted(wanted))} failed: {_one_line(exc)}",
                details=[f"removed so far: {', '.join(removed) or 'nothing'}; run the removal again"],
            ) from None
        return removed

    def delete(self, deployment_id: str, progress: Progress = None, timeout: float = 600) -> list[str]:
        check_deployment_id(deployment_id)
        conn = self._connection()
        deleted: list[str] = []
        for fip in self._described("ips", deployment_id):
            if self._delete("floating IP", conn.network.delete_ip, fip.id):
                deleted.append(f"floating_ip/{fip.floating_ip_address or fip.id}")
        servers = sorted(self._servers(deployment_id), key=lambda s: s.name or "")
        for server in servers:
            self._progress(progress, f"deleting server {server.name}")
            if self._delete(f"server {server.name}", conn.compute.delete_server, server.id):
                deleted.append(f"server/{server.name or server.id}")
        deadline = time.monotonic() + timeout
        for server in servers:  # volumes and the security groups stay in use until servers are gone
            try:
                conn.compute.wait_for_delete(
                    server, interval=self.poll_interval, wait=max(1.0, deadline - time.monotonic())
                )
            except exceptions.ResourceTimeout:
                raise OperationFailed(
                    f"site {self.site.name}: server {server.name} not gone after {timeout:.0f} s; "
                    "run delete again"
                ) from None
            except exceptions.SDKException as exc:
                raise ApiError(f"server {server.name}", exc) from None
        for vol in self._volumes(deployment_id):
            if self._delete(f"volume {vol.name}", conn.block_storage.delete_volume, vol.id):
                deleted.append(f"volume/{vol.name or vol.id}")
        # Node groups first: the members group is only referenced by itself.
        groups = sorted(self._described("security_groups", deployment_id), key=lambda g: g.name or "")
        for sg in reversed(groups):
            if self._delete(f"security group {sg.name}", conn.network.delete_security_group, sg.id):
                deleted.append(f"security_group/{sg.name or sg.id}")
        key_name = f"infn-cloud-{deployment_id}"
        if self._delete(f"keypair {key_name}", conn.compute.delete_keypair, key_name):
            deleted.append(f"keypair/{key_name}")
        return deleted


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
