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

Prints times and ratios; asserts nothing about timing (machines differ).
Usage: python tests/benchmarks/bench_inventory.py [--servers 5000] [--sites 7] [--latency 0.05]
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
    argv = [sys.executable, "-c", INVENTORY, *argv[1:]]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode})")
    return elapsed, json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=5000)
    parser.add_argument("--sites", type=int, default=7)
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds each API answer takes (default 0.05)"
    )
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()

    per_site = make_servers(args.servers, args.sites)
    server = serve(per_site, args.latency)
    port = server.server_address[1]
    tmp = Path(tempfile.mkdtemp(prefix="bench-inventory-"))
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
    names = json.dumps(sorted(clouds))
    ours = tmp / "bench.infn_cloud.yml"
    ours.write_text(
        f"plugin: infn.cloud.deployment\nclouds: {names}\ndeployment_id: {DEPLOYMENT}\n"
        f"page_size: {args.page_size}\nmax_workers: {args.sites}\n"
    )
    theirs = tmp / "bench.openstack.yml"
    theirs.write_text(
        f"plugin: openstack.cloud.openstack\nonly_clouds: {names}\nexpand_hostvars: false\n"
        "fail_on_errors: true\n"
    )
    empty = tmp / "empty.yml"
    empty.write_text("all:\n  hosts: {}\n")
    env = {
        **os.environ,
        "OS_CLIENT_CONFIG_FILE": str(tmp / "clouds.yaml"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_INVENTORY_ENABLED": "infn.cloud.deployment,openstack.cloud.openstack,ansible.builtin.yaml",
    }

    latency_ms = args.latency * 1000
    print(f"{args.servers} servers on {args.sites} clouds, {latency_ms:.0f} ms per API answer, loopback")
    base, _ = timed(["ansible-inventory", "-i", str(empty), "--list"], env)
    t_ours, inv_ours = timed(["ansible-inventory", "-i", str(ours), "--list"], env)
    t_theirs, inv_theirs = timed(["ansible-inventory", "-i", str(theirs), "--list"], env)
    n_ours = len(inv_ours["_meta"]["hostvars"])
    n_theirs = len(inv_theirs["_meta"]["hostvars"])
    server.shutdown()

    print(f"ansible-inventory start-up (empty inventory): {base:6.2f} s")
    print(f"infn.cloud.deployment (concurrent):           {t_ours:6.2f} s  {n_ours} hosts")
    print(f"openstack.cloud.openstack:                    {t_theirs:6.2f} s  {n_theirs} hosts")
    print(
        f"ratio openstack/ours: {t_theirs / t_ours:.1f}x total, "
        f"{(t_theirs - base) / max(t_ours - base, 1e-3):.1f}x net of start-up"
    )
    if n_ours != args.servers or n_theirs != args.servers:
        print("warning: host counts differ from the number of servers served", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
