"""The progress view driven by recorded ansible-runner events.

data/configure_htcondor_events.jsonl: the events of a real `configure` run of htcondor_cluster
on the local site (playbooks/configure.yml looping over 3 waves, 2 hosts), trimmed to the
fields the view reads (host names without the deployment id); data/configure_htcondor_document.json:
its deployment document (software entries and host names). The 50-host and failure streams are
made from that recording."""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from infn_cloud.deploy.progress import MAX_HOST_ROWS, WAVE_TASK, ProgressView, screen
from infn_cloud.deploy.redaction import Redactor

DATA = Path(__file__).parent / "data"
CSI = re.compile(r"\x1b\[")
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def recorded() -> list[dict]:
    return [json.loads(line) for line in (DATA / "configure_htcondor_events.jsonl").read_text().splitlines()]


def deployment_dir(tmp_path: Path, document: dict | None = None) -> Path:
    directory = tmp_path / "deployment"
    directory.mkdir()
    if document is None:
        shutil.copy(DATA / "configure_htcondor_document.json", directory / "deployment.json")
    else:
        (directory / "deployment.json").write_text(json.dumps(document))
    return directory


def run(view: ProgressView, directory: Path, events: list[dict], done: bool = True) -> None:
    view.attach_log(directory / "deploy.log")
    view.message("deployment recorded: htcondor_cluster.yaml")
    view.phase("provision", "local", "score 1.0")
    view("container cm-server-0 running")
    view.phase("configure", "local", "ansible-playbook playbooks/configure.yml")
    for event in events:
        view.on_event(event)
    if done:
        view.phase("done", "local", "CREATE_COMPLETE in 95 s")


def fifty_hosts(fail: str | None = None) -> tuple[dict, list[dict]]:
    """Wave 0 of the recording (the common role) replayed on 50 hosts; ``fail``: a host whose
    eleventh task fails (Ansible then runs nothing more on it)."""
    hosts = [f"node-{i:02d}" for i in range(50)]
    document = {
        "plan": {"software": [{"hosts": ["wn"], "node": "wn", "role": "infn.cloud.common", "wave": 0}]},
        "resources": {"nodes": {"wn": [{"name": h} for h in hosts]}},
    }
    events: list[dict] = []
    failed_after: dict[str, int] = {}
    waves_seen = 0
    for event in recorded():
        data = event["event_data"]
        if event["event"] == "playbook_on_task_start" and data.get("task") == WAVE_TASK:
            waves_seen += 1
        if waves_seen > 1 or event["event"] == "playbook_on_stats":
            break  # the facts and wave 0 (the common role) only
        if data.get("host") is None:
            events.append(event)
            continue
        if data["host"] != "cm-server-0":
            continue
        for host in hosts:
            if host in failed_after:
                continue
            copy = {"event": event["event"], "event_data": {**data, "host": host}}
            if host == fail and waves_seen and event["event"] == "runner_on_ok":
                count = sum(
                    1 for e in events if e["event_data"].get("host") == host and "res" in e["event_data"]
                )
                if count >= 10:
                    copy = {
                        "event": "runner_on_failed",
                        "event_data": {
                            **data,
                            "host": host,
                            "res": {"msg": "Failed to update apt cache: W:Some index files failed"},
                        },
                    }
                    failed_after[host] = 1
            events.append(copy)
    events.append(
        {
            "event": "playbook_on_stats",
            "event_data": {
                "ok": {h: 30 for h in hosts},
                "changed": {h: 9 for h in hosts},
                "failures": {fail: 1} if fail else {},
                "dark": {},
            },
        }
    )
    return document, events


# ---------------------------------------------------------------------- final screen
def test_final_screen_of_a_recorded_run(tmp_path):
    view = ProgressView(stream=io.StringIO(), mode="plain")
    run(view, deployment_dir(tmp_path), recorded())
    text = screen(view, width=100)
    view.close()
    assert text.splitlines()[0].startswith("✔ done at local · CREATE_COMPLETE in 95 s")
    # The last wave's host stays on the final screen, its tasks all done (done == total).
    rows = [line for line in text.splitlines() if line.startswith("execute-server-0")]
    assert len(rows) == 1 and re.search(r"\bchanged\s+(\d+)/~\1\b", rows[0]), text
    bar = re.search(r"(\d+)/~(\d+) tasks", text)
    assert bar and bar.group(1) == bar.group(2), text


def test_during_a_wave_the_running_task_and_counts_show(tmp_path):
    events = recorded()
    # Stop in the middle of wave 2 (htcondor on the central manager).
    starts = [
        i
        for i, e in enumerate(events)
        if e["event"] == "playbook_on_task_start" and e["event_data"].get("task") == WAVE_TASK
    ]
    cut = starts[1] + 30
    while events[cut]["event"] != "runner_on_start":
        cut += 1
    view = ProgressView(stream=io.StringIO(), mode="plain")
    run(view, deployment_dir(tmp_path), events[: cut + 1], done=False)
    text = screen(view, width=120)
    assert re.search(r"^● configure at local · wave 2/3 · \d\d:\d\d", text), text
    task = events[cut]["event_data"]["task"]
    assert re.search(rf"cm-server-0\s+running\s+\d+/~\d+\s+htcondor : {re.escape(task[:20])}", text), text
    done, total = map(int, re.search(r"(\d+)/~(\d+) tasks", text).groups())
    assert 0 < done < total


# ---------------------------------------------------------------------- plain / verbose
def test_plain_mode_is_one_line_per_phase_event_without_escape_codes(tmp_path):
    out = io.StringIO()
    view = ProgressView(stream=out, mode="plain")
    directory = deployment_dir(tmp_path)
    run(view, directory, recorded())
    view.close()
    text = out.getvalue()
    assert not CSI.search(text)
    lines = text.splitlines()
    starts = sum(1 for e in recorded() if e["event"] == "runner_on_start")
    assert starts > 100 and len(lines) < 20, text
    for wave in (1, 2, 3):
        assert any(line.startswith(f"== configure wave {wave}/3 at local: ") for line in lines), text
        assert any(re.match(rf"   wave {wave}/3 done in \d\d:\d\d: ", line) for line in lines), text
    # The task results Ansible reported in each wave, counted in the recording from a start of
    # the wave task to the next one or to the next play (the recording's playbook had a play per
    # wave), not the estimate the bar is completed to.
    # Only the hosts with software in the wave count: every host runs each wave's include.
    document = json.loads((DATA / "configure_htcondor_document.json").read_text())
    names = {c: [i["name"] for i in v] for c, v in document["resources"]["nodes"].items()}
    in_wave: dict[int, set] = {}
    for entry in document["plan"]["software"]:
        in_wave.setdefault(entry["wave"], set()).update(h for c in entry["hosts"] for h in names[c])
    expected: list[int] = []
    hosts: set = set()
    for event in recorded():
        if event["event"] == "playbook_on_task_start" and event["event_data"].get("task") == WAVE_TASK:
            expected.append(0)
            hosts = in_wave[sorted(in_wave)[len(expected) - 1]]
        elif event["event"] == "playbook_on_play_start":
            hosts = set()
        elif hosts and event["event"] in ("runner_on_ok", "runner_on_skipped", "runner_on_failed"):
            expected[-1] += event["event_data"]["host"] in hosts
    results = [int(m) for m in re.findall(r"done in \d\d:\d\d: .*, (\d+) task results", text)]
    assert len(expected) == 3 and results == expected, text
    assert "   recap: cm-server-0 ok=47 changed=13, execute-server-0 ok=47 changed=13" in lines
    # The log keeps everything, each task start included, time-stamped.
    log = (directory / "deploy.log").read_text()
    assert log.count("cm-server-0: common : ") > 10
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* deployment recorded", log)


def test_verbose_mode_keeps_a_line_per_task(tmp_path):
    out = io.StringIO()
    view = ProgressView(stream=out, mode="verbose")
    run(view, deployment_dir(tmp_path), recorded())
    text = out.getvalue()
    assert not CSI.search(text)
    task_lines = [line for line in text.splitlines() if re.match(r"   \[configure \d\d:\d\d\] \S+: ", line)]
    assert len(task_lines) > 100
    assert any("execute-server-0: htcondor : " in line for line in task_lines)


def test_the_wave_task_the_view_counts_on_is_in_the_playbooks():
    """Waves are found by the start of WAVE_TASK in the configure run's events."""
    import yaml

    from infn_cloud.paths import collection_root

    names = [
        task.get("name")
        for path in (collection_root() / "playbooks" / "tasks").glob("*.yml")
        for task in yaml.safe_load(path.read_text()) or []
    ]
    assert WAVE_TASK in names


def test_not_a_terminal_means_plain_and_quiet_means_nothing(tmp_path):
    assert ProgressView(stream=io.StringIO()).mode == "plain"
    assert ProgressView(stream=io.StringIO(), tty=False, mode="live").mode == "plain"
    out = io.StringIO()
    view = ProgressView(stream=out, quiet=True)
    run(view, deployment_dir(tmp_path), recorded())
    assert out.getvalue() == ""
    assert "== configure wave 1/3" in (tmp_path / "deployment" / "deploy.log").read_text()
    with pytest.raises(ValueError, match="unknown progress mode"):
        ProgressView(stream=io.StringIO(), mode="fancy")


# ---------------------------------------------------------------------- 50 hosts, failures
def test_fifty_hosts_fit_and_a_failure_shows_at_once(tmp_path):
    document, events = fifty_hosts(fail="node-17")
    out = io.StringIO()
    view = ProgressView(stream=out, mode="plain")
    directory = deployment_dir(tmp_path, document)
    failed_at = next(i for i, e in enumerate(events) if e["event"] == "runner_on_failed")
    run(view, directory, events[: failed_at + 1], done=False)
    # Printed when it happens, not at the end of the wave: host, task, message.
    last = out.getvalue().splitlines()[-1]
    task = events[failed_at]["event_data"]["task"]
    assert last == f"   FAILED node-17: {task}: Failed to update apt cache: W:Some index files failed"
    text = screen(view, width=120)
    lines = text.splitlines()
    assert len(lines) <= MAX_HOST_ROWS + 5, text
    # The failed host is listed first, the rest summarised in one line.
    rows = [line for line in lines if line.startswith(("node-", "..."))]
    assert rows[0].startswith("node-17") and " failed " in rows[0]
    assert re.match(r"\.\.\. \d+ more\s+", rows[-1]) and "running" in rows[-1], text
    assert "failed: node-17: " in text

    for event in events[failed_at + 1 :]:
        view.on_event(event)
    summary = [line for line in out.getvalue().splitlines() if "wave 1/1 done" in line]
    assert summary and "50 host(s) (49 changed, 1 failed)" in summary[0], out.getvalue()
    assert "recap: 50 hosts, 1500 ok, 450 changed, failed on 1: node-17" in out.getvalue()


def test_handling_events_is_cheap(tmp_path):
    """The runner's consumer thread calls on_event for every event: no drawing happens there."""
    document, events = fifty_hosts()
    view = ProgressView(stream=io.StringIO(), mode="plain")
    view.attach_log(deployment_dir(tmp_path, document) / "deploy.log")
    view.phase("configure", "local")
    started = time.perf_counter()
    for event in events:
        view.on_event(event)
    elapsed = time.perf_counter() - started
    assert len(events) > 2000
    assert elapsed / len(events) < 0.001, f"{elapsed / len(events) * 1e6:.0f} µs per event"


def test_secrets_are_redacted_on_screen_and_in_the_log(tmp_path):
    out = io.StringIO()
    view = ProgressView(stream=out, mode="plain")
    directory = deployment_dir(tmp_path)
    view.attach_log(directory / "deploy.log")
    view.redact = Redactor({"pool_password": "Hunter2-Hunter2-Hunter2"}).text
    view.phase("configure", "local")
    view.on_event({"event": "playbook_on_play_start", "event_data": {"play": "Configure software wave 0"}})
    data = {"host": "cm-server-0", "task": "Join with Hunter2-Hunter2-Hunter2", "role": "htcondor"}
    view.on_event({"event": "runner_on_start", "event_data": data})
    assert "Hunter2" not in screen(view)
    view.on_event(
        {"event": "runner_on_failed", "event_data": {**data, "res": {"msg": "bad Hunter2-Hunter2-Hunter2"}}}
    )
    view.close()
    assert "Hunter2" not in out.getvalue() + screen(view) + (directory / "deploy.log").read_text()
    assert "FAILED cm-server-0" in out.getvalue()


# ---------------------------------------------------------------------- the live view
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_view_on_a_terminal_keeps_phase_lines_and_the_interrupt_hint(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Terminal()
    view = ProgressView(stream=out, width=100)
    assert view.mode == "live"
    run(view, deployment_dir(tmp_path), recorded()[:150], done=False)
    view.message("cancelled during configure: infn-cloud retry abc | infn-cloud delete abc")
    view.close()
    text = out.getvalue()
    assert CSI.search(text)  # redrawn in place
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "== configure wave 1/3 at local" in plain
    assert "cancelled during configure: infn-cloud retry abc | infn-cloud delete abc" in plain
    # The last frame drawn (close() draws it once more) is the live area.
    assert "configure at local · wave" in plain.rsplit("infn-cloud delete abc", 1)[1]
    assert any(set(params.split(";")) & {"32", "36"} for params in SGR.findall(text))  # green/cyan


def test_no_color_in_the_live_view(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    view = ProgressView(stream=out, width=100)
    run(view, deployment_dir(tmp_path), recorded()[:150], done=False)
    view.close()
    colours = [
        p
        for params in SGR.findall(out.getvalue())
        for p in params.split(";")
        if p.isdigit() and (30 <= int(p) <= 49 or 90 <= int(p) <= 107)
    ]
    assert "configure at local" in out.getvalue() and colours == []
