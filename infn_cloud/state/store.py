"""The deployment state store: SQLite in the XDG state directory.

- ``<state dir>/state.db`` (``infn_cloud.paths.state_home()``, overridable with ``--state-dir`` or
  INFN_CLOUD_STATE_DIR), mode 0600 in a 0700 directory: it holds no secret values (inputs and
  plans are stored redacted) but it does hold addresses and resource ids.
- WAL journal and a busy timeout, and every write in a ``BEGIN IMMEDIATE`` transaction, so
  several ``infn-cloud`` commands (two deploys, a ``list`` while deploying) can run at once.
  Opening (WAL switch, migrations) happens under an flock on ``state.db.lock``: two processes
  switching a new database to WAL at once deadlock, and SQLite answers one of them "database is
  locked" at once, without waiting for the busy timeout.
- The schema is versioned with ``PRAGMA user_version``; MIGRATIONS holds one step per version
  and opening an older database upgrades it in one transaction.
- A deployment record keeps every attempt (site, start, end, phase, cause) forever; the INDIGO
  orchestrator only keeps the last error, which hides why earlier sites failed.
- A record in progress names its owner process (pid and start time): a record whose owner is
  gone (kill -9, reboot) is "stale" and ``retry``/``delete`` take it over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infn_cloud.errors import NotFoundError, UsageError
from infn_cloud.model import Attempt, Deployment
from infn_cloud.paths import private_dir, state_home

# INDIGO PaaS orchestrator vocabulary.
STATUSES = (
    "CREATE_IN_PROGRESS",
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
    "DELETE_IN_PROGRESS",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
    "UNKNOWN",
)
ACTIVE_STATUSES = ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS")
BUSY_TIMEOUT_MS = 30_000

# Step N brings a database from user_version N-1 to N. Never edit a released step: add one.
MIGRATIONS: list[str] = [
    # 1: deployments and their attempts
    """
    CREATE TABLE deployments (
        id            TEXT PRIMARY KEY,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL,
        template      TEXT NOT NULL,
        template_text TEXT,
        inputs        TEXT NOT NULL DEFAULT '{}',
        group_name    TEXT,
        policy        TEXT,
        registry      TEXT,
        max_sites     INTEGER,
        status        TEXT NOT NULL,
        status_reason TEXT,
        site          TEXT,
        plan          TEXT,
        resources     TEXT,
        outputs       TEXT,
        secret_vars   TEXT NOT NULL DEFAULT '{}',
        owner_pid     INTEGER,
        owner_start   TEXT,
        owner_host    TEXT
    );
    CREATE TABLE attempts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        operation     TEXT NOT NULL,
        site          TEXT,
        started_at    REAL NOT NULL,
        finished_at   REAL,
        phase         TEXT,
        outcome       TEXT NOT NULL DEFAULT 'running',
        cause         TEXT,
        details       TEXT NOT NULL DEFAULT '[]',
        cleanup       TEXT NOT NULL DEFAULT '[]',
        timings       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX attempts_by_deployment ON attempts(deployment_id, id);
    """,
    # 2: site history queries (selection ranking) scan attempts by site
    """
    CREATE INDEX attempts_by_site ON attempts(site, finished_at);
    """,
    # 3: documented boundaries the roles stopped at (site role_vars), from the last configure
    """
    ALTER TABLE deployments ADD COLUMN boundaries TEXT NOT NULL DEFAULT '[]';
    """,
    # 4: the update in progress (its target inputs and plan with secret markers, the instances
    #    to remove, those it added): `retry` resumes an interrupted or failed update from it
    """
    ALTER TABLE deployments ADD COLUMN pending_update TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

_JSON_COLUMNS = {"inputs", "plan", "resources", "outputs", "secret_vars", "boundaries", "pending_update"}
_ATTEMPT_JSON = {"details", "cleanup", "timings"}
_UPDATABLE = {
    "status",
    "status_reason",
    "site",
    "plan",
    "resources",
    "outputs",
    "secret_vars",
    "owner_pid",
    "owner_start",
    "owner_host",
    "max_sites",
    "boundaries",
    "inputs",  # infn-cloud update records the new inputs (secret values as markers)
    "pending_update",
}


def default_db_path(state_dir: str | os.PathLike | None = None) -> Path:
    return Path(state_dir or state_home()) / "state.db"


def _process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def current_owner() -> dict[str, Any]:
    pid = os.getpid()
    return {"owner_pid": pid, "owner_start": _process_start(pid), "owner_host": socket.gethostname()}


def owner_alive(record: dict) -> bool:
    """Whether the process that owns an in-progress record is still running (on this host)."""
    pid = record.get("owner_pid")
    if not pid:
        return False
    if record.get("owner_host") and record["owner_host"] != socket.gethostname():
        return True  # cannot tell from here; assume it is
    start = _process_start(int(pid))
    return start is not None and start == record.get("owner_start")


class StateStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.directory = self.path.parent
        # Created 0700 when missing; an existing folder is checked (ours, not group/world
        # writable), never chmod'ed: `--state-dir /tmp` is refused instead of making /tmp 0700.
        private_dir(self.directory)
        if not self.path.exists():
            # Create it 0600 ourselves: sqlite would use the umask; its -wal/-shm copy this mode.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            self.conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.conn.execute("PRAGMA foreign_keys = ON")
            with self._opening_lock():
                if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise UsageError(
                f"state database {self.path} cannot be used: {exc}",
                details=["use another one with --state-dir DIR or INFN_CLOUD_STATE_DIR"],
            ) from None

    # ------------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _opening_lock(self) -> Iterator[None]:
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; IMMEDIATE takes the write lock up front, so no upgrade deadlocks."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.schema_version() >= SCHEMA_VERSION:
            if self.schema_version() > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"schema version {self.schema_version()} is newer than this infn-cloud "
                    f"({SCHEMA_VERSION}): upgrade infn-cloud"
                )
            return
        with self.transaction() as conn:
            version = self.schema_version()  # re-read under the lock: another process may have migrated
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    @staticmethod
    def _decode(row: sqlite3.Row | None, json_columns: set[str]) -> dict | None:
        if row is None:
            return None
        data = dict(row)
        for key in json_columns & data.keys():
            if data[key] is not None:
                data[key] = json.loads(data[key])
        return data

    # ------------------------------------------------------------------ deployments
    def create_deployment(self, record: dict) -> dict:
        now = time.time()
        row = {
            "id": record["id"],
            "created_at": now,
            "updated_at": now,
            "template": record["template"],
            "template_text": record.get("template_text"),
            "inputs": json.dumps(record.get("inputs") or {}, sort_keys=True),
            "group_name": record.get("group_name"),
            "policy": record.get("policy"),
            "registry": record.get("registry"),
            "max_sites": record.get("max_sites"),
            "status": record.get("status", "CREATE_IN_PROGRESS"),
            "status_reason": record.get("status_reason"),
            "site": record.get("site"),
            "plan": json.dumps(record.get("plan"), sort_keys=True),
            "resources": json.dumps(record.get("resources")),
            "outputs": json.dumps(record.get("outputs")),
            "secret_vars": json.dumps(record.get("secret_vars") or {}, sort_keys=True),
            **current_owner(),
        }
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO deployments ({columns}) VALUES ({marks})", row)  # noqa: S608
        return self.get(record["id"])

    def update(self, deployment_id: str, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']}")
        values = {k: json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()}
        values["updated_at"] = time.time()
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE deployments SET {assignments} WHERE id = :_id",  # noqa: S608 - keys checked above
                {**values, "_id": deployment_id},
            )

    def take_ownership(self, deployment_id: str, expect_status: tuple[str, ...], new_status: str) -> dict:
        """Atomically claim a record for an operation; refuse if a live process owns it."""
        with self.transaction() as conn:
            record = self._decode(
                conn.execute("SELECT * FROM deployments WHERE id = ?", (deployment_id,)).fetchone(),
                _JSON_COLUMNS,
            )
            if record is None:
                raise NotFoundError(f"deployment {deployment_id} not found")
            if record["status"] in ACTIVE_STATUSES and owner_alive(record):
                raise UsageError(
                    f"deployment {deployment_id} is {record['status']} in process {record['owner_pid']}",
                    details=["wait for it, interrupt it (Ctrl-C), or use delete --force"],
                )
            if (
                expect_status
                and record["status"] not in expect_status
                and record["status"] not in ACTIVE_STATUSES
            ):
                raise UsageError(
                    f"deployment {deployment_id} is {record['status']}",
                    details=[f"this command needs one of: {', '.join(expect_status)}"],
                )
            owner = current_owner()
            conn.execute(
                "UPDATE deployments SET status = ?, status_reason = NULL, updated_at = ?, owner_pid = ?, "
                "owner_start = ?, owner_host = ? WHERE id = ?",
                (
                    new_status,
                    time.time(),
                    owner["owner_pid"],
                    owner["owner_start"],
                    owner["owner_host"],
                    deployment_id,
                ),
            )
            record.update(owner, status=new_status, previous_status=record["status"])
        return record

    def get(self, deployment_id: str) -> dict:
        """A record by full id or unique id prefix (at least 4 characters)."""
        row = self.conn.execute("SELECT * FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
        if row is None and len(deployment_id) >= 4:
            rows = self.conn.execute(
                "SELECT * FROM deployments WHERE id LIKE ? ESCAPE '\\'",
                (deployment_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
            ).fetchall()
            if len(rows) > 1:
                raise UsageError(
                    f"deployment id prefix {deployment_id} is ambiguous",
                    details=[r["id"] for r in rows],
                )
            row = rows[0] if rows else None
        if row is None:
            raise NotFoundError(
                f"deployment {deployment_id} not found", details=[f"state database: {self.path}"]
            )
        record = self._decode(row, _JSON_COLUMNS)
        record["attempts"] = self.attempts(record["id"])
        return record

    def deployment(self, deployment_id: str) -> Deployment:
        """``get`` as the typed model (infn_cloud.model.Deployment, its attempts as Attempt)."""
        return Deployment.from_record(self.get(deployment_id))

    def typed_attempts(self, deployment_id: str) -> list[Attempt]:
        return [Attempt.from_record(row) for row in self.attempts(deployment_id)]

    def list(self, include_deleted: bool = False) -> list[dict]:
        query = "SELECT * FROM deployments"
        if not include_deleted:
            query += " WHERE status != 'DELETE_COMPLETE'"
        rows = self.conn.execute(query + " ORDER BY created_at").fetchall()
        return [self._decode(r, _JSON_COLUMNS) for r in rows]

    def forget(self, deployment_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM deployments WHERE id = ?", (deployment_id,))

    # ------------------------------------------------------------------ attempts
    def start_attempt(self, deployment_id: str, operation: str, site: str | None, phase: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO attempts (deployment_id, operation, site, started_at, phase) "
                "VALUES (?, ?, ?, ?, ?)",
                (deployment_id, operation, site, time.time(), phase),
            )
            return int(cur.lastrowid)

    def set_phase(self, attempt_id: int, phase: str, timings: dict | None = None) -> None:
        with self.transaction() as conn:
            if timings is None:
                conn.execute("UPDATE attempts SET phase = ? WHERE id = ?", (phase, attempt_id))
            else:
                conn.execute(
                    "UPDATE attempts SET phase = ?, timings = ? WHERE id = ?",
                    (phase, json.dumps(timings), attempt_id),
                )

    def finish_attempt(
        self,
        attempt_id: int,
        outcome: str,
        cause: str | None = None,
        details: list[str] | None = None,
        cleanup: list[str] | None = None,
        timings: dict | None = None,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE attempts SET outcome = ?, finished_at = ?, cause = ?, details = ?, cleanup = ?, "
                "timings = COALESCE(?, timings) WHERE id = ?",
                (
                    outcome,
                    time.time(),
                    cause,
                    json.dumps(details or []),
                    json.dumps(cleanup or []),
                    json.dumps(timings) if timings is not None else None,
                    attempt_id,
                ),
            )

    def abandon_running_attempts(self, deployment_id: str, cause: str) -> int:
        """Close attempts left 'running' by a process that died (kill -9, power loss)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE attempts SET outcome = 'interrupted', finished_at = ?, cause = ? "
                "WHERE deployment_id = ? AND outcome = 'running'",
                (time.time(), cause, deployment_id),
            )
            return cur.rowcount

    def attempts(self, deployment_id: str) -> list[dict]:
        rows = self.conn.execute(
            "SELECT * FROM attempts WHERE deployment_id = ? ORDER BY id", (deployment_id,)
        ).fetchall()
        return [self._decode(r, _ATTEMPT_JSON) for r in rows]

    def site_history(self, limit: int = 500) -> list[dict]:
        """Past create attempts as federation.history wants them: {site, ok, duration_s, finished_at}."""
        rows = self.conn.execute(
            "SELECT site, outcome, started_at, finished_at FROM attempts "
            "WHERE operation IN ('create', 'retry') AND finished_at IS NOT NULL AND site IS NOT NULL "
            "AND outcome IN ('ok', 'failed') ORDER BY finished_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            {
                "site": r["site"],
                "ok": r["outcome"] == "ok",
                "duration_s": r["finished_at"] - r["started_at"],
                "finished_at": r["finished_at"],
            }
            for r in rows
        ]


def open_state(state_dir: str | os.PathLike | None = None) -> StateStore:
    return StateStore(default_db_path(state_dir))
