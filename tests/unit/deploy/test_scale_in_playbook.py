"""playbooks/scale_in.yml (interfaces I4): on the hosts being removed, every software entry whose
role has a drain action (tasks/drain.yml) runs it, last wave first, with the entry's variables
and the update's drain timeout; roles without one and hosts that stay are not touched; unknown
hosts are refused and a drain that fails fails the play (infn-cloud update then keeps the
instances).

The real playbook (copied into a throw-away `infn.cloud` collection, so that it finds that
collection's roles as it finds its own) runs with ansible-playbook against local hosts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from local_playbook import run_playbook

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # about 15 s: three ansible-playbook runs on local hosts

DRAIN_TASKS = """\
- name: Fail on request
  ansible.builtin.fail:
    msg: "probe drain failure on {{ inventory_hostname }}"
  when: probe_fail | default(false)
- name: Record the drain
  ansible.builtin.copy:
    dest: "{{ probe_dir }}/{{ inventory_hostname }}.{{ probe_label }}.drain"
    content: "{{ now(utc=true).timestamp() }} {{ infn_cloud_drain_timeout }}"
    mode: "0600"
  delegate_to: localhost
- name: Keep the order apart
  ansible.builtin.command: sleep 1
  changed_when: false
"""

MAIN_TASKS = """\
- name: Record that the role itself ran (it must not, on scale-in)
  ansible.builtin.copy:
    dest: "{{ probe_dir }}/{{ inventory_hostname }}.{{ probe_label | default('x') }}.main"
    content: ran
    mode: "0600"
  delegate_to: localhost
"""


def _entry(node: str, role: str, wave: int, label: str, **extra) -> dict:
    return {"node": node, "role": f"infn.cloud.{role}", "wave": wave, "vars": {"probe_label": label, **extra}}


def _run(tmp_path: Path, hosts: dict[str, list[dict]], extravars: dict):
    collection = tmp_path / "collections" / "ansible_collections" / "infn" / "cloud"
    for role, drain in (("drainable", True), ("plain", False)):
        tasks = collection / "roles" / role / "tasks"
        tasks.mkdir(parents=True)
        (tasks / "main.yml").write_text(MAIN_TASKS)
        if drain:
            (tasks / "drain.yml").write_text(DRAIN_TASKS)
    (collection / "playbooks" / "tasks").mkdir(parents=True)
    shutil.copy(ROOT / "playbooks" / "scale_in.yml", collection / "playbooks" / "scale_in.yml")
    shutil.copy(ROOT / "playbooks" / "tasks" / "drain_entry.yml", collection / "playbooks" / "tasks")
    (collection / "galaxy.yml").write_text("namespace: infn\nname: cloud\nversion: 0.0.1\n")
    playbook = collection / "playbooks" / "scale_in.yml"
    proc, out = run_playbook(tmp_path, hosts, playbook, ["-e", json.dumps(extravars)])
    return proc, {p.name: p.read_text() for p in out.iterdir()}


HOSTS = {
    "cm-0": [_entry("cm", "drainable", 0, "cm")],
    "wn-1": [
        _entry("wn", "drainable", 0, "w0"),
        _entry("wn", "plain", 1, "plain"),
        _entry("wn", "drainable", 2, "w2", probe_unused=None),
    ],
    "wn-2": [_entry("wn", "drainable", 0, "w0")],
}


@pytest.fixture(scope="module")
def drained(tmp_path_factory):
    return _run(
        tmp_path_factory.mktemp("scale_in"),
        HOSTS,
        {"infn_cloud_remove_hosts": ["wn-1"], "infn_cloud_drain_timeout": 42},
    )


def test_only_the_removed_hosts_entries_with_a_drain_action_are_drained(drained):
    proc, files = drained
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(files) == ["wn-1.w0.drain", "wn-1.w2.drain"]


def test_last_wave_drains_first_with_the_update_timeout(drained):
    _, files = drained
    (t2, timeout2), (t0, timeout0) = (files[f"wn-1.w{w}.drain"].split() for w in (2, 0))
    assert float(t2) < float(t0)
    assert timeout2 == timeout0 == "42"


def test_unknown_host_is_refused_and_nothing_drained(tmp_path):
    proc, files = _run(tmp_path, HOSTS, {"infn_cloud_remove_hosts": ["wn-9"], "infn_cloud_drain_timeout": 5})
    assert proc.returncode != 0
    assert "infn_cloud_remove_hosts" in proc.stdout and "unknown: wn-9" in proc.stdout
    assert files == {}


def test_a_drain_that_fails_fails_the_play(tmp_path):
    hosts = dict(HOSTS, **{"wn-2": [_entry("wn", "drainable", 0, "w0", probe_fail=True)]})
    proc, files = _run(tmp_path, hosts, {"infn_cloud_remove_hosts": ["wn-2"], "infn_cloud_drain_timeout": 5})
    assert proc.returncode != 0
    assert "probe drain failure on wn-2" in proc.stdout
    assert files == {}
