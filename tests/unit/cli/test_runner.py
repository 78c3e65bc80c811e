"""infn_cloud.runner against a real ansible-playbook on localhost: secrets, artifacts, failures."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from infn_cloud.runner import (
    _tagged_processes,
    environment,
    run_playbook,
    stop_leftovers,
    write_inventory,
)
from infn_cloud.secrets.leakscan import scan

pytest.importorskip("ansible_runner")

PLAYBOOK = """
- name: Check what the runner hands over
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The secret arrives, the plain var too
      ansible.builtin.assert:
        that:
          - my_secret is string and my_secret | length > 10
          - plain_var == 'visible'
      no_log: true
    - name: Fail when asked
      ansible.builtin.fail:
        msg: "asked to fail"
      when: fail_now | default(false) | bool
"""


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "check.yml"
    path.write_text(PLAYBOOK)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "localhost ansible_connection=local ansible_python_interpreter={{ ansible_playbook_python }}\n"
    )
    return path, inventory


def test_secret_extravars_reach_ansible_and_no_file_or_artifact_keeps_them(playbook, tmp_path):
    path, inventory = playbook
    secret = "Zq9-unique-secret-value-4711"
    events = []
    result = run_playbook(
        str(path),
        inventory=inventory,
        artifact_dir=tmp_path / "artifacts",
        ident="run1",
        extravars={"plain_var": "visible"},
        secret_extravars={"my_secret": secret},
        on_event=events.append,
    )
    assert result.ok, result.failures
    assert result.stats["ok"]
    assert any(e.get("event") == "playbook_on_stats" for e in events)
    run_dir = tmp_path / "artifacts" / "run1"
    assert (run_dir / "stdout").exists() and (run_dir / "job_events").is_dir()
    assert stat.S_IMODE(os.stat(tmp_path / "artifacts").st_mode) == 0o700
    assert scan({"secret": secret}, paths=[tmp_path]) == []
    assert "Zq9" not in (run_dir / "command").read_text()


def test_shell_credentials_stay_out_of_ansible_and_its_artifacts(tmp_path, monkeypatch):
    """A user's OpenStack password or Vault token in the CLI's shell never reaches the playbook."""
    leaked = {"OS_PASSWORD": "os-pass-77xq", "VAULT_TOKEN": "hvs.tok-88yz", "MY_API_KEY": "key-99wv"}
    for name, value in leaked.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INFN_CLOUD_HARMLESS", "kept")
    path = tmp_path / "env.yml"
    path.write_text(
        """
- name: Report which variables the playbook sees
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Credentials are absent, ordinary variables present
      ansible.builtin.assert:
        that:
          - lookup('ansible.builtin.env', 'OS_PASSWORD') == ''
          - lookup('ansible.builtin.env', 'VAULT_TOKEN') == ''
          - lookup('ansible.builtin.env', 'MY_API_KEY') == ''
          - lookup('ansible.builtin.env', 'INFN_CLOUD_HARMLESS') == 'kept'
"""
    )
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "localhost ansible_connection=local ansible_python_interpreter={{ ansible_playbook_python }}\n"
    )
    result = run_playbook(str(path), inventory=inventory, artifact_dir=tmp_path / "artifacts", ident="env1")
    assert result.ok, result.failures
    assert scan(leaked, paths=[tmp_path / "artifacts"]) == []


def test_failures_are_reported_with_task_and_host(playbook, tmp_path):
    path, inventory = playbook
    result = run_playbook(
        str(path),
        inventory=inventory,
        artifact_dir=tmp_path / "artifacts",
        ident="run2",
        extravars={"plain_var": "visible", "fail_now": True},
        secret_extravars={"my_secret": "another-long-secret"},
    )
    assert result.status == "failed"
    assert result.failures[0]["task"] == "Fail when asked"
    assert "asked to fail" in result.cause()
    assert "localhost" in result.cause()


def test_cancel_stops_the_run(tmp_path):
    path = tmp_path / "slow.yml"
    path.write_text(
        "- name: Slow\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - name: Sleep\n      ansible.builtin.command: sleep 60\n      changed_when: false\n"
    )
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "localhost ansible_connection=local ansible_python_interpreter={{ ansible_playbook_python }}\n"
    )
    cancel = threading.Event()
    threading.Timer(3, cancel.set).start()
    started = time.monotonic()
    result = run_playbook(
        str(path), inventory=inventory, artifact_dir=tmp_path / "a", ident="slow", cancel=cancel
    )
    assert result.status == "canceled"
    assert time.monotonic() - started < 40
    assert result.cause() == "cancelled by the user"


SLOW_PLAY = (
    "- name: Slow\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
    "    - name: Sleep\n      ansible.builtin.command: sleep 300\n      changed_when: false\n"
)


def test_what_a_killed_cli_leaves_running_is_found_and_stopped(tmp_path):
    """kill -9 of the CLI: ansible's workers (setsid) keep running; stop_leftovers ends them."""
    (tmp_path / "slow.yml").write_text(SLOW_PLAY)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "localhost ansible_connection=local ansible_python_interpreter={{ ansible_playbook_python }}\n"
    )
    owner = "dep-" + os.urandom(4).hex()
    script = (
        "import sys; from infn_cloud.runner import run_playbook; "
        f"run_playbook({str(tmp_path / 'slow.yml')!r}, inventory={str(inventory)!r}, "
        f"artifact_dir={str(tmp_path / 'a')!r}, ident='slow', owner={owner!r})"
    )
    cli = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not any(b"sleep" in _cmdline(pid) for pid in _tagged_processes(owner)):
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.3)
    finally:
        cli.send_signal(signal.SIGKILL)
        cli.wait()
    time.sleep(2)
    left = _tagged_processes(owner)
    assert any(b"sleep" in _cmdline(pid) for pid in left), "expected the task to outlive the CLI"

    stopped = stop_leftovers(owner, grace=5)
    assert set(left) <= set(stopped)
    assert _tagged_processes(owner) == []
    assert stop_leftovers(owner) == []  # nothing left: a second takeover is a no-op


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def test_environment_sets_host_key_checking_explicitly(tmp_path):
    assert environment("podman")["ANSIBLE_HOST_KEY_CHECKING"] == "False"
    env = environment("ssh", tmp_path / "known_hosts")
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert "StrictHostKeyChecking=accept-new" in env["ANSIBLE_SSH_ARGS"]
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in env["ANSIBLE_SSH_ARGS"]
    with pytest.raises(ValueError):
        environment("ssh")


def test_inventory_file_is_private_and_names_the_document(tmp_path):
    path = write_inventory(tmp_path, tmp_path / "deployment.json")
    assert path.name.endswith("deployment.yml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "plugin: infn.cloud.deployment" in path.read_text()
