"""Live site signals (infn_cloud/federation/signals.py) without a cloud.

OpenStack answers come from tests/fixtures/openstack/signals.json replayed on loopback
(openstack_replay.py): openstacksdk and keystoneauth make their real HTTP calls. The probe
tests use a closed port and a socket that never answers; the local site's podman is replaced by
a fake usage(). The real cloud: tests/integration/openstack/test_signals.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
import time

import pytest
from federation_helpers import base_site
from openstack_replay import Replay, clouds_yaml

from infn_cloud.cli import main
from infn_cloud.errors import InfnCloudError, NoSiteError, ValidationError
from infn_cloud.federation import load_registry, select_sites
from infn_cloud.federation import signals as sig_mod
from infn_cloud.federation.signals import DOWN, DOWN_TTL_S, UNKNOWN, UP, gather

# openstacksdk warns about its own future (InfluxDB, service_type): not this code's concern
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def _os_site(name: str = "OS-A", cloud: str = "replay", **overrides) -> dict:
    return base_site(
        name,
        driver="openstack",
        cloud=cloud,
        ssh_cidr="10.0.0.0/8",
        regions=["RegionOne"],
        quotas={
            "instances": 50,
            "cores": 100,
            "ram_mb": 409600,
            "volumes": 50,
            "volume_gb": 1000,
            "public_ips": 10,
        },
        flavors=[
            {"name": "m1.small", "vcpus": 1, "ram_mb": 2048, "disk_gb": 20},
            {"name": "m1.medium", "vcpus": 2, "ram_mb": 4096, "disk_gb": 20},
            {"name": "old.flavor", "vcpus": 8, "ram_mb": 16384, "disk_gb": 80},
        ],
        images=[
            {
                "distribution": "debian",
                "versions": ["13"],
                "image": "debian-13",
                "default": True,
                "user": "debian",
            },
            {"distribution": "rocky", "versions": ["9"], "image": "rocky-9", "user": "rocky"},
        ],
        capabilities={"gpu_models": ["A30"], "object_storage": False, "replicated_object_storage": False},
        **overrides,
    )


@pytest.fixture
def registry(make_registry):
    return load_registry(make_registry({"OS-A": _os_site()}))


@pytest.fixture
def state(tmp_path, monkeypatch):
    path = tmp_path / "state"
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(path))
    return path


@pytest.fixture
def replay(tmp_path, monkeypatch):
    with Replay("signals") as r:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml(tmp_path, r.base)))
        yield r


def _plan(plan: dict, **changes) -> dict:
    """htcondor_cluster: 3 servers (a 2-CPU master with a 5 GB volume and a floating IP)."""
    for node, spec in changes.items():
        plan["compute"][node].update(spec)
    return plan


# ------------------------------------------------------------------ what a site says
def test_openstack_quotas_flavors_and_images_from_the_apis(registry, replay, state):
    out = gather(registry)["OS-A"]
    assert (out.status, out.source, out.reason) == (UP, "live", None)
    assert out.limits == {
        "instances": 10, "cores": 40, "ram_mb": 81920, "volumes": -1, "volume_gb": 100, "public_ips": 5
    }  # fmt: skip
    assert out.used["public_ips"] == 4  # used 3 + reserved 1
    free = out.free(registry.site("OS-A").quotas)
    # min(registry cap, live limit) - used; -1 (no limit) leaves the registry's cap
    assert free == {
        "instances": 2,
        "cores": 36,
        "ram_mb": 73728,
        "volumes": 41,
        "volume_gb": 10,
        "public_ips": 1,
    }
    names = [f["name"] for f in out.flavors]
    assert "m1.retired" not in names  # disabled
    gpu = next(f for f in out.flavors if f["name"] == "gpu.a30")
    assert (gpu["gpus"], gpu["gpu_model"]) == (1, "A30")  # alias a30:1 -> the site's model name
    assert [i["name"] for i in out.images] == ["alma-9-custom", "debian-13"]  # both pages
    assert replay.unmatched == []
    assert "GET /compute/v2.1/limits" in replay.calls()
    assert "GET /network/v2.0/quotas/0a1b2c3d4e5f40718293a4b5c6d7e8f9/details" in replay.calls()


def test_selection_refuses_a_site_whose_live_quota_is_full(registry, replay, state, plan):
    offline = select_sites(plan, registry, group="users")
    assert offline.best.site == "OS-A"  # the registry says 50 instances
    with pytest.raises(NoSiteError) as err:
        select_sites(plan, registry, group="users", signals=gather(registry))
    assert "OS-A: quota exceeded: instances needs 3, quota 2" in err.value.details


def test_flavors_and_images_the_site_has_are_used_and_missing_ones_dropped(registry, replay, state, plan):
    plan = _plan(
        plan,
        htc_master_server={"num_cpus": 12, "os": {"distribution": "almalinux", "version": "9"}},
        htc_wn_server={"count": 1},
    )
    with pytest.raises(NoSiteError, match="no site"):  # registry: no 12-CPU flavor, no AlmaLinux
        select_sites(plan, registry, group="users")
    best = select_sites(plan, registry, group="users", signals=gather(registry)).best
    assert best.flavors["htc_master_server"]["name"] == "m1.new"
    assert best.images["htc_master_server"] == {
        "image": "alma-9-custom", "distribution": "almalinux", "version": "9", "user": "almalinux"
    }  # fmt: skip
    assert best.flavors["htc_wn_server"]["name"] == "m1.small"
    assert "registry flavors not on the site: old.flavor" in best.warnings
    assert "registry images not on the site: rocky-9" in best.warnings
    assert any(r.startswith("live quotas, flavors and images (live") for r in best.reasons)


def test_live_sizes_win_over_the_registry_for_a_flavor_of_the_same_name(registry, replay, state):
    site = registry.site("OS-A")
    applied = gather(registry)["OS-A"].apply(site)
    medium = next(f for f in applied.flavors if f.name == "m1.medium")
    assert medium.disk_gb == 40  # the registry says 20


def test_a_service_without_limits_keeps_the_registry_values_for_its_keys(
    registry, tmp_path, monkeypatch, state
):
    with Replay("signals_no_cinder", "signals") as r:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml(tmp_path, r.base)))
        out = gather(registry)["OS-A"]
    assert out.status == UP
    assert "volumes" not in out.limits and out.limits["instances"] == 10
    assert out.free(registry.site("OS-A").quotas)["volume_gb"] == 1000  # the registry's
    assert len(out.warnings) == 1 and out.warnings[0].startswith(
        "Cinder limits: not available (GET /limits: HTTP 404"
    )


def test_refused_credentials_fall_back_to_the_registry(registry, tmp_path, monkeypatch, state):
    with Replay("signals_auth_refused", "signals") as r:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml(tmp_path, r.base)))
        out = gather(registry)["OS-A"]
    assert (out.status, out.source) == (UNKNOWN, "registry")
    assert out.reason.startswith("health probe: credentials refused")


def test_a_site_whose_capacity_was_read_outranks_one_that_only_claims_more(make_registry, plan):
    reg = load_registry(make_registry({"OS-A": _os_site(), "OS-B": _os_site("OS-B", cloud="absent")}))
    live = sig_mod.SiteSignals(
        "OS-A", "openstack", UP, limits={"instances": 20, "cores": 40, "ram_mb": 81920}, used={"instances": 2}
    )
    unknown = sig_mod.SiteSignals(
        "OS-B", "openstack", UNKNOWN, source="registry", reason="no clouds.yaml entry"
    )
    assert select_sites(plan, reg, group="users").best.site == "OS-A"  # equal: the name decides
    sel = select_sites(plan, reg, group="users", signals={"OS-A": live, "OS-B": unknown})
    assert [c.site for c in sel.candidates] == ["OS-A", "OS-B"]
    b = sel.candidates[1]
    assert b.score_parts["capacity"] == 12.5  # half of 25: its 50 placeholder servers are a claim
    assert "capacity not verified with the site: half the capacity points" in b.reasons
    swapped = {
        "OS-B": dataclasses.replace(live, site="OS-B"),
        "OS-A": dataclasses.replace(unknown, site="OS-A"),
    }
    sel = select_sites(plan, reg, group="users", signals=swapped)
    assert [c.site for c in sel.candidates] == ["OS-B", "OS-A"]


def test_with_a_group_each_site_is_asked_as_the_groups_project(registry, replay, state, monkeypatch):
    from infn_cloud.federation import drivers

    seen = []
    real = drivers.get_driver

    def spy(site, **options):
        seen.append(options.get("project"))
        return real(site, **options)

    monkeypatch.setattr(drivers, "get_driver", spy)
    out = gather(registry, group="users")["OS-A"]
    assert (out.status, out.project, seen) == (UP, "proj", ["proj"])
    assert (state / "signals" / "OS-A@proj.json").is_file()
    assert not (state / "signals" / "OS-A.json").exists()
    assert sig_mod.read_cache(state / "signals", registry.site("OS-A")) is None  # another project's
    assert gather(registry, group="users")["OS-A"].source == "cache"
    assert gather(registry, group="strangers") == {}  # no project there: not asked


# ------------------------------------------------------------------ health probe
def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _clouds(tmp_path, url: str):
    return clouds_yaml(tmp_path, url)


def test_a_site_whose_endpoint_is_closed_is_down_and_skipped(
    make_registry, tmp_path, monkeypatch, state, plan
):
    reg = load_registry(
        make_registry(
            {"OS-A": _os_site(), "LOC": base_site("LOC", identity_providers={"idp": {"users": "p"}})}
        )
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(_clouds(tmp_path, f"http://127.0.0.1:{_closed_port()}")))
    monkeypatch.setattr(sig_mod, "fetch_local", lambda site: sig_mod.SiteSignals(site.name, "local", UP))
    start = time.monotonic()
    signals = gather(reg, timeout=2)
    assert time.monotonic() - start < 4  # timeout + 1 s at most (+ margin for a loaded machine)
    assert signals["OS-A"].status == DOWN
    assert "health probe: unreachable" in signals["OS-A"].reason
    sel = select_sites(plan, reg, group="users", signals=signals)
    assert sel.best.site == "LOC"
    assert sel.rejected["OS-A"].startswith("site is down (live signal): health probe: unreachable")
    as_group = gather(reg, timeout=2, group="users", refresh=True)["OS-A"]  # scoped auth fails alike
    assert as_group.status == DOWN and "unreachable" in as_group.reason


def test_a_site_that_never_answers_is_down_within_the_timeout(make_registry, tmp_path, monkeypatch, state):
    reg = load_registry(make_registry({"OS-A": _os_site()}))
    silent = socket.socket()  # accepts connections (the backlog), never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(_clouds(tmp_path, url)))
        start = time.monotonic()
        out = gather(reg, timeout=1)["OS-A"]
        took = time.monotonic() - start
    finally:
        silent.close()
    assert took < 3.5, took  # timeout + 1 s at most, whatever the SDK does (+ margin for load)
    assert out.status == DOWN
    assert "no answer" in out.reason


def test_a_site_that_cannot_be_asked_falls_back_to_the_registry_with_a_warning(
    registry, tmp_path, monkeypatch, state, plan
):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    (tmp_path / "clouds.yaml").write_text(json.dumps({"clouds": {"other": {"auth": {}}}}))
    out = gather(registry)["OS-A"]
    assert (out.status, out.source) == (UNKNOWN, "registry")
    assert "replay" in out.reason
    best = select_sites(plan, registry, group="users", signals={"OS-A": out}).best
    assert best.site == "OS-A"
    assert best.flavors["htc_master_server"]["name"] == "m1.medium"  # registry values
    assert any(w.startswith("live signals unavailable (") and "registry quotas" in w for w in best.warnings)
    assert not (state / "signals" / "OS-A.json").exists()  # nothing learnt: nothing cached


# ------------------------------------------------------------------ cache
def test_cache_is_private_holds_no_secret_and_saves_the_second_call(registry, replay, state):
    gather(registry)
    calls = len(replay.log)
    path = state / "signals" / "OS-A.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "demo-password" not in text and "token" not in text.lower() and "127.0.0.1" not in text
    again = gather(registry)["OS-A"]
    assert len(replay.log) == calls  # nothing asked
    assert again.source == "cache" and again.limits["instances"] == 10
    refreshed = gather(registry, refresh=True)["OS-A"]
    assert refreshed.source == "live" and len(replay.log) > calls


def test_cache_expires_after_its_ttl(registry, replay, state):
    gather(registry, ttl=600)
    calls = len(replay.log)
    path = state / "signals" / "OS-A.json"
    data = json.loads(path.read_text())
    data["signals"]["fetched_at"] -= 601
    path.write_text(json.dumps(data))
    assert gather(registry, ttl=600)["OS-A"].source == "live"
    assert len(replay.log) > calls


def test_a_down_result_is_kept_for_a_short_time_only(registry, state):
    site = registry.site("OS-A")
    down = sig_mod.SiteSignals("OS-A", "openstack", DOWN, reason="x", fetched_at=time.time() - DOWN_TTL_S - 1,
                               cloud=site.cloud, region="RegionOne")  # fmt: skip
    assert not sig_mod.fresh(down, ttl=3600)
    down.fetched_at = time.time()
    assert sig_mod.fresh(down, ttl=3600)


def test_cache_of_another_cloud_entry_is_ignored(make_registry, registry, replay, state):
    gather(registry)
    moved = load_registry(make_registry({"OS-A": _os_site(cloud="elsewhere")}))
    assert sig_mod.read_cache(state / "signals", moved.site("OS-A")) is None


# ------------------------------------------------------------------ local sites
def test_local_site_capacity_is_registry_quota_minus_podman_usage(local_registry_path, monkeypatch, plan):
    from infn_cloud.federation.drivers import local

    reg = load_registry(local_registry_path)
    used = {"instances": 5, "cores": 4, "ram_mb": 4096, "volumes": 0, "volume_gb": 0, "public_ips": 0}
    monkeypatch.setattr(local.LocalDriver, "usage", lambda self: dict(used))
    out = gather(reg, ["LOCAL-FEDERATED"])["LOCAL-FEDERATED"]
    assert out.status == UP
    quotas = reg.site("LOCAL-FEDERATED").quotas
    assert out.free(quotas)["instances"] == quotas["instances"] - 5
    with pytest.raises(NoSiteError) as err:
        select_sites(plan, reg, policy="LOCAL-FEDERATED", signals={"LOCAL-FEDERATED": out})
    want = f"LOCAL-FEDERATED: quota exceeded: instances needs 3, quota {quotas['instances'] - 5}"
    assert want in err.value.details


def test_local_site_without_podman_is_down(local_registry_path, monkeypatch):
    from infn_cloud.federation.drivers import local

    def broken(self):
        raise InfnCloudError("podman: cannot connect")

    monkeypatch.setattr(local.LocalDriver, "usage", broken)
    out = gather(load_registry(local_registry_path), ["LOCAL-BACKBONE"])["LOCAL-BACKBONE"]
    assert out.status == DOWN and out.reason == "podman not reachable: podman: cannot connect"


# ------------------------------------------------------------------ settings and the CLI
def test_bad_timeout_setting_is_a_clear_error(registry, monkeypatch):
    monkeypatch.setenv(sig_mod.TIMEOUT_ENV, "soon")
    with pytest.raises(
        ValidationError, match="INFN_CLOUD_SIGNALS_TIMEOUT='soon': expected a number of seconds"
    ):
        gather(registry)


def test_plan_offline_asks_no_site(monkeypatch, capsys, local_registry_path):
    def refuse(*args, **kwargs):
        raise AssertionError("gather called with --offline")

    monkeypatch.setattr(sig_mod, "gather", refuse)
    rc = main(["plan", "htcondor_cluster", "--registry", str(local_registry_path), "--offline", "--json"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["selection"]["signals"] == {}


def test_sites_refresh_cli_reports_a_down_site_and_exits_1(
    make_registry, tmp_path, monkeypatch, state, capsys
):
    reg = make_registry({"OS-A": _os_site()})
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(_clouds(tmp_path, f"http://127.0.0.1:{_closed_port()}")))
    rc = main(["sites", "--registry", str(reg), "refresh", "OS-A", "--json", "--timeout", "2"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert data["sites"]["OS-A"]["status"] == "down"
    assert os.path.exists(state / "signals" / "OS-A.json")


def test_sites_refresh_cli_json_lists_live_values(registry, replay, state, capsys):
    rc = main(["sites", "--registry", registry.path, "refresh", "--json"])
    live = json.loads(capsys.readouterr().out)["sites"]["OS-A"]
    assert rc == 0
    assert live["free"]["instances"] == 2
    assert {f["name"] for f in live["flavors"]} >= {"m1.new", "gpu.a30"}
