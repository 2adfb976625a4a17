"""What the deliverer may send next: payloads taken from the queue and never tried, and payloads waiting
for a retry (held in flight in the queue; in memory only as their record, the body read back when due)."""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.delivery.retry_state import RetryRecord
from pipeline.events import job_key, selected
from pipeline.models import EVENT_TYPES
from pipeline.queues import Row, Store


@dataclass(slots=True)
class Item:
    """A payload on its way: its queue row, id and bytes, and its retry record after a failure."""

    pqid: int
    payload_id: str
    body: bytes
    record: RetryRecord | None = None


def payload_id(body: bytes) -> str | None:
    """The payload's id, or None when the stored bytes are not a payload."""
    try:
        value = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


class Backlog:
    """Fresh payloads (taken in groups, one commit for several requests) and due retries, in order.

    A job's events go out in order: a fresh event waits while an earlier event of its job is in flight or
    waiting for a retry (a dead-lettered one no longer holds the others back)."""

    def __init__(self, store: Store, take_size: int, waiting: list[RetryRecord],
                 event_types: tuple[str, ...] = EVENT_TYPES) -> None:
        self._store, self._take_size, self._event_types = store, take_size, event_types
        self._fresh: deque[Item] = deque()
        self._held: list[Item] = []  # fresh items waiting for an earlier event of their job
        self._waiting: list[tuple[float, int, RetryRecord]] = [(r.due, r.pqid, r) for r in waiting]
        heapq.heapify(self._waiting)
        self.unreadable: list[Row] = []  # taken rows without a payload id: for the dead letters

    def next(self, run_clock: float, *, probe: bool, in_flight: Iterable[str] = ()) -> Item | None:
        """Due retries first, then payloads not yet tried (in job order); a probe takes the earliest retry
        if need be. `in_flight`: the payload ids being sent now."""
        if self._waiting and self._waiting[0][0] <= run_clock:
            return self._pop_waiting()
        item = self._next_in_job_order(in_flight)
        if item is not None:
            return item
        return self._pop_waiting() if probe and self._waiting else None

    def _next_in_job_order(self, in_flight: Iterable[str]) -> Item | None:
        busy = {job_key(pid) for pid in in_flight}
        busy |= {job_key(record.payload_id) for _, _, record in self._waiting}
        for k, item in enumerate(self._held):
            if job_key(item.payload_id) not in busy:
                return self._held.pop(k)
        held_jobs = {job_key(h.payload_id) for h in self._held}
        while True:
            if not self._fresh:
                self._take()
            if not self._fresh:
                return None
            item = self._fresh.popleft()
            key = job_key(item.payload_id)
            if key not in busy and key not in held_jobs:
                return item
            self._held.append(item)
            held_jobs.add(key)

    def wait(self, record: RetryRecord) -> None:
        """Schedule a retry (once its record is committed)."""
        heapq.heappush(self._waiting, (record.due, record.pqid, record))

    def put_back(self, item: Item) -> None:
        """Return an item untouched: its schedule and attempts stay as they were."""
        if item.record is None:
            self._fresh.appendleft(item)
        else:
            self.wait(item.record)

    @property
    def waiting(self) -> int:
        """Payloads waiting for a retry."""
        return len(self._waiting)

    def next_due(self) -> float | None:
        """The run clock of the earliest retry, if any."""
        return self._waiting[0][0] if self._waiting else None

    def empty(self) -> bool:
        """Nothing taken and unsent, nothing waiting (the queue itself may hold more)."""
        return not self._fresh and not self._held and not self._waiting and not self.unreadable

    def _pop_waiting(self) -> Item | None:
        _, pqid, record = heapq.heappop(self._waiting)
        body = self._store.read("payloads", pqid)
        if body is None:  # cannot happen while we are the only consumer (an ack drops the hold with the row)
            return None
        return Item(pqid, record.payload_id, body, record)

    def _take(self) -> None:
        rows = self._store.take("payloads", self._take_size)
        skipped = [row.pqid for row in rows if not selected(row.data, self._event_types)]
        if skipped:  # an event type WEBHOOK_EVENT_TYPES leaves out: done with, never sent
            with self._store.transaction() as tx:
                tx.ack("payloads", skipped)
        for row in rows:
            if row.pqid in skipped:
                continue
            found = payload_id(row.data)
            if found is None:  # sending it could only fail; keep it for a person instead
                self.unreadable.append(row)
            else:
                self._fresh.append(Item(row.pqid, found, row.data))
