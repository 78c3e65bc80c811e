# Copyright: infn.cloud developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
# Copyright: (c) 2026, infn.cloud developers
# Apache License 2.0 (see galaxy.yml)
from __future__ import annotations

DOCUMENTATION = r"""
name: deployment
author: infn.cloud developers (@infn-cloud)
short_description: Hosts of an infn.cloud deployment (local podman site or OpenStack)
version_added: 0.1.0
description:
  - Builds an inventory from a deployment made by C(infn-cloud deploy) or the infn.cloud
    provisioning drivers.
  - Reads the deployment document (option O(deployment_file)) and/or, for OpenStack sites, asks
    every cloud in O(clouds) concurrently for the servers tagged with the deployment id (one
    bulk listing per cloud, joined locally with the plan).
  - "Groups: one per TOSCA compute node template (its name, e.g. C(htc_wn_server)), one per role
    of the plan's software (C(role_htcondor)), one per site (C(site_local_backbone)) and
    C(deployment_<id>)."
  - "Host variables: the C(role_vars) of the host's site in the site registry (document key
    C(site_role_vars); never C(ansible_*) or C(infn_cloud_*) names, and every variable below wins
    over them), connection settings (ssh, or podman exec for local sites configured so; a host
    key reported by the driver is pinned with C(ansible_ssh_common_args)), the node's
    TOSCA properties (C(infn_cloud_properties)), C(infn_cloud_*) facts about the deployment (on
    local sites C(infn_cloud_cpus_limit) and C(infn_cloud_memory_limit_mb), the container's flavor
    limits its /proc does not show; null on VMs) and
    the IM-compatible variables INFN playbooks use: C(IM_NODE_PUBLIC_IP), C(IM_NODE_PRIVATE_IP),
    C(IM_NODE_FQDN), C(IM_NODE_HOSTNAME), C(IM_NODE_DOMAIN), C(IM_NODE_NUM), C(IM_NODE_VMID),
    C(IM_NODE_CLOUD_TYPE), C(IM_INFRASTRUCTURE_ID)."
  - "Shared values are group variables: a value every host of the deployment has is set once on
    C(deployment_<id>); a value shared by the deployment's hosts at one site on
    C(deployment_<id>_site_<site>) (a deployment spanning sites keeps each host's own site and
    that site's role_vars); a value shared by the instances of one compute node template on
    C(deployment_<id>_node_<node>). Scopes of one host share nothing. Each variable of a host is
    defined in exactly one place, so a host sees the same variables as if all were host
    variables; but inventory group variables rank below C(group_vars/) files, so such a file
    can now override them. C(ansible-inventory --list --export) writes each shared value once."
  - Every value that comes from the deployment document or a cloud API is never templated;
    ansible-core trusts nothing an inventory plugin sets, and a cached document is untagged
    again, so Jinja2 in server names, metadata or TOSCA properties stays text.
  - The inventory file name must end in C(infn_cloud.yml), C(infn_cloud.yaml), C(deployment.yml)
    or C(deployment.yaml); run with C(-vvv) to see why a file was declined.
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
requirements:
  - openstacksdk >= 1.0 (only for O(clouds))
options:
  plugin:
    description: Marks this file as a source for this plugin.
    required: true
    type: str
    choices: [infn.cloud.deployment, deployment]
  deployment_file:
    description:
      - Path of the deployment document (JSON or YAML) with keys C(id), C(site), C(plan),
        C(resources) and C(status), as C(infn-cloud deploy) stores it.
      - Relative paths are relative to the inventory file.
      - Required unless O(clouds) and O(deployment_id) are given; with them it supplies the plan and
        the SSH host keys pinned at creation (joined by server id).
    type: path
  deployment_id:
    description: Deployment id whose servers are looked up on O(clouds) (tag C(infn-cloud:<id>)).
    type: str
  clouds:
    description:
      - Entries of clouds.yaml to query for the deployment's servers, concurrently.
      - Each server's site is read from its C(infn_cloud_site) metadata, else the cloud name.
    type: list
    elements: str
    default: []
  max_workers:
    description: Clouds queried at the same time.
    type: int
    default: 8
  page_size:
    description: Servers asked for per API request.
    type: int
    default: 1000
  fail_on_errors:
    description: Fail when a cloud cannot be queried; otherwise warn and skip it.
    type: bool
    default: true
  ssh_user:
    description: C(ansible_user) for OpenStack servers whose deployment record names none.
    type: str
"""

EXAMPLES = r"""
# inventories/my-htcondor.infn_cloud.yml: a deployment made by `infn-cloud deploy`
plugin: infn.cloud.deployment
deployment_file: ~/.local/state/infn-cloud/deployments/htc-1a2b.json
keyed_groups:
  - key: infn_cloud_flavor
    prefix: flavor

---
# OpenStack: ask two clouds for the servers of a deployment, cache the answer for 5 minutes
plugin: infn.cloud.deployment
clouds: [recas-bari, cloud-cnaf-t1]
deployment_id: htc-1a2b
deployment_file: htc-1a2b.json   # optional: adds TOSCA properties and role groups
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/infn-cloud-inventory
cache_timeout: 300
compose:
  ansible_host: IM_NODE_PUBLIC_IP | default(IM_NODE_PRIVATE_IP, true)
"""

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

try:  # ansible-core < 2.23: wrap_var untags TrustedAsTemplate (2.19+) or wraps as AnsibleUnsafe
    from ansible.utils.unsafe_proxy import wrap_var as _wrap_var
except ImportError:  # pragma: no cover - later cores: data built here is never trusted as a template
    _wrap_var = None

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False

TAG_PREFIX = "infn-cloud:"
SUFFIXES = ("infn_cloud.yml", "infn_cloud.yaml", "deployment.yml", "deployment.yaml")
HOST_KEY_RE = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}$")
RESERVED_VAR_PREFIXES = ("ansible_", "infn_cloud_", "im_node_", "im_infrastructure_")


def make_unsafe(value):
    """Mark data from an API or a state file so ansible never templates it."""
    return _wrap_var(value) if _wrap_var is not None else value


def group_name(*parts):
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(str(p) for p in parts if p)).lower()


def hosts_from_document(doc):
    """[(host, [groups], {vars})] for a deployment document; pure, so it is unit-testable."""
    plan = doc.get("plan") or {}
    resources = doc.get("resources") or {}
    dep_id = doc.get("id") or resources.get("deployment_id")
    site = resources.get("site") or doc.get("site")
    driver = resources.get("driver")
    nodes = plan.get("nodes") or {}
    site_role_vars = doc.get("site_role_vars") or {}
    roles = {}
    software_on = {}
    for entry in plan.get("software") or []:
        role = entry.get("role")
        for compute in entry.get("hosts") or []:
            if role:
                roles.setdefault(compute, set()).add(role.rsplit(".", 1)[-1])
            software_on.setdefault(compute, []).append(
                {
                    "node": entry.get("node"),
                    "type": entry.get("type"),
                    "role": role,
                    "properties": (nodes.get(entry.get("node")) or {}).get("properties") or {},
                    # What playbooks/configure.yml needs to apply the entry: the role
                    # variables and the wave (entries of wave N+1 wait for all of wave N).
                    "vars": entry.get("vars") or {},
                    "wave": entry.get("wave", 0),
                }
            )
    out = []
    num = 0
    for compute in sorted(resources.get("nodes") or {}):
        for inst in sorted(resources["nodes"][compute], key=lambda n: n.get("index", 0)):
            host = inst["name"]
            fqdn = inst.get("fqdn") or host
            hostname, _, domain = fqdn.partition(".")
            node_site = inst.get("site") or site
            node_driver = inst.get("driver") or driver
            # The site's role_vars (site registry) first: everything below wins over them, and
            # names that would change the connection or the CLI's own facts are never taken.
            hostvars = {
                key: value
                for key, value in (site_role_vars.get(node_site) or {}).items()
                if isinstance(key, str) and not key.lower().startswith(RESERVED_VAR_PREFIXES)
            }
            hostvars.update(inst.get("connection") or {})
            if inst.get("host_key") and hostvars.get("ansible_connection") == "ssh":
                # Pin the host key the driver reported (local sites: read from the container;
                # OpenStack: from the server's console output): verified on the first
                # connection, whatever ~/.ssh/known_hosts holds for a reused address. It goes on
                # an ssh command line, so nothing but "<key type> <base64>" is accepted.
                if not HOST_KEY_RE.match(str(inst["host_key"])):
                    raise AnsibleParserError(
                        f"host {host}: host_key {str(inst['host_key'])[:80]!r} is not an SSH public "
                        "host key (expected '<type> <base64>', e.g. 'ssh-ed25519 AAAAC3...')"
                    )
                hostvars.setdefault(
                    "ansible_ssh_common_args", f'-o "KnownHostsCommand=/bin/echo %H {inst["host_key"]}"'
                )
            hostvars.update(
                {
                    "infn_cloud_deployment_id": dep_id,
                    "infn_cloud_site": node_site,
                    "infn_cloud_driver": node_driver,
                    "infn_cloud_node": compute,
                    "infn_cloud_index": inst.get("index", 0),
                    "infn_cloud_status": inst.get("status"),
                    "infn_cloud_server_id": inst.get("id"),
                    "infn_cloud_flavor": inst.get("flavor"),
                    # Local sites: the container's CPU and memory limits (its flavor), which its
                    # /proc does not show; None on a VM, whose OS sees its own size.
                    "infn_cloud_cpus_limit": inst.get("cpus_limit"),
                    "infn_cloud_memory_limit_mb": inst.get("memory_limit_mb"),
                    "infn_cloud_properties": (nodes.get(compute) or {}).get("properties") or {},
                    "infn_cloud_compute": (plan.get("compute") or {}).get(compute) or {},
                    "infn_cloud_software": software_on.get(compute, []),
                    "IM_INFRASTRUCTURE_ID": dep_id,
                    "IM_NODE_NUM": num,
                    "IM_NODE_VMID": inst.get("id"),
                    "IM_NODE_PUBLIC_IP": inst.get("public_ip"),
                    "IM_NODE_PRIVATE_IP": inst.get("private_ip"),
                    "IM_NODE_FQDN": fqdn,
                    "IM_NODE_HOSTNAME": hostname,
                    "IM_NODE_DOMAIN": domain,
                    "IM_NODE_CLOUD_TYPE": "OpenStack" if node_driver == "openstack" else "Podman",
                }
            )
            groups = [group_name(compute), group_name("site", node_site), group_name("deployment", dep_id)]
            groups += [group_name("role", r) for r in sorted(roles.get(compute, ()))]
            out.append((host, groups, hostvars))
            num += 1
    return out


def _same(values):
    first = values[0]
    return all(v is first or v == first for v in values[1:])


def shared_variables(doc, hosts=None):
    """Split the variables of hosts_from_document into group and host variables.

    Returns ``(group_vars, hosts)``: ``group_vars`` maps group names to the variables every host of
    that group has with the same value, ``hosts`` is ``[(host, [groups], {own vars})]`` (the
    groups include those holding its shared variables). Scopes, widest first: the deployment
    (``deployment_<id>``), then the deployment's hosts at one site (``deployment_<id>_site_<site>``:
    a deployment spanning sites keeps each host's own site and that site's role_vars), then one
    compute node template (``deployment_<id>_node_<node>``); a scope of one host shares
    nothing. Each variable of each host is defined
    in exactly one place (its host or one group), so no precedence between these groups matters,
    and the variables a host sees are exactly those hosts_from_document gives it.
    """
    hosts = hosts_from_document(doc) if hosts is None else hosts
    if not hosts:
        return {}, []
    dep_group = group_name("deployment", doc.get("id") or (doc.get("resources") or {}).get("deployment_id"))
    own = [dict(hostvars) for _, _, hostvars in hosts]
    extra_groups = [[] for _ in hosts]
    group_vars = {}

    def hoist(scope_of):
        scopes = {}
        for i, (_, _, hostvars) in enumerate(hosts):
            scopes.setdefault(scope_of(hostvars), []).append(i)
        for name, members in scopes.items():
            if len(members) < 2:  # one host: its variables stay host variables
                continue
            keys = set(own[members[0]])
            for i in members[1:]:
                keys &= own[i].keys()
            shared = {
                key: own[members[0]][key] for key in sorted(keys) if _same([own[i][key] for i in members])
            }
            if not shared:
                continue
            group_vars[name] = shared
            for i in members:
                extra_groups[i].append(name)
                for key in shared:
                    del own[i][key]

    hoist(lambda hv: dep_group)
    hoist(lambda hv: group_name(dep_group, "site", hv.get("infn_cloud_site")))
    hoist(lambda hv: group_name(dep_group, "node", hv.get("infn_cloud_node")))
    out = []
    for i, (host, groups, _) in enumerate(hosts):
        out.append((host, groups + [g for g in extra_groups[i] if g not in groups], own[i]))
    return group_vars, out


def resources_from_servers(deployment_id, servers, ssh_user=None):
    """Deployment resources (docs/federation.md) from OpenStack server documents of several clouds."""
    resources = {"deployment_id": deployment_id, "site": None, "driver": "openstack", "nodes": {}}
    for cloud, server in servers:
        meta = server.get("metadata") or {}
        private_ip = public_ip = None
        for addresses in (server.get("addresses") or {}).values():
            for addr in addresses:
                kind = addr.get("OS-EXT-IPS:type")
                if kind == "floating" and public_ip is None:
                    public_ip = addr.get("addr")
                elif kind != "floating" and private_ip is None and addr.get("version", 4) == 4:
                    private_ip = addr.get("addr")
        node = meta.get("infn_cloud_node") or "ungrouped_servers"
        conn = {"ansible_connection": "ssh", "ansible_host": public_ip or private_ip}
        user = meta.get("infn_cloud_ssh_user") or ssh_user
        if user:
            conn["ansible_user"] = user
        flavor = server.get("flavor") or {}
        resources["nodes"].setdefault(node, []).append(
            {
                "name": server.get("name") or server.get("id"),
                "index": int(meta.get("infn_cloud_index", 0) or 0),
                "id": server.get("id"),
                "status": server.get("status"),
                "private_ip": private_ip,
                "public_ip": public_ip,
                "fqdn": meta.get("infn_cloud_fqdn") or server.get("name"),
                "flavor": flavor.get("original_name") or flavor.get("id"),
                "site": meta.get("infn_cloud_site") or cloud,
                "connection": conn,
            }
        )
    return resources


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "infn.cloud.deployment"

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        if path.endswith(SUFFIXES):
            return True
        self.display.vvv(
            f"infn.cloud.deployment declined {path}: the file name must end with one of {', '.join(SUFFIXES)}"
        )
        return False

    # ------------------------------------------------------------------ data sources
    def _read_document(self, path, inventory_path):
        if not os.path.isabs(path):
            path = os.path.join(os.path.dirname(inventory_path), path)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise AnsibleParserError(f"deployment_file {path}: cannot read it: {exc.strerror}") from None
        try:
            doc = json.loads(text) if path.endswith(".json") or not HAS_YAML else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise AnsibleParserError(
                f"deployment_file {path}: not valid JSON/YAML: {to_native(exc)}"
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("resources"), dict):
            raise AnsibleParserError(
                f"deployment_file {path}: expected a deployment document with keys id, site, plan, resources"
            )
        return doc

    def _list_cloud(self, cloud, deployment_id, page_size):
        import openstack  # imported here: only OpenStack mode needs the SDK

        conn = openstack.connect(cloud=cloud)
        try:
            params = {"tags": f"{TAG_PREFIX}{deployment_id}", "limit": page_size}
            servers, url = [], "/servers/detail"
            while url:
                # One bulk listing per page; microversion 2.26 for tag filters, 2.47 for flavor names.
                resp = conn.compute.get(url, params=params, microversion="2.47")
                if resp.status_code >= 400:
                    raise RuntimeError(f"GET {url}: HTTP {resp.status_code}: {resp.text[:200]}")
                body = resp.json()
                batch = body.get("servers") or []
                servers.extend((cloud, s) for s in batch)
                links = body.get("servers_links") or []
                url = next((link["href"] for link in links if link.get("rel") == "next"), None)
                params = None  # the next link carries the marker and filters
                if url:
                    url = url[url.index("/servers/") :] if "/servers/" in url else url
            return servers
        finally:
            conn.close()

    def _fetch_openstack(self, deployment_id):
        clouds = self.get_option("clouds")
        page_size = self.get_option("page_size")
        results = []
        with ThreadPoolExecutor(max_workers=max(1, min(self.get_option("max_workers"), len(clouds)))) as pool:
            futures = {c: pool.submit(self._list_cloud, c, deployment_id, page_size) for c in clouds}
            for cloud in clouds:
                try:
                    results.extend(futures[cloud].result())
                except ImportError:
                    raise AnsibleParserError(
                        "the clouds option needs openstacksdk (pip install openstacksdk)"
                    ) from None
                except Exception as exc:
                    if self.get_option("fail_on_errors"):
                        raise AnsibleParserError(
                            f"cloud {cloud}: listing servers failed: {to_native(exc)}"
                        ) from exc
                    self.display.warning(f"infn.cloud.deployment: cloud {cloud} skipped: {to_native(exc)}")
        results.sort(key=lambda cs: (cs[0], cs[1].get("name") or "", cs[1].get("id") or ""))
        return resources_from_servers(deployment_id, results, self.get_option("ssh_user"))

    def _load(self, path):
        deployment_file = self.get_option("deployment_file")
        clouds = self.get_option("clouds")
        deployment_id = self.get_option("deployment_id")
        doc = self._read_document(deployment_file, path) if deployment_file else {}
        if clouds:
            deployment_id = deployment_id or doc.get("id")
            if not deployment_id:
                raise AnsibleParserError(
                    f"{path}: clouds needs deployment_id (or a deployment_file with an id)"
                )
            resources = self._fetch_openstack(deployment_id)
            # Host keys pinned at creation (the driver read them from the console) are in the
            # deployment document only: carry them over to the servers listed now, by server id.
            pinned = {
                inst.get("id"): inst.get("host_key")
                for insts in ((doc.get("resources") or {}).get("nodes") or {}).values()
                for inst in insts
                if inst.get("id") and inst.get("host_key")
            }
            for insts in resources["nodes"].values():
                for inst in insts:
                    if inst.get("id") in pinned:
                        inst["host_key"] = pinned[inst["id"]]
            doc = dict(doc, id=deployment_id, resources=resources)
        elif not deployment_file:
            raise AnsibleParserError(f"{path}: set deployment_file, or clouds and deployment_id")
        return doc

    # ------------------------------------------------------------------ parse
    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)

        cache_key = self.get_cache_key(path)
        user_cache_setting = self.get_option("cache")
        attempt_to_read_cache = user_cache_setting and cache
        cache_needs_update = user_cache_setting and not cache
        doc = None
        if attempt_to_read_cache:
            try:
                # A cache plugin may hand back strings tagged as trusted templates: untag once.
                doc = make_unsafe(self._cache[cache_key])
            except KeyError:
                cache_needs_update = True
        if doc is None:
            doc = self._load(path)
        if cache_needs_update:
            self._cache[cache_key] = doc
        self._populate(doc)

    def _populate(self, doc):
        # Never templated: the document and API answers are parsed by json/yaml.safe_load (no
        # string is trusted as a template; a cached document is untagged in parse), and ansible-core
        # (>= 2.19, meta/runtime.yml) trusts nothing an inventory plugin sets unless the plugin
        # declares trusted_by_default. Wrapping every value again cost a third of _populate.
        strict = self.get_option("strict")
        compose = self.get_option("compose")
        groups_option = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        constructed = bool(compose or groups_option or keyed_groups)
        group_vars, hosts = shared_variables(doc)
        # Values every host of a scope shares are set once, on the scope's group: 5,000 hosts
        # then cost a few thousand set_variable calls instead of ~100,000, and
        # `ansible-inventory --list --export` (what AWX imports) writes them once.
        for group, variables in group_vars.items():
            self.inventory.add_group(group)
            for key, value in variables.items():
                self.inventory.set_variable(group, key, value)
        for host, groups, hostvars in hosts:
            self.inventory.add_host(host)
            for group in groups:
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            if constructed:  # core sanitises group names and applies strict consistently
                allvars = {}
                for group in groups:
                    allvars.update(group_vars.get(group) or {})
                allvars.update(hostvars)
                self._set_composite_vars(compose, allvars, host, strict=strict)
                self._add_host_to_composed_groups(groups_option, allvars, host, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, allvars, host, strict=strict)
