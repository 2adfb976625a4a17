"""The durable side of delivery outcomes: one transaction per batch, and the persisted 410 pause.

A batch of finished requests commits together (one fsync): acks of delivered payloads and the running
delivered total, retry records, dead letters (put dead + ack payload), a pause, and the clocks that
give the retry records their meaning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.delivery import dead, retry_state
from pipeline.delivery.retry_state import Clocks, RetryRecord
from pipeline.models import DeadLetter
from pipeline.queues import Store, Tx

PAUSE_KEY = "delivery_paused"
# Written with every ack, so the total survives a SIGKILL between two flushes of the figures.
DELIVERED_KEY = "delivery_delivered_total"


@dataclass(slots=True)
class Batch:
    """The outcomes of finished requests, committed together."""

    acks: list[int] = field(default_factory=list)
    retries: list[RetryRecord] = field(default_factory=list)
    buried: list[tuple[int, DeadLetter]] = field(default_factory=list)
    pause: dict[str, Any] | None = None


def write(tx: Tx, batch: Batch, clocks: Clocks, delivered_before: int) -> None:
    """Everything a batch changes, inside the caller's transaction."""
    if batch.acks:
        tx.ack("payloads", batch.acks)
        tx.set_meta(DELIVERED_KEY, str(delivered_before + len(batch.acks)))
    for record in batch.retries:
        retry_state.save(tx, record)
    for pqid, letter in batch.buried:
        dead.bury(tx, pqid, letter)
    if batch.pause is not None:
        tx.set_meta(PAUSE_KEY, json.dumps(batch.pause))
    clocks.save(tx)


def delivered_total(store: Store) -> int:
    """Payloads delivered over the life of this state folder."""
    return int(store.get_meta(DELIVERED_KEY) or 0)


def read_pause(store: Store) -> dict[str, Any] | None:
    """The persisted 410 pause ({since, status, payload_id}), or None."""
    raw = store.get_meta(PAUSE_KEY)
    value = json.loads(raw) if raw else None
    return value if isinstance(value, dict) else None


def lift_pause(store: Store) -> dict[str, Any] | None:
    """Clear the pause (what `bin/deliverer --resume` does); returns the pause that was lifted, if any."""
    with store.transaction() as tx:
        raw = tx.get_meta(PAUSE_KEY)
        tx.set_meta(PAUSE_KEY, "null")
    value = json.loads(raw) if raw else None
    return value if isinstance(value, dict) else None
