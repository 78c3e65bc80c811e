#!/usr/bin/env python3
"""Inventory of 5,000 servers on 7 OpenStack sites: infn.cloud.deployment vs openstack.cloud.openstack.

A loopback HTTP server plays 7 clouds (Keystone v3 token + catalog, Nova version discovery and
/servers/detail with limit/marker pagination and tag filtering), each answering every request
after --latency seconds to stand for a real API's round trip. Both plugins run through
`ansible-inventory --list` on the same data and clouds.yaml. Times include ansible-inventory's own
start-up, which is also measured on an empty inventory and subtracted for the "net" ratio.

openstack.cloud 2.5's plugin reads `openstack.version.__version__` without importing that module,
which openstacksdk 4.x no longer imports for it ("module 'openstack' has no attribute 'version'"),
so both plugins run through the same wrapper that imports it first and then calls
ansible-inventory's own main().

Each plugin runs as `ansible-inventory --list` (every host's variables, group variables merged
in) and as `--list --export` (group variables once per group: what AWX's inventory import
reads); this plugin sets the values all hosts of a scope share as group variables.

--openstack-cloud NAME adds the same comparison against a real Nova (the dev OpenStack of
scripts/openstack-dev.sh, fake virt driver): a project of its own with a raised instance quota
is created, --openstack-servers servers are booted there (one multi-create request, tagged
infn-cloud:<id>), both plugins list them, and everything is deleted again.

Prints times and ratios; asserts nothing about timing (machines differ).
Usage: python tests/benchmarks/bench_inventory.py [--servers 5000] [--sites 7] [--latency 0.05]
         [--openstack-cloud infn-dev-admin --openstack-servers 100] [--skip-openstack-plugin]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = "bench"
TAG = f"infn-cloud:{DEPLOYMENT}"
NODES = ("htc_wn_server", "htc_master_server", "jupyter_server")


def make_servers(total: int, sites: int) -> list[list[dict]]:
    per_site: list[list[dict]] = [[] for _ in range(sites)]
    for n in range(total):
        site = n % sites
        node = NODES[0] if n % 50 else NODES[1 + (n // 50) % 2]
        sid = f"{site:02d}{n:06d}-aaaa-4bbb-8ccc-{n:012d}"
        per_site[site].append(
            {
                "id": sid,
                "name": f"{DEPLOYMENT}-{node.replace('_', '-')}-{n}",
                "status": "ACTIVE",
                "tenant_id": f"project{site}",
                "user_id": "u1",
                "hostId": f"host{n % 97:04d}",
                "created": "2026-01-01T00:00:00Z",
                "updated": "2026-01-01T00:01:00Z",
                "key_name": f"infn-cloud-{DEPLOYMENT}",
                "image": {"id": "5e4d3c2b-8888-4a1b-b2c3-000000000008"},
                "flavor": {
                    "original_name": "medium",
                    "vcpus": 2,
                    "ram": 4096,
                    "disk": 20,
                    "ephemeral": 0,
                    "swap": 0,
                    "extra_specs": {},
                },
                "addresses": {
                    "private_net": [
                        {
                            "addr": f"10.{site}.{n // 250 % 250}.{n % 250 + 2}",
                            "version": 4,
                            "OS-EXT-IPS:type": "fixed",
                            "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01",
                        },
                    ]
                },
                "metadata": {
                    "infn_cloud_deployment": DEPLOYMENT,
                    "infn_cloud_site": f"SITE-{site}",
                    "infn_cloud_node": node,
                    "infn_cloud_index": str(n),
                },
                "tags": [TAG],
                "security_groups": [{"name": f"infn-cloud-{DEPLOYMENT}"}],
                "accessIPv4": "",
                "accessIPv6": "",
                "config_drive": "",
                "progress": 0,
                "OS-DCF:diskConfig": "MANUAL",
                "OS-EXT-AZ:availability_zone": "nova",
                "OS-EXT-STS:power_state": 1,
                "OS-EXT-STS:task_state": None,
                "OS-EXT-STS:vm_state": "active",
                "OS-SRV-USG:launched_at": "2026-01-01T00:00:30.000000",
                "OS-SRV-USG:terminated_at": None,
                "os-extended-volumes:volumes_attached": [],
                "locked": False,
                "description": None,
                "links": [{"rel": "self", "href": f"http://example.invalid/servers/{sid}"}],
            }
        )
    return per_site


def serve(per_site: list[list[dict]], latency: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, status: int, body: dict | None, headers: dict | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _route(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            time.sleep(latency)
            parts = url.path.strip("/").split("/")
            site = int(parts[0][1:])
            rest = "/" + "/".join(parts[1:])
            base = f"http://127.0.0.1:{self.server.server_address[1]}/c{site}"
            version = {
                "id": "v2.1",
                "status": "CURRENT",
                "version": "2.79",
                "min_version": "2.1",
                "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
            }
            if rest == "/identity/v3/auth/tokens":
                catalog = [
                    {
                        "type": "identity",
                        "name": "keystone",
                        "endpoints": [
                            {
                                "interface": "public",
                                "region": "RegionOne",
                                "region_id": "RegionOne",
                                "url": f"{base}/identity/v3",
                            }
                        ],
                    },
                    {
                        "type": "compute",
                        "name": "nova",
                        "endpoints": [
                            {
                                "interface": "public",
                                "region": "RegionOne",
                                "region_id": "RegionOne",
                                "url": f"{base}/compute/v2.1",
                            }
                        ],
                    },
                ]
                token = {
                    "token": {
                        "methods": ["password"],
                        "expires_at": "2099-01-01T00:00:00.000000Z",
                        "user": {"id": "u1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
                        "project": {
                            "id": f"project{site}",
                            "name": "bench",
                            "domain": {"id": "default", "name": "Default"},
                        },
                        "roles": [{"id": "r", "name": "member"}],
                        "catalog": catalog,
                    }
                }
                self._send(201, token, {"X-Subject-Token": f"token-{site}"})
            elif rest.rstrip("/") in ("/identity/v3", "/identity"):
                self._send(
                    200,
                    {
                        "version": {
                            "id": "v3.14",
                            "status": "stable",
                            "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
                        }
                    },
                )
            elif rest.rstrip("/") == "/compute/v2.1":
                self._send(200, {"version": version})
            elif rest.rstrip("/") == "/compute":
                self._send(200, {"versions": [version]})
            elif rest == "/compute/v2.1/servers/detail":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                servers = per_site[site]
                if "tags" in query:
                    servers = [s for s in servers if query["tags"] in s["tags"]]
                start = 0
                if "marker" in query:
                    start = next(i for i, s in enumerate(servers) if s["id"] == query["marker"]) + 1
                limit = int(query.get("limit", 1000))
                page = servers[start : start + limit]
                body: dict = {"servers": page}
                if start + limit < len(servers):
                    extra = f"&tags={query['tags']}" if "tags" in query else ""
                    body["servers_links"] = [
                        {
                            "rel": "next",
                            "href": f"{base}/compute/v2.1/servers/detail?"
                            f"limit={limit}&marker={page[-1]['id']}{extra}",
                        }
                    ]
                self._send(200, body)
            else:
                self._send(404, {"itemNotFound": {"code": 404, "message": f"no such resource {rest}"}})

        do_GET = do_POST = do_HEAD = _route

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


INVENTORY = (
    "import sys, openstack.version; from ansible.cli.inventory import main; "
    "sys.argv[0] = 'ansible-inventory'; sys.exit(main())"
)


def timed(argv: list[str], env: dict) -> tuple[float, dict | None]:
    """Seconds ansible-inventory took, and its JSON output."""
    argv = [sys.executable, "-c", INVENTORY, *argv[1:]]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode})")
    return elapsed, json.loads(proc.stdout)


def hostvar_count(listing: dict) -> int:
    """Variables written for hosts plus those written for groups."""
    per_host = sum(len(v) for v in listing["_meta"]["hostvars"].values())
    per_group = sum(len(g.get("vars") or {}) for k, g in listing.items() if k != "_meta")
    return per_host + per_group


def compare(label: str, ours: Path, theirs: Path | None, empty: Path, env: dict, expected: int) -> int:
    """Run both plugins with --list and --list --export; print times, hosts and variables written."""
    base, _ = timed(["ansible-inventory", "-i", str(empty), "--list"], env)
    print(f"{label}: ansible-inventory start-up (empty inventory): {base:6.2f} s")
    status = 0
    rows = [("infn.cloud.deployment", ours)] + ([("openstack.cloud.openstack", theirs)] if theirs else [])
    results = {}
    for name, path in rows:
        for mode in ("--list", "--list --export"):
            seconds, listing = timed(["ansible-inventory", "-i", str(path), *mode.split()], env)
            hosts = len(listing["_meta"]["hostvars"])
            results[name, mode] = seconds
            print(
                f"  {name:26s} {mode:16s} {seconds:6.2f} s  {hosts} hosts, "
                f"{hostvar_count(listing)} variables written"
            )
            if hosts != expected:
                print(f"warning: {name} found {hosts} hosts, {expected} expected", file=sys.stderr)
                status = 1
    if theirs:
        for mode in ("--list", "--list --export"):
            t_ours, t_theirs = (
                results["infn.cloud.deployment", mode],
                results["openstack.cloud.openstack", mode],
            )
            print(
                f"  ratio openstack/ours {mode}: {t_theirs / t_ours:.1f}x total, "
                f"{(t_theirs - base) / max(t_ours - base, 1e-3):.1f}x net of start-up"
            )
    return status


def plugin_files(
    tmp: Path, prefix: str, clouds: list[str], deployment: str, page_size: int
) -> tuple[Path, Path]:
    names = json.dumps(sorted(clouds))
    ours = tmp / f"{prefix}.infn_cloud.yml"
    ours.write_text(
        f"plugin: infn.cloud.deployment\nclouds: {names}\ndeployment_id: {deployment}\n"
        f"page_size: {page_size}\nmax_workers: {max(1, len(clouds))}\n"
    )
    theirs = tmp / f"{prefix}.openstack.yml"
    theirs.write_text(
        f"plugin: openstack.cloud.openstack\nonly_clouds: {names}\nexpand_hostvars: false\n"
        "fail_on_errors: true\n"
    )
    return ours, theirs


def real_nova(args, tmp: Path, empty: Path) -> int:
    """Boot servers on a real Nova in a project of our own, compare both plugins, delete it all."""
    import openstack

    config = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if not config:
        raise SystemExit(
            "--openstack-cloud needs OS_CLIENT_CONFIG_FILE (scripts/openstack-dev.sh status prints it)"
        )
    admin = openstack.connect(cloud=args.openstack_cloud)
    deployment = f"bench-inv-{os.getpid()}"
    project = admin.identity.create_project(name=f"infn-cloud-{deployment}", domain_id="default")
    status = 1
    try:
        user = admin.identity.find_user(admin.auth["username"], domain_id="default")
        role = admin.identity.find_role("member") or admin.identity.find_role("admin")
        admin.identity.assign_project_role_to_user(project, user, role)
        admin.set_compute_quotas(project.id, instances=args.openstack_servers + 5, cores=-1, ram=-1)
        admin.set_network_quotas(project.id, port=args.openstack_servers + 20)
        auth = dict(admin.auth, project_name=project.name, project_domain_name="Default")
        auth.pop("project_id", None)
        cloud = {"auth": auth, "region_name": admin.config.get_region_name(), "identity_api_version": 3}
        clouds_file = tmp / "real-clouds.yaml"
        clouds_file.touch(mode=0o600)
        clouds_file.write_text(json.dumps({"clouds": {deployment: cloud}}))
        conn = openstack.connect(load_yaml_config=False, load_envvars=False, **cloud)
        flavor = conn.compute.find_flavor("small")
        image = conn.image.find_image("debian-12")
        network = conn.network.find_network("private_net")
        started = time.perf_counter()
        conn.compute.create_server(
            name=f"{deployment}-htc-wn-server",
            flavor_id=flavor.id,
            image_id=image.id,
            networks=[{"uuid": network.id}],
            metadata={"infn_cloud_node": "htc_wn_server", "infn_cloud_site": "DEV-OPENSTACK"},
            min_count=args.openstack_servers,
            max_count=args.openstack_servers,
        )
        deadline = time.monotonic() + 600
        while True:
            servers = list(conn.compute.servers(name=f"^{deployment}-"))
            states = [s.status for s in servers]
            if len(servers) == args.openstack_servers and all(st == "ACTIVE" for st in states):
                break
            if "ERROR" in states or time.monotonic() > deadline:
                raise SystemExit(f"booting {args.openstack_servers} servers failed: {sorted(set(states))}")
            time.sleep(2)
        for server in servers:  # tags: one call per server (multi-create takes no tags)
            conn.compute.add_tag_to_server(server, f"{TAG_PREFIX}{deployment}")
        print(
            f"real Nova ({args.openstack_cloud}, project {project.name}): {len(servers)} servers ACTIVE "
            f"and tagged in {time.perf_counter() - started:.1f} s"
        )
        ours, theirs = plugin_files(tmp, "real", [deployment], deployment, args.page_size)
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds_file), **ANSIBLE_ENV}
        status = compare(
            "real Nova", ours, None if args.skip_openstack_plugin else theirs, empty, env, len(servers)
        )
    finally:
        try:
            for server in admin.compute.servers(all_projects=True, project_id=project.id):
                admin.compute.delete_server(server, force=True)
            deadline = time.monotonic() + 300
            while list(admin.compute.servers(all_projects=True, project_id=project.id)):
                if time.monotonic() > deadline:
                    print(f"warning: servers of project {project.name} still there", file=sys.stderr)
                    break
                time.sleep(2)
            for port in admin.network.ports(project_id=project.id):
                admin.network.delete_port(port)
        finally:
            admin.identity.delete_project(project)
            print(f"real Nova: servers and project {project.name} deleted")
    return status


TAG_PREFIX = "infn-cloud:"
ANSIBLE_ENV = {
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_INVENTORY_ENABLED": "infn.cloud.deployment,openstack.cloud.openstack,ansible.builtin.yaml",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=5000)
    parser.add_argument("--sites", type=int, default=7)
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds each API answer takes (default 0.05)"
    )
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--skip-openstack-plugin", action="store_true", help="time this plugin only")
    parser.add_argument(
        "--openstack-cloud", help="clouds.yaml entry (admin) of a real OpenStack to compare on too"
    )
    parser.add_argument("--openstack-servers", type=int, default=100)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-inventory-"))
    empty = tmp / "empty.yml"
    empty.write_text("all:\n  hosts: {}\n")
    status = 0
    if args.servers:
        per_site = make_servers(args.servers, args.sites)
        server = serve(per_site, args.latency)
        port = server.server_address[1]
        clouds = {
            f"c{i}": {
                "auth_type": "v3password",
                "auth": {
                    "auth_url": f"http://127.0.0.1:{port}/c{i}/identity/v3",
                    "username": "demo",
                    "password": "demo",
                    "project_name": "bench",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "region_name": "RegionOne",
                "identity_api_version": "3",
            }
            for i in range(args.sites)
        }
        (tmp / "clouds.yaml").write_text(json.dumps({"clouds": clouds}))
        ours, theirs = plugin_files(tmp, "bench", list(clouds), DEPLOYMENT, args.page_size)
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(tmp / "clouds.yaml"), **ANSIBLE_ENV}
        latency_ms = args.latency * 1000
        print(f"{args.servers} servers on {args.sites} clouds, {latency_ms:.0f} ms per API answer, loopback")
        try:
            status |= compare(
                "replayed", ours, None if args.skip_openstack_plugin else theirs, empty, env, args.servers
            )
        finally:
            server.shutdown()
    if args.openstack_cloud:
        status |= real_nova(args, tmp, empty)
    return status


if __name__ == "__main__":
    sys.exit(main())
