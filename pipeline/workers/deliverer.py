"""The deliverer worker: keeps DELIVERY_CONCURRENCY payloads in flight and applies the outcome policy.

It coordinates parts that each hold one job: the `Backlog` (what to send next: fresh payloads and due
retries), the `Breaker` and the `PauseWatch` (whether the endpoint may be sent to), the `Outcomes`
(finished requests committed in groups) and the `Figures` (what queue-stats shows). The endpoint's
state — breaker, pause, waiting retries — is kept in those parts rather than here, so that several
endpoints can each own a set of them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, assert_never

import structlog

from pipeline.delivery.backlog import Backlog, Item
from pipeline.delivery.breaker import Breaker, Gate, State
from pipeline.delivery.figures import Figures, iso
from pipeline.delivery.outcomes import Outcomes, delivered_total
from pipeline.delivery.pause import Pause, PauseWatch
from pipeline.delivery.policy import Action, DeadReason, Decision, Kind, classify, decide, parse_retry_after
from pipeline.delivery.retry_state import Clocks, RetryRecord, open_state
from pipeline.delivery.sender import Attempt
from pipeline.errors import DeliveryPausedError, EndpointDownError
from pipeline.models import EVENT_TYPES, DeadLetter
from pipeline.queues import Store

log = structlog.get_logger()

# On stop, requests already on the wire get this long to finish: cancelling one the endpoint has
# processed would send it again after the restart (a worker must still exit within a few seconds).
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


class Deliverer:
    """Sends payloads with retries, an endpoint breaker, a 410 pause and dead letters."""

    role = "deliverer"

    def __init__(self, store: Store, sender: Sender, tuning: Tuning, *, drain_timeout: float | None = None,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.sender, self.tuning = store, sender, tuning
        self._drain_timeout = drain_timeout
        self._rng, self._clock, self._wall = rng or random.Random(), clock, wall
        self.breaker = Breaker(tuning.schedule)
        clocks, records = open_state(store)
        # Two rounds' worth per take: one commit serves several requests.
        self.backlog = Backlog(store, 2 * tuning.concurrency, records, tuning.event_types)
        self.pause = PauseWatch(store)
        self.figures = Figures(store, wall)
        self.outcomes = Outcomes(store, clocks, delivered_total(store) or self.figures.previous_total)
        self._tasks: dict[asyncio.Task[Attempt], tuple[Item, bool]] = {}
        self._last_tick = clock()
        if records:
            log.info("delivery.resumed_retries", waiting=len(records))
        if self.pause.current:
            log.error("delivery.paused", **_fields(self.pause.current))

    @property
    def clocks(self) -> Clocks:
        """The persisted run and answering clocks."""
        return self.outcomes.clocks

    @property
    def delivered_total(self) -> int:
        """Payloads delivered over the life of the state folder (committed)."""
        return self.outcomes.delivered_total

    # -- the step -----------------------------------------------------------------------------------

    async def step(self) -> bool:
        """Judge finished requests, commit a due group, start new requests; when there is nothing else to
        do, wait briefly for a request to finish (never past the pending group's window)."""
        now = self._tick()
        did = self._finish(now)
        if self.outcomes.pending.pause is None and self.pause.lifted(now):  # a pause not yet committed stands
            log.info("delivery.resumed")
            self.figures.soon()
        if not self.pause.paused:
            did = self._fill(now) or did
        self._commit_if_due(now)
        if self.figures.due(now):
            self.figures.publish(now, self.snapshot(now), self.clocks)
        if self._drain_timeout is not None:
            self._check_drain(now)
        if not did and self._tasks:
            deadline = self.outcomes.deadline()
            wait = WAIT_SLICE if deadline is None else max(0.0, min(WAIT_SLICE, deadline - now))
            await asyncio.wait(self._tasks, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            now = self._tick()
            did = self._finish(now)
            self._commit_if_due(now)
        return did

    def _tick(self) -> float:
        now = self._clock()
        answering = self.breaker.state is State.CLOSED and not self.pause.paused
        self.clocks.advance(max(0.0, now - self._last_tick), answering=answering)
        self._last_tick = now
        return now

    def _check_drain(self, now: float) -> None:
        if self.pause.current is not None and not self._tasks:
            self._commit()
            raise DeliveryPausedError(self.pause.current.since, self.pause.current.payload_id)
        assert self._drain_timeout is not None
        if self.breaker.open_for(now) > self._drain_timeout:
            raise EndpointDownError(self.breaker.open_for(now), self.figures.last_error)

    # -- starting requests --------------------------------------------------------------------------

    def _fill(self, now: float) -> bool:
        started = False
        while len(self._tasks) < self.tuning.concurrency:
            gate = self.breaker.gate(now)
            if gate is Gate.WAIT or (gate is Gate.PROBE and self._tasks):
                break
            probe = gate is Gate.PROBE
            # A job's later event waits while an earlier one is in flight or its retry not yet committed.
            in_flight = [sent.payload_id for sent, _ in self._tasks.values()]
            in_flight += [record.payload_id for record in self.outcomes.pending.retries]
            item = self.backlog.next(self.clocks.run, probe=probe, in_flight=in_flight)
            self._bury_unreadable()
            if item is None:
                break
            if probe:
                self.breaker.probe_started()
                log.debug("delivery.probe", payload_id=item.payload_id)
            self._tasks[asyncio.create_task(self.sender.send(item.payload_id, item.body))] = (item, probe)
            started = True
            if probe:
                break
        return started

    def _bury_unreadable(self) -> None:
        if not self.backlog.unreadable:
            return
        now = self._wall()
        group = self.outcomes.add(self._clock())
        for row in self.backlog.unreadable:
            group.buried.append((row.pqid, DeadLetter(
                payload_id=f"unreadable-row-{row.pqid}", body=row.data.decode(errors="replace"),
                reason=DeadReason.UNREADABLE, last_status=None, attempts=0, first_attempt_at=now,
                last_attempt_at=now, dead_at=now)))
        self.backlog.unreadable.clear()

    # -- finishing requests -------------------------------------------------------------------------

    def _finish(self, now: float) -> bool:
        """Judge every finished request; its outcome joins the pending group."""
        done = [task for task in self._tasks if task.done()]
        for task in done:
            item, probe = self._tasks.pop(task)
            self._judge(item, probe, task.result(), now)
        return bool(done)

    def _commit_if_due(self, now: float) -> None:
        if self.outcomes.due(now, in_flight=len(self._tasks)):
            self._commit()

    def _commit(self) -> None:
        for record in self.outcomes.commit().retries:
            self.backlog.wait(record)

    def _judge(self, item: Item, probe: bool, attempt: Attempt, now: float) -> None:
        kind = classify(attempt.status)
        self.figures.answered(now, ok=kind is Kind.DELIVERED, latency=attempt.latency)
        error = attempt.error or f"HTTP {attempt.status}"
        retry_after = None
        if kind is Kind.TRANSIENT:
            self.figures.failed(item.payload_id, error)
            retry_after = self._transient(now, probe, attempt, error)
            if probe:  # the endpoint is still down: this costs the payload no attempt
                self.backlog.put_back(item)
                log.info("delivery.probe_failed", payload_id=item.payload_id, error=error)
                return
        else:
            if kind is not Kind.DELIVERED:
                self.figures.failed(item.payload_id, error)
            if self.breaker.state is not State.CLOSED:
                log.info("delivery.breaker_closed", payload_id=item.payload_id, status=attempt.status)
                self.figures.soon()
            self.breaker.answered()
        record = item.record
        attempts = (record.attempts if record else 0) + 1
        failing_since = record.failing_since if record else self.clocks.answering
        decision = decide(kind, attempts=attempts, failing_age=self.clocks.answering - failing_since,
                          schedule=self.tuning.schedule, max_age=self.tuning.max_age,
                          retry_after=retry_after, unit=self._rng.random())
        self._apply(item, decision, attempt, now, attempts=attempts, failing_since=failing_since)

    def _transient(self, now: float, probe: bool, attempt: Attempt, error: str) -> float | None:
        """Tell the breaker; the Retry-After to honour, if any."""
        retry_after = parse_retry_after(attempt.retry_after, self._wall())
        if retry_after is not None:
            retry_after = min(retry_after, self.tuning.retry_after_max)
            self.breaker.hold(now, retry_after)
        was = self.breaker.state
        self.breaker.failed(now, self._rng.random(), probe=probe, answered=attempt.status is not None)
        if self.breaker.state is not was and self.breaker.state is State.OPEN and not probe:
            log.warning("delivery.breaker_opened", failures=self.breaker.failures, error=error)
            self.figures.soon()
        return retry_after

    def _apply(self, item: Item, decision: Decision, attempt: Attempt, now: float, *, attempts: int,
               failing_since: float) -> None:
        wall = iso(self._wall())
        first = item.record.first_attempt_at if item.record else wall
        error = attempt.error or f"HTTP {attempt.status}"
        match decision.action:
            case Action.DELIVER:
                self.outcomes.add(now).acks.append(item.pqid)
                self.figures.succeeded()
                if attempts > 1:
                    log.info("delivery.delivered_after_retry", payload_id=item.payload_id, attempts=attempts)
            case Action.PAUSE:
                self.backlog.put_back(item)
                pause = Pause(since=wall, status=attempt.status or 410, payload_id=item.payload_id)
                if self.pause.start(pause):
                    self.outcomes.add(now).pause = pause
                    log.error("delivery.paused", **_fields(pause),
                              hint="the endpoint answered 410 Gone; fix it, then run bin/deliverer --resume")
                    self.figures.soon()
            case Action.DEAD:
                assert decision.reason is not None
                self.outcomes.add(now).buried.append((item.pqid, DeadLetter(
                    payload_id=item.payload_id, body=item.body.decode(), reason=decision.reason,
                    last_status=attempt.status, response_snippet=attempt.snippet or (attempt.error or ""),
                    attempts=attempts, first_attempt_at=datetime.fromisoformat(first),
                    last_attempt_at=datetime.fromisoformat(wall), dead_at=datetime.fromisoformat(wall))))
                log.warning("delivery.dead_lettered", payload_id=item.payload_id, reason=decision.reason,
                            status=attempt.status, attempts=attempts)
            case Action.RETRY:
                self.outcomes.add(now).retries.append(RetryRecord(
                    item.pqid, item.payload_id, attempts, failing_since, self.clocks.run + decision.delay,
                    attempt.status, error, attempt.snippet, first, wall))
                log.info("delivery.retry_scheduled", payload_id=item.payload_id, attempt=attempts, error=error,
                         retry_in=round(decision.delay, 3),
                         failing_age=round(self.clocks.answering - failing_since, 3))
            case _:
                assert_never(decision.action)

    # -- figures, drain, close ----------------------------------------------------------------------

    def snapshot(self, now: float) -> dict[str, Any]:
        """What queue-stats shows under `delivery`."""
        due = self.backlog.next_due()
        pause = self.pause.current
        return {
            "delivered_total": self.delivered_total,
            "last_success_at": self.figures.last_success,
            "last_error": self.figures.last_error,
            "breaker": str(self.breaker.state),
            "breaker_open_s": round(self.breaker.open_for(now), 1),
            "consecutive_failures": self.breaker.failures,
            "paused": pause is not None,
            "paused_since": pause.since if pause else None,
            "next_retry_at": self.figures.next_retry_at(None if due is None else due - self.clocks.run),
            "in_flight": len(self._tasks),
            **self.figures.window.snapshot(now),
        }

    def drained(self) -> bool:
        """Nothing queued, in flight, uncommitted or waiting for a retry."""
        return (not self._tasks and self.backlog.empty() and not self.outcomes.pending
                and self.store.counts("payloads").ready == 0)

    def status(self) -> str:
        """Backlog for systemd's status line."""
        state = "PAUSED (410)" if self.pause.paused else f"breaker {self.breaker.state}"
        return (f"{self.store.counts('payloads').ready} payloads queued, {self.backlog.waiting} waiting retry, "
                f"{self.outcomes.delivered_this_run} delivered this run, {state}")

    async def close(self) -> None:
        """Commit what finished, abandon what did not (its rows stay unacked), close the pool and store."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CLOSE_GRACE)
        try:
            self._finish(self._clock())
            self._commit()
        except Exception as exc:  # closing must not hide the reason we are closing
            log.error("delivery.close_commit_failed", error=str(exc))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.breaker.probe_abandoned()  # else a stopped deliverer would report a probe forever in flight
        try:
            now = self._tick()
            self.figures.publish(now, self.snapshot(now), self.clocks, force=True)
        except Exception as exc:
            log.error("delivery.close_flush_failed", error=str(exc))
        await self.sender.aclose()
        self.store.close()


def _fields(pause: Pause) -> dict[str, Any]:
    return {"since": pause.since, "status": pause.status, "payload_id": pause.payload_id}
