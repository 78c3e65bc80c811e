"""`list` and `show` tables, colours on a terminal only, NO_COLOR, and `logs --follow`."""

from __future__ import annotations

import io
import json
import os
import re
import sys
import threading
import time

import pytest

from infn_cloud.cli import deployments, main
from infn_cloud.cli.view import print_table
from infn_cloud.state import open_state

CSI = re.compile(r"\x1b\[")


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("INFN_CLOUD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "state"


def make_record(state, deployment_id: str, template: str, status: str, owner_alive: bool = False) -> None:
    state.create_deployment(
        {"id": deployment_id, "template": f"/catalogue/{template}.yaml", "status": status, "plan": {}}
    )
    state.update(deployment_id, site="LOCAL-BACKBONE")
    if not owner_alive:
        state.update(deployment_id, owner_pid=None)


@pytest.fixture
def records(state_dir):
    with open_state() as state:
        make_record(state, "11111111-aaaa-4000-8000-000000000001", "single_vm", "CREATE_COMPLETE")
        make_record(state, "22222222-bbbb-4000-8000-000000000002", "htcondor_cluster", "CREATE_FAILED")
        first = state.start_attempt("22222222-bbbb-4000-8000-000000000002", "create", "SITE-A", "provision")
        state.finish_attempt(first, "failed", cause="quota exceeded", timings={"provision_s": 12.4})
        second = state.start_attempt("22222222-bbbb-4000-8000-000000000002", "retry", "SITE-B", "configure")
        state.set_phase(second, "outputs")
        state.finish_attempt(second, "ok", timings={"provision_s": 61.0, "configure_s": 125.2})
    return state_dir


def columns_of(header: str, names: list[str]) -> list[int]:
    return [header.index(name) for name in names]


def test_list_is_an_aligned_table_without_escape_codes(records, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert not CSI.search(out)
    lines = out.splitlines()
    names = ["ID", "TEMPLATE", "STATUS", "SITE", "CREATED"]
    starts = columns_of(lines[0], names)
    assert starts == sorted(starts)
    rows = lines[1:]
    assert [r.split()[:4] for r in rows] == [
        ["11111111-aaaa-4000-8000-000000000001", "single_vm.yaml", "CREATE_COMPLETE", "LOCAL-BACKBONE"],
        ["22222222-bbbb-4000-8000-000000000002", "htcondor_cluster.yaml", "CREATE_FAILED", "LOCAL-BACKBONE"],
    ]
    for row in rows:  # every value starts under its header
        for name, start in zip(names, starts, strict=True):
            assert row[start] != " " and (start == 0 or row[start - 1] == " "), (name, row)


def test_show_prints_each_attempt_with_its_phase_durations(records, capsys):
    assert main(["show", "2222"]) == 0
    out = capsys.readouterr().out
    assert not CSI.search(out)
    lines = out.splitlines()
    header = next(line for line in lines if "OPERATION" in line)
    assert header.split() == [
        "#",
        "OPERATION",
        "SITE",
        "OUTCOME",
        "PHASE",
        "PROVISION",
        "CONFIGURE",
        "TOTAL",
        "STARTED",
    ]
    rows = [line for line in lines if re.match(r"\s+[12]\s+(create|retry)\s", line)]
    assert re.match(r"\s+1\s+create\s+SITE-A\s+failed\s+provision\s+12 s\s+-\s+\d+ s\s", rows[0]), out
    assert re.match(r"\s+2\s+retry\s+SITE-B\s+ok\s+outputs\s+61 s\s+2 min 05 s\s+\d+ s\s", rows[1]), out
    assert "1. cause: quota exceeded" in out
    assert all(line == line.rstrip() for line in lines), "show pads lines with trailing spaces"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_is_coloured_on_a_terminal_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Terminal()
    print_table(["ID", "STATUS"], [["a", "CREATE_FAILED"], ["b", "CREATE_COMPLETE"]], "STATUS", stream=out)
    assert "\x1b[1;31mCREATE_FAILED" in out.getvalue() and "\x1b[32mCREATE_COMPLETE" in out.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    print_table(["ID", "STATUS"], [["a", "CREATE_FAILED"], ["b", "CREATE_COMPLETE"]], "STATUS", stream=out)
    assert "31m" not in out.getvalue() and "32m" not in out.getvalue()
    assert "CREATE_FAILED" in out.getvalue()


def test_no_color_option(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("sys.stdout", Terminal())
    assert main(["--no-color", "list"]) == 0
    assert os.environ.get("NO_COLOR") == "1"
    print_table(["STATUS"], [["CREATE_FAILED"]], "STATUS")
    out = sys.stdout.getvalue()
    assert "CREATE_FAILED" in out and "31m" not in out


def test_logs_follow_prints_the_log_as_it_grows_until_the_deployment_ends(state_dir, capsys, monkeypatch):
    monkeypatch.setattr(deployments, "FOLLOW_INTERVAL_S", 0.05)
    deployment_id = "33333333-cccc-4000-8000-000000000003"
    with open_state() as state:
        make_record(state, deployment_id, "single_vm", "CREATE_IN_PROGRESS", owner_alive=True)
    log = state_dir / "deployments" / deployment_id / "deploy.log"
    log.parent.mkdir(parents=True)
    log.write_text("t0 == provision at SITE-A\n")

    def writer():
        time.sleep(0.3)
        with open(log, "a") as handle:
            handle.write("t1 == configure at SITE-A\nt2    wave 1/1 ")  # a line written in two parts
            handle.flush()
            time.sleep(0.3)
            handle.write("done\n")
        time.sleep(0.3)
        with open_state() as state:
            state.update(deployment_id, status="CREATE_COMPLETE")

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    assert main(["logs", deployment_id[:8], "--follow"]) == 0
    thread.join()
    assert time.monotonic() - started >= 0.9  # it waited for the deployment to end
    assert capsys.readouterr().out.splitlines() == [
        "t0 == provision at SITE-A",
        "t1 == configure at SITE-A",
        "t2    wave 1/1 done",
        f"-- {deployment_id}: CREATE_COMPLETE",
    ]


def test_logs_follow_of_a_stale_deployment_stops_at_once(state_dir, capsys):
    deployment_id = "44444444-dddd-4000-8000-000000000004"
    with open_state() as state:
        make_record(state, deployment_id, "single_vm", "CREATE_IN_PROGRESS", owner_alive=False)
    assert main(["logs", deployment_id, "--follow"]) == 0
    assert capsys.readouterr().out == f"-- {deployment_id}: CREATE_IN_PROGRESS (stale)\n"


def test_logs_follow_refuses_json(records, capsys):
    assert main(["logs", "1111", "--follow", "--json"]) == 64
    out = capsys.readouterr()
    # With --json the error is a JSON object on stdout, as for every command.
    assert "--follow" in json.loads(out.out)["message"] and "Traceback" not in out.err
