"""The openstack driver against a real OpenStack: scripts/openstack-dev.sh (Keystone, Placement,
Nova with the fake virt driver, Neutron, Glance, Cinder on loopback).

What is real here: every API call, microversion, tag filter, quota check, scheduling through
Placement, Neutron port binding, Cinder volume attachment, asynchronous states and error bodies.
What is not: there is no hypervisor (the fake virt driver) and no network dataplane, so nothing
boots and no address answers. The cloud is started once (``up`` reuses a running one) and shared
by the module; each test uses its own deployment id and checks that nothing of it is left.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prereq import require

from infn_cloud.errors import OperationFailed
from infn_cloud.federation import get_driver, load_registry, select_sites

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),  # openstacksdk RemovedInSDK*
]
ROOT = Path(__file__).resolve().parents[3]
STATE = Path(os.environ.get("OPENSTACK_DEV_DIR") or ROOT / ".cache" / "openstack")
CLOUD = "infn-dev"  # the site's clouds.yaml entry in the registry
GROUPS = {"group-a": "infn-dev-a", "group-b": "infn-dev-b"}  # user group -> project on the site
PROJECTS = GROUPS
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2qYJ7C0ZcK3d2rZ1bW2v5l2mI0Yp8n0wZ4b1c2d3e4 test@infn"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """The dev OpenStack (started when not running); OS_CLIENT_CONFIG_FILE points at a
    clouds.yaml written as an operator would for per-group credentials: the site's entry
    ``infn-dev`` (infn-dev-a's user) and one entry per project, ``infn-dev/<project>``, each
    with that project's own user; plus the dev cloud's own entries (admin, per project)."""
    res = subprocess.run(
        [str(ROOT / "scripts/openstack-dev.sh"), "up"],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    require(
        res.returncode == 0,
        f"scripts/openstack-dev.sh up failed (exit {res.returncode}): {(res.stdout + res.stderr)[-1500:]}",
    )
    clouds = json.loads((STATE / "clouds.yaml").read_text())["clouds"]
    for project in PROJECTS.values():
        clouds[f"{CLOUD}/{project}"] = clouds[project]
    clouds[CLOUD] = clouds["infn-dev-a"]
    path = tmp_path_factory.mktemp("clouds") / "clouds.yaml"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"clouds": clouds}))
    old = os.environ.get("OS_CLIENT_CONFIG_FILE")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(path)
    yield STATE
    if old is None:
        os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
    else:
        os.environ["OS_CLIENT_CONFIG_FILE"] = old


def _conn(cloud_name: str):
    import openstack

    return openstack.connect(cloud=cloud_name)


@pytest.fixture(scope="module")
def admin(cloud):
    return _conn("infn-dev-admin")


@pytest.fixture
def plan() -> dict:
    """htcondor_cluster: a master (port 9618, floating IP, a 5 GB volume) and one worker."""
    plan = json.loads((ROOT / "tests/fixtures/plans/htcondor_cluster.json").read_text())
    plan["compute"]["htc_wn_server"]["count"] = 1
    return plan


def _registry(sites: tuple[str, ...] = ("RECAS-BARI",), groups: dict[str, dict] | None = None):
    """The INFN registry with these sites on the dev cloud: clouds.yaml entry ``infn-dev``,
    group-a mapped to project infn-dev-a and group-b to infn-dev-b (per-group credentials).
    RECAS-BARI's flavors (small/medium/large), images (debian-13) and networks (public,
    private_net) exist on the dev cloud; the backbone sites are given the same."""
    registry = load_registry(ROOT / "inventories" / "infn-cloud")
    bari = registry.site("RECAS-BARI")
    for name in sites:
        registry.sites[name] = dataclasses.replace(
            registry.site(name),
            driver="openstack",
            cloud=CLOUD,
            ssh_cidr="10.0.0.0/8",
            identity_providers={"infn-cloud": dict((groups or {}).get(name) or GROUPS)},
            regions=bari.regions,
            flavors=bari.flavors,
            images=bari.images,
            networks=bari.networks,
            ssh_user=bari.ssh_user,
        )
    return registry


def _driver(project: str | None = "infn-dev-a", site: str = "RECAS-BARI", **options):
    """The driver as a new process builds it for a deployment of the group mapped to project."""
    return get_driver(
        _registry((site,)).site(site),
        public_key=KEY,
        poll_interval=0.5,
        host_key_timeout=60,
        project=project,
        **options,
    )


def _placement(plan: dict, group: str = "group-a"):
    return select_sites(plan, _registry(), group=group, policy="RECAS-BARI").best


def _dep() -> str:
    return f"it{uuid.uuid4().hex[:8]}"


def inventory_of(admin, deployment_id: str) -> dict[str, list[str]]:
    """Every resource of a deployment, found by its label, in every project (admin's view)."""
    tag = f"infn-cloud:{deployment_id}"
    desc = f"infn.cloud deployment {deployment_id}"
    servers = list(admin.compute.servers(all_projects=True, tags=tag))
    server_ids = {s.id for s in servers}
    return {
        "servers": sorted(s.name for s in servers),
        "ports": sorted(p.id for p in admin.network.ports() if p.device_id in server_ids),
        "security_groups": sorted(
            g.name for g in admin.network.security_groups(tags=[tag]) if g.description == desc
        ),
        "floating_ips": sorted(f.floating_ip_address for f in admin.network.ips(tags=[tag])),
        "volumes": sorted(
            v.name
            for v in admin.block_storage.volumes(all_projects=True)
            if (v.metadata or {}).get("infn_cloud_deployment") == deployment_id
        ),
        "keypairs": sorted(
            k.name for k in _conn_keypairs(deployment_id) if k.name == f"infn-cloud-{deployment_id}"
        ),
    }


def _conn_keypairs(deployment_id: str):
    found = []
    for project in ("infn-dev-a", "infn-dev-b"):  # keypairs belong to users
        found += list(_conn(project).compute.keypairs())
    return found


def _empty(admin, deployment_id: str) -> dict:
    return {k: v for k, v in inventory_of(admin, deployment_id).items() if v}


def _fake_host_key(server_id: str) -> str:
    """The key the dev cloud's fake virt driver prints for a server (see infn_fake_virt.py)."""

    def field(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    blob = field(b"ssh-ed25519") + field(hashlib.sha256(server_id.encode()).digest())
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


@pytest.fixture
def hooks(cloud):
    """The fake virt driver's hook files; removed after the test."""
    path = cloud / "hooks"
    yield path
    for name in ("fail-spawn", "spawn-delay"):
        (path / name).unlink(missing_ok=True)


def test_create_labels_attaches_and_delete_leaves_nothing(cloud, admin, plan, tmp_path):
    dep = _dep()
    driver = _driver()
    assert _empty(admin, dep) == {}
    try:
        res = driver.create(dep, plan, _placement(plan))
        found = inventory_of(admin, dep)
        assert found["servers"] == [f"{dep}-htc-master-server-0", f"{dep}-htc-wn-server-0"]
        assert found["security_groups"] == [
            f"infn-cloud-{dep}",
            f"infn-cloud-{dep}-htc-master-server",
            f"infn-cloud-{dep}-htc-wn-server",
        ]
        assert len(found["floating_ips"]) == 1 and len(found["volumes"]) == 1
        assert found["keypairs"] == [f"infn-cloud-{dep}"]
        assert len(found["ports"]) == 2

        master = res["nodes"]["htc_master_server"][0]
        worker = res["nodes"]["htc_wn_server"][0]
        assert master["status"] == worker["status"] == "ACTIVE"
        # Nova really scheduled them (Placement) and Neutron really bound their ports
        server = admin.compute.get_server(master["id"])
        assert server.tags == [f"infn-cloud:{dep}"]
        assert server.metadata["infn_cloud_deployment"] == dep
        assert server.key_name == f"infn-cloud-{dep}"
        assert server.flavor["original_name"] == master["flavor"]
        assert {g["name"] for g in server.security_groups} == {
            f"infn-cloud-{dep}",
            f"infn-cloud-{dep}-htc-master-server",
        }
        ports = list(admin.network.ports(device_id=master["id"]))
        assert [p.binding_vif_type for p in ports] == ["ovs"] and ports[0].status == "ACTIVE"
        # the floating IP is the master's public address and points at its port
        (fip,) = admin.network.ips(tags=[f"infn-cloud:{dep}"])
        assert fip.port_id == ports[0].id and master["public_ip"] == fip.floating_ip_address
        assert worker["public_ip"] is None and worker["private_ip"].startswith("10.0.")
        # the volume is attached to the master by Nova and Cinder (in-use)
        (vol,) = (
            v for v in admin.block_storage.volumes(all_projects=True) if v.id == res["volumes"][0]["id"]
        )
        assert vol.status == "in-use" and vol.size == 5
        assert [a["server_id"] for a in vol.attachments] == [master["id"]]
        # host keys pinned from each server's console output, each its own
        assert master["host_key"] == _fake_host_key(master["id"])
        assert worker["host_key"] == _fake_host_key(worker["id"])
        # SSH only from ssh_cidr, 9618 from its remote_cidr, members from each other
        (sg,) = admin.network.security_groups(name=f"infn-cloud-{dep}-htc-master-server")
        rules = sorted(
            (r.protocol, r.port_range_min, r.remote_ip_prefix)
            for r in admin.network.security_group_rules(security_group_id=sg.id, direction="ingress")
        )
        assert rules == [("tcp", 22, "10.0.0.0/8"), ("tcp", 9618, "0.0.0.0/0")]
        # describe (what a new process sees) equals what create returned, host keys aside
        described = _driver().describe(dep)
        assert [n["id"] for n in described["nodes"]["htc_master_server"]] == [master["id"]]
        assert described["floating_ips"] == res["floating_ips"]
        _check_inventories(tmp_path, dep, plan, res)
    finally:
        deleted = driver.delete(dep)
    assert sorted(d.split("/")[0] for d in deleted) == [
        "floating_ip",
        "keypair",
        "security_group",
        "security_group",
        "security_group",
        "server",
        "server",
        "volume",
    ]
    assert _empty(admin, dep) == {}
    assert driver.delete(dep) == []  # idempotent


def _ansible_inventory(path: Path) -> dict:
    proc = subprocess.run(
        ["ansible-inventory", "-i", str(path), "--list"],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _unsafe(value):
    return value.get("__ansible_unsafe", value) if isinstance(value, dict) else value


def _check_inventories(tmp_path: Path, dep: str, plan: dict, res: dict) -> None:
    """The plugin's OpenStack mode lists the deployment from Nova, with the keys pinned at creation."""
    doc = tmp_path / f"{dep}.json"
    doc.write_text(json.dumps({"id": dep, "site": "RECAS-BARI", "plan": plan, "resources": res}))
    inv = tmp_path / "os.infn_cloud.yml"
    inv.write_text(
        f"plugin: infn.cloud.deployment\nclouds: [infn-dev-a]\ndeployment_id: {dep}\n"
        f"ssh_user: debian\ndeployment_file: {doc}\n"
    )
    listing = _ansible_inventory(inv)
    master = res["nodes"]["htc_master_server"][0]
    worker = res["nodes"]["htc_wn_server"][0]
    assert listing["htc_master_server"]["hosts"] == [master["name"]]
    assert listing["htc_wn_server"]["hosts"] == [worker["name"]]
    hv = {k: _unsafe(v) for k, v in listing["_meta"]["hostvars"][master["name"]].items()}
    assert hv["ansible_host"] == master["public_ip"] and hv["IM_NODE_CLOUD_TYPE"] == "OpenStack"
    assert hv["IM_NODE_PRIVATE_IP"] == master["private_ip"]
    assert hv["ansible_ssh_common_args"] == f'-o "KnownHostsCommand=/bin/echo %H {master["host_key"]}"'


def test_over_quota_is_reported_and_cleaned_up(cloud, admin, plan):
    """Project B may run one instance: the second server is refused by Nova's quota, at the API or,
    when both requests passed its check at once, at build time (the recheck: the server goes to ERROR)."""
    project = admin.identity.find_project("infn-dev-b")
    admin.set_compute_quotas(project.id, instances=1)
    dep = _dep()
    driver = _driver("infn-dev-b")
    try:
        with pytest.raises(OperationFailed) as err:
            driver.create(dep, plan, _placement(plan, "group-b"))
    finally:
        admin.set_compute_quotas(project.id, instances=20)
        driver.delete(dep)
    assert "quota exceeded" in err.value.message and "nstances" in err.value.message
    assert any(d.startswith("cleaned up: ") and "server/" in d for d in err.value.details)
    assert _empty(admin, dep) == {}


def test_server_in_error_is_reported_and_cleaned_up(cloud, admin, plan, hooks):
    """The fake virt driver refuses to spawn the worker: Nova puts it in ERROR."""
    dep = _dep()
    (hooks / "fail-spawn").write_text(f"{dep}-htc-wn-server\n")
    driver = _driver()
    with pytest.raises(OperationFailed) as err:
        driver.create(dep, plan, _placement(plan))
    assert f"server {dep}-htc-wn-server-0 went to ERROR" in err.value.message
    assert _empty(admin, dep) == {}


def test_kill_9_mid_provision_then_delete(cloud, admin, plan, hooks, tmp_path):
    """The client dies (SIGKILL) while servers are building: delete from a new process finds all."""
    dep = _dep()
    (hooks / "spawn-delay").write_text("15")
    script = tmp_path / "create.py"
    script.write_text(
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_openstack_driver import _driver, _placement\n"
        f"plan = json.loads({json.dumps(json.dumps(plan))})\n"
        f"_driver().create({dep!r}, plan, _placement(plan))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while len(inventory_of(admin, dep)["servers"]) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the client made no server in 120 s"
            time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        left = inventory_of(admin, dep)
        assert len(left["servers"]) == 2 and left["volumes"] == [] and left["floating_ips"] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        (hooks / "spawn-delay").unlink(missing_ok=True)
    deleted = _driver().delete(dep)
    assert sum(d.startswith("server/") for d in deleted) == 2
    assert _empty(admin, dep) == {}


def test_per_group_credentials_isolate_the_groups_deployments(cloud, admin, plan):
    """group-a's deployment lives in infn-dev-a (the registry's mapping, clouds.yaml entry
    infn-dev/infn-dev-a), group-b's in infn-dev-b: neither sees nor deletes the other's."""
    plan["compute"] = {"htc_wn_server": plan["compute"]["htc_wn_server"]}
    dep_a, dep_b = _dep(), _dep()
    # as infn-cloud deploy builds it: no project given, the placement's (the group's) is used
    a = get_driver(_registry().site("RECAS-BARI"), public_key=KEY, poll_interval=0.5, host_key_timeout=60)
    b = get_driver(_registry().site("RECAS-BARI"), public_key=KEY, poll_interval=0.5, host_key_timeout=60)
    try:
        placement_a, placement_b = _placement(plan, "group-a"), _placement(plan, "group-b")
        assert (placement_a.project, placement_b.project) == ("infn-dev-a", "infn-dev-b")
        res_a = a.create(dep_a, plan, placement_a)
        res_b = b.create(dep_b, plan, placement_b)
        assert a.cloud_entry() == ("infn-dev/infn-dev-a", {})
        owner = {p.id: p.name for p in admin.identity.projects()}
        (server_a,) = res_a["nodes"]["htc_wn_server"]
        (server_b,) = res_b["nodes"]["htc_wn_server"]
        assert owner[admin.compute.get_server(server_a["id"]).project_id] == "infn-dev-a"
        assert owner[admin.compute.get_server(server_b["id"]).project_id] == "infn-dev-b"
        # B's credentials do not show A's servers, and the other way round (new processes)
        assert _driver("infn-dev-b").describe(dep_a)["nodes"] == {}
        assert _driver("infn-dev-a").describe(dep_b)["nodes"] == {}
        # deleting B's id with A's credentials removes nothing; A's own delete leaves B's intact
        assert _driver("infn-dev-a").delete(dep_b) == []
        assert _driver("infn-dev-a").remove_instances(dep_b, [server_b["name"]]) == []
        assert len(_driver("infn-dev-a").delete(dep_a)) > 0
        assert _empty(admin, dep_a) == {}
        assert inventory_of(admin, dep_b)["servers"] == [server_b["name"]]
        assert admin.compute.get_server(server_b["id"]).status == "ACTIVE"
    finally:
        _driver("infn-dev-a").delete(dep_a)
        _driver("infn-dev-b").delete(dep_b)
    assert _empty(admin, dep_a) == {} and _empty(admin, dep_b) == {}


def test_token_scoped_to_a_project_the_user_has_no_role_in_is_refused(cloud):
    """Without an entry infn-dev/<project>, the site's entry is scoped to the group's project:
    Keystone accepts it for the user's own project and refuses another, said clearly."""
    site = dataclasses.replace(_registry().site("RECAS-BARI"), cloud="infn-dev-a")  # no per-project entries
    ok = get_driver(site, project="infn-dev-a")
    assert ok.cloud_entry() == ("infn-dev-a", {"auth": {"project_name": "infn-dev-a"}})
    assert ok.describe(_dep())["nodes"] == {}
    with pytest.raises(OperationFailed) as err:
        get_driver(site, project="infn-dev-b").describe(_dep())
    assert "cannot authenticate with clouds.yaml entry 'infn-dev-a' scoped to project infn-dev-b" in (
        err.value.message
    )
    secret = json.loads((STATE / "clouds.yaml").read_text())["clouds"]["infn-dev-a"]["auth"]["password"]
    assert secret not in str(err.value) + " ".join(err.value.details)


def test_create_is_idempotent_and_remove_instances_takes_only_those(cloud, admin, plan):
    """Interfaces I1 on the real cloud: a second create adds nothing and restarts nothing;
    remove_instances removes the named servers with their floating IP and volume only; a
    create with a larger count adds fresh indices."""
    dep = _dep()
    plan["compute"]["htc_wn_server"]["count"] = 2
    driver = _driver()
    try:
        first = driver.create(dep, plan, _placement(plan))
        ids = {n["name"]: n["id"] for nodes in first["nodes"].values() for n in nodes}
        assert sorted(ids) == [
            f"{dep}-htc-master-server-0",
            f"{dep}-htc-wn-server-0",
            f"{dep}-htc-wn-server-1",
        ]
        again = _driver().create(dep, plan, _placement(plan))
        assert {n["name"]: n["id"] for nodes in again["nodes"].values() for n in nodes} == ids
        assert len(inventory_of(admin, dep)["security_groups"]) == 3

        master, wn1 = f"{dep}-htc-master-server-0", f"{dep}-htc-wn-server-1"
        removed = _driver().remove_instances(dep, [master, wn1])
        assert sorted(r.split("/")[0] for r in removed) == ["floating_ip", "server", "server", "volume"]
        assert f"server/{master}" in removed and f"server/{wn1}" in removed
        left = inventory_of(admin, dep)
        assert left["servers"] == [f"{dep}-htc-wn-server-0"]
        assert left["volumes"] == [] and left["floating_ips"] == []
        # what the deployment shares stays: its security groups and keypair
        assert len(left["security_groups"]) == 3 and left["keypairs"] == [f"infn-cloud-{dep}"]
        assert _driver().remove_instances(dep, [master, wn1]) == []  # idempotent

        plan["compute"]["htc_wn_server"]["count"] = 3
        grown = _driver().create(dep, plan, _placement(plan))
        names = sorted(n["name"] for nodes in grown["nodes"].values() for n in nodes)
        assert names == [
            f"{dep}-htc-master-server-0",
            f"{dep}-htc-wn-server-0",
            f"{dep}-htc-wn-server-1",
            f"{dep}-htc-wn-server-2",
        ]
        kept = next(n for n in grown["nodes"]["htc_wn_server"] if n["index"] == 0)
        assert kept["id"] == ids[f"{dep}-htc-wn-server-0"]  # never recreated
        assert len(inventory_of(admin, dep)["security_groups"]) == 3  # not made twice
        assert len(grown["volumes"]) == 1 and len(grown["floating_ips"]) == 1
    finally:
        driver.delete(dep)
    assert _empty(admin, dep) == {}


def _spanning(plan: dict):
    """(registry, candidate): the master on BACKBONE-CNAF (group-a -> infn-dev-a), the worker
    on BACKBONE-BARI (group-a -> infn-dev-b): the dev cloud's two projects stand in for the
    two backbone sites. The candidate is built as selection builds a spanning one (node_sites,
    per_site with each site's project from the registry); selection itself is tested elsewhere."""
    sites = ("BACKBONE-CNAF", "BACKBONE-BARI")
    registry = _registry(
        sites, {"BACKBONE-CNAF": {"group-a": "infn-dev-a"}, "BACKBONE-BARI": {"group-a": "infn-dev-b"}}
    )
    single = _placement(plan)
    per_site = {}
    for name in sites:
        idp, project = registry.site(name).project_for("group-a")
        per_site[name] = {
            "region": registry.site(name).regions[0],
            "identity_provider": idp,
            "project": project,
        }
    candidate = dataclasses.replace(
        single,
        site=sites[0],
        kind="backbone",
        region=per_site[sites[0]]["region"],
        project=per_site[sites[0]]["project"],
        node_sites={"htc_master_server": sites[0], "htc_wn_server": sites[1]},
        per_site=per_site,
    )
    return registry, candidate


def test_spanning_two_openstack_sites(cloud, admin, plan, monkeypatch):
    """One deployment across two OpenStack backbone sites (driver_for): each node in its
    site's project; a failure at one site cleans both; delete site by site leaves nothing."""
    from infn_cloud.federation.drivers import driver_for, site_driver

    registry, candidate = _spanning(plan)
    owner = {p.id: p.name for p in admin.identity.projects()}
    dep = _dep()
    options = {"public_key": KEY, "poll_interval": 0.5, "host_key_timeout": 60}
    try:
        res = driver_for(registry, candidate, **options).create(dep, plan, candidate)
        master, worker = res["nodes"]["htc_master_server"][0], res["nodes"]["htc_wn_server"][0]
        assert (master["site"], worker["site"]) == ("BACKBONE-CNAF", "BACKBONE-BARI")
        assert owner[admin.compute.get_server(master["id"]).project_id] == "infn-dev-a"
        assert owner[admin.compute.get_server(worker["id"]).project_id] == "infn-dev-b"
        assert res["sites"] == ["BACKBONE-CNAF", "BACKBONE-BARI"]
    finally:
        # as infn-cloud delete does it, from a new process: site by site, each with its project
        for name, project in (("BACKBONE-CNAF", "infn-dev-a"), ("BACKBONE-BARI", "infn-dev-b")):
            site_driver(registry, name, project=project, poll_interval=0.5).delete(dep)
    assert _empty(admin, dep) == {}

    failing = _dep()
    monkeypatch.setenv("INFN_CLOUD_FAIL_SITES", "BACKBONE-BARI")
    with pytest.raises(OperationFailed) as err:
        driver_for(registry, candidate, **options).create(failing, plan, candidate)
    assert "BACKBONE-BARI" in err.value.message + " ".join(err.value.details)
    assert _empty(admin, failing) == {}
