"""Lifecycle events waiting for their simulated time, in the queue file's own table.

The scheduler stores a job's future started/finished events when it writes the request, and moves them to
the intents queue in the commit whose clock passes their time; both happen in the transaction that also
saves the clock checkpoint, so a kill never loses, repeats or reorders one. A 30-day pretraining run
simply waits here 30 simulated days; memory stays flat whatever the backlog.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.queues import Store, Tx

TABLE = "pending_events"
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    key TEXT PRIMARY KEY,  -- stream order: fixed-width UTC time | rank | event id
    at TEXT NOT NULL,      -- fixed-width UTC time the event occurs
    body BLOB NOT NULL
)"""
_INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_at ON {TABLE} (at)"


def ensure(store: Store) -> None:
    """Create the table (idempotent)."""
    with store.transaction() as tx:
        tx.execute(_SCHEMA)
        tx.execute(_INDEX)


def add(tx: Tx, events: Iterable[tuple[str, str, bytes]]) -> None:
    """Store (key, at, body) rows; a row already stored (a re-lived commit) is kept as it was."""
    for key, at, body in events:
        tx.execute(f"INSERT OR IGNORE INTO {TABLE} (key, at, body) VALUES (?, ?, ?)", (key, at, body))


def pop_due(tx: Tx, until: str) -> list[tuple[str, bytes]]:
    """Remove and return the (key, body) rows with at <= `until`, in stream order."""
    rows = tx.execute(f"SELECT key, body FROM {TABLE} WHERE at <= ? ORDER BY key", (until,)).fetchall()
    if rows:
        tx.execute(f"DELETE FROM {TABLE} WHERE at <= ?", (until,))
    return [(str(key), bytes(body)) for key, body in rows]


def next_due(store: Store) -> str | None:
    """The earliest waiting event's time, or None when nothing waits."""
    rows = store.query(f"SELECT MIN(at) FROM {TABLE}")
    return str(rows[0][0]) if rows and rows[0][0] is not None else None


def count(store: Store) -> int:
    """How many events wait for their time (jobs queued or running at the clock's position)."""
    rows = store.query(f"SELECT COUNT(*) FROM {TABLE}")
    return int(rows[0][0]) if rows else 0
