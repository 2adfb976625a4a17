"""Persisted retry state: one row per payload that has failed, in the queue file's own table.

Rows live beside the payloads queue in the same SQLite file, written in the same transaction as the
ack or dead-letter that ends them, so a SIGKILL neither resets nor loses an attempt count.

Times in rows are positions on two clocks that this module persists, never monotonic instants (a reboot
resets those) nor wall times (NTP jumps them): `run` advances only while the deliverer runs, and
`answering` only while it runs with the breaker closed and delivery not paused. A row's `due` is on the
run clock, its `failing_since` on the answering clock, so an outage, a power-off or a network drop never
ages a payload, and a retry's remaining wait survives a restart.
"""

from __future__ import annotations

import json
from dataclasses import astuple, dataclass, fields

from pipeline.queues import UNACK, Store, Tx

TABLE = "delivery_retry"
PAYLOADS_TABLE = "ack_queue_payloads"  # persist-queue's table of the payloads queue
CLOCKS_KEY = "delivery_clocks"
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    pqid INTEGER PRIMARY KEY,       -- the payloads queue row
    payload_id TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failing_since REAL NOT NULL,    -- answering clock at the first failure
    due REAL NOT NULL,              -- run clock of the next attempt
    last_status INTEGER,
    last_error TEXT NOT NULL,
    snippet TEXT NOT NULL,
    first_attempt_at TEXT NOT NULL, -- wall clock, for people
    last_attempt_at TEXT NOT NULL
)"""


@dataclass(slots=True)
class RetryRecord:
    """A payload's failures so far and when it is due again."""

    pqid: int
    payload_id: str
    attempts: int
    failing_since: float
    due: float
    last_status: int | None
    last_error: str
    snippet: str
    first_attempt_at: str
    last_attempt_at: str


_COLUMNS = ", ".join(f.name for f in fields(RetryRecord))


@dataclass(slots=True)
class Clocks:
    """The two persisted clocks (seconds)."""

    run: float = 0.0
    answering: float = 0.0

    def advance(self, seconds: float, *, answering: bool) -> None:
        """Add elapsed monotonic seconds (negative or huge steps cannot happen with monotonic time)."""
        self.run += seconds
        if answering:
            self.answering += seconds

    def save(self, tx: Tx) -> None:
        """Persist within the caller's transaction."""
        tx.set_meta(CLOCKS_KEY, json.dumps({"run": self.run, "answering": self.answering}))


def table_exists(store: Store) -> bool:
    """Whether a deliverer has created the table (read-only commands must not create it)."""
    return bool(store.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)))


def open_state(store: Store) -> tuple[Clocks, list[RetryRecord]]:
    """Create the table if needed, drop rows whose payload is gone, and hold the rest in flight.

    Marking the waiting rows in flight again (the store made them ready on open) keeps `take` from
    handing them out before they are due; they are read back by pqid when their time comes.
    """
    with store.transaction() as tx:
        tx.execute(_SCHEMA)
        tx.execute(f"DELETE FROM {TABLE} WHERE pqid NOT IN (SELECT _id FROM {PAYLOADS_TABLE})")
        tx.execute(f"UPDATE {PAYLOADS_TABLE} SET status = {UNACK} WHERE _id IN (SELECT pqid FROM {TABLE})")
    raw = store.get_meta(CLOCKS_KEY)
    clocks = Clocks(**json.loads(raw)) if raw else Clocks()
    rows = store.query(f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY due")
    return clocks, [RetryRecord(*row) for row in rows]


def save(tx: Tx, record: RetryRecord) -> None:
    """Insert or update one payload's retry state."""
    tx.execute(f"INSERT OR REPLACE INTO {TABLE} ({_COLUMNS}) VALUES ({', '.join('?' * 10)})", astuple(record))


def forget(tx: Tx, pqids: list[int]) -> None:
    """Drop the retry state of payloads that were delivered, buried or replayed."""
    for pqid in pqids:
        tx.execute(f"DELETE FROM {TABLE} WHERE pqid = ?", (pqid,))


def waiting_count(store: Store) -> int:
    """Payloads waiting for a retry (0 before any deliverer ran)."""
    return int(store.query(f"SELECT COUNT(*) FROM {TABLE}")[0][0]) if table_exists(store) else 0


def read_body(store: Store, pqid: int) -> bytes | None:
    """The stored bytes of one payloads row, or None if it is gone."""
    rows = store.query(f"SELECT data FROM {PAYLOADS_TABLE} WHERE _id = ?", (pqid,))
    return bytes(rows[0][0]) if rows else None
