"""Find secret values where they must never be: files, SQLite rows, process listings.

Used by the end-to-end leak tests (after a deploy, every ansible-runner artifact, log,
state database row and the process list is scanned) and usable by operators::

    findings = scan({"htcondor": secret}, paths=[artifacts_dir, log_file],
                    sqlite_dbs=[state_db], processes=True)
    assert not findings, format_findings(findings)

Secrets are passed as {label: value}; findings only ever carry the label, so a report of a
leak does not leak again. Besides the raw value, the JSON-escaped and URL-encoded forms are
searched (how values appear in ansible-runner event JSON and in URLs).
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

MIN_SECRET_LENGTH = 8  # shorter values match by chance and make the scan meaningless


@dataclass(frozen=True)
class Finding:
    label: str  # which secret (its label, never its value)
    source: str  # "file", "sqlite", "process"
    location: str  # file path, "db:table.column rowid=N", or "pid N"
    form: str  # "raw", "json", "url" or "base64"
    offset: int | None = None  # byte offset in a file

    def __str__(self) -> str:
        where = self.location if self.offset is None else f"{self.location} @ byte {self.offset}"
        return f"secret {self.label!r} ({self.form}) found in {self.source} {where}"


def _needles(secrets: Mapping[str, str]) -> list[tuple[str, str, bytes]]:
    needles = []
    for label, value in secrets.items():
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"secret {label!r}: expected a string of at least {MIN_SECRET_LENGTH} characters"
            )
        forms = {
            "raw": value,
            "json": json.dumps(value)[1:-1],
            "url": quote(value, safe=""),
            "base64": base64.b64encode(value.encode("utf-8")).decode("ascii").rstrip("="),
        }
        seen = set()
        for form, text in forms.items():
            if text in seen:
                continue
            seen.add(text)
            needles.append((label, form, text.encode("utf-8")))
    return needles


def _search(data: bytes, needles, source: str, location: str, with_offset: bool) -> list[Finding]:
    found = []
    for label, form, needle in needles:
        offset = data.find(needle)
        if offset >= 0:
            found.append(Finding(label, source, location, form, offset if with_offset else None))
    return found


def _files(paths: Iterable[str | os.PathLike]) -> Iterable[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir() and not path.is_symlink():
            for root, _dirs, names in os.walk(path):
                for name in sorted(names):
                    yield Path(root) / name
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"leak scan: {path} does not exist")


def scan_paths(secrets: Mapping[str, str], paths: Iterable[str | os.PathLike]) -> list[Finding]:
    """Every regular file under ``paths`` (recursively; symlinks are not followed into dirs)."""
    needles = _needles(secrets)
    findings: list[Finding] = []
    for file in _files(paths):
        if file.is_symlink() or not file.is_file():
            continue  # sockets, fifos (reading a fifo would block), dangling links
        findings += _search(file.read_bytes(), needles, "file", str(file), True)
    return findings


def scan_sqlite(secrets: Mapping[str, str], db_path: str | os.PathLike) -> list[Finding]:
    """Every text/blob cell of every table (read-only). Scan the file too for deleted rows."""
    needles = _needles(secrets)
    if not Path(db_path).is_file():
        raise FileNotFoundError(f"leak scan: database {db_path} does not exist")
    findings: list[Finding] = []
    conn = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            cursor = conn.execute(f"SELECT rowid, * FROM {quoted}")  # noqa: S608 - names from sqlite_master
            columns = [d[0] for d in cursor.description][1:]
            for row in cursor:
                for column, value in zip(columns, row[1:], strict=True):
                    if isinstance(value, str):
                        value = value.encode("utf-8")
                    if isinstance(value, bytes):
                        location = f"{db_path}:{table}.{column} rowid={row[0]}"
                        findings += _search(value, needles, "sqlite", location, False)
    finally:
        conn.close()
    return findings


def process_listing() -> str:
    """``ps`` output with full, untruncated command lines of every process."""
    return subprocess.run(
        ["ps", "-e", "-ww", "-o", "pid=,args="], check=True, capture_output=True, text=True
    ).stdout


def scan_processes(secrets: Mapping[str, str], listing: str | None = None) -> list[Finding]:
    """Search command lines in ``listing`` (default: the current ``ps`` output)."""
    needles = _needles(secrets)
    text = process_listing() if listing is None else listing
    findings: list[Finding] = []
    for line in text.splitlines():
        pid, _, args = line.strip().partition(" ")
        findings += _search(args.encode("utf-8"), needles, "process", f"pid {pid}", False)
    return findings


def scan(
    secrets: Mapping[str, str],
    *,
    paths: Iterable[str | os.PathLike] = (),
    sqlite_dbs: Iterable[str | os.PathLike] = (),
    processes: bool = False,
    listing: str | None = None,
) -> list[Finding]:
    """All of the above in one call; an empty list means no leak was found."""
    findings = scan_paths(secrets, paths)
    for db in sqlite_dbs:
        findings += scan_sqlite(secrets, db)
    if processes or listing is not None:
        findings += scan_processes(secrets, listing)
    return findings


def format_findings(findings: Iterable[Finding]) -> str:
    return "\n".join(str(f) for f in findings) or "no secret found"
