"""End to end on the local site: deploy, outputs, fallback, crash recovery, concurrency, delete.

Every test runs the real CLI in a subprocess against podman containers with systemd, and
checks what a user sees (exit codes, `show`, `outputs`) and what is left on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, leftovers, local_networks_without_containers

from infn_cloud.secrets.leakscan import format_findings, scan

pytestmark = pytest.mark.integration

BARE = str(ROOT / "tests" / "integration" / "cli" / "bare_vms.yaml")


def _secrets(cli, dep_id: str) -> dict[str, str]:
    """The deployment's secret values, read from the store as the CLI's user can."""
    code = (
        "import json,sys; from infn_cloud.secrets import open_store; s=open_store(); d=sys.argv[1]; "
        "v=dict(s.get_all(d)); v['ssh_private_key']=s.ssh_private_key(d); print(json.dumps(v))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, dep_id], env=cli.env, capture_output=True, text=True, check=True
    ).stdout
    return {k: v for k, v in json.loads(out).items() if isinstance(v, str) and len(v) >= 8}


def test_htcondor_deploy_outputs_job_no_leak_and_delete(cli):
    rc, data = cli.deploy("htcondor_cluster")
    assert rc == 0, data
    dep = data["id"]
    assert data["status"] == "CREATE_COMPLETE"
    assert data["site"] == "LOCAL-BACKBONE"
    assert data["inputs"] == {}

    rc, out = cli.json("outputs", dep)
    assert rc == 0
    cm_ip = out["outputs"]["central_manager_ip"]
    assert cm_ip and cm_ip.count(".") == 3
    assert out["outputs"]["submit_command"] == f"ssh {cm_ip} condor_submit job.sub"
    assert out["outputs"]["cluster_secret"] == "secret:cluster_secret"

    secrets = _secrets(cli, dep)
    assert "cluster_secret" in secrets
    rc, shown = cli.json("outputs", dep, "--show-secrets")
    assert shown["outputs"]["cluster_secret"] == secrets["cluster_secret"]

    # The pool works: a job submitted on the central manager runs on the execute node.
    cm = data["nodes"]["cm_server"][0]["name"]
    submit = (
        "id -u tester >/dev/null 2>&1 || useradd -m tester; cd /home/tester && "
        "printf 'executable=/bin/hostname\\noutput=out.txt\\nerror=err.txt\\nlog=job.log\\nqueue\\n' "
        "> job.sub && "
        "chown tester job.sub && su tester -c 'condor_submit job.sub'"
    )
    result = subprocess.run(["podman", "exec", cm, "bash", "-c", submit], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    execute = data["nodes"]["execute_server"][0]["name"]
    deadline = time.monotonic() + 240
    output = ""
    while time.monotonic() < deadline:
        output = subprocess.run(
            ["podman", "exec", cm, "cat", "/home/tester/out.txt"], capture_output=True, text=True
        ).stdout.strip()
        if output:
            break
        time.sleep(5)
    assert output == execute, "the job did not run on the execute node"

    # Leak test: no secret value in runner artifacts, logs, the state database or `ps`.
    # The state dir holds the local secret store too: its files are Ansible Vault encrypted.
    findings = scan(
        secrets,
        paths=[cli.state, *Path(tempfile.gettempdir()).glob("infn-cloud-*")],
        sqlite_dbs=[cli.state / "state.db"],
        processes=True,
    )
    assert findings == [], format_findings(findings)

    rc, deleted = cli.json("delete", dep)
    assert rc == 0 and deleted["status"] == "DELETE_COMPLETE"
    assert leftovers(dep) == {"containers": [], "volumes": []}
    assert local_networks_without_containers() == []
    rc, err = cli.json("outputs", dep, "--show-secrets")
    assert rc != 0 or "cluster_secret" not in json.dumps(err.get("outputs", {}).get("cluster_secret", ""))


def test_fallback_and_two_deploys_at_once(cli):
    """Two single_vm deploys run together; the best site refuses, both land on the second one."""
    env = {"INFN_CLOUD_FAIL_SITES": "LOCAL-BACKBONE"}
    procs = [cli.popen("deploy", "single_vm", "--json", "--quiet", env=env) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
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
        assert data["outputs"]["node_ip"]
        # The first site has nothing of it left.
        containers = subprocess.run(
            [
                "podman",
                "ps",
                "-a",
                "--filter",
                f"label=org.infn.cloud.deployment={data['id']}",
                "--format",
                "{{.Labels}}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "LOCAL-BACKBONE" not in containers
    # `show` (human form) lists both causes.
    shown = cli.run("show", results[0]["id"]).stdout
    assert "create at LOCAL-BACKBONE: failed" in shown and "create at LOCAL-FEDERATED: ok" in shown
    for dep in ids:
        assert cli.run("delete", dep, "--quiet").returncode == 0
        assert leftovers(dep) == {"containers": [], "volumes": []}
    assert local_networks_without_containers() == []


def test_kill_during_deploy_then_show_retry_delete(cli):
    token = "tok-" + os.urandom(8).hex()
    proc = cli.popen("deploy", BARE, "--set", f"admin_token={token}", "--json")
    # Wait until configuration started (the deployment document exists), then kill -9.
    deadline = time.monotonic() + 300
    doc = None
    while time.monotonic() < deadline and doc is None:
        for path in (
            (cli.state / "deployments").glob("*/deployment.json")
            if (cli.state / "deployments").exists()
            else []
        ):
            doc = path
        time.sleep(0.5)
    assert doc is not None, proc.stderr.read() if proc.poll() is not None else "no deployment document"
    time.sleep(2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    dep = doc.parent.name
    cli.created.append(dep)

    rc, shown = cli.json("show", dep)
    assert rc == 0
    assert shown["status"] == "CREATE_IN_PROGRESS" and shown["stale"] is True
    assert shown["inputs"] == {"admin_token": "<secret>"}
    assert token not in json.dumps(shown)
    assert leftovers(dep)["containers"], "the nodes should still exist after the crash"

    rc, retried = cli.json("retry", dep)
    assert rc == 0, retried
    assert retried["status"] == "CREATE_COMPLETE"
    outcomes = [(a["operation"], a["outcome"]) for a in retried["attempts"]]
    assert outcomes == [("create", "interrupted"), ("retry", "ok")]
    first_ip = retried["outputs"]["first_ip"]
    assert retried["outputs"]["addresses"].startswith(first_ip + " ")

    rc, deleted = cli.json("delete", dep)
    assert rc == 0 and deleted["status"] == "DELETE_COMPLETE"
    assert leftovers(dep) == {"containers": [], "volumes": []}
    rc, again = cli.json("delete", dep)
    assert rc == 0 and again["status"] == "DELETE_COMPLETE"


def test_bad_inputs_leave_no_record(cli):
    result = cli.run("deploy", BARE, "--set", "unknown_input=1")
    assert result.returncode == 2
    assert "unknown_input" in result.stderr and "Traceback" not in result.stderr
    assert cli.ids() == []
