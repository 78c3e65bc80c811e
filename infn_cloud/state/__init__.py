"""Deployment records: a SQLite database in the state directory (see store.py)."""

from __future__ import annotations

from infn_cloud.state.store import (
    ACTIVE_STATUSES,
    SCHEMA_VERSION,
    STATUSES,
    StateStore,
    default_db_path,
    open_state,
    owner_alive,
)

__all__ = [
    "ACTIVE_STATUSES",
    "SCHEMA_VERSION",
    "STATUSES",
    "StateStore",
    "default_db_path",
    "open_state",
    "owner_alive",
]
