"""Scale-in of an execute host (playbooks/scale_in.yml -> tasks/drain.yml of this role), on the
real pool: a job that ends within the drain timeout finishes there, a job still running at the
timeout is evicted back to the queue (not lost), a job waiting in the queue stays there, and the
drained host leaves condor_status while the other execute host stays.

Runs after test_htcondor.py (file order): it takes htcondor-exec1 out of the pool."""

import json
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import testinfra

CM, DRAINED, KEPT = "htcondor-cm", "htcondor-exec1", "htcondor-exec2"
ROOT = Path(__file__).resolve().parents[5]
DRAIN_TIMEOUT = 75
SHORT_JOB = 40  # seconds, well within DRAIN_TIMEOUT


def poll(check, timeout, what, show=lambda: None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(3)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {show()!r})")


def as_alice(node, command):
    return node.run(f"runuser -l alice -c {shlex.quote('cd ~ && ' + command)}")


def submit(cm, name, executable, arguments, requirements):
    description = "\n".join(
        [
            f"executable = {executable}",
            f"arguments = {arguments}",
            f"requirements = {requirements}",
            "request_cpus = 1",
            "request_memory = 64",
            f"log = {name}.log",
            "queue",
        ]
    )
    setup = f"mkdir -p drain && cd drain && printf '%s\\n' {shlex.quote(description)} > {name}.sub"
    result = as_alice(cm, f"{setup} && condor_submit -terse {name}.sub")
    assert result.rc == 0, result.stderr
    return result.stdout.split(".")[0].strip()


def job(cm, cluster):
    """JobStatus (1 idle, 2 running, 4 completed) and NumJobStarts, from the queue or history."""
    for tool in ("condor_q", "condor_history -limit 1"):
        result = as_alice(cm, f"{tool} {cluster} -af JobStatus NumJobStarts")
        fields = result.stdout.split()
        if result.rc == 0 and len(fields) == 2:
            return int(fields[0]), 0 if fields[1] == "undefined" else int(fields[1])
    return None


def run_scale_in():
    inventory = {
        "all": {
            "hosts": {
                name: {
                    "ansible_connection": "containers.podman.podman",
                    "infn_cloud_software": [
                        {
                            "node": "execute" if name != CM else "cm",
                            "role": "infn.cloud.htcondor",
                            "wave": 1 if name != CM else 0,
                            "vars": {
                                "htcondor_roles": ["execute"]
                                if name != CM
                                else ["central_manager", "submit"],
                                "htcondor_central_manager": CM,
                                "htcondor_drain_timeout": None,
                            },
                        },
                        # a role without a drain action: left alone
                        {"node": "execute", "role": "infn.cloud.common", "wave": 0, "vars": {}},
                    ],
                }
                for name in (CM, DRAINED, KEPT)
            }
        }
    }
    path = Path(tempfile.mkdtemp(prefix="scale-in-")) / "inventory.json"
    path.write_text(json.dumps(inventory))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".ansible" / "collections"))
    env.pop("ANSIBLE_INVENTORY", None)
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(path),
            str(ROOT / "playbooks" / "scale_in.yml"),
            "-e",
            json.dumps({"infn_cloud_remove_hosts": [DRAINED], "infn_cloud_drain_timeout": DRAIN_TIMEOUT}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def cm():
    return testinfra.get_host(f"podman://{CM}")


@pytest.fixture(scope="module")
def drained(cm):
    pin = f'(Machine == "{DRAINED}")'
    jobs = {}

    def running(name):
        state = job(cm, jobs[name])
        return bool(state) and state[0] == 2

    def show():
        return {name: job(cm, cluster) for name, cluster in jobs.items()}

    # can never match: must stay queued, untouched
    jobs["queued"] = submit(cm, "queued", "/bin/sleep", "1", '(Machine == "no-such-host")')
    # still running at the timeout: must be evicted and wait in the queue again
    jobs["long"] = submit(cm, "long", "/bin/sleep", "3600", pin)
    poll(lambda: running("long"), 180, f"the long job to run on {DRAINED}", show)
    # ends well within the drain timeout: must finish on the drained host (submitted once the
    # long one runs: a partitionable slot is matched once per negotiation cycle)
    jobs["short"] = submit(cm, "short", "/bin/sleep", str(SHORT_JOB), pin)
    poll(lambda: running("short"), 180, f"the short job to run on {DRAINED}", show)
    output = run_scale_in()
    return jobs, output


def test_job_ending_within_the_timeout_finishes(cm, drained):
    jobs, _ = drained
    assert job(cm, jobs["short"])[0] == 4


def test_job_running_at_the_timeout_goes_back_to_the_queue(cm, drained):
    jobs, _ = drained
    status, starts = job(cm, jobs["long"])
    assert status == 1, f"long job status {status}: expected idle in the queue"
    assert starts >= 1


def test_queued_job_stays_queued(cm, drained):
    jobs, _ = drained
    assert job(cm, jobs["queued"]) == (1, 0)


def test_drained_host_leaves_the_pool_and_the_other_stays(cm, drained, wait):
    def machines():
        result = as_alice(cm, "condor_status -af Machine")
        found = set(result.stdout.split())
        return found if result.rc == 0 and DRAINED not in found and KEPT in found else None

    wait(machines, timeout=90, interval=3, what=f"{DRAINED} to leave condor_status")
    assert not testinfra.get_host(f"podman://{DRAINED}").service("condor").is_running


def test_second_scale_in_changes_nothing(drained):
    output = run_scale_in()
    assert "changed=0" in output.split("PLAY RECAP", 1)[1], output[-3000:]
