"""playbooks/configure.yml runs the waves of a plan as data: any number of waves, in order, with
a barrier between them (every host finishes wave N, handlers included, before any host starts
wave N+1), hosts of a wave in parallel, and a failed host gets no later wave.

The real playbook runs with ansible-playbook against local hosts (connection local) whose
software entries name a probe role of a throw-away `infn.cloud` collection: the probe records
when it starts and ends (and its handler when it runs) and sleeps or fails on request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from local_playbook import run_playbook

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "configure.yml"
pytestmark = pytest.mark.slow  # about 30 s: three ansible-playbook runs on local hosts

PROBE_TASKS = """\
- name: Record the start
  ansible.builtin.copy:
    dest: "{{ probe_dir }}/{{ inventory_hostname }}.{{ probe_label }}.start"
    content: "{{ now(utc=true).timestamp() }}"
    mode: "0600"
  delegate_to: localhost
- name: Work
  ansible.builtin.command: "sleep {{ probe_sleep | default(0) }}"
  changed_when: true
  notify: Probe handler
- name: Fail on request
  ansible.builtin.fail:
    msg: probe failure
  when: probe_fail | default(false)
- name: Record the end
  ansible.builtin.copy:
    dest: "{{ probe_dir }}/{{ inventory_hostname }}.{{ probe_label }}.end"
    content: "{{ now(utc=true).timestamp() }}"
    mode: "0600"
  delegate_to: localhost
"""

PROBE_HANDLERS = """\
- name: Probe handler
  ansible.builtin.copy:
    dest: "{{ probe_dir }}/{{ inventory_hostname }}.{{ probe_label }}.handler"
    content: "{{ now(utc=true).timestamp() }}"
    mode: "0600"
  delegate_to: localhost
"""


def _entry(node: str, wave: int, label: str, **extra) -> dict:
    return {"node": node, "role": "infn.cloud.probe", "wave": wave, "vars": {"probe_label": label, **extra}}


def _run(tmp_path: Path, hosts: dict[str, list[dict]]):
    collection = tmp_path / "collections" / "ansible_collections" / "infn" / "cloud"
    (collection / "roles" / "probe" / "tasks").mkdir(parents=True)
    (collection / "roles" / "probe" / "handlers").mkdir(parents=True)
    (collection / "roles" / "probe" / "tasks" / "main.yml").write_text(PROBE_TASKS)
    (collection / "roles" / "probe" / "handlers" / "main.yml").write_text(PROBE_HANDLERS)
    (collection / "galaxy.yml").write_text("namespace: infn\nname: cloud\nversion: 0.0.1\n")
    return run_playbook(tmp_path, hosts, PLAYBOOK, forks=10)


def _times(out: Path) -> dict[str, float]:
    return {path.name: float(path.read_text()) for path in out.iterdir()}


@pytest.fixture(scope="module")
def waves(tmp_path_factory):
    """Three hosts, waves 0, 1 and 12 (more than the old limit of ten plays)."""
    tmp_path = tmp_path_factory.mktemp("waves")
    hosts = {
        "slow": [_entry("cm", 0, "w0", probe_sleep=3), _entry("cm", 12, "w12")],
        "fast": [_entry("ex", 0, "w0"), _entry("ex", 1, "w1a"), _entry("ex", 1, "w1b")],
        "late": [_entry("ui", 1, "w1"), _entry("ui", 12, "w12")],
    }
    proc, out = _run(tmp_path, hosts)
    return proc, _times(out)


def test_every_entry_runs_once_with_its_handler(waves):
    proc, times = waves
    assert proc.returncode == 0, proc.stdout[-3000:]
    labels = {"slow": ["w0", "w12"], "fast": ["w0", "w1a", "w1b"], "late": ["w1", "w12"]}
    expected = {f"{h}.{lab}.{what}" for h, ls in labels.items() for lab in ls for what in ("start", "end")}
    # A handler runs once per host and wave however often it was notified (w1a and w1b of
    # the fast host notify it twice: it runs once, after both, with the last entry's vars).
    expected |= {"slow.w0.handler", "slow.w12.handler", "fast.w0.handler", "fast.w1b.handler"}
    expected |= {"late.w1.handler", "late.w12.handler"}
    assert set(times) == expected
    assert times["fast.w1b.handler"] >= times["fast.w1b.end"]


def test_a_wave_starts_after_every_host_finished_the_previous_one(waves):
    _proc, times = waves

    def ends(labels):  # the last end or handler of these entries
        return max(t for name, t in times.items() if name.split(".")[1] in labels and "start" not in name)

    def starts(labels):
        return min(t for name, t in times.items() if name.split(".")[1] in labels and "start" in name)

    # The slow host's wave 0 (3 s) and its handler end before the fast host starts wave 1.
    assert ends({"w0"}) <= starts({"w1a", "w1b", "w1"})
    assert ends({"w1a", "w1b", "w1"}) <= starts({"w12"})


def test_hosts_of_a_wave_run_in_parallel(waves):
    _proc, times = waves
    # The fast host's wave 0 starts with the slow one's, not after it ended.
    assert times["fast.w0.start"] < times["slow.w0.end"]


def test_entries_of_a_host_run_in_plan_order(waves):
    _proc, times = waves
    assert times["fast.w1a.end"] <= times["fast.w1b.start"]


def test_a_failed_host_gets_no_later_wave_and_the_others_go_on(tmp_path):
    hosts = {
        "broken": [_entry("a", 0, "w0", probe_fail=True), _entry("a", 1, "w1")],
        "healthy": [_entry("b", 0, "w0"), _entry("b", 1, "w1")],
    }
    proc, out = _run(tmp_path, hosts)
    times = _times(out)
    assert proc.returncode != 0
    assert "broken.w0.start" in times and "broken.w0.end" not in times
    assert not any(name.startswith("broken.w1") for name in times)
    assert {"healthy.w1.start", "healthy.w1.end"} <= set(times)


def test_an_entry_without_an_integer_wave_is_refused(tmp_path):
    hosts = {}
    for n, wave in enumerate([-1, "1", None, True]):
        entry = _entry(f"node{n}", 0, "w0")
        entry["wave"] = wave
        hosts[f"h{n}"] = [entry]
    proc, out = _run(tmp_path, hosts)
    assert proc.returncode != 0
    for n in range(4):
        message = f"h{n}: the software entries of nodes node{n} have no wave that is an integer >= 0"
        assert message in proc.stdout
    assert not list(out.iterdir())
