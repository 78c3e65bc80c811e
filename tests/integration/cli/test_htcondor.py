"""End to end with real software: htcondor_cluster deployed once on the local site.

The tests of this module share that one deployment (a deploy is the slow part) and run in
file order: what a user sees (record, outputs), that the execute node advertises its flavor's
CPUs and memory (not the host's), that the pool works for an ordinary user,
that no secret leaked anywhere, and finally that delete leaves nothing behind.

The leak scan runs WHILE the deploy runs (LeakWatch, polled by the module fixture): temporary
files of ansible on the controller and on the nodes, every process's command line (ps) and the
environment of ansible-playbook and its children, the runner artifacts and the state database
as they are written. It records what it observed, and the test checks it did observe the run
(ansible-playbook seen in ps, job events seen while it ran, the nodes' temp dirs read while it
ran), so it cannot pass by looking too early or too late.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import LABEL, leftovers, local_networks_without_containers, read_secrets

from infn_cloud.federation import load_registry
from infn_cloud.runner import OWNER_TAG
from infn_cloud.secrets.leakscan import (
    Finding,
    _needles,
    _search,
    format_findings,
    process_listing,
    scan,
    scan_processes,
)

pytestmark = pytest.mark.integration

USER = "tester"
USER_UID = 2345


# Where ansible keeps temporary files on the nodes (remote_tmp, become tmp dirs).
NODE_TMP = "/root/.ansible/tmp /home/*/.ansible/tmp /tmp/ansible-* /var/tmp/ansible-*"


class LeakWatch:
    """Scans for the deployment's secrets while `infn-cloud deploy` runs, and counts what it saw."""

    def __init__(self, cli, proc: subprocess.Popen):
        self.cli = cli
        self.proc = proc
        self.deployment: str | None = None
        self.secrets: dict[str, str] = {}
        self.findings: set[str] = set()
        self.rounds = 0
        self.rounds_with_ansible = 0  # rounds that ran while ansible-playbook of this deployment ran
        self.events_while_ansible = 0  # job event files seen while it ran
        self.node_scans_while_ansible = 0
        self.node_tmp_files = 0  # ansible temp files read on the nodes
        self.controller_tmp_files = 0  # ansible/runner temp files read on the controller

    # ---------------------------------------------------------------- data sources
    def _find_deployment(self) -> None:
        folder = self.cli.state / "deployments"
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if found:
            self.deployment = found[0]
            self.cli.created.append(self.deployment)

    def _ansible_pids(self) -> list[int]:
        """ansible-playbook and everything it started: they carry the deployment's owner tag."""
        needle = f"{OWNER_TAG}={self.deployment}".encode()
        pids = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except (OSError, ValueError):
                continue
        return pids

    def _playbook_running(self) -> bool:
        """ansible-playbook itself (not just an SSH control master it left for a minute)."""
        for pid in self._ansible_pids():
            try:
                if b"ansible-playbook" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
        return False

    def _scan_bytes(self, data: bytes, where: str) -> None:
        # leakscan's needles: the raw value and its JSON, URL and base64 forms
        for finding in _search(data, _needles(self.secrets), "data", where, False):
            self.findings.add(f"secret {finding.label!r} ({finding.form}) in {where}")

    def _scan_files(self, roots, where: str) -> int:
        """Regular files under roots (vanishing files and fifos, like runner's ssh_key_data, skipped)."""
        count = 0
        for root in roots:
            for folder, _dirs, names in os.walk(root):
                for name in names:
                    path = os.path.join(folder, name)
                    try:
                        if not stat.S_ISREG(os.lstat(path).st_mode):
                            continue
                        with open(path, "rb") as handle:
                            data = handle.read()
                    except OSError:
                        continue  # removed meanwhile
                    count += 1
                    self._scan_bytes(data, f"{where} file {path}")
        return count

    def _controller_tmp(self) -> list[str]:
        tmp = Path(tempfile.gettempdir())
        roots = [*tmp.glob("infn-cloud-*"), *tmp.glob("ansible-*"), Path.home() / ".ansible" / "tmp"]
        return [str(r) for r in roots if r.is_dir()]

    def _nodes(self) -> list[str]:
        return subprocess.run(
            ["podman", "ps", "--filter", f"label={LABEL}={self.deployment}", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
        ).stdout.split()

    def _scan_nodes(self) -> None:
        listing = (
            f'for f in $(find {NODE_TMP} -type f -size -4M 2>/dev/null); do echo "== $f"; cat "$f"; done'
        )
        for node in self._nodes():
            out = subprocess.run(["podman", "exec", node, "sh", "-c", listing], capture_output=True).stdout
            self.node_tmp_files += out.count(b"\n== ") + out.startswith(b"== ")
            self._scan_bytes(out, f"node {node} ansible temp")

    # ---------------------------------------------------------------- one round
    def poll(self) -> None:
        if self.deployment is None:
            self._find_deployment()
            return
        if not {"cluster_secret", "ssh_private_key"} <= set(self.secrets):
            self.secrets = read_secrets(self.cli, self.deployment)
            return
        self.rounds += 1
        running = self._playbook_running()
        ansible = self._ansible_pids()
        for finding in scan_processes(self.secrets, listing=process_listing()):
            self.findings.add(str(finding))
        for pid in ansible:  # the environment handed to ansible-playbook and its children
            try:
                self._scan_bytes(Path(f"/proc/{pid}/environ").read_bytes(), f"environment of pid {pid}")
            except OSError:
                continue
        self.controller_tmp_files += self._scan_files(self._controller_tmp(), "controller temp")
        self._scan_files([self.cli.state], "state dir")  # artifacts, deploy.log, state.db and -wal
        try:
            for finding in scan(self.secrets, sqlite_dbs=[self.cli.state / "state.db"]):
                self.findings.add(str(finding))
        except (sqlite3.OperationalError, FileNotFoundError):
            pass  # busy or not created yet: the next round reads it
        artifacts = self.cli.state / "deployments" / self.deployment / "artifacts"
        events = len(list(artifacts.glob("*/job_events/*.json")))
        self._scan_nodes()
        if running and self._playbook_running():  # running before and after this round's scans
            self.rounds_with_ansible += 1
            self.events_while_ansible = max(self.events_while_ansible, events)
            self.node_scans_while_ansible += 1

    def watch(self, interval: float = 1.0) -> None:
        while self.proc.poll() is None:
            self.poll()
            time.sleep(interval)


@pytest.fixture(scope="module")
def cluster(module_cli, tmp_path_factory):
    """htcondor_cluster with one execute node and an ordinary user account on every node.

    Deployed in the background while LeakWatch scans; the fixture returns (cli, record, watch).
    """
    inputs = tmp_path_factory.mktemp("inputs") / "inputs.yml"
    inputs.write_text(f"users:\n  - os_user_name: {USER}\n    os_user_guid: {USER_UID}\n")
    proc = module_cli.popen("deploy", "htcondor_cluster", "-i", str(inputs), "--json")
    output: dict = {}
    reader = threading.Thread(
        target=lambda: output.update(zip(("out", "err"), proc.communicate(), strict=True))
    )
    reader.start()  # drains stdout/stderr: a full pipe would stall the deploy
    watch = LeakWatch(module_cli, proc)
    watch.watch()
    reader.join()
    try:
        data = json.loads(output["out"])
    except ValueError:
        raise AssertionError(f"deploy: not JSON (rc {proc.returncode}): {output}") from None
    assert proc.returncode == 0, data
    assert data["id"] == watch.deployment
    return module_cli, data, watch


def test_deploy_record(cluster):
    cli, data, _ = cluster
    assert data["status"] == "CREATE_COMPLETE"
    assert data["site"] == "LOCAL-BACKBONE"
    assert data["inputs"] == {"users": [{"os_user_name": USER, "os_user_guid": USER_UID}]}
    assert [(a["operation"], a["site"], a["outcome"]) for a in data["attempts"]] == [
        ("create", "LOCAL-BACKBONE", "ok")
    ]
    assert set(data["nodes"]) == {"cm_server", "execute_server"}
    # What the containers say matches the record.
    for node in ("cm_server", "execute_server"):
        name = data["nodes"][node][0]["name"]
        state = subprocess.run(
            ["podman", "inspect", "--format", "{{.State.Status}}", name], capture_output=True, text=True
        ).stdout.strip()
        assert state == "running", name
    listed = cli.json("list")[1]
    assert [(r["id"], r["status"]) for r in listed] == [(data["id"], "CREATE_COMPLETE")]


def test_outputs(cluster):
    cli, data, _ = cluster
    dep = data["id"]
    rc, out = cli.json("outputs", dep)
    assert rc == 0
    cm_ip = out["outputs"]["central_manager_ip"]
    assert cm_ip == data["nodes"]["cm_server"][0]["private_ip"]  # local site: public = private
    assert out["outputs"]["execute_ips"] == [data["nodes"]["execute_server"][0]["private_ip"]]
    assert out["outputs"]["submit_command"] == f"ssh {cm_ip} condor_submit job.sub"
    assert out["outputs"]["cluster_secret"] == "secret:cluster_secret"

    secrets = read_secrets(cli, dep)
    assert len(secrets["cluster_secret"]) >= 16  # generated by the CLI (the input was empty)
    rc, shown = cli.json("outputs", dep, "--show-secrets")
    assert rc == 0 and shown["outputs"]["cluster_secret"] == secrets["cluster_secret"]
    human = cli.run("outputs", dep).stdout
    assert "cluster_secret: <secret:cluster_secret>" in human and "outputs --show-secrets" in human
    assert secrets["cluster_secret"] not in human


def test_execute_node_advertises_its_flavor_not_the_host(cluster):
    """condor_status shows the execute node's flavor (CPUs capped at the host's), as on a VM of
    that flavor: not the host's memory, which the container's /proc/meminfo shows."""
    cli, data, _ = cluster
    cm = data["nodes"]["cm_server"][0]["name"]
    execute = data["nodes"]["execute_server"][0]
    site = load_registry(Path(cli.env["INFN_CLOUD_REGISTRY"])).site(data["site"])
    flavor = next(f for f in site.flavors if f.name == execute["flavor"])
    expected = (min(flavor.vcpus, len(os.sched_getaffinity(0))), flavor.ram_mb)
    host_mb = int(_exec_out(execute["name"], "awk '/^MemTotal/ {print $2}' /proc/meminfo")) // 1024
    assert host_mb > flavor.ram_mb  # what HTCondor would advertise if it detected the memory itself
    deadline = time.monotonic() + 120
    advertised = ""
    while time.monotonic() < deadline:
        advertised = _exec_out(
            cm, f"condor_status -constraint 'Machine == \"{execute['name']}\"' -af TotalCpus TotalMemory"
        )
        if advertised:
            break
        time.sleep(3)
    assert advertised, f"{execute['name']} is not in condor_status"
    cpus, memory = advertised.splitlines()[0].split()  # TotalCpus is a real ("1.0")
    assert (float(cpus), int(memory)) == expected
    assert _exec_out(execute["name"], "nproc") == str(expected[0])


def test_job_of_ordinary_user_runs_on_execute_node(cluster):
    _, data, _ = cluster
    cm = data["nodes"]["cm_server"][0]["name"]
    execute = data["nodes"]["execute_server"][0]["name"]
    job = "\n".join(
        [
            "executable = /bin/sh",
            "arguments = \"-c 'hostname; id -un'\"",
            "output = out.txt",
            "error = err.txt",
            "log = job.log",
            "queue",
            "",
        ]
    )
    submit = (
        f"cd /home/{USER} && cat > job.sub && chown {USER} job.sub && su {USER} -c 'condor_submit job.sub'"
    )
    result = subprocess.run(
        ["podman", "exec", "-i", cm, "bash", "-c", submit], input=job, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 240
    output = ""
    while time.monotonic() < deadline:
        output = subprocess.run(
            ["podman", "exec", cm, "cat", f"/home/{USER}/out.txt"], capture_output=True, text=True
        ).stdout.strip()
        if output:
            break
        time.sleep(3)
    # It ran on the execute node; there as nobody: the template keeps the role's default
    # (htcondor_run_as_owner false: jobs do not get the submitter's account on execute hosts).
    assert output.split() == [execute, "nobody"], "the job did not run on the execute node"
    owner = ""
    deadline = time.monotonic() + 60
    while not owner and time.monotonic() < deadline:
        owner = _exec_out(cm, "condor_history -limit 1 -af Owner")
        time.sleep(0 if owner else 2)
    assert owner == USER
    # The account the `users` input asked for exists on every node, with its uid.
    for node in ("cm_server", "execute_server"):
        assert _exec_out(data["nodes"][node][0]["name"], f"id -u {USER}") == str(USER_UID)


def _exec_out(name: str, command: str) -> str:
    return subprocess.run(
        ["podman", "exec", name, "sh", "-c", command], capture_output=True, text=True
    ).stdout.strip()


def test_no_secret_leaked_while_ansible_ran(cluster):
    """The scan ran during the deploy and saw ansible at work: its findings mean something."""
    _, _, watch = cluster
    seen = (
        f"{watch.rounds} rounds, {watch.rounds_with_ansible} with ansible-playbook running, "
        f"{watch.events_while_ansible} job events and {watch.node_scans_while_ansible} node scans "
        f"while it ran, {watch.controller_tmp_files} controller / {watch.node_tmp_files} node temp files read"
    )
    assert sorted(watch.findings) == [], seen
    assert watch.rounds_with_ansible >= 3, f"the scan hardly saw ansible-playbook run: {seen}"
    assert watch.events_while_ansible > 0, f"no runner artifact was written while scanning: {seen}"
    assert watch.node_scans_while_ansible > 0, f"the nodes were never scanned during the run: {seen}"
    assert watch.controller_tmp_files > 0, f"no temporary file of the run was read: {seen}"


def test_no_secret_in_artifacts_logs_state_db_after_the_deploy(cluster):
    cli, data, watch = cluster
    secrets = read_secrets(cli, data["id"])
    assert set(secrets) == set(watch.secrets)  # the values the scan looked for during the run
    # The ansible runs left artifacts (events, stdout) and the deployment log: scan them all.
    directory = cli.state / "deployments" / data["id"]
    assert list((directory / "artifacts").glob("*/job_events/*.json"))
    assert (directory / "deploy.log").stat().st_size > 0
    # The state dir also holds the local secret store: its files are Ansible Vault encrypted.
    findings: list[Finding] = scan(secrets, paths=[cli.state], sqlite_dbs=[cli.state / "state.db"])
    assert findings == [], format_findings(findings)
    # Nothing readable by others: state dir 0700, database and documents 0600.
    assert cli.state.stat().st_mode & 0o077 == 0
    for path in (cli.state / "state.db", directory / "deployment.json", directory / "deploy.log"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_delete_leaves_nothing(cluster):
    cli, data, _ = cluster
    dep = data["id"]
    secret = read_secrets(cli, dep)["cluster_secret"]
    rc, deleted = cli.json("delete", dep)
    assert rc == 0 and deleted["status"] == "DELETE_COMPLETE"
    assert leftovers(dep) == {"containers": [], "volumes": []}
    assert local_networks_without_containers() == []
    assert read_secrets(cli, dep) == {}
    # Outputs of a deleted deployment are refused, and the secret is nowhere in the answer.
    result = cli.run("outputs", dep, "--show-secrets")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "was deleted" in result.stderr and secret not in result.stdout + result.stderr
    assert cli.json("list")[1] == []
