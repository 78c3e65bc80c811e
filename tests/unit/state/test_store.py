"""The SQLite state store: schema migrations, permissions, attempts, ownership, concurrency."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from infn_cloud.errors import NotFoundError, UsageError
from infn_cloud.state import SCHEMA_VERSION, StateStore, owner_alive
from infn_cloud.state.store import MIGRATIONS


def _record(dep_id="d1", **extra):
    return {"id": dep_id, "template": "t.yaml", "inputs": {"a": 1}, "plan": {"x": 1}, **extra}


def test_new_database_is_private_wal_and_current(tmp_path):
    store = StateStore(tmp_path / "s" / "state.db")
    assert store.schema_version() == SCHEMA_VERSION
    assert stat.S_IMODE(os.stat(tmp_path / "s" / "state.db").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "s").st_mode) == 0o700
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.create_deployment(_record())
    wal = tmp_path / "s" / "state.db-wal"
    assert not wal.exists() or stat.S_IMODE(os.stat(wal).st_mode) == 0o600


def test_old_database_is_migrated_in_place(tmp_path):
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO deployments (id, created_at, updated_at, template, status) VALUES ('old', 1, 1, 't', "
        "'CREATE_COMPLETE')"
    )
    conn.commit()
    conn.close()
    store = StateStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.get("old")["status"] == "CREATE_COMPLETE"
    indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "attempts_by_site" in indexes


def test_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(UsageError, match="newer than this infn-cloud"):
        StateStore(path)


def test_every_attempt_and_its_cause_is_kept(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.create_deployment(_record())
    a1 = store.start_attempt("d1", "create", "SITE-A", "provision")
    store.finish_attempt(a1, "failed", cause="quota exceeded", details=["cores 10 > 8"], cleanup=["vm1"])
    a2 = store.start_attempt("d1", "create", "SITE-B", "provision")
    store.set_phase(a2, "configure", {"provision_s": 3.0})
    store.finish_attempt(a2, "ok")
    attempts = store.get("d1")["attempts"]
    assert [(a["site"], a["outcome"], a["cause"]) for a in attempts] == [
        ("SITE-A", "failed", "quota exceeded"),
        ("SITE-B", "ok", None),
    ]
    assert attempts[0]["details"] == ["cores 10 > 8"] and attempts[0]["cleanup"] == ["vm1"]
    assert attempts[1]["phase"] == "configure" and attempts[1]["timings"] == {"provision_s": 3.0}
    history = store.site_history()
    assert {(h["site"], h["ok"]) for h in history} == {("SITE-A", False), ("SITE-B", True)}


def test_lookup_by_prefix_and_clear_errors(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.create_deployment(_record("abcd-1111"))
    store.create_deployment(_record("abcd-2222"))
    assert store.get("abcd-1")["id"] == "abcd-1111"
    with pytest.raises(UsageError, match="ambiguous"):
        store.get("abcd")
    with pytest.raises(NotFoundError, match="zzzz not found"):
        store.get("zzzz")


def test_update_rejects_unknown_status_and_columns(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.create_deployment(_record())
    with pytest.raises(ValueError):
        store.update("d1", status="DONE")
    with pytest.raises(ValueError):
        store.update("d1", template="x")


def test_ownership_of_a_live_process_is_respected_and_a_dead_one_taken_over(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.create_deployment(_record())  # owned by this (live) process, CREATE_IN_PROGRESS
    assert owner_alive(store.get("d1"))
    with pytest.raises(UsageError, match="in process"):
        store.take_ownership("d1", ("CREATE_FAILED",), "CREATE_IN_PROGRESS")
    # Pretend a process that has exited owned it (kill -9): it can be taken over.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.update("d1", owner_pid=dead.pid, owner_start="1")
    assert not owner_alive(store.get("d1"))
    record = store.take_ownership("d1", ("CREATE_FAILED",), "CREATE_IN_PROGRESS")
    assert record["previous_status"] == "CREATE_IN_PROGRESS"
    assert record["owner_pid"] == os.getpid()
    attempt = store.start_attempt("d1", "create", "S", "configure")
    assert store.abandon_running_attempts("d1", "killed") == 1
    assert store.attempts("d1")[0]["outcome"] == "interrupted"
    del attempt


def test_status_precondition(tmp_path):
    store = StateStore(tmp_path / "state.db")
    store.create_deployment(_record(status="CREATE_COMPLETE"))
    with pytest.raises(UsageError, match="is CREATE_COMPLETE"):
        store.take_ownership("d1", ("CREATE_FAILED",), "CREATE_IN_PROGRESS")


def _writer(path, n, prefix):
    store = StateStore(path)
    for i in range(n):
        store.create_deployment(_record(f"{prefix}-{i}"))
        attempt = store.start_attempt(f"{prefix}-{i}", "create", "S", "provision")
        store.finish_attempt(attempt, "ok")
    store.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, 40, f"p{k}")) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = StateStore(path)
    assert len(store.list()) == 160
    assert len(store.site_history(limit=1000)) == 160


def _open_at_once(path, barrier, failures):
    barrier.wait()
    try:
        StateStore(path).close()
    except UsageError as exc:
        failures.put(exc.message)


def test_processes_opening_a_new_database_at_once_all_get_it(tmp_path):
    """Two `infn-cloud deploy` started together on a new state dir: both must be able to open it."""
    ctx = multiprocessing.get_context("fork")
    failures = ctx.Queue()
    for round_ in range(15):
        path = tmp_path / f"r{round_}" / "state.db"
        barrier = ctx.Barrier(6)
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, failures)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
    assert failures.empty(), failures.get()
