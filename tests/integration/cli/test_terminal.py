"""End to end: what a user sees in a real terminal (tmux) while single_vm deploys on the local site.

One deployment: `deploy single_vm` runs in a 120x40 tmux pane; the screen is captured while
configure runs (live view: phase, wave, bar, a host row running a task), then Ctrl-C is sent
there (the resume/cleanup command must stay on the screen, exit 130). `infn-cloud logs ID
--follow` is started from outside and `retry ID` runs in the pane to the end: the final screen
shows the done phase, the host and the record; the whole scrollback is a few dozen lines, not a
line per task; `logs --follow` stops by itself once the deployment completes. Then delete.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import DEPLOY_TIMEOUT, ROOT, delete_and_assert_clean
from prereq import missing

pytestmark = pytest.mark.integration

WIDTH, HEIGHT = 120, 40
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Pane:
    """A tmux server of its own (private socket) with one 120x40 pane running infn-cloud."""

    def __init__(self, env: dict, directory: Path):
        self.socket = f"infn-cloud-test-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.directory = directory
        self.runs = 0

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], env=self.env, capture_output=True, text=True, check=True
        )
        return out.stdout

    def start(self, *cli_args: str) -> Path:
        """Run `infn-cloud ARGS` in a fresh session; returns the file its exit code goes to."""
        self.runs += 1
        rc_file = self.directory / f"rc-{self.runs}"
        command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "infn_cloud", *cli_args])
        script = self.directory / f"run-{self.runs}.sh"
        # The pane stays open after the command (sleep) so that its last screen can be read.
        # The shell survives the Ctrl-C sent to the pane's foreground group (a trap that runs a
        # command; an ignored SIGINT would be inherited by infn-cloud) and records the exit code.
        script.write_text(
            f"trap 'true' INT\ncd {shlex.quote(str(ROOT))}\n{command}\necho $? > {rc_file}\nsleep 3600\n"
        )
        if self.runs > 1:
            self.tmux("kill-session", "-t", "t")
        self.tmux("new-session", "-d", "-s", "t", "-x", str(WIDTH), "-y", str(HEIGHT), f"sh {script}")
        return rc_file

    def screen(self, history: bool = False) -> str:
        args = ["capture-pane", "-p", "-t", "t"] + (["-S", "-"] if history else [])
        return self.tmux(*args)

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; screen:\n{text}")

    def wait_exit(self, rc_file: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rc_file.exists() and rc_file.read_text().strip():
                return int(rc_file.read_text())
            time.sleep(0.5)
        raise AssertionError(f"the command did not end in {timeout} s; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True)


def _configuring(text: str) -> bool:
    return (
        re.search(r"configure at \S+ · wave", text) is not None
        and re.search(r"\brunning\b", text) is not None
    )


@pytest.fixture(scope="module")
def session(module_cli, tmp_path_factory):
    if shutil.which("tmux") is None:
        missing("tmux (apt-get install -y tmux; scripts/setup.sh installs it)")
    env = {k: v for k, v in module_cli.env.items() if k not in ("NO_COLOR", "TMUX", "CI")}
    env["TERM"] = "xterm-256color"
    pane = Pane(env, tmp_path_factory.mktemp("tmux"))
    seen: dict = {}
    try:
        started = time.monotonic()
        rc_file = pane.start("deploy", "single_vm")
        seen["during"] = pane.wait_for(_configuring, DEPLOY_TIMEOUT, "the live view during configure")
        # A few task results later: the bar and the counter moved.
        time.sleep(3)
        seen["later"] = pane.screen()
        pane.tmux("send-keys", "-t", "t", "C-c")
        seen["interrupt_rc"] = pane.wait_exit(rc_file, 300)
        seen["interrupted"] = pane.screen()
        ids = module_cli.ids()
        assert len(ids) == 1, ids
        deployment_id = seen["id"] = ids[0]
        seen["site"] = module_cli.json("show", deployment_id)[1]["site"]
        module_cli.created.append(deployment_id)
        rc_file = pane.start("retry", deployment_id)
        # Once retry owns the record (CREATE_IN_PROGRESS), follow its log from outside.
        pane.wait_for(lambda text: "== provision at" in text, 300, "retry to start")
        follow = subprocess.Popen(
            [sys.executable, "-m", "infn_cloud", "logs", deployment_id, "--follow"],
            cwd=ROOT,
            env=module_cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        module_cli.started.append(follow)
        seen["retry_rc"] = pane.wait_exit(rc_file, DEPLOY_TIMEOUT)
        seen["final"] = pane.screen()
        seen["history"] = pane.screen(history=True)
        seen["follow_out"], seen["follow_err"] = follow.communicate(timeout=60)
        seen["follow_rc"] = follow.returncode
        print(f"terminal deploy + interrupt + retry: {time.monotonic() - started:.0f} s")
        yield seen
    finally:
        pane.close()
    if "id" in seen:
        delete_and_assert_clean(module_cli, seen["id"])


def test_live_view_during_configure(session):
    screen = session["during"]
    assert len(screen.splitlines()) <= HEIGHT
    assert not ANSI.search(screen)  # capture-pane gives the text the user reads
    # Header: phase, site, wave, elapsed; then the wave's bar with done/~total tasks.
    assert re.search(r"configure at \S+ · wave 1/\d+ · \d\d:\d\d", screen), screen
    assert re.search(r"━.* \d+/~\d+ tasks · \d\d:\d\d", screen), screen
    # The host row: its status and the task it is running ("role : task" or a task name).
    assert re.search(r"HOST\s+STATUS\s+TASKS\s+TASK", screen), screen
    host_rows = [
        line for line in screen.splitlines() if re.search(r"vm-server-0\s+running\s+\d+/~\d+\s+\S", line)
    ]
    assert host_rows, screen
    # The phase lines stay above the live area.
    assert "== provision at " in screen and "== configure wave 1/" in screen


def test_progress_moves(session):
    def done(text):
        found = re.search(r"(\d+)/~\d+ tasks", text)
        return int(found.group(1)) if found else -1

    assert done(session["later"]) >= done(session["during"]) >= 0


def test_ctrl_c_says_how_to_resume_or_clean_up(session):
    screen = session["interrupted"]
    assert session["interrupt_rc"] == 130, screen
    deployment_id = session["id"]
    assert f"infn-cloud retry {deployment_id}" in screen.replace("\n", ""), screen
    assert f"infn-cloud delete {deployment_id}" in screen.replace("\n", ""), screen
    assert "infn-cloud: interrupted" in screen


def test_final_screen_after_retry(session):
    screen = session["final"]
    assert session["retry_rc"] == 0, screen
    assert re.search(r"✔ done at \S+ · CREATE_COMPLETE in \d+ s", screen), screen
    assert re.search(r"vm-server-0\s+(ok|changed)\s", screen), screen
    assert f"Next: infn-cloud outputs {session['id']}" in screen
    # The whole scrollback of the retry: phase lines and the final view, not a line per task.
    lines = [line for line in session["history"].splitlines() if line.strip()]
    assert len(lines) < 60, "\n".join(lines)


def test_logs_follow_ends_with_the_deployment(session):
    out = session["follow_out"]
    assert session["follow_rc"] == 0, session["follow_err"]
    assert f"retry of {session['id']}" in out
    assert "== configure wave 1/" in out
    assert out.rstrip().endswith(f"-- {session['id']}: CREATE_COMPLETE"), out[-2000:]
    assert not ANSI.search(out)


def test_show_lists_attempts_with_phase_durations(session, module_cli):
    result = module_cli.run("show", session["id"])
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout)  # not a terminal: no colours
    rows = [
        line.split() for line in result.stdout.splitlines() if re.match(r"\s+\d+\s+(create|retry)\s", line)
    ]
    # The cancelled create (in configure, provision timed) and the retry that completed.
    assert [r[1:5] for r in rows] == [
        ["create", session["site"], "cancelled", "configure"],
        ["retry", session["site"], "ok", "outputs"],
    ], result.stdout
    assert re.search(r"\bretry\s+\S+\s+ok\s+outputs\s+\d+ s\s+\d+( s| min)", result.stdout), result.stdout
