"""infn_cloud.runner against a real ansible-playbook on localhost: secrets, artifacts, failures."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from infn_cloud.runner import (
    OWNER_TAG,
    PASSED_ENV,
    PASSED_ENV_PREFIXES,
    RUNNER_ENV,
    _tagged_processes,
    child_environment,
    environment,
    run_playbook,
    stop_leftovers,
    write_inventory,
)
from infn_cloud.secrets.leakscan import scan

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


# Credentials a user may have in the CLI's shell; none may reach ansible-playbook or artifacts.
SHELL_CREDENTIALS = {
    "DB_PASS": "db-pass-41ka",
    "MYSQL_PWD": "mysql-pwd-52lb",
    "GITHUB_PAT": "ghp_pat63mc0000",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-74nd",
    "OS_PASSWORD": "os-pass-77xq",
    "OS_CLIENT_CONFIG_FILE": "/home/u/clouds-85oe.yaml",
    "VAULT_TOKEN": "hvs.tok-88yz",
    "INFN_CLOUD_VAULT_TOKEN": "hvs.infn-96pf",
    "https_proxy": "http://user:proxy-pw-07qg@proxy:3128",
    "ANSIBLE_BECOME_PASSWORD_FILE": "/home/u/become-18rh",
    "SSH_AUTH_SOCK": "/tmp/users-own-agent-29si.sock",
    "SOMETHING_NEW": "not-on-any-list-30tj",
}
# What ansible-playbook may see: the allowlist, what runner/ssh-agent/we set, what the shell of
# the task itself adds.
ALLOWED_IN_CHILD = (
    PASSED_ENV
    | RUNNER_ENV
    | set(environment("ssh", "/x/known_hosts"))
    | {OWNER_TAG, "SSH_AUTH_SOCK", "SSH_AGENT_PID", "PWD", "SHLVL", "_"}
)


def _unexpected(names) -> list[str]:
    return sorted(n for n in names if n not in ALLOWED_IN_CHILD and not n.startswith(PASSED_ENV_PREFIXES))


ENV_PLAYBOOK = """
- name: Record the environment ansible-playbook hands to a task
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write the environment and the keys of the SSH agent
      ansible.builtin.shell: "env -0 > {{ out }}; ssh-add -L > {{ out }}.agent"
      changed_when: false
"""


def test_only_allowlisted_variables_reach_ansible_and_its_artifacts(tmp_path, monkeypatch):
    """DB_PASS, MYSQL_PWD, GITHUB_PAT, a proxy password, the user's agent ...: none gets through."""
    for name, value in SHELL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_TIME", "C.UTF-8")  # allowlisted: passes unchanged
    key_file = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    (tmp_path / "env.yml").write_text(ENV_PLAYBOOK)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "localhost ansible_connection=local ansible_python_interpreter={{ ansible_playbook_python }}\n"
    )
    out = tmp_path / "child.env"
    result = run_playbook(
        str(tmp_path / "env.yml"),
        inventory=inventory,
        artifact_dir=tmp_path / "artifacts",
        ident="env1",
        extravars={"out": str(out)},
        ssh_key=key_file.read_text(),
        connection="ssh",
        known_hosts=tmp_path / "known_hosts",
        owner="dep-env1",
    )
    assert result.ok, result.failures
    child = dict(item.split("=", 1) for item in out.read_text().split("\0") if item)
    assert _unexpected(child) == []
    assert child["LC_TIME"] == "C.UTF-8" and child[OWNER_TAG] == "dep-env1"
    assert child["ANSIBLE_STDOUT_CALLBACK"] == "awx_display"  # runner's own settings are kept
    # SSH_AUTH_SOCK is runner's ssh-agent holding the deployment key, not the user's agent.
    assert child["SSH_AUTH_SOCK"] != SHELL_CREDENTIALS["SSH_AUTH_SOCK"]
    public = (tmp_path / "key.pub").read_text().split()[1]
    assert public in (tmp_path / "child.env.agent").read_text()
    recorded = json.loads((tmp_path / "artifacts" / "env1" / "command").read_text())["env"]
    assert _unexpected(recorded) == []
    leaks = {k: v for k, v in SHELL_CREDENTIALS.items() if k != "SSH_AUTH_SOCK"}
    assert scan(leaks, paths=[tmp_path / "artifacts", out]) == []


def test_child_environment_keeps_what_runner_set_and_drops_the_users_ansible_settings():
    shell = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LC_ALL": "C.UTF-8",
        "DB_PASS": "x" * 12,
        "ANSIBLE_CALLBACK_PLUGINS": "/home/u/callbacks",
        "ANSIBLE_STDOUT_CALLBACK": "json",  # the user's: runner replaces it, we keep runner's
        "ANSIBLE_CACHE_PLUGIN": "redis",  # the user's, left as is by runner: dropped
        "ANSIBLE_VAULT_PASSWORD_FILE": "/home/u/vault-pass",
    }
    runner_env = {
        **shell,
        "ANSIBLE_CALLBACK_PLUGINS": "/home/u/callbacks:/venv/ansible_runner/display_callback/callback",
        "ANSIBLE_STDOUT_CALLBACK": "awx_display",
        "AWX_ISOLATED_DATA_DIR": "/a/run1",
    }
    env = child_environment(runner_env, {"ANSIBLE_CONFIG": "/repo/ansible.cfg"}, shell=shell)
    assert env["ANSIBLE_CALLBACK_PLUGINS"] == "/venv/ansible_runner/display_callback/callback"
    assert env["ANSIBLE_STDOUT_CALLBACK"] == "awx_display"
    assert env["AWX_ISOLATED_DATA_DIR"] == "/a/run1"
    assert env["ANSIBLE_CONFIG"] == "/repo/ansible.cfg"
    assert env["HOME"] == "/home/u" and env["LC_ALL"] == "C.UTF-8"
    assert env["PATH"].split(os.pathsep)[-1] == "/usr/bin"
    for dropped in ("DB_PASS", "ANSIBLE_CACHE_PLUGIN", "ANSIBLE_VAULT_PASSWORD_FILE"):
        assert dropped not in env


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
    assert "StrictHostKeyChecking=yes" in env["ANSIBLE_SSH_ARGS"]
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in env["ANSIBLE_SSH_ARGS"]
    with pytest.raises(ValueError):
        environment("ssh")


def test_inventory_file_is_private_and_names_the_document(tmp_path):
    path = write_inventory(tmp_path, tmp_path / "deployment.json")
    assert path.name.endswith("deployment.yml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "plugin: infn.cloud.deployment" in path.read_text()
