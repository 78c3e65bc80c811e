"""What a deployment shows while it runs: phases, hosts, tasks, failures, elapsed time.

Modes (chosen by the CLI: ``--plain``, ``--verbose``, ``--quiet``; default ``live`` on a terminal,
``plain`` elsewhere):

- ``live``: a `rich` live area at the bottom of the terminal, redrawn at a fixed rate (4/s) by
  rich's own thread: the phase and site, the configure wave i/n, a bar of the wave's tasks done
  out of an estimate (~total), elapsed time, one row per host (waiting, running TASK, ok,
  changed, failed, unreachable; at most MAX_HOST_ROWS rows, the rest summarised). Phase lines,
  failures (host, task, message) and the Ctrl-C hint are printed above it, so they stay in the
  scrollback. The runner's events only update counters under a lock (cheap).
- ``plain``: one line per phase event (phase, wave start and end, failure, recap, driver
  messages), no ANSI codes: CI logs, AWX, Jenkins, pipes.
- ``verbose``: ``plain`` plus one line per task and host, as before this view existed.
- ``quiet``: nothing on the terminal.

Every line, and every task start, also goes time-stamped to the deployment's log file
(``infn-cloud logs ID [--follow]``) through ``redact`` (set by the lifecycle once the secrets are
known). Output goes to stderr so that ``--json`` output on stdout stays parseable. NO_COLOR is
honoured (rich reads it).

The wave's task total is an estimate: for each host, the tasks of the roles of its software
entries in that wave (counted in roles/<role>/tasks/*.yml, blocks expanded) plus the tasks of
playbooks/tasks/apply_entry.yml, read from the deployment document next to the log file. Tasks a
``when`` skips still count (Ansible reports them as skipped); files a role never includes make
the total an over-estimate, so it is shown as ``~N`` and the bar completes when the wave ends.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

MODES = ("live", "plain", "verbose", "quiet")
MAX_HOST_ROWS = 12
_ID_PREFIX = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-")
REFRESH_PER_SECOND = 4
# playbooks/configure.yml applies each wave's software entries with a task of this name (in
# playbooks/tasks/): its k-th start is the start of the plan's k-th wave. Renaming it there
# fails tests/unit/cli/test_progress_view.py.
WAVE_TASK = "Apply the software entries of this wave"
_DONE_EVENTS = ("runner_on_ok", "runner_on_skipped", "runner_on_failed", "runner_on_unreachable")
_STYLE = {
    "waiting": "dim",
    "running": "cyan",
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "unreachable": "bold red",
}


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 60:02d}:{seconds % 60:02d}"
        if seconds < 3600
        else f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    )


def _one_line(text, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text[:limit] + ("..." if len(text) > limit else "")


# ---------------------------------------------------------------------- task estimates
def _count_tasks(items) -> int:
    count = 0
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if "block" in item:  # rescue runs only on a failure: not counted
            count += _count_tasks(item.get("block")) + _count_tasks(item.get("always"))
        else:
            count += 1
    return count


@functools.lru_cache(maxsize=64)
def _file_tasks(path: Path) -> int:
    import yaml

    try:
        return _count_tasks(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError):
        return 0


@functools.lru_cache(maxsize=64)
def role_task_estimate(role: str) -> int:
    """Tasks in a role's tasks/ files (an upper bound of what one run of it reports)."""
    from infn_cloud.paths import collection_root

    try:
        tasks = collection_root() / "roles" / role.rsplit(".", 1)[-1] / "tasks"
    except FileNotFoundError:
        return 0
    return sum(_file_tasks(p) for p in sorted(tasks.glob("*.y*ml")) if p.is_file())


@functools.lru_cache(maxsize=1)
def _entry_overhead() -> int:
    from infn_cloud.paths import collection_root

    try:
        return _file_tasks(collection_root() / "playbooks" / "tasks" / "apply_entry.yml") or 4
    except FileNotFoundError:
        return 4


def waves_from_document(document: dict) -> dict[int, dict[str, int]]:
    """{wave: {host name: estimated tasks}} from a deployment document (plan + resources)."""
    plan = document.get("plan") or {}
    names = {
        compute: [inst.get("name") for inst in instances if inst.get("name")]
        for compute, instances in ((document.get("resources") or {}).get("nodes") or {}).items()
    }
    waves: dict[int, dict[str, int]] = {}
    for entry in plan.get("software") or []:
        role = entry.get("role")
        if not role:
            continue
        wave = int(entry.get("wave") or 0)
        for compute in entry.get("hosts") or []:
            for host in names.get(compute, []):
                hosts = waves.setdefault(wave, {})
                hosts[host] = hosts.get(host, 1) + role_task_estimate(role) + _entry_overhead()
    return waves


# ---------------------------------------------------------------------- state
@dataclass
class HostState:
    status: str = "waiting"
    task: str = ""
    done: int = 0
    changed: int = 0
    estimate: int = 0


class ProgressView:
    def __init__(
        self,
        stream: TextIO | None = None,
        tty: bool | None = None,
        quiet: bool = False,
        mode: str | None = None,
        width: int | None = None,
    ):
        self.stream = stream or sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty
        if quiet:
            mode = "quiet"
        elif mode in (None, "auto"):
            mode = "live" if tty else "plain"
        elif mode == "live" and not tty:
            mode = "plain"
        if mode not in MODES:
            raise ValueError(f"unknown progress mode {mode!r}: one of {', '.join(MODES)}")
        self.mode = mode
        self.quiet = mode == "quiet"
        self.width = width
        self.started = time.monotonic()
        self.phase_started = self.started
        self.phase_name = "start"
        self.phase_detail = ""
        self.site: str | None = None
        self.node = ""
        self.task = ""
        self.log_path: Path | None = None
        self._log_handle = None
        # Set by the lifecycle once the deployment's secrets are known (redaction.Redactor.text):
        # every line is passed through it before it reaches the terminal or the log file.
        self.redact: Callable[[str], str] | None = None
        self._lock = threading.RLock()  # the view's state
        self._write_lock = threading.Lock()  # plain output
        self._last_plain_task: tuple[str, str] | None = None
        # configure: waves from the deployment document, the current one, its hosts
        self.plan_waves: dict[int, dict[str, int]] | None = None
        self.wave: int | None = None
        self.waves_started = 0
        self.wave_label = ""
        self.wave_started = self.started
        self.hosts: dict[str, HostState] = {}
        self.failures: list[dict] = []
        self._console = None
        self._live = None

    # ------------------------------------------------------------------ output
    def attach_log(self, path: Path) -> None:
        import os

        with self._lock:
            if self._log_handle is not None:
                self._log_handle.close()
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._log_handle = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
            self.log_path = path

    def _clean(self, text: str) -> str:
        return self.redact(text) if self.redact else text

    def _log(self, line: str) -> None:
        if self._log_handle is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self._log_handle.write(f"{stamp} {self._clean(line)}\n")

    def console(self):
        """The rich console of the live view (created on first use)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.stream,
                force_terminal=True,
                width=self.width,
                highlight=False,
                emoji=False,
                markup=False,
            )
        return self._console

    def _print(self, text: str, style: str | None = None) -> None:
        if self.quiet:
            return
        text = self._clean(text)
        # Never called with self._lock held: the live view's thread holds rich's lock while it
        # calls render(), which takes self._lock.
        if self.mode == "live":
            from rich.text import Text

            self.console().print(Text(text, style=style or ""), soft_wrap=True)
        else:
            with self._write_lock:
                self.stream.write(f"{text}\n")
                self.stream.flush()

    def _start_live(self) -> None:
        if self.mode != "live" or self._live is not None:
            return
        from rich.live import Live

        self._live = Live(
            console=self.console(),
            get_renderable=self.render,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def close(self) -> None:
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.refresh()
            live.stop()
        with self._lock:
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None

    # ------------------------------------------------------------------ API
    def message(self, text: str) -> None:
        with self._lock:
            self._log(text)
        style = "bold red" if text.lstrip().startswith("FAILED") else None
        self._print(text, style)

    def phase(self, name: str, site: str | None = None, detail: str = "") -> None:
        with self._lock:
            ended = self._end_wave() if self.wave is not None else None
            self.phase_name = name
            self.phase_detail = detail
            self.phase_started = time.monotonic()
            self.site = site if site is not None else self.site
            self.node = self.task = ""
            self.wave, self.wave_label = None, ""
            if name != "done":  # the final screen keeps the last wave's hosts
                self.hosts = {}
            if name == "configure":
                self.plan_waves = self._read_waves()
                self.waves_started = 0
        if ended:
            self.message(ended)
        self.message(f"== {name}{' at ' + self.site if self.site else ''}{': ' + detail if detail else ''}")
        self._start_live()

    def _read_waves(self) -> dict[int, dict[str, int]] | None:
        if self.log_path is None:
            return None
        try:
            document = json.loads((self.log_path.parent / "deployment.json").read_text(encoding="utf-8"))
            return waves_from_document(document) or None
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def __call__(self, text: str) -> None:  # drivers call progress(text)
        self.message(f"   {text}")

    # ------------------------------------------------------------------ runner events
    def on_event(self, event: dict) -> None:
        """ansible-runner events (called from the runner's consumer thread, not its callback):
        state updates under a lock; drawing happens in the live view's own thread."""
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self._play_start(str(data.get("play") or data.get("name") or ""))
        elif kind == "playbook_on_task_start" and data.get("task") == WAVE_TASK:
            self._wave_start()
        elif kind == "runner_on_start":
            self._task_start(data)
        elif kind in _DONE_EVENTS:
            self._task_done(kind, data)
        elif kind == "playbook_on_stats":
            self._stats(data)

    def _between_waves(self, label: str) -> None:
        """End the running wave (its summary line) and show label until the next one starts."""
        with self._lock:
            ended = self._end_wave() if self.wave is not None else None
            self.wave_label = label
        if ended:
            self.message(ended)

    def _play_start(self, play: str) -> None:
        self._between_waves("preparing")
        if self.mode == "verbose":
            self._print(f"   play: {play}")

    def _wave_start(self) -> None:
        """The k-th start of WAVE_TASK: the k-th wave of the plan (in wave order) begins."""
        with self._lock:
            ended = self._end_wave() if self.wave is not None else None
            self.waves_started += 1
            known = sorted(self.plan_waves or {})
            number = self.waves_started
            self.wave = known[number - 1] if number <= len(known) else number - 1
            self.wave_started = time.monotonic()
            self.wave_label = f"wave {number}/{len(known) or '?'}"
            planned = (self.plan_waves or {}).get(self.wave) or {}
            self.hosts = {h: HostState(estimate=n) for h, n in sorted(planned.items())}
            total = sum(planned.values())
            line = (
                f"== configure {self.wave_label}"
                + (f" at {self.site}" if self.site else "")
                + (f": {len(planned)} host(s), ~{total} tasks" if planned else "")
            )
        if ended:
            self.message(ended)
        self.message(line)

    def _host(self, name: str) -> HostState | None:
        """The row of a host in the current wave. With the plan known, only its hosts have one:
        every host runs the wave's include (with nothing to apply when the wave is not theirs)."""
        state = self.hosts.get(name)
        if state is None and self.plan_waves is None:
            state = self.hosts[name] = HostState()
        return state

    def _task_start(self, data: dict) -> None:
        host = str(data.get("host") or "")
        task = str(data.get("task") or "")
        role = data.get("role")
        label = f"{role} : {task}" if role else task
        line = None
        with self._lock:
            self.node, self.task = host, label
            state = self._host(host) if self.wave is not None and host else None
            if state is not None:
                if state.status not in ("failed", "unreachable"):
                    state.status, state.task = "running", label
            self._log(f"   [{self.phase_name}] {host}: {label}")
            if self.mode == "verbose" and (host, label) != self._last_plain_task:
                self._last_plain_task = (host, label)
                line = f"   [{self.phase_name} {_elapsed(time.monotonic() - self.started)}] {host}: {label}"
        if line:
            self._print(line)

    def _task_done(self, kind: str, data: dict) -> None:
        host = str(data.get("host") or "?")
        res = data.get("res") or {}
        failed = kind == "runner_on_unreachable" or (
            kind == "runner_on_failed" and not data.get("ignore_errors")
        )
        with self._lock:
            state = self._host(host) if self.wave is not None else None
            if state is not None:
                state.done += 1
                if isinstance(res, dict) and res.get("changed"):
                    state.changed += 1
                if failed:
                    state.status = "unreachable" if kind == "runner_on_unreachable" else "failed"
        if failed:
            res = res if isinstance(res, dict) else {}
            msg = res.get("censored") or res.get("msg") or res.get("stderr") or res.get("reason") or ""
            what = "UNREACHABLE" if kind == "runner_on_unreachable" else "FAILED"
            failure = {"host": host, "task": str(data.get("task") or "?"), "msg": _one_line(msg)}
            with self._lock:
                self.failures.append(failure)
            self.message(f"   {what} {host}: {failure['task']}: {failure['msg']}")

    def _end_wave(self) -> str:
        """Close the current wave (lock held): running hosts are done. Returns the summary line
        (the caller prints it once the lock is released)."""
        counts: dict[str, int] = {}
        tasks = sum(s.done for s in self.hosts.values())  # reported, before the bar is completed
        for state in self.hosts.values():
            if state.status in ("running", "waiting"):
                state.status = "changed" if state.changed else "ok"
            if state.status not in ("failed", "unreachable"):
                state.done = max(state.done, state.estimate)
            state.task = ""
            counts[state.status] = counts.get(state.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        self.wave = None
        return (
            f"   {self.wave_label} done in {_elapsed(time.monotonic() - self.wave_started)}: "
            f"{len(self.hosts)} host(s) ({summary or 'none'}), {tasks} task results"
        )

    def _stats(self, data: dict) -> None:
        self._between_waves("recap")
        ok = data.get("ok") or {}
        changed = data.get("changed") or {}
        failures = data.get("failures") or {}
        dark = data.get("dark") or {}
        hosts = sorted(set(ok) | set(changed) | set(failures) | set(dark))
        if self.mode == "verbose" or len(hosts) <= 3:
            summary = ", ".join(f"{h} ok={ok.get(h, 0)} changed={changed.get(h, 0)}" for h in hosts)
            self.message(f"   recap: {summary}")
            return
        bad = sorted(set(failures) | set(dark))
        self.message(
            f"   recap: {len(hosts)} hosts, {sum(ok.values())} ok, {sum(changed.values())} changed"
            + (f", failed on {len(bad)}: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}" if bad else "")
        )

    # ------------------------------------------------------------------ rendering
    def render(self):
        """The live area: header, the wave's bar, a row per host (a rich renderable)."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            now = time.monotonic()
            finished = self.phase_name in ("done", "failed")
            header = Text()
            header.append("✔ " if self.phase_name == "done" else "● ", style="green" if finished else "cyan")
            header.append(self.phase_name, style="bold")
            if self.site:
                header.append(f" at {self.site}")
            if self.wave_label and self.phase_name == "configure":
                header.append(f" · {self.wave_label}")
            elif self.phase_detail and (finished or self.phase_name != "configure"):
                header.append(f" · {self._clean(self.phase_detail)}")
            header.append(f" · {_elapsed(now - self.phase_started)}", style="dim")
            header.append(f" (total {_elapsed(now - self.started)})", style="dim")
            parts: list = [header]
            if self.hosts:
                done = sum(min(s.done, s.estimate) if s.estimate else s.done for s in self.hosts.values())
                total = sum(s.estimate for s in self.hosts.values())
                line = Table.grid(padding=(0, 1))
                line.add_column(width=32)
                line.add_column()
                if total:
                    line.add_row(
                        ProgressBar(total=total, completed=min(done, total), width=32),
                        Text(f"{done}/~{total} tasks · {_elapsed(now - self.wave_started)}"),
                    )
                else:
                    line.add_row(Text(""), Text(f"{done} tasks · {_elapsed(now - self.wave_started)}"))
                parts.append(line)
                parts.append(self._host_table())
            if self.failures:
                last = self.failures[-1]
                parts.append(
                    Text(
                        self._clean(f"failed: {last['host']}: {last['task']}: {last['msg']}"),
                        style="bold red",
                        no_wrap=True,
                        overflow="ellipsis",
                    )
                )
        return Group(*parts)

    def _short(self, host: str) -> str:
        """Host names start with the deployment id: the view shows the rest (vm-server-0)."""
        return _ID_PREFIX.sub("", host, count=1)

    def _host_table(self):
        from rich.table import Table
        from rich.text import Text

        order = {"failed": 0, "unreachable": 0, "running": 1, "changed": 2, "ok": 2, "waiting": 3}
        hosts = sorted(self.hosts.items(), key=lambda kv: (order.get(kv[1].status, 4), kv[0]))
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
        longest = max((len(self._short(name)) for name in self.hosts), default=4)
        table.add_column("HOST", no_wrap=True, overflow="ellipsis", min_width=min(longest, 30), max_width=40)
        table.add_column("STATUS", no_wrap=True, min_width=11)
        table.add_column("TASKS", justify="right", no_wrap=True, min_width=7)
        table.add_column("TASK", no_wrap=True, overflow="ellipsis", ratio=1)
        shown = hosts if len(hosts) <= MAX_HOST_ROWS else hosts[: MAX_HOST_ROWS - 1]
        for name, state in shown:
            tasks = f"{state.done}/~{state.estimate}" if state.estimate else str(state.done)
            table.add_row(
                self._short(name),
                Text(state.status, style=_STYLE.get(state.status, "")),
                tasks,
                self._clean(state.task) if state.status == "running" else "",
            )
        rest = hosts[len(shown) :]
        if rest:
            counts: dict[str, int] = {}
            for _, state in rest:
                counts[state.status] = counts.get(state.status, 0) + 1
            table.add_row(
                f"... {len(rest)} more",
                ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
                "",
                "",
                style="dim",
            )
        return table


def screen(view: ProgressView, width: int = 100) -> str:
    """The live area as plain text (tests, and the final state in logs)."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(view.render())
    return console.file.getvalue()
