"""The durable side of delivery outcomes: finished requests committed in groups.

A group commits together (one fsync): acks of delivered payloads and the running delivered total,
retry holds, dead letters (hand-over payload -> dead), a pause, and the clocks that give the retry
records their meaning. A result waits at most GROUP_WINDOW for others to join it, and not at all when
no other request is in flight; a payload is acked only after its 2xx either way. The fsync per group
decides the rate on a Pi's SD card, where one costs milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.delivery import dead, retry_state
from pipeline.delivery.pause import Pause, save_pause
from pipeline.delivery.retry_state import Clocks, RetryRecord
from pipeline.models import DeadLetter
from pipeline.queues import Store, Tx, View

# Written with every ack, so the total survives a SIGKILL between two flushes of the figures.
DELIVERED_KEY = "delivery_delivered_total"
GROUP_WINDOW = 0.005  # seconds the first result of a group may wait for others


@dataclass(slots=True)
class Batch:
    """The outcomes of finished requests, committed together."""

    acks: list[int] = field(default_factory=list)
    retries: list[RetryRecord] = field(default_factory=list)
    buried: list[tuple[int, DeadLetter]] = field(default_factory=list)
    pause: Pause | None = None

    def __bool__(self) -> bool:
        return bool(self.acks or self.retries or self.buried or self.pause)


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
        save_pause(tx, batch.pause)
    clocks.save(tx)


def delivered_total(view: View) -> int:
    """Payloads delivered over the life of this state folder."""
    return int(view.get_meta(DELIVERED_KEY) or 0)


class Outcomes:
    """Finished requests gathered into groups and committed; a failed commit is kept and tried again."""

    def __init__(self, store: Store, clocks: Clocks, delivered: int, window: float = GROUP_WINDOW) -> None:
        self._store, self.clocks, self.window = store, clocks, window
        self.pending = Batch()
        self._opened: float | None = None  # when the first result of the pending group arrived
        self.delivered_total = delivered
        self.delivered_this_run = 0

    def add(self, now: float) -> Batch:
        """The pending group, to add results to (its window starts with the first)."""
        if self._opened is None:
            self._opened = now
        return self.pending

    def deadline(self) -> float | None:
        """When the pending group must be committed at the latest, or None if nothing is pending."""
        return None if self._opened is None else self._opened + self.window

    def due(self, now: float, *, in_flight: int) -> bool:
        """Whether to commit now: the window is over, or no request in flight could join the group."""
        return self._opened is not None and (in_flight == 0 or now >= self._opened + self.window)

    def commit(self) -> Batch:
        """Commit the pending group (a QueueWriteError leaves it pending); returns what was committed."""
        batch = self.pending
        if batch:
            with self._store.transaction() as tx:
                write(tx, batch, self.clocks, self.delivered_total)
            self.delivered_total += len(batch.acks)
            self.delivered_this_run += len(batch.acks)
        self.pending, self._opened = Batch(), None
        return batch
