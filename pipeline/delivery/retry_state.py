"""Persisted retry state: a payload that has failed is held in flight in its queue with its record.

The record is the note of the payloads row's hold (`Tx.hold`), written in the same transaction as the
outcome that set it, and dropped with the ack or dead letter that ends it, so a SIGKILL neither resets
nor loses an attempt count, and `take` never hands a waiting payload out before it is due.

Times in records are positions on two clocks that this module persists, never monotonic instants (a
reboot resets those) nor wall times (NTP jumps them): `run` advances only while the deliverer runs, and
`answering` only while it runs with the breaker closed and delivery not paused. A record's `due` is on
the run clock, its `failing_since` on the answering clock, so an outage, a power-off or a network drop
never ages a payload, and a retry's remaining wait survives a restart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from pipeline.queues import Hold, Store, Tx, View

CLOCKS_KEY = "delivery_clocks"


@dataclass(slots=True)
class RetryRecord:
    """A payload's failures so far and when it is due again."""

    pqid: int
    payload_id: str
    attempts: int
    failing_since: float  # answering clock at the first failure
    due: float  # run clock of the next attempt
    last_status: int | None
    last_error: str
    snippet: str
    first_attempt_at: str  # wall clock, for people
    last_attempt_at: str

    def note(self) -> str:
        """The record as its hold's note (the row id is the hold's own)."""
        return json.dumps({k: v for k, v in asdict(self).items() if k != "pqid"})

    @classmethod
    def from_hold(cls, hold: Hold) -> RetryRecord:
        """The record a hold carries."""
        values = json.loads(hold.note)
        return cls(hold.pqid, **{f.name: values[f.name] for f in fields(cls) if f.name != "pqid"})


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


def open_state(store: Store) -> tuple[Clocks, list[RetryRecord]]:
    """The clocks and the waiting payloads' records, earliest due first (the consumer's open kept their
    rows in flight and dropped the holds of rows that are gone)."""
    raw = store.get_meta(CLOCKS_KEY)
    clocks = Clocks(**json.loads(raw)) if raw else Clocks()
    records = sorted((RetryRecord.from_hold(hold) for hold in store.holds("payloads")), key=lambda r: (r.due, r.pqid))
    return clocks, records


def save(tx: Tx, record: RetryRecord) -> None:
    """Hold one payload for its retry, with its record."""
    tx.hold("payloads", record.pqid, record.note())


def waiting_count(store: View) -> int:
    """Payloads waiting for a retry."""
    return store.hold_count("payloads")
