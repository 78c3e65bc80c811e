"""openstack driver and inventory OpenStack mode against hand-written API exchanges on loopback.

The exchanges (tests/fixtures/openstack, README there) are written from the OpenStack API
reference, not recorded from a live cloud: these tests check the exact calls the driver makes,
what it sends and what it does with the answers, not how a real Nova/Neutron/Cinder behaves.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from openstack_replay import FIXTURES, Replay, clouds_yaml

from infn_cloud.errors import OperationFailed, ValidationError
from infn_cloud.federation import get_driver, load_registry, select_sites
from infn_cloud.federation.drivers.openstack import host_keys_from_console, node_rules, valid_host_key

pytest.importorskip("openstack")
# openstacksdk's own deprecation notices about its internals, not about our calls
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*(InfluxDB|service_type).*")
ROOT = Path(__file__).resolve().parents[3]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2qYJ7C0ZcK3d2r test@infn"
TAG = "infn-cloud:demo1"
DESC = "infn.cloud deployment demo1"
SG_MEMBERS = "0b6a3f2e-3333-4c1d-8e2f-000000000003"
SG_MASTER = "0b6a3f2e-3333-4c1d-8e2f-000000000013"
SG_WN = "0b6a3f2e-3333-4c1d-8e2f-000000000023"


def _console_key(scenario: str, server_id: str, key_type: str) -> str:
    """The key of key_type the fixture's console shows for a server (read from the fixture)."""
    data = json.loads((FIXTURES / f"{scenario}.json").read_text())
    for ex in data["exchanges"]:
        if ex["request"]["path"].endswith(f"/servers/{server_id}/action"):
            for line in ex["response"]["json"]["output"].splitlines():
                if line.startswith(key_type + " "):
                    return " ".join(line.split()[:2])
    raise AssertionError(f"no {key_type} key for {server_id} in {scenario}")


@pytest.fixture
def setup(tmp_path, monkeypatch, plan):
    """(driver factory, plan, placement) for RECAS-BARI with its cloud pointed at the replay server.

    The plan keeps htc_master_server (port 9618, floating IP, a volume); with both=True also one
    htc_wn_server (no ports).
    """
    registry = load_registry(ROOT / "inventories" / "infn-cloud")
    site = dataclasses.replace(registry.site("RECAS-BARI"), cloud="replay")

    def make_plan(both: bool = False):
        chosen = dict(plan)
        chosen["compute"] = {"htc_master_server": plan["compute"]["htc_master_server"]}
        if both:
            chosen["compute"]["htc_wn_server"] = dict(plan["compute"]["htc_wn_server"], count=1)
        placement = select_sites(chosen, registry, group="admins/cygno", policy="RECAS-BARI").best
        return chosen, placement

    def driver(replay: Replay, **options):
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml(tmp_path, replay.base)))
        return get_driver(site, retry_delay=0.01, poll_interval=0.01, public_key=KEY, **options)

    return driver, make_plan


def _assert_exact(replay: Replay) -> None:
    assert replay.unmatched == [], [f"{u['method']} {u['path']}" for u in replay.unmatched]
    assert replay.pending() == []


def _failed_create(setup, scenario: str) -> tuple[OperationFailed, Replay]:
    """create() of a replayed scenario that fails: the error and the replay, every exchange
    used exactly once."""
    make, make_plan = setup
    plan, placement = make_plan()
    with Replay(scenario) as replay:
        with pytest.raises(OperationFailed) as info:
            make(replay).create("demo1", plan, placement)
        _assert_exact(replay)
    return info.value, replay


def _posts(replay: Replay, suffix: str) -> list[dict]:
    return [r["json"] for r in replay.log if r["method"] == "POST" and r["path"].endswith(suffix)]


def test_create_labels_everything_it_creates(setup):
    """Servers and volumes carry their labels in the create request; security groups and floating
    IPs their description, then the tag in a PUT (a real Neutron refuses tags in these POSTs)."""
    make, make_plan = setup
    plan, placement = make_plan(both=True)
    progress: list[str] = []
    with Replay("create_success") as replay:
        res = make(replay).create("demo1", plan, placement, progress=progress.append)
        _assert_exact(replay)
        puts = replay.calls("PUT")
        servers = [b["server"] for b in _posts(replay, "/servers")]
        server_versions = [
            r["headers"].get("openstack-api-version")
            for r in replay.log
            if r["method"] == "POST" and r["path"].endswith("/servers")
        ]
        groups = [b["security_group"] for b in _posts(replay, "/security-groups")]
        fips = [b["floatingip"] for b in _posts(replay, "/floatingips")]
        volumes = [b["volume"] for b in _posts(replay, "/volumes")]
    # one tag PUT per security group and floating IP, each right after its POST
    assert puts == [
        f"PUT /network/v2.0/security-groups/{SG_MEMBERS}/tags/{TAG}",
        f"PUT /network/v2.0/security-groups/{SG_MASTER}/tags/{TAG}",
        f"PUT /network/v2.0/security-groups/{SG_WN}/tags/{TAG}",
        f"PUT /network/v2.0/floatingips/e1d2c3b4-6666-4a5b-8c7d-000000000006/tags/{TAG}",
    ]
    # tags in the body need 2.52; the SDK negotiates the highest version both sides know
    assert len(server_versions) == 2
    for version in server_versions:
        service, _, number = version.partition(" ")
        assert service == "compute" and tuple(map(int, number.split("."))) >= (2, 52), version
    assert [s["name"] for s in servers] == ["demo1-htc-master-server-0", "demo1-htc-wn-server-0"]
    for server in servers:
        assert server["tags"] == [TAG]
        assert server["metadata"]["infn_cloud_deployment"] == "demo1"
    assert servers[0]["flavorRef"] == "fl-medium" and servers[1]["flavorRef"] == "fl-small"
    assert servers[0]["security_groups"] == [{"name": SG_MEMBERS}, {"name": SG_MASTER}]
    assert servers[1]["security_groups"] == [{"name": SG_MEMBERS}, {"name": SG_WN}]
    assert [(g["name"], g["description"], g.get("tags")) for g in groups] == [
        ("infn-cloud-demo1", DESC, None),
        ("infn-cloud-demo1-htc-master-server", DESC, None),
        ("infn-cloud-demo1-htc-wn-server", DESC, None),
    ]
    assert fips == [
        {
            "floating_network_id": "6f1c2a9e-2222-4b7e-9a1e-000000000002",
            "port_id": "a9b8c7d6-7777-4e5f-9a0b-000000000007",
            "description": DESC,
        }
    ]
    assert volumes[0]["metadata"]["infn_cloud_deployment"] == "demo1"
    node = res["nodes"]["htc_master_server"][0]
    assert node["public_ip"] == "212.189.205.33" and node["private_ip"] == "192.168.10.15"
    assert node["connection"] == {"ansible_connection": "ssh", "ansible_host": "212.189.205.33"}
    assert res["volumes"][0]["mount_path"] == "/scratch"
    assert [g["name"] for g in res["security_groups"]] == [
        "infn-cloud-demo1",
        "infn-cloud-demo1-htc-master-server",
        "infn-cloud-demo1-htc-wn-server",
    ]
    assert any("ACTIVE" in p for p in progress)


def test_security_groups_are_per_node_with_exact_rules(setup):
    make, make_plan = setup
    plan, placement = make_plan(both=True)
    with Replay("create_success") as replay:
        make(replay).create("demo1", plan, placement)
        rules = [b["security_group_rule"] for b in _posts(replay, "/security-group-rules")]

    def of(group):
        return sorted(
            (
                r.get("protocol"),
                r.get("port_range_min"),
                r.get("port_range_max"),
                r.get("remote_ip_prefix"),
                r.get("remote_group_id"),
            )
            for r in rules
            if r["security_group_id"] == group
        )

    assert all(r["direction"] == "ingress" and r["ethertype"] == "IPv4" for r in rules)
    # members: only traffic from the deployment's own servers
    assert of(SG_MEMBERS) == [(None, None, None, None, SG_MEMBERS)]
    # master: SSH from the registry's ssh_cidr, its own port 9618 from its remote_cidr
    assert of(SG_MASTER) == [
        ("tcp", 22, 22, "131.154.0.0/16", None),
        ("tcp", 9618, 9618, "0.0.0.0/0", None),
    ]
    # worker: declares no port, so SSH from ssh_cidr only (9618 is not opened on it)
    assert of(SG_WN) == [("tcp", 22, 22, "131.154.0.0/16", None)]
    assert len(rules) == 4


def test_console_host_keys_are_pinned(setup):
    make, make_plan = setup
    plan, placement = make_plan(both=True)
    with Replay("create_success") as replay:
        res = make(replay).create("demo1", plan, placement)
        _assert_exact(replay)
        console_reads = [r for r in replay.log if r["path"].endswith("/action")]
    master = res["nodes"]["htc_master_server"][0]
    worker = res["nodes"]["htc_wn_server"][0]
    # ed25519 is preferred over the ECDSA key printed first; each server has its own key
    assert master["host_key"] == _console_key("create_success", master["id"], "ssh-ed25519")
    assert worker["host_key"] == _console_key("create_success", worker["id"], "ssh-ed25519")
    assert master["host_key"] != worker["host_key"]
    # the master's first read came before cloud-init finished the block: it was read again
    assert len(console_reads) == 3
    assert console_reads[0]["json"] == {"os-getConsoleOutput": {}}


def test_pinned_key_reaches_the_inventory(tmp_path, setup):
    """The deployment document's host_key becomes a KnownHostsCommand for that host only."""
    make, make_plan = setup
    plan, placement = make_plan(both=True)
    with Replay("create_success") as replay:
        res = make(replay).create("demo1", plan, placement)
    doc = tmp_path / "demo1.json"
    doc.write_text(json.dumps({"id": "demo1", "site": "RECAS-BARI", "plan": plan, "resources": res}))
    inv = tmp_path / "demo1.infn_cloud.yml"
    inv.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {doc}\n")
    listing = _inventory(inv)
    master = res["nodes"]["htc_master_server"][0]
    args = _unsafe(listing["_meta"]["hostvars"][master["name"]]["ansible_ssh_common_args"])
    assert args == f'-o "KnownHostsCommand=/bin/echo %H {master["host_key"]}"'


def test_registry_ssh_cidr_is_required_and_checked(make_registry):
    from federation_helpers import base_site

    site = base_site("A", driver="openstack", cloud="a")
    with pytest.raises(ValidationError) as info:
        load_registry(make_registry({"A": site}))
    assert any("sites/A.yml: ssh_cidr: required for driver openstack" in d for d in info.value.details)
    with pytest.raises(ValidationError) as info:
        load_registry(make_registry({"A": dict(site, ssh_cidr="10.0.0.1/8")}))
    assert any("ssh_cidr: expected a network in CIDR notation" in d for d in info.value.details)
    registry = load_registry(make_registry({"A": dict(site, ssh_cidr="0.0.0.0/0")}))
    assert registry.site("A").ssh_cidr == "0.0.0.0/0"  # the world, because the registry says so
    local = load_registry(make_registry({"A": base_site("A")}))  # local sites need none
    assert local.site("A").ssh_cidr is None


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ({"port": 22, "protocol": "tcp", "remote_cidr": "0.0.0.0/0"}, "would open SSH wider"),
        ({"port": "20-30", "protocol": "tcp", "remote_cidr": "131.0.0.0/8"}, "would open SSH wider"),
        ({"port": 70000, "protocol": "tcp"}, "is not a port"),
        ({"port": "80; rm", "protocol": "tcp"}, "is not a port"),
        ({"port": 80, "protocol": "sctp"}, "protocol 'sctp'"),
        ({"port": 80, "protocol": "tcp", "remote_cidr": "everywhere"}, "is not a network"),
    ],
)
def test_bad_ports_are_refused_before_anything_is_created(setup, port, expected):
    make, make_plan = setup
    plan, placement = make_plan()
    plan["compute"]["htc_master_server"] = dict(plan["compute"]["htc_master_server"], ports=[port])
    with Replay() as replay:
        with pytest.raises(ValidationError) as info:
            make(replay).create("demo1", plan, placement)
        assert replay.log == []  # refused before any API call
    assert expected in info.value.message and "node htc_master_server: ports[0]" in info.value.message
    assert info.value.exit_code == 2


def test_node_rules_ssh_inside_ssh_cidr_and_ipv6():
    rules = node_rules(
        "S",
        "131.154.0.0/16",
        "n",
        {
            "ports": [
                {"port": 22, "protocol": "tcp", "remote_cidr": "131.154.10.0/24"},
                {"port": "8000-8100", "protocol": "udp", "remote_cidr": "2001:db8::/32"},
            ]
        },
    )
    assert [(p, lo, hi, str(n)) for p, lo, hi, n in rules] == [
        ("tcp", 22, 22, "131.154.0.0/16"),
        ("tcp", 22, 22, "131.154.10.0/24"),
        ("udp", 8000, 8100, "2001:db8::/32"),
    ]
    with pytest.raises(ValidationError, match="the registry sets no ssh_cidr"):
        node_rules("S", None, "n", {})


def test_old_nova_is_refused_before_anything_is_created(setup):
    error, replay = _failed_create(setup, "old_nova")
    assert [c for c in replay.calls() if "/identity" not in c] == ["GET /compute/v2.1/"]
    assert "microversions up to 2.47" in error.message and "needs 2.52" in error.message


def test_quota_exceeded_cleans_up(setup):
    error, _ = _failed_create(setup, "quota_exceeded")
    assert "quota exceeded" in error.message and "instances" in error.message
    assert error.details == [
        "cleaned up: security_group/infn-cloud-demo1-htc-master-server, "
        "security_group/infn-cloud-demo1, keypair/infn-cloud-demo1"
    ]


def test_quota_exceeded_at_build_time_is_reported_as_quota_and_cleans_up(setup):
    # Concurrent requests can all pass Nova's API check; its recheck then puts a server in ERROR.
    error, _ = _failed_create(setup, "quota_at_build")
    assert (
        ": quota exceeded: server demo1-htc-master-server-0 went to ERROR: Quota exceeded for instances"
        in error.message
    )
    assert error.message.count("site ") == 1  # the site named once, not once per layer
    assert "server/demo1-htc-master-server-0" in error.details[0]


def test_server_error_reports_fault_and_cleans_up(setup):
    error, replay = _failed_create(setup, "server_error")
    assert "DELETE" in {r["method"] for r in replay.log}
    assert "went to ERROR: No valid host was found" in error.message
    assert "server/demo1-htc-master-server-0" in error.details[0]


def test_partial_failure_retries_then_removes_everything(setup):
    error, replay = _failed_create(setup, "partial_failure")
    volume_posts = _posts(replay, "/volumes")
    deletes = replay.calls("DELETE")
    assert len(volume_posts) == 2  # the 503 was retried
    assert "gigabytes quota" in error.message
    assert len(deletes) == 5  # server, leftover volume, two security groups, keypair
    assert error.details == [
        "cleaned up: server/demo1-htc-master-server-0, volume/demo1-htc-master-server-0-scratch, "
        "security_group/infn-cloud-demo1-htc-master-server, security_group/infn-cloud-demo1, "
        "keypair/infn-cloud-demo1"
    ]


def test_failed_tag_call_leaves_nothing_behind(setup):
    """The group is made, its tag PUT fails; cleanup still finds it by its description."""
    error, replay = _failed_create(setup, "tag_call_fails")
    group = _posts(replay, "/security-groups")[0]["security_group"]
    listing = next(r for r in replay.log if r["method"] == "GET" and r["path"].endswith("/security-groups"))
    assert "tags" not in group and group["description"] == DESC
    assert "HTTP 500" in error.message
    assert listing["query"] == {"description": [DESC]}  # found by description, not by the missing tag
    assert error.details == ["cleaned up: security_group/infn-cloud-demo1"]


def test_unreadable_console_is_a_clear_error_and_cleans_up(setup):
    make, make_plan = setup
    plan, placement = make_plan()
    master = plan["compute"]["htc_master_server"]
    plan["compute"]["htc_master_server"] = dict(master, volumes=[], public_ip=False)
    with Replay("console_without_keys") as replay:
        started = time.monotonic()
        with pytest.raises(OperationFailed) as info:
            make(replay, host_key_timeout=0.3).create("demo1", plan, placement)
        elapsed = time.monotonic() - started
        _assert_exact(replay)
        reads = [r for r in replay.log if r["path"].endswith("/action")]
    message = info.value.message
    assert "cannot pin the SSH host key of server demo1-htc-master-server-0" in message
    assert "-----BEGIN SSH HOST KEY KEYS-----" in message and "after 0 s" in message
    assert "cloud-init" in info.value.details[0]
    assert len(reads) >= 2 and elapsed < 20  # polled until the deadline, not forever
    assert info.value.details[-1] == (
        "cleaned up: server/demo1-htc-master-server-0, security_group/infn-cloud-demo1-htc-master-server, "
        "security_group/infn-cloud-demo1, keypair/infn-cloud-demo1"
    )


def test_delete_finds_untagged_leftovers_by_name_and_metadata(setup):
    make, _ = setup
    with Replay("delete_after_crash") as replay:
        driver = make(replay)
        first = driver.delete("demo1")
        second = driver.delete("demo1")
        _assert_exact(replay)
        server_deletes = [c for c in replay.calls("DELETE") if "/servers/" in c]
        name_queries = [r["query"] for r in replay.log if r["path"].endswith("/servers/detail")]
    assert first == [
        "floating_ip/212.189.205.33",
        "server/demo1-htc-master-server-0",
        "volume/demo1-htc-master-server-0-scratch",
        "security_group/infn-cloud-demo1-htc-master-server",
        "security_group/infn-cloud-demo1",
        "keypair/infn-cloud-demo1",
    ]
    assert second == []
    # the untagged server was found by name prefix + metadata; demo1-x's server was left alone
    assert {"name": ["^demo1-"]} in name_queries
    assert server_deletes == ["DELETE /compute/v2.1/servers/9d2e4c1a-4444-4f3b-a1c2-000000000004"]


_KILL_SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, sys
    from infn_cloud.federation import get_driver, load_registry, select_sites
    registry = load_registry(sys.argv[1])
    plan = json.loads(open(sys.argv[2]).read())
    placement = select_sites(plan, registry, group="admins/cygno", policy="RECAS-BARI").best
    site = dataclasses.replace(registry.site("RECAS-BARI"), cloud="replay")
    driver = get_driver(site, retry_delay=0.01, poll_interval=0.01, public_key=sys.argv[3])
    driver.create("demo1", plan, placement)
    """
)


def test_killed_after_server_post_then_delete_removes_everything(setup, tmp_path):
    """SIGKILL the CLI while Nova makes the server: a new process's delete finds all of it."""
    make, make_plan = setup
    plan, _ = make_plan()
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    with Replay("killed_after_server_post") as replay:
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds_yaml(tmp_path, replay.base))}
        started: list[subprocess.Popen] = []
        replay.on_kill = lambda: (started[0].send_signal(signal.SIGKILL), started[0].wait(timeout=30))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _KILL_SCRIPT,
                str(ROOT / "inventories" / "infn-cloud"),
                str(plan_file),
                KEY,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
        server_post = _posts(replay, "/servers")[0]["server"]
        assert server_post["tags"] == [TAG]  # the server Nova made carries the tag: delete can find it
        removed = make(replay).delete("demo1")
        _assert_exact(replay)
    assert removed == [
        "server/demo1-htc-master-server-0",
        "security_group/infn-cloud-demo1-htc-master-server",
        "security_group/infn-cloud-demo1",
        "keypair/infn-cloud-demo1",
    ]


def _ed25519_line(body: bytes = b"k" * 32) -> str:
    blob = len(b"ssh-ed25519").to_bytes(4, "big") + b"ssh-ed25519" + len(body).to_bytes(4, "big") + body
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def test_console_parser_accepts_only_well_formed_keys():
    good = _ed25519_line()
    forged_type = good.replace("ssh-ed25519", "ssh-rsa", 1)  # blob still says ssh-ed25519
    console = "\n".join(
        [
            "[   12.0] cloud-init[790]: -----BEGIN SSH HOST KEY KEYS-----",
            'ssh-ed25519 AAAA" -o ProxyCommand=touch /tmp/pwned root@x',
            forged_type + " root@x",
            f"[   12.1] cloud-init[790]: {good} root@x",
            "[   12.2] cloud-init[790]: -----END SSH HOST KEY KEYS-----",
            "-----BEGIN SSH HOST KEY KEYS-----",  # a later block (printed by a user) is ignored
            _ed25519_line(b"z" * 32),
            "-----END SSH HOST KEY KEYS-----",
        ]
    )
    assert host_keys_from_console(console) == [good]
    assert valid_host_key(forged_type) is None
    assert valid_host_key("ssh-ed25519 AAAA\nssh-ed25519 BBBB") is None
    assert host_keys_from_console("-----BEGIN SSH HOST KEY KEYS-----\n" + good) == []  # unfinished
    assert host_keys_from_console("no block at all") == []


def test_inventory_refuses_a_host_key_that_is_not_a_key(tmp_path):
    doc = tmp_path / "d.json"
    node = {
        "name": "demo1-a-0",
        "index": 0,
        "id": "i",
        "connection": {"ansible_connection": "ssh", "ansible_host": "192.0.2.1"},
        "host_key": 'ssh-ed25519 AAAA" -o "ProxyCommand=touch /tmp/pwned',
    }
    doc.write_text(json.dumps({"id": "demo1", "resources": {"driver": "openstack", "nodes": {"a": [node]}}}))
    inv = tmp_path / "d.infn_cloud.yml"
    inv.write_text(f"plugin: infn.cloud.deployment\ndeployment_file: {doc}\n")
    proc = _run_inventory(inv)
    assert proc.returncode != 0
    assert "host demo1-a-0: host_key" in proc.stderr and "is not an SSH public host key" in proc.stderr


def _run_inventory(inv: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-inventory", "-i", str(inv), "--list"],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _inventory(inv: Path, env: dict | None = None) -> dict:
    proc = _run_inventory(inv, env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _unsafe(value):
    # --list shows data the plugin marked unsafe as {"__ansible_unsafe": value}
    return value.get("__ansible_unsafe", value) if isinstance(value, dict) else value


def test_inventory_openstack_mode(tmp_path):
    """clouds mode lists the tagged servers; host keys come from the deployment file by server id."""
    key = _console_key("create_success", "9d2e4c1a-4444-4f3b-a1c2-000000000004", "ssh-ed25519")
    doc = tmp_path / "demo1.json"
    doc.write_text(
        json.dumps(
            {
                "id": "demo1",
                "resources": {
                    "nodes": {
                        "htc_master_server": [
                            {
                                "name": "demo1-htc-master-server-0",
                                "id": "9d2e4c1a-4444-4f3b-a1c2-000000000004",
                                "host_key": key,
                            }
                        ]
                    }
                },
            }
        )
    )
    with Replay("create_success") as replay:
        # the scenario starts with create's look for existing servers (none): not the inventory's
        replay.used[:2] = [True, True]
        config = clouds_yaml(tmp_path, replay.base)
        inv = tmp_path / "os.infn_cloud.yml"
        inv.write_text(
            "plugin: infn.cloud.deployment\nclouds: [replay]\ndeployment_id: demo1\nssh_user: debian\n"
            f"deployment_file: {doc}\n"
        )
        listing = _inventory(inv, {"OS_CLIENT_CONFIG_FILE": str(config)})
    host = "demo1-htc-master-server-0"
    assert listing["htc_master_server"]["hosts"] == [host]
    assert listing["htc_wn_server"]["hosts"] == ["demo1-htc-wn-server-0"]
    assert listing["site_recas_bari"]["hosts"] == [host, "demo1-htc-wn-server-0"]
    hv = {k: _unsafe(v) for k, v in listing["_meta"]["hostvars"][host].items()}
    assert isinstance(listing["_meta"]["hostvars"][host]["ansible_host"], dict)  # marked unsafe
    assert hv["ansible_host"] == "212.189.205.33" and hv["ansible_user"] == "debian"
    assert hv["IM_NODE_PUBLIC_IP"] == "212.189.205.33" and hv["IM_NODE_CLOUD_TYPE"] == "OpenStack"
    assert hv["ansible_ssh_common_args"] == f'-o "KnownHostsCommand=/bin/echo %H {key}"'
    # the worker is not in the deployment file: no pinned key, nothing invented
    assert "ansible_ssh_common_args" not in listing["_meta"]["hostvars"]["demo1-htc-wn-server-0"]
