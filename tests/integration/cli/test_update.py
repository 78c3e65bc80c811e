"""`infn-cloud update` end to end on the local site: one htcondor_cluster for the whole module.

In file order: 1 -> 3 execute nodes (the pool and the outputs follow), a refused change and a
dry run change nothing, a users input change reconfigures without recreating a node, 3 -> 2
with a long job running on a node that stays and one queued (neither is lost; the removed
container, its volumes and its traces in the deployment's files are gone), kill -9 during an
update then `retry` finishes it (a second update meanwhile is refused), delete leaves nothing.
The first test checks the local driver's scale contract (interfaces I1) without a deployment.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
from conftest import ROOT, delete_and_assert_clean, leftovers

pytestmark = pytest.mark.integration

USER = "tester"
USERS = [(USER, 2345)]
SLEEP = 900  # the long job: outlives the module


def _exec(name: str, command: str) -> str:
    return subprocess.run(
        ["podman", "exec", name, "sh", "-c", command], capture_output=True, text=True
    ).stdout.strip()


def _ids(deployment_id: str) -> dict[str, str]:
    out = subprocess.run(
        [
            "podman",
            "ps",
            "-a",
            "--filter",
            f"label=org.infn.cloud.deployment={deployment_id}",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {c["Names"][0]: c["Id"] for c in json.loads(out or "[]")}


def _users_file(directory, users) -> str:
    path = directory / f"users-{len(users)}.yml"
    path.write_text(
        "users:\n" + "".join(f"  - os_user_name: {n}\n    os_user_guid: {uid}\n" for n, uid in users)
    )
    return str(path)


def _startds(cm: str, expected: set[str], timeout: float = 180) -> set[str]:
    """The execute machines the collector lists, once they are `expected` (or at the timeout)."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = set(_exec(cm, "condor_status -af Machine").split())
        if seen == expected:
            break
        time.sleep(3)
    return seen


def _jobs(cm: str) -> dict[str, tuple[int, str]]:
    """{cluster.proc: (JobStatus, RemoteHost)} of the queue (1 idle, 2 running)."""
    jobs = {}
    for line in _exec(cm, "condor_q -allusers -af ClusterId ProcId JobStatus RemoteHost").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            jobs[f"{parts[0]}.{parts[1]}"] = (int(parts[2]), parts[3] if len(parts) > 3 else "")
    return jobs


@pytest.fixture(scope="module")
def pool(module_cli, tmp_path_factory):
    """htcondor_cluster, one execute node, user `tester` on every node: (cli, id, files dir)."""
    files = tmp_path_factory.mktemp("update")
    rc, data = module_cli.deploy(
        "htcondor_cluster", "--set", "num_execute_nodes=1", "-i", _users_file(files, USERS)
    )
    assert rc == 0, data
    return module_cli, data["id"], files


def _show(cli, deployment_id: str) -> dict:
    rc, data = cli.json("show", deployment_id)
    assert rc == 0, data
    return data


def _configured_hosts(cli, deployment_id: str) -> set[str]:
    """The hosts the last configure.yml run of the deployment processed (ansible-runner's
    playbook_on_stats event in its artifacts: the recap)."""
    runs = sorted((cli.state / "deployments" / deployment_id / "artifacts").glob("configure-*"))
    assert runs, "no configure run in the artifacts"
    for event in sorted((runs[-1] / "job_events").glob("*.json")):
        data = json.loads(event.read_text())
        if data.get("event") == "playbook_on_stats":
            return set((data.get("event_data") or {}).get("processed") or {})
    raise AssertionError(f"{runs[-1]}: no playbook_on_stats event")


def _names(view: dict, node: str) -> list[str]:
    return [i["name"] for i in view["nodes"].get(node, [])]


def test_local_driver_keeps_instances_and_removes_exactly_those_named():
    from infn_cloud.federation import get_driver, load_registry

    driver = get_driver(load_registry(ROOT / "inventories" / "local").sites["LOCAL-FEDERATED"])
    dep = f"h1scale-{uuid.uuid4().hex[:8]}"
    disk = {"node": "disk", "size_gb": 1, "mount_path": "/data"}
    plan = {
        "compute": {"w": {"count": 3, "os": {"distribution": "debian", "version": "12"}, "volumes": [disk]}}
    }
    try:
        first = {i["name"]: i["id"] for i in driver.create(dep, plan, None)["nodes"]["w"]}
        assert sorted(first) == [f"{dep}-w-{i}" for i in range(3)]

        removed = driver.remove_instances(dep, [f"{dep}-w-1"])
        assert removed == [f"container/{dep}-w-1", f"volume/{dep}-w-1-disk"]
        assert driver.remove_instances(dep, [f"{dep}-w-1"]) == []  # already gone: fine
        plan["compute"]["w"]["count"] = 2
        after = driver.create(dep, plan, None)  # two exist: nothing is added or recreated
        assert {i["name"]: i["id"] for i in after["nodes"]["w"]} == {
            n: first[n] for n in (f"{dep}-w-0", f"{dep}-w-2")
        }
        plan["compute"]["w"]["count"] = 3
        grown = {i["name"]: i["id"] for i in driver.create(dep, plan, None)["nodes"]["w"]}
        assert sorted(grown) == [f"{dep}-w-0", f"{dep}-w-2", f"{dep}-w-3"]  # a fresh index
        assert grown[f"{dep}-w-0"] == first[f"{dep}-w-0"]
        assert after["networks"], "the site network stays"
    finally:
        driver.delete(dep)
    assert leftovers(dep) == {"containers": [], "volumes": []}


def test_scale_out_from_1_to_3_execute_nodes(pool):
    cli, dep, _ = pool
    before = _ids(dep)

    rc, result = cli.json("update", dep, "--set", "num_execute_nodes=3", timeout=1800)

    assert rc == 0, result
    assert result["applied"] is True
    assert result["change"]["add"] == [{"node": "execute_server", "count": 2, "before": 1, "after": 3}]
    view = result["deployment"]
    assert view["status"] == "UPDATE_COMPLETE"
    assert view["attempts"][-1]["operation"] == "update" and view["attempts"][-1]["outcome"] == "ok"
    executes = _names(view, "execute_server")
    assert len(executes) == 3
    assert len(view["outputs"]["execute_ips"]) == 3
    assert view["outputs"]["execute_ips"] == [i["private_ip"] for i in view["nodes"]["execute_server"]]
    now = _ids(dep)
    assert {n: now[n] for n in before} == before, "an existing node was recreated"
    # configure ran on the new execute nodes only: the central manager and the first execute
    # node are untouched (the CM's configuration lists no execute node; they join with a token)
    added = sorted(set(executes) - set(before))
    assert len(added) == 2
    assert f"configured: {', '.join(added)}" in view["attempts"][-1]["details"]
    assert _configured_hosts(cli, dep) == set(added)
    cm = _names(view, "cm_server")[0]
    assert _startds(cm, set(executes)) == set(executes)


def test_a_refused_change_and_a_dry_run_change_nothing(pool):
    cli, dep, _ = pool
    record = _show(cli, dep)
    containers = _ids(dep)

    refused = cli.run("update", dep, "--set", "num_cpus=2")
    dry_rc, dry = cli.json("update", dep, "--set", "num_execute_nodes=5", "--dry-run")

    assert refused.returncode == 2, refused.stderr
    assert "cannot be made in place" in refused.stderr and "num_cpus 1 -> 2" in refused.stderr
    assert f"infn-cloud delete {dep}" in refused.stdout + refused.stderr  # what to do instead
    assert "Traceback" not in refused.stderr
    assert dry_rc == 0 and dry["applied"] is False
    assert dry["change"]["add"] == [{"node": "execute_server", "count": 2, "before": 3, "after": 5}]
    assert _show(cli, dep) == record
    assert _ids(dep) == containers


def test_a_users_change_reconfigures_without_recreating_nodes(pool):
    cli, dep, files = pool
    containers = _ids(dep)

    rc, result = cli.json("update", dep, "-i", _users_file(files, [*USERS, ("tester2", 2346)]), timeout=1800)

    assert rc == 0, result
    assert result["change"]["add"] == [] and result["change"]["remove"] == []
    assert {item["software"] for item in result["change"]["reconfigure"]} == {"cm_server", "execute_server"}
    assert _ids(dep) == containers
    for name in containers:
        assert _exec(name, "id -u tester2") == "2346", name


def test_scale_in_from_3_to_2_keeps_the_running_and_the_queued_job(pool):
    cli, dep, _ = pool
    view = _show(cli, dep)
    cm = _names(view, "cm_server")[0]
    stays, going = _names(view, "execute_server")[0], _names(view, "execute_server")[-1]
    cpus = _exec(cm, f"condor_status -af TotalCpus -constraint 'Machine == \"{stays}\"' | head -1")
    assert cpus.replace(".", "", 1).isdigit(), f"no startd of {stays}: {cpus!r}"
    cpus = str(int(float(cpus)))  # TotalCpus is a real
    # Two jobs that need the whole node that stays: one runs, the other waits in the queue.
    job = (
        f"executable = /bin/sleep\narguments = {SLEEP}\nrequest_cpus = {cpus}\n"
        f'requirements = (Machine == "{stays}")\nqueue 2\n'
    )
    submit = (
        f"cd /home/{USER} && cat > long.sub && chown {USER} long.sub && su {USER} -c 'condor_submit long.sub'"
    )
    sub = subprocess.run(
        ["podman", "exec", "-i", cm, "sh", "-c", submit], input=job, capture_output=True, text=True
    )
    assert sub.returncode == 0, sub.stdout + sub.stderr
    deadline = time.monotonic() + 180
    while sorted(s for s, _ in _jobs(cm).values()) != [1, 2] and time.monotonic() < deadline:
        time.sleep(3)
    queue = _jobs(cm)
    assert sorted(s for s, _ in queue.values()) == [1, 2], queue
    gone_ip = view["nodes"]["execute_server"][-1]["private_ip"]

    rc, result = cli.json("update", dep, "--set", "num_execute_nodes=2", timeout=1800)

    assert rc == 0, result
    assert [r["instance"] for r in result["change"]["remove"]] == [going]  # the highest index
    after = result["deployment"]
    assert after["status"] == "UPDATE_COMPLETE"
    assert _names(after, "execute_server") == _names(view, "execute_server")[:2]
    assert gone_ip not in after["outputs"]["execute_ips"] and len(after["outputs"]["execute_ips"]) == 2
    # neither job is lost: the same jobs, the running one still on the node that stayed
    jobs = _jobs(cm)
    assert set(jobs) == set(queue), jobs
    running = [host for status, host in jobs.values() if status == 2]
    assert running and all(stays in host for host in running)
    # the container, its volumes and every trace of it in the deployment's files are gone
    assert going not in _ids(dep)
    assert not [v for v in leftovers(dep)["volumes"] if v.startswith(going)]
    folder = cli.state / "deployments" / dep
    for name in ("deployment.json", "infn_cloud.deployment.yml", "known_hosts"):
        path = folder / name
        if path.exists():
            assert going not in path.read_text() and gone_ip not in path.read_text(), name
    # the pool follows: the removed node's startd is gone (its drain, playbooks/scale_in.yml,
    # turns it off; a node removed without one stays in the collector until its ad expires)
    remaining = set(_names(after, "execute_server"))
    assert _startds(cm, remaining) == remaining


def test_kill_9_during_an_update_then_retry_finishes_it(pool):
    cli, dep, _ = pool
    proc = cli.popen("update", dep, "--set", "num_execute_nodes=3", "--plain")
    deadline = time.monotonic() + 600
    phase = None
    while time.monotonic() < deadline and proc.poll() is None:
        attempt = _show(cli, dep)["attempts"][-1]
        phase = (
            attempt["phase"] if attempt["operation"] == "update" and attempt["outcome"] == "running" else None
        )
        if phase == "configure":
            break
        time.sleep(1)
    assert phase == "configure", f"the update never reached configure (exit {proc.poll()})"
    busy = cli.run("update", dep, "--set", "num_execute_nodes=1")  # two updates at once: refused
    proc.kill()  # SIGKILL: no cleanup, no record update
    proc.communicate()

    assert busy.returncode == 64 and "UPDATE_IN_PROGRESS in process" in busy.stderr, busy.stderr
    stale = _show(cli, dep)
    assert stale["status"] == "UPDATE_IN_PROGRESS" and stale["stale"] is True
    blocked = cli.run("update", dep, "--set", "num_execute_nodes=1")
    assert blocked.returncode == 64 and f"infn-cloud retry {dep}" in blocked.stderr

    rc, done = cli.json("retry", dep, timeout=1800)

    assert rc == 0, done
    assert done["status"] == "UPDATE_COMPLETE"
    assert [a["outcome"] for a in done["attempts"][-2:]] == ["interrupted", "ok"]
    executes = _names(done, "execute_server")
    assert len(executes) == 3 and len(done["outputs"]["execute_ips"]) == 3
    assert done["inputs"]["num_execute_nodes"] == 3
    assert _startds(_names(done, "cm_server")[0], set(executes)) == set(executes)


def test_delete_leaves_nothing(pool):
    cli, dep, _ = pool
    delete_and_assert_clean(cli, dep)
