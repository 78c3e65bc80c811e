"""Lifecycle on the local site: fallback, two deploys at once, kill -9 recovery, bad inputs.

Every test runs the real CLI in a subprocess against podman containers with systemd, and
checks what a user sees (exit codes, `show`, `outputs`) and what is left on the machine.
The templates are the cheapest that prove each behaviour: one VM configured by the common
role only (the htcondor end to end test is in test_htcondor.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from conftest import LABEL, ROOT, leftovers, local_networks_without_containers

from infn_cloud.secrets.leakscan import format_findings, scan

pytestmark = pytest.mark.integration

VM = str(ROOT / "tests" / "integration" / "cli" / "lifecycle_vm.yaml")


def _containers(dep: str) -> dict[str, dict]:
    """name -> {id, site} of the deployment's containers, from podman alone."""
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={LABEL}={dep}", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        c["Names"][0]: {"id": c["Id"], "site": (c.get("Labels") or {}).get("org.infn.cloud.site")}
        for c in json.loads(out or "[]")
    }


def _exec(name: str, command: str) -> str:
    return subprocess.run(
        ["podman", "exec", name, "sh", "-c", command], capture_output=True, text=True
    ).stdout.strip()


def test_fallback_and_two_deploys_at_once(cli):
    """Two single_vm deploys run together; the best site refuses, both land on the second one."""
    env = {"INFN_CLOUD_FAIL_SITES": "LOCAL-BACKBONE"}
    procs = [cli.popen("deploy", "single_vm", "--json", "--quiet", env=env) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, out + err
        results.append(json.loads(out))
    ids = {r["id"] for r in results}
    cli.created += list(ids)
    assert len(ids) == 2
    for data in results:
        assert data["status"] == "CREATE_COMPLETE"
        assert data["site"] == "LOCAL-FEDERATED"
        attempts = data["attempts"]
        assert [(a["site"], a["outcome"]) for a in attempts] == [
            ("LOCAL-BACKBONE", "failed"),
            ("LOCAL-FEDERATED", "ok"),
        ]
        assert "refusing to create resources" in attempts[0]["cause"]
        assert attempts[0]["phase"] == "provision"
        node = data["nodes"]["vm_server"][0]
        assert data["outputs"]["node_ip"] == node["private_ip"]
        # Everything of it is on the second site; the first one has nothing left.
        assert {c["site"] for c in _containers(data["id"]).values()} == {"LOCAL-FEDERATED"}
        # The common role really ran there: its sshd hardening (the image ships a stock sshd).
        assert _exec(node["name"], "/usr/sbin/sshd -T | grep -i '^maxauthtries'") == "maxauthtries 4"
    # `show` (human form) lists both attempts and the cause of the first.
    shown = cli.run("show", results[0]["id"]).stdout
    rows = [line.split()[:5] for line in shown.splitlines() if re.match(r"\s+[12]\s+create\s", line)]
    assert rows == [
        ["1", "create", "LOCAL-BACKBONE", "failed", "provision"],
        ["2", "create", "LOCAL-FEDERATED", "ok", "outputs"],
    ], shown
    assert "1. cause: site LOCAL-BACKBONE: refusing to create resources" in shown
    for dep in ids:
        assert cli.run("delete", dep, "--quiet").returncode == 0
        assert leftovers(dep) == {"containers": [], "volumes": []}
    assert local_networks_without_containers() == []


def _wait_for_task(cli, task: str, proc: subprocess.Popen, timeout: float = 600) -> str:
    """Wait until the ansible run of the (only) deployment starts `task`; its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "deploy ended before it could be killed: " + proc.stderr.read()
        for stdout in (cli.state / "deployments").glob("*/artifacts/*/stdout"):
            if f"TASK [{task}]" in stdout.read_text(errors="replace"):
                return stdout.parents[2].name
        time.sleep(0.5)
    raise AssertionError(f"no ansible task {task!r} after {timeout} s")


def _processes_mentioning(text: str) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if text in line and "ps -eo" not in line]


def test_kill_during_configure_then_show_retry_delete(cli):
    token = "tok-" + os.urandom(8).hex()
    proc = cli.popen("deploy", VM, "--set", f"admin_token={token}", "--set", "timezone=Europe/Rome")
    # kill -9 in the middle of the common role's package installation.
    dep = _wait_for_task(cli, "infn.cloud.common : Install baseline packages", proc)
    cli.created.append(dep)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _containers(dep)
    assert before, "the nodes should still exist after the crash"

    rc, shown = cli.json("show", dep)
    assert rc == 0
    assert shown["status"] == "CREATE_IN_PROGRESS" and shown["stale"] is True
    assert shown["inputs"] == {"admin_token": "<secret:admin_token>", "timezone": "Europe/Rome"}
    assert [(a["operation"], a["phase"], a["outcome"]) for a in shown["attempts"]] == [
        ("create", "configure", "running")
    ]
    assert "stale" in cli.run("show", dep).stdout
    # Ansible's workers (setsid) outlive the CLI: a retry stops them first, they would race with it.
    left_behind = [int(line.split()[0]) for line in _processes_mentioning(dep)]

    rc, retried = cli.json("retry", dep)
    assert rc == 0, retried
    assert [pid for pid in left_behind if os.path.exists(f"/proc/{pid}")] == []
    assert _processes_mentioning(dep) == []
    assert retried["status"] == "CREATE_COMPLETE" and retried["stale"] is False
    assert [(a["operation"], a["outcome"]) for a in retried["attempts"]] == [
        ("create", "interrupted"),
        ("retry", "ok"),
    ]
    assert "stopped" in retried["attempts"][0]["cause"]
    # Resumed on the same containers (not recreated), and configured to the end.
    assert {n: c["id"] for n, c in _containers(dep).items()} == {n: c["id"] for n, c in before.items()}
    name = retried["nodes"]["vm"][0]["name"]
    assert retried["outputs"]["vm_ip"] == retried["nodes"]["vm"][0]["private_ip"]
    assert retried["outputs"]["ssh_command"] == "ssh root@" + retried["outputs"]["vm_ip"]
    assert _exec(name, "readlink -f /etc/localtime") == "/usr/share/zoneinfo/Europe/Rome"
    assert _exec(name, "/usr/sbin/sshd -T | grep -i '^maxauthtries'") == "maxauthtries 4"  # common's
    # The token the user gave is in no record, log or artifact of the crashed and resumed runs.
    findings = scan({"admin_token": token}, paths=[cli.state], sqlite_dbs=[cli.state / "state.db"])
    assert findings == [], format_findings(findings)

    rc, deleted = cli.json("delete", dep)
    assert rc == 0 and deleted["status"] == "DELETE_COMPLETE"
    assert leftovers(dep) == {"containers": [], "volumes": []}
    rc, again = cli.json("delete", dep)
    assert rc == 0 and again["status"] == "DELETE_COMPLETE"
    assert local_networks_without_containers() == []


def test_bad_inputs_leave_no_record(cli):
    result = cli.run("deploy", VM, "--set", "unknown_input=1")
    assert result.returncode == 2
    assert "unknown_input" in result.stderr and "Traceback" not in result.stderr
    result = cli.run("deploy", "single_vm", "--set", "num_cpus=3")
    assert result.returncode == 2
    assert "num_cpus" in result.stderr and "Traceback" not in result.stderr
    assert cli.ids() == []
    assert not (cli.state / "secrets").exists() or not any((cli.state / "secrets").iterdir())
    assert not (cli.state / "deployments").exists() or not any((cli.state / "deployments").iterdir())
