"""The deliverer worker: keeps DELIVERY_CONCURRENCY payloads in flight, applies the outcome policy.

Requests run as tasks on one connection pool; each `step` writes the outcomes of finished requests
in one transaction (ack, retry state, dead letter), then starts new requests while slots are free and
the endpoint breaker allows. Payloads waiting for a retry stay in flight in the queue and are held in
memory only as their retry record (the body is read back when they are due).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from pipeline.delivery import outcomes, retry_state
from pipeline.delivery.breaker import Breaker, Gate, State
from pipeline.delivery.metrics import Window
from pipeline.delivery.outcomes import Batch, read_pause
from pipeline.delivery.policy import DeadReason, Decision, Kind, classify, decide, parse_retry_after
from pipeline.delivery.retry_state import RetryRecord
from pipeline.delivery.sender import Attempt
from pipeline.errors import DeliveryPausedError, EndpointDownError
from pipeline.events import job_key, selected
from pipeline.models import EVENT_TYPES, DeadLetter
from pipeline.queues import Store
from pipeline.stats import DELIVERY_KEY

log = structlog.get_logger()

STATS_EVERY = 2.0  # seconds between looks at the figures queue-stats shows
# An idle deliverer rewrites unchanged figures (and the clocks) only this often: every commit is an
# fsync, and a Pi's SD card wears.
HEARTBEAT_EVERY = 30.0
_VOLATILE = ("updated_at", "breaker_open_s")  # change every time; not a reason to write
PAUSE_POLL = 1.0  # how often a paused deliverer looks for `--resume`
# On stop, requests already on the wire get this long to finish: cancelling one the endpoint has
# processed would send it again after the restart (DESIGN: a worker exits within a few seconds).
CLOSE_GRACE = 3.0
WAIT_SLICE = 0.05  # longest a step waits for a request to finish (the runner checks for signals between)


class Sender(Protocol):
    """What the worker needs from the HTTP side."""

    async def send(self, payload_id: str, body: bytes) -> Attempt: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Tuning:
    """The delivery settings the worker acts on."""

    schedule: Sequence[float]
    max_age: float
    retry_after_max: float
    concurrency: int
    event_types: tuple[str, ...] = EVENT_TYPES  # WEBHOOK_EVENT_TYPES: the others are acked unsent


@dataclass(slots=True)
class _Item:
    pqid: int
    payload_id: str
    body: bytes
    record: RetryRecord | None = None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _payload_id(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


class Deliverer:
    """Sends payloads with retries, an endpoint breaker, a 410 pause and dead letters."""

    role = "deliverer"

    def __init__(self, store: Store, sender: Sender, tuning: Tuning, *, drain_timeout: float | None = None,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.sender, self.tuning = store, sender, tuning
        self.breaker = Breaker(tuning.schedule)
        self._drain_timeout = drain_timeout
        self._rng, self._clock, self._wall = rng or random.Random(), clock, wall
        self._tasks: dict[asyncio.Task[Attempt], tuple[_Item, bool]] = {}
        self._fresh: deque[_Item] = deque()  # taken from the queue, never attempted
        self._held: list[_Item] = []  # fresh items waiting for an earlier event of their job to finish
        self._waiting: list[tuple[float, int, RetryRecord]] = []  # heap on (due, pqid)
        self._unwritten: Batch | None = None  # outcomes whose commit failed (disk full): retried first
        self._window = Window()
        self.clocks, records = retry_state.open_state(store)
        for record in records:
            heapq.heappush(self._waiting, (record.due, record.pqid, record))
        self._pause = read_pause(store)
        previous = json.loads(store.get_meta(DELIVERY_KEY) or "{}")
        self.delivered_total = outcomes.delivered_total(store) or previous.get("delivered_total", 0)
        self._last_success: str | None = previous.get("last_success_at")
        self._last_error: str | None = previous.get("last_error")
        self._last_tick = clock()
        self._next_flush = 0.0
        self._last_written: tuple[dict[str, Any], float] | None = None  # (stable figures, monotonic time)
        self._next_pause_poll = 0.0
        self.delivered_this_run = 0
        if records:
            log.info("delivery.resumed_retries", waiting=len(records))
        if self._pause:
            log.error("delivery.paused", **self._pause)

    # -- the step -----------------------------------------------------------------------------------

    async def step(self) -> bool:
        """Commit finished requests, start new ones; waits briefly for a request when nothing else to do."""
        now = self._tick()
        did = self._finish()
        if self._pause is not None:
            self._poll_pause(now)
        if self._pause is None:
            did = self._fill(now) or did
        self._flush(now)
        if self._drain_timeout is not None:
            self._check_drain(now)
        if not did and self._tasks:
            await asyncio.wait(self._tasks, timeout=WAIT_SLICE, return_when=asyncio.FIRST_COMPLETED)
            self._tick()
            did = self._finish()
        return did

    def _tick(self) -> float:
        now = self._clock()
        answering = self.breaker.state is State.CLOSED and self._pause is None
        self.clocks.advance(max(0.0, now - self._last_tick), answering=answering)
        self._last_tick = now
        return now

    def _check_drain(self, now: float) -> None:
        if self._pause is not None and not self._tasks:
            raise DeliveryPausedError(self._pause["since"], self._pause["payload_id"])
        assert self._drain_timeout is not None
        if self.breaker.open_for(now) > self._drain_timeout:
            raise EndpointDownError(self.breaker.open_for(now), self._last_error)

    # -- starting requests --------------------------------------------------------------------------

    def _fill(self, now: float) -> bool:
        started = False
        while len(self._tasks) < self.tuning.concurrency:
            gate = self.breaker.gate(now)
            if gate is Gate.WAIT or (gate is Gate.PROBE and self._tasks):
                break
            item = self._next(probe=gate is Gate.PROBE)
            if item is None:
                break
            probe = gate is Gate.PROBE
            if probe:
                self.breaker.probe_started()
                log.debug("delivery.probe", payload_id=item.payload_id)
            task = asyncio.create_task(self.sender.send(item.payload_id, item.body))
            self._tasks[task] = (item, probe)
            started = True
            if probe:
                break
        return started

    def _next(self, *, probe: bool) -> _Item | None:
        """Due retries first, then payloads not yet tried; a probe takes the earliest retry if need be."""
        if self._waiting and self._waiting[0][0] <= self.clocks.run:
            return self._pop_waiting()
        item = self._next_in_job_order()
        if item is not None:
            return item
        return self._pop_waiting() if probe and self._waiting else None

    def _next_in_job_order(self) -> _Item | None:
        """The oldest fresh item whose job has no earlier event in flight or waiting for a retry, so a
        job's events are sent in order (a dead-lettered one no longer holds the others back)."""
        busy = {job_key(i.payload_id) for i, _ in self._tasks.values()}
        busy |= {job_key(record.payload_id) for _, _, record in self._waiting}
        for k, item in enumerate(self._held):
            if job_key(item.payload_id) not in busy:
                return self._held.pop(k)
        while True:
            if not self._fresh:
                self._take()
            if not self._fresh:
                return None
            item = self._fresh.popleft()
            if job_key(item.payload_id) not in busy and not any(
                    job_key(h.payload_id) == job_key(item.payload_id) for h in self._held):
                return item
            self._held.append(item)

    def _pop_waiting(self) -> _Item | None:
        _, pqid, record = heapq.heappop(self._waiting)
        body = retry_state.read_body(self.store, pqid)
        if body is None:  # cannot happen while we are the only consumer; drop the stale record
            with self.store.transaction() as tx:
                retry_state.forget(tx, [pqid])
            return None
        return _Item(pqid, record.payload_id, body, record)

    def _take(self) -> None:
        # Two rounds' worth per commit: one fsync serves several requests.
        rows = self.store.take("payloads", 2 * self.tuning.concurrency)
        skipped = [row.pqid for row in rows if not selected(row.data, self.tuning.event_types)]
        if skipped:  # an event type WEBHOOK_EVENT_TYPES leaves out: done with, never sent
            with self.store.transaction() as tx:
                tx.ack("payloads", skipped)
        unreadable: list[tuple[int, DeadLetter]] = []
        for row in rows:
            if row.pqid in skipped:
                continue
            payload_id = _payload_id(row.data)
            if payload_id is None:  # sending it could only fail; keep it for a person instead
                now = self._wall()
                unreadable.append((row.pqid, DeadLetter(
                    payload_id=f"unreadable-row-{row.pqid}", body=row.data.decode(errors="replace"),
                    reason=DeadReason.UNREADABLE, last_status=None, attempts=0, first_attempt_at=now,
                    last_attempt_at=now, dead_at=now)))
            else:
                self._fresh.append(_Item(row.pqid, payload_id, row.data))
        if unreadable:
            self._commit(Batch(buried=unreadable))

    # -- finishing requests -------------------------------------------------------------------------

    def _finish(self) -> bool:
        """Apply the policy to every finished request and commit the results in one transaction."""
        if self._unwritten is not None:  # a failed commit is retried before anything else
            writes, self._unwritten = self._unwritten, None
            self._commit(writes)
        done = [task for task in self._tasks if task.done()]
        if not done:
            return False
        writes = Batch()
        now = self._clock()
        for task in done:
            item, probe = self._tasks.pop(task)
            self._outcome(item, probe, task.result(), now, writes)
        self._commit(writes)
        return True

    def _outcome(self, item: _Item, probe: bool, attempt: Attempt, now: float, writes: Batch) -> None:
        kind = classify(attempt.status)
        self._window.add(now, ok=kind is Kind.DELIVERED, latency=attempt.latency)
        error = attempt.error or f"HTTP {attempt.status}"
        if kind is not Kind.DELIVERED:
            self._last_error = f"{_iso(self._wall())} {item.payload_id}: {error}"
        if kind is Kind.TRANSIENT:
            retry_after = parse_retry_after(attempt.retry_after, self._wall())
            if retry_after is not None:
                retry_after = min(retry_after, self.tuning.retry_after_max)
                self.breaker.hold(now, retry_after)
            was = self.breaker.state
            self.breaker.failed(now, self._rng.random(), probe=probe, answered=attempt.status is not None)
            if self.breaker.state is not was and self.breaker.state is State.OPEN and not probe:
                log.warning("delivery.breaker_opened", failures=self.breaker.failures, error=error)
                self._next_flush = 0.0
            if probe:  # the endpoint is still down: this costs the payload no attempt
                self._put_back(item)
                log.info("delivery.probe_failed", payload_id=item.payload_id, error=error)
                return
        else:
            if self.breaker.state is not State.CLOSED:
                log.info("delivery.breaker_closed", payload_id=item.payload_id, status=attempt.status)
                self._next_flush = 0.0
            self.breaker.answered()
            retry_after = None
        if kind is Kind.GONE:
            self._put_back(item)
            self._pause_for(item, writes)
            return
        record = item.record
        attempts = (record.attempts if record else 0) + 1
        failing_since = record.failing_since if record else self.clocks.answering
        decision = decide(kind, attempts=attempts, failing_age=self.clocks.answering - failing_since,
                          schedule=self.tuning.schedule, max_age=self.tuning.max_age,
                          retry_after=retry_after, unit=self._rng.random())
        self._apply(item, decision, attempt, writes, attempts=attempts, failing_since=failing_since)

    def _apply(self, item: _Item, decision: Decision, attempt: Attempt, writes: Batch, *, attempts: int,
               failing_since: float) -> None:
        wall = _iso(self._wall())
        if decision.action == "deliver":
            writes.acks.append(item.pqid)
            self._last_success = wall
            if attempts > 1:
                log.info("delivery.delivered_after_retry", payload_id=item.payload_id, attempts=attempts)
            return
        first = item.record.first_attempt_at if item.record else wall
        error = attempt.error or f"HTTP {attempt.status}"
        if decision.action == "dead":
            assert decision.reason is not None
            writes.buried.append((item.pqid, DeadLetter(
                payload_id=item.payload_id, body=item.body.decode(), reason=decision.reason,
                last_status=attempt.status, response_snippet=attempt.snippet or (attempt.error or ""),
                attempts=attempts, first_attempt_at=datetime.fromisoformat(first),
                last_attempt_at=datetime.fromisoformat(wall), dead_at=datetime.fromisoformat(wall))))
            log.warning("delivery.dead_lettered", payload_id=item.payload_id, reason=decision.reason,
                        status=attempt.status, attempts=attempts)
            return
        writes.retries.append(RetryRecord(
            item.pqid, item.payload_id, attempts, failing_since, self.clocks.run + decision.delay,
            attempt.status, error, attempt.snippet, first, wall))
        log.info("delivery.retry_scheduled", payload_id=item.payload_id, attempt=attempts, error=error,
                 retry_in=round(decision.delay, 3),
                 failing_age=round(self.clocks.answering - failing_since, 3))

    def _put_back(self, item: _Item) -> None:
        """Return an item untouched: its schedule and attempts stay as they were."""
        if item.record is None:
            self._fresh.appendleft(item)
        else:
            heapq.heappush(self._waiting, (item.record.due, item.pqid, item.record))

    def _pause_for(self, item: _Item, writes: Batch) -> None:
        if self._pause is None:
            self._pause = {"since": _iso(self._wall()), "status": 410, "payload_id": item.payload_id}
            writes.pause = self._pause
            log.error("delivery.paused", **self._pause,
                      hint="the endpoint answered 410 Gone; fix it, then run bin/deliverer --resume")
            self._next_flush = 0.0

    def _commit(self, writes: Batch) -> None:
        try:
            with self.store.transaction() as tx:
                outcomes.write(tx, writes, self.clocks, self.delivered_total)
        except BaseException:
            self._unwritten = writes
            raise
        for record in writes.retries:
            heapq.heappush(self._waiting, (record.due, record.pqid, record))
        self.delivered_total += len(writes.acks)
        self.delivered_this_run += len(writes.acks)

    # -- pause, figures, drain ----------------------------------------------------------------------

    def _poll_pause(self, now: float) -> None:
        if now < self._next_pause_poll:
            return
        self._next_pause_poll = now + PAUSE_POLL
        self._pause = read_pause(self.store)
        if self._pause is None:
            log.info("delivery.resumed")
            self._next_flush = 0.0

    def figures(self, now: float) -> dict[str, Any]:
        """What queue-stats shows under `delivery`."""
        next_retry = None
        if self._waiting:
            wait = max(0.0, self._waiting[0][0] - self.clocks.run)
            # Whole seconds: the estimate must not change from one look to the next while nothing happens.
            next_retry = _iso(datetime.fromtimestamp(round(self._wall().timestamp() + wait), UTC))
        return {
            "delivered_total": self.delivered_total,
            "last_success_at": self._last_success,
            "last_error": self._last_error,
            "breaker": str(self.breaker.state),
            "breaker_open_s": round(self.breaker.open_for(now), 1),
            "consecutive_failures": self.breaker.failures,
            "paused": self._pause is not None,
            "paused_since": self._pause["since"] if self._pause else None,
            "next_retry_at": next_retry,
            "in_flight": len(self._tasks),
            **self._window.snapshot(now),
            "updated_at": _iso(self._wall()),
        }

    def _flush(self, now: float, *, force: bool = False) -> None:
        if now < self._next_flush and not force:
            return
        self._next_flush = now + STATS_EVERY
        figures = self.figures(now)
        stable = {k: v for k, v in figures.items() if k not in _VOLATILE}
        if (not force and self._last_written is not None and self._last_written[0] == stable
                and now - self._last_written[1] < HEARTBEAT_EVERY):
            return
        with self.store.transaction() as tx:
            tx.set_meta(DELIVERY_KEY, json.dumps(figures))
            self.clocks.save(tx)
        self._last_written = (stable, now)

    def drained(self) -> bool:
        """Nothing queued, in flight or waiting for a retry."""
        return (not self._tasks and not self._fresh and not self._held and not self._waiting
                and self._unwritten is None
                and self.store.counts("payloads")["ready"] == 0)

    def status(self) -> str:
        """Backlog for systemd's status line."""
        state = "PAUSED (410)" if self._pause else f"breaker {self.breaker.state}"
        return (f"{self.store.counts('payloads')['ready']} payloads queued, {len(self._waiting)} waiting retry, "
                f"{self.delivered_this_run} delivered this run, {state}")

    async def close(self) -> None:
        """Commit what finished, abandon what did not (its rows stay unacked), close the pool and store."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_GRACE)
        try:
            self._finish()
        except Exception as exc:  # closing must not hide the reason we are closing
            log.error("delivery.close_commit_failed", error=str(exc))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.breaker.probe_abandoned()  # else a stopped deliverer would report a probe forever in flight
        try:
            self._flush(self._tick(), force=True)
        except Exception as exc:
            log.error("delivery.close_flush_failed", error=str(exc))
        await self.sender.aclose()
        self.store.close()
