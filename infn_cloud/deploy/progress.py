"""Live progress of a deployment: phase, node, task and elapsed time.

On a terminal the last line is a status line redrawn twice a second; messages scroll above it.
Elsewhere (CI logs, pipes) every message and every task start is a plain line. Everything also
goes, time-stamped, to the deployment's log file (``infn-cloud logs ID``). Output goes to
stderr so that ``--json`` output on stdout stays parseable.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 60:02d}:{seconds % 60:02d}"
        if seconds < 3600
        else f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    )


class ProgressView:
    def __init__(self, stream: TextIO | None = None, tty: bool | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.quiet = quiet
        self.started = time.monotonic()
        self.phase_name = "start"
        self.site: str | None = None
        self.node = ""
        self.task = ""
        self.log_path: Path | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._last_plain_task: tuple[str, str] | None = None
        # Set by the lifecycle once the deployment's secrets are known (redaction.Redactor.text):
        # every line is passed through it before it reaches the terminal or the log file.
        self.redact: Callable[[str], str] | None = None
        if self.tty and not quiet:
            self._ticker = threading.Thread(target=self._tick, name="infn-cloud-progress", daemon=True)
            self._ticker.start()

    # ------------------------------------------------------------------ output
    def attach_log(self, path: Path) -> None:
        self.log_path = path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))

    def _log(self, line: str) -> None:
        if self.log_path is None:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        line = self.redact(line) if self.redact else line
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {line}\n")

    def _status_line(self) -> str:
        where = f" {self.site}" if self.site else ""
        what = f"  {self.node}: {self.task}" if self.task else ""
        line = f"[{self.phase_name}{where} {_elapsed(time.monotonic() - self.started)}]{what}"
        width = 120
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            pass
        return line[: max(20, width - 1)]

    def _write(self, text: str) -> None:
        if self.quiet:
            return
        text = self.redact(text) if self.redact else text
        with self._lock:
            if self.tty:
                self.stream.write(f"\r\x1b[K{text}\n{self._status_line()}")
            else:
                self.stream.write(f"{text}\n")
            self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                self.stream.write(f"\r\x1b[K{self._status_line()}")
                self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            with self._lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()

    # ------------------------------------------------------------------ API
    def message(self, text: str) -> None:
        self._log(text)
        self._write(text)

    def phase(self, name: str, site: str | None = None, detail: str = "") -> None:
        self.phase_name = name
        self.site = site if site is not None else self.site
        self.node = self.task = ""
        self.message(f"== {name}{' at ' + self.site if self.site else ''}{': ' + detail if detail else ''}")

    def __call__(self, text: str) -> None:  # drivers call progress(text)
        self.message(f"   {text}")

    def on_event(self, event: dict) -> None:
        """ansible-runner events (called from the runner's consumer thread, not its callback)."""
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.message(f"   play: {data.get('play') or data.get('name') or ''}")
        elif kind == "runner_on_start":
            self.node, self.task = data.get("host") or "", data.get("task") or ""
            if not self.tty and not self.quiet:
                key = (self.node, self.task)
                if key != self._last_plain_task:
                    self._last_plain_task = key
                    self._write(
                        f"   [{self.phase_name} {_elapsed(time.monotonic() - self.started)}] "
                        f"{self.node}: {self.task}"
                    )
        elif kind in ("runner_on_failed", "runner_on_unreachable"):
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                return
            res = data.get("res") or {}
            msg = res.get("censored") or res.get("msg") or ""
            self.message(
                f"   FAILED {data.get('host')}: {data.get('task')}: {' '.join(str(msg).split())[:300]}"
            )
        elif kind == "playbook_on_stats":
            changed = data.get("changed") or {}
            ok = data.get("ok") or {}
            hosts = sorted(set(ok) | set(changed))
            summary = ", ".join(f"{h} ok={ok.get(h, 0)} changed={changed.get(h, 0)}" for h in hosts)
            self.message(f"   recap: {summary}")
