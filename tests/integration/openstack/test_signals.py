"""Live site signals against the dev OpenStack (scripts/openstack-dev.sh): real Keystone, Nova,
Cinder, Neutron and Glance answering the limits, quota, flavor and image calls.

The module makes its own two projects and users with the admin cloud (never touching the shared
test projects' quotas), lowers one project's Nova quota, makes a private flavor, and removes all
of it at the end. Sites of a temporary registry point at these projects.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from prereq import require

from infn_cloud.cli import main
from infn_cloud.errors import NoSiteError
from infn_cloud.federation import load_registry, select_sites
from infn_cloud.federation.signals import DOWN, UP, gather

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),  # openstacksdk RemovedInSDK*
]
ROOT = Path(__file__).resolve().parents[3]
STATE = Path(os.environ.get("OPENSTACK_DEV_DIR") or ROOT / ".cache" / "openstack")
TAG = f"h7sig{uuid.uuid4().hex[:6]}"
TIMEOUT = 20  # per site: the real cloud shares a loaded machine (CI); a closed port is said at once


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """Two projects of our own (A: quota of 4 servers and 8 cores, B: defaults), a clouds.yaml
    with their users, and the admin connection; everything made here is removed afterwards."""
    res = subprocess.run(
        [str(ROOT / "scripts/openstack-dev.sh"), "up"],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    require(res.returncode == 0, f"scripts/openstack-dev.sh up failed: {(res.stdout + res.stderr)[-1500:]}")
    import openstack

    base = json.loads((STATE / "clouds.yaml").read_text())
    admin_entry = base["clouds"]["infn-dev-admin"]
    admin = openstack.connect(load_yaml_config=False, **_flat(admin_entry))
    member = admin.identity.find_role("member")
    made = {"projects": [], "users": [], "flavors": []}
    clouds = {"clouds": {}}
    try:
        for suffix in ("a", "b"):
            name = f"{TAG}-{suffix}"
            project = admin.identity.create_project(name=name, domain_id="default")
            made["projects"].append(project)
            password = secrets.token_urlsafe(16)
            user = admin.identity.create_user(
                name=name, password=password, domain_id="default", default_project_id=project.id
            )
            made["users"].append(user)
            admin.identity.assign_project_role_to_user(project, user, member)
            auth = dict(admin_entry["auth"], username=name, password=password, project_name=name)
            clouds["clouds"][name] = dict(admin_entry, auth=auth)
        admin.set_compute_quotas(made["projects"][0].id, instances=4, cores=8)
        path = tmp_path_factory.mktemp("signals") / "clouds.yaml"
        path.write_text(json.dumps(clouds))
        os.chmod(path, 0o600)
        old = os.environ.get("OS_CLIENT_CONFIG_FILE")
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(path)
        yield {"admin": admin, "made": made, "projects": made["projects"]}
    finally:
        if "old" in locals():
            if old is None:
                os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
            else:
                os.environ["OS_CLIENT_CONFIG_FILE"] = old
        for flavor in made["flavors"]:
            admin.compute.delete_flavor(flavor, ignore_missing=True)
        for user in made["users"]:
            admin.identity.delete_user(user, ignore_missing=True)
        for project in made["projects"]:
            admin.identity.delete_project(project, ignore_missing=True)


def _flat(entry: dict) -> dict:
    return {"auth": entry["auth"], "region_name": entry["region_name"], "identity_api_version": "3"}


@pytest.fixture(scope="module")
def registry_dir(cloud, tmp_path_factory) -> Path:
    """SITE-A (quota-limited project, SLA 70) and SITE-B (default quotas, SLA 70): RECAS-BARI's
    flavors, images and networks, which the dev cloud has; registry quotas as placeholders."""
    recas = yaml.safe_load((ROOT / "inventories/infn-cloud/sites/RECAS-BARI.yml").read_text())
    root = tmp_path_factory.mktemp("registry")
    (root / "sites").mkdir()
    (root / "federation.yml").write_text(yaml.safe_dump({"name": "signals", "default_group": "admins/cygno"}))
    for suffix in ("a", "b"):
        site = dict(recas, name=f"SITE-{suffix.upper()}", cloud=f"{TAG}-{suffix}", sla_priority=70)
        (root / "sites" / f"SITE-{suffix.upper()}.yml").write_text(yaml.safe_dump(site))
    return root


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def plan() -> dict:
    """htcondor_cluster: a 2-CPU master (volume, floating IP) and workers (count set by tests)."""
    return json.loads((ROOT / "tests/fixtures/plans/htcondor_cluster.json").read_text())


def test_a_low_project_quota_is_seen_refused_and_ranked(cloud, registry_dir, state, plan):
    registry = load_registry(registry_dir)
    signals = gather(registry, timeout=TIMEOUT)
    a, b = signals["SITE-A"], signals["SITE-B"]
    assert (a.status, b.status) == (UP, UP), (a.reason, b.reason)
    assert (a.limits["instances"], a.limits["cores"]) == (4, 8)  # set with the admin cloud
    assert b.limits["instances"] > 4
    # 3 servers fit both, but SITE-A is left with less: same SLA, it ranks second
    sel = select_sites(plan, registry, signals=signals)
    assert [c.site for c in sel.candidates] == ["SITE-B", "SITE-A"]
    assert sel.candidates[1].score_parts["capacity"] < sel.candidates[0].score_parts["capacity"]
    # 5 servers: over SITE-A's live quota (the registry says 200), so it is refused
    plan["compute"]["htc_wn_server"]["count"] = 4
    sel = select_sites(plan, registry, signals=signals)
    assert [c.site for c in sel.candidates] == ["SITE-B"]
    assert sel.rejected["SITE-A"].startswith("quota exceeded: instances needs 5, quota 4")
    offline = select_sites(plan, registry)  # without signals the placeholder quota lets it pass
    assert "SITE-A" in [c.site for c in offline.candidates]


def test_a_flavor_made_on_the_cloud_appears_after_refresh(cloud, registry_dir, state, plan, capsys):
    registry = load_registry(registry_dir)
    gather(registry, ["SITE-B"], timeout=TIMEOUT)  # cached now
    plan["compute"] = {"big": dict(plan["compute"]["htc_wn_server"], count=1, num_cpus=6, mem_size_mb=1024)}
    with pytest.raises(NoSiteError) as err:  # the dev cloud's largest flavor has 4 CPUs
        select_sites(plan, registry, policy="SITE-B", signals=gather(registry, ["SITE-B"]))
    assert any(d.startswith("SITE-B: no flavor for node big") for d in err.value.details)
    admin = cloud["admin"]
    name = f"{TAG}.6cpu"
    flavor = admin.compute.create_flavor(name=name, vcpus=6, ram=1024, disk=10, is_public=False)
    cloud["made"]["flavors"].append(flavor)
    admin.compute.flavor_add_tenant_access(flavor, cloud["projects"][1].id)  # SITE-B's project only
    cached = gather(registry, ["SITE-B"])["SITE-B"]
    assert cached.source == "cache" and name not in {f["name"] for f in cached.flavors}
    assert (
        main(
            [
                "sites",
                "--registry",
                str(registry_dir),
                "refresh",
                "SITE-B",
                "--json",
                "--timeout",
                str(TIMEOUT),
            ]
        )
        == 0
    )
    live = json.loads(capsys.readouterr().out)["sites"]["SITE-B"]
    assert name in {f["name"] for f in live["flavors"]}
    best = select_sites(plan, registry, policy="SITE-B", signals=gather(registry, ["SITE-B"])).best
    assert best.flavors["big"]["name"] == name
    assert name not in {
        f["name"] for f in gather(registry, ["SITE-A"], refresh=True, timeout=TIMEOUT)["SITE-A"].flavors
    }


def test_a_site_whose_auth_url_is_a_closed_port_is_skipped_in_time(
    cloud, registry_dir, state, plan, tmp_path
):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    clouds = json.loads(Path(os.environ["OS_CLIENT_CONFIG_FILE"]).read_text())
    entry = clouds["clouds"][f"{TAG}-a"]
    clouds["clouds"][f"{TAG}-a"] = dict(
        entry, auth=dict(entry["auth"], auth_url=f"http://127.0.0.1:{port}/v3")
    )
    path = tmp_path / "clouds.yaml"
    path.write_text(json.dumps(clouds))
    old = os.environ["OS_CLIENT_CONFIG_FILE"]
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(path)
    try:
        registry = load_registry(registry_dir)
        start = time.monotonic()
        signals = gather(registry, timeout=TIMEOUT)
        took = time.monotonic() - start
    finally:
        os.environ["OS_CLIENT_CONFIG_FILE"] = old
    assert took < TIMEOUT + 1, took  # never more than timeout + 1 s
    assert signals["SITE-B"].status == UP, signals["SITE-B"].reason
    assert signals["SITE-A"].status == DOWN
    assert signals["SITE-A"].elapsed_s < 10, signals["SITE-A"]  # refused: said at once, no waiting
    sel = select_sites(plan, registry, signals=signals)
    assert [c.site for c in sel.candidates] == ["SITE-B"]
    assert sel.rejected["SITE-A"].startswith("site is down (live signal): health probe: unreachable")
