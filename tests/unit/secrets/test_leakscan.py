"""The leak scanner finds secrets in files, SQLite rows and process command lines."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from infn_cloud.secrets.leakscan import format_findings, scan, scan_paths, scan_processes, scan_sqlite

SECRET = 'Zk3v9Q"p+w&leak=1'  # has characters that JSON and URL encoding change
SECRETS = {"svc": SECRET}


def test_files_raw_json_url_and_clean(tmp_path):
    (tmp_path / "artifacts" / "job_events").mkdir(parents=True)
    (tmp_path / "artifacts" / "job_events" / "1.json").write_text(json.dumps({"stdout": f"pw {SECRET}"}))
    (tmp_path / "artifacts" / "stdout").write_text("nothing here\n")
    (tmp_path / "url.log").write_text("GET /?p=Zk3v9Q%22p%2Bw%26leak%3D1\n")
    (tmp_path / "raw.bin").write_bytes(b"\x00\xff" + SECRET.encode() + b"\x00")
    findings = scan_paths(SECRETS, [tmp_path])
    by_file = {f.location.rsplit("/", 1)[-1]: f for f in findings}
    assert set(by_file) == {"1.json", "url.log", "raw.bin"}
    assert by_file["1.json"].form == "json"
    assert by_file["url.log"].form == "url"
    assert by_file["raw.bin"].form == "raw" and by_file["raw.bin"].offset == 2
    assert SECRET not in format_findings(findings)  # the report does not leak again


def test_base64_form(tmp_path):
    import base64

    (tmp_path / "b64").write_text(base64.b64encode(SECRET.encode()).decode())
    assert [f.form for f in scan_paths(SECRETS, [tmp_path / "b64"])] == ["base64"]


def test_missing_path_and_short_secret_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_paths(SECRETS, [tmp_path / "nope"])
    with pytest.raises(ValueError, match="at least 8"):
        scan_paths({"short": "abc"}, [tmp_path])


def test_sqlite_rows(tmp_path):
    db = tmp_path / "state.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE deployments (id TEXT, doc TEXT, blob BLOB)")
        conn.execute("INSERT INTO deployments VALUES ('d1', '{}', NULL)")
        conn.execute(
            "INSERT INTO deployments VALUES ('d2', ?, NULL)", (json.dumps({"inputs": {"pw": SECRET}}),)
        )
        conn.execute("INSERT INTO deployments VALUES ('d3', '', ?)", (SECRET.encode(),))
    conn.close()
    findings = scan_sqlite(SECRETS, db)
    assert sorted(f.location.split(":", 1)[1] for f in findings) == [
        "deployments.blob rowid=3",
        "deployments.doc rowid=2",
    ]


def test_process_listing_real_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", SECRET])
    try:
        findings = scan_processes(SECRETS)
        assert any(f.location == f"pid {proc.pid}" and f.form == "raw" for f in findings)
    finally:
        proc.kill()
        proc.wait()
    assert not any(f.location == f"pid {proc.pid}" for f in scan_processes(SECRETS))


def test_scan_combines_sources(tmp_path):
    (tmp_path / "clean").write_text("ok")
    listing = f"  101 /usr/bin/foo --password {SECRET}\n  102 /usr/bin/bar\n"
    findings = scan(SECRETS, paths=[tmp_path], listing=listing)
    assert [(f.source, f.location) for f in findings] == [("process", "pid 101")]
