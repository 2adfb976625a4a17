"""The scheduler worker: advances the simulated clock and writes the intents it passes.

Each step writes the intents in (checkpoint, new position] and the new checkpoint in one transaction,
so a kill at any point neither repeats nor skips an intent. The stream is a function of the seed and
the fixed simulated-time windows only, never of how the ticks fell. A live tick that passes no job
writes nothing (see QUIET_CHECKPOINT_EVERY): a kill then only makes the clock re-live an empty stretch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from pipeline import backpressure
from pipeline.backpressure import Limits, Reading
from pipeline.clock import Checkpoint, advance, load_checkpoint, rfc3339, save_checkpoint, utc_now
from pipeline.errors import QueueWriteError
from pipeline.events import EVENT_MODELS, event_type, stamp
from pipeline.focus.live import LiveBill
from pipeline.models import Intent, JobLife
from pipeline.queues import Store
from pipeline.stream import Stream
from pipeline.workers.runner import Lifecycle
from pipeline.workers.span import BACKFILL_CHUNK, job_events, span_jobs
from pipeline.workload import Workload, window_of

log = structlog.get_logger()

# A live tick that passes no job need not commit: its checkpoint would only move the clock, and the next
# commit moves it as well. At SCALE_FACTOR=1 (a job about once a minute) this saves an fsync a second and
# wakes no consumer. The clock is still saved at least this often (real seconds), and when the worker stops.
QUIET_CHECKPOINT_EVERY = 10.0
# Backpressure: counting a large queue is a scan, so the backlog is recounted only this often (seconds)
# or when the running estimate (last count + intents written since) nears the bound; the free disk is
# read at every step (one statvfs). A paused scheduler looks again every PAUSE_POLL seconds (a count of a
# million rows takes a Pi a moment; resuming a few seconds late costs nothing).
RECOUNT_EVERY = 10.0
RECOUNT_NEAR = 0.9
PAUSE_POLL = 5.0
NO_LIMITS = Limits(max_backlog=2**62, min_free_disk=0)


def _restamped(body: bytes, emitted_at: datetime) -> bytes:
    """A stored lifecycle event with the real time it is emitted (it waited since its job's request)."""
    model = EVENT_MODELS[event_type(body) or "job.finished"]
    return model.model_validate_json(body).model_copy(update={"emitted_at": emitted_at}).model_dump_json().encode()


class Scheduler:
    """Live: one tick every `tick_interval` real seconds. Backfill/catch-up: chunks up to a target."""

    role = "scheduler"

    def __init__(
        self,
        store: Store,
        workload: Workload,
        stream: Stream | Callable[[], Stream],
        life: Lifecycle,
        *,
        scale_factor: float,
        tick_interval: float,
        backfill: timedelta | None = None,
        catch_up: bool = False,
        limits: Limits = NO_LIMITS,
        disk_free: Callable[[Path], int] = backpressure.disk_free,
        pause_poll: float = PAUSE_POLL,
        cost_events: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.workload, self.life = store, workload, life
        self.scale_factor, self.tick_interval = scale_factor, tick_interval
        self.limits, self._disk_free, self._pause_poll = limits, disk_free, pause_poll
        self._monotonic, self._wall = monotonic, wall
        self._backfill, self._catch_up = backfill, catch_up
        self.live = backfill is None
        self.emitted = 0  # jobs requested this run
        self.events = 0  # rows written this run: requests plus lifecycle events
        self.target: datetime | None = None  # fast-forward goal: backfill end or catch-up end
        self._windows: dict[int, list[tuple[Intent, JobLife]]] = {}
        self._cost_events = cost_events  # False when WEBHOOK_EVENT_TYPES leaves cost.usage out: none are made
        self.paused: dict[str, str] | None = None  # {"since", "reason"} while backpressure holds the clock
        self._counted: tuple[float, int, int] | None = None  # (monotonic, backlog, self.emitted) at the count
        self._next_pause_poll = 0.0
        # The stream is fixed (SIM_START taken from the wall clock) only once the runner has seen a sane
        # wall clock, at the first step; a Stream given here is used at once.
        self._make_stream = stream if callable(stream) else None
        if isinstance(stream, Stream):
            self._start(stream)

    @property
    def processed(self) -> int:
        """Intents written by this run (for the heartbeat's rate)."""
        return self.emitted

    def _start(self, stream: Stream) -> None:
        self.stream = stream
        checkpoint = load_checkpoint(self.store)
        self.sim_now = checkpoint.sim_now if checkpoint else stream.sim_start
        if self._backfill is not None:
            self.target = self.sim_now + self._backfill
        elif self._catch_up and checkpoint is not None:
            downtime = max(0.0, self._wall() - checkpoint.wall_at)
            self.target = advance(self.sim_now, downtime, self.scale_factor)
            log.info("scheduler.catch_up", downtime_s=round(downtime, 1), until=rfc3339(self.target))
        self._last_tick = self._monotonic()
        self._saved_at = self._last_tick  # when a checkpoint was last committed (monotonic)
        self._unsaved: Checkpoint | None = None  # the clock after quiet ticks that committed nothing
        # The bill (cost.usage events, and each job's billed cost for job.finished) from the clock on.
        self._bill = LiveBill(self.workload, stream.seed, stream.sim_start, self.sim_now, events=self._cost_events)
        self._next_due = self.store.next_deferred()  # earliest lifecycle event waiting for its time
        self._make_stream = None

    def _jobs_between(self, start: datetime, end: datetime) -> list[tuple[Intent, JobLife]]:
        """Jobs with start < occurred_at <= end, with their lives, from the deterministic windows."""
        found = span_jobs(self.workload, self.stream.seed, start, end, windows=self._windows,
                          on_new_window=self._bill.feed)
        # Keep only the window still being filled; earlier ones are done for good.
        for window in [w for w in self._windows if w < window_of(end)]:
            del self._windows[window]
        return found

    def _commit(self, end: datetime, *, quiet_ok: bool = False) -> int:
        try:
            return self._write(end, quiet_ok=quiet_ok)
        except BaseException:
            # The bill moved on with this commit; a failed commit is re-lived from the saved clock.
            self._bill = LiveBill(self.workload, self.stream.seed, self.stream.sim_start, self.sim_now,
                                  events=self._cost_events)
            raise

    def _write(self, end: datetime, *, quiet_ok: bool) -> int:
        jobs = self._jobs_between(self.sim_now, end)
        until = stamp(end)
        checkpoint = Checkpoint(end, self._wall(), self.scale_factor)
        due = (self._next_due is not None and self._next_due <= until) or self._bill.next_due() <= end
        if not jobs and not due and quiet_ok and self._monotonic() - self._saved_at < QUIET_CHECKPOINT_EVERY:
            self.sim_now, self._unsaved = end, checkpoint
            return 0
        emitted_at = utc_now()
        now: list[tuple[str, bytes]] = []  # (stream order, body) written in this commit
        later: list[tuple[str, str, bytes]] = []  # (stream order, time, body) deferred to their time
        for intent, life in jobs:
            for key, at, body in job_events(intent, life, self.stream.seed, emitted_at,
                                            self._bill.billed_cost(intent.id)):
                if at <= until:
                    now.append((key, body))
                else:
                    later.append((key, at, body))
        now += self._bill.due(end, emitted_at)
        with self.store.transaction() as tx:
            now += [(key, _restamped(body, emitted_at)) for key, body in tx.pop_due(until)]
            tx.defer(later)
            now.sort(key=lambda item: item[0])
            tx.put("intents", (body for _, body in now))
            save_checkpoint(tx, checkpoint)
        self._next_due = self.store.next_deferred()
        self._saved_at, self._unsaved = self._monotonic(), None
        self.sim_now = end
        self.emitted += len(jobs)
        self.events += len(now)
        if now:
            log.debug("scheduler.emitted", count=len(jobs), events=len(now), sim_now=rfc3339(end))
        return len(jobs)

    def _reading(self) -> Reading:
        """The backlog (recounted only when due or near the bound) and the disk's free bytes."""
        now = self._monotonic()
        estimate = None
        if self._counted is not None:
            at, counted, emitted = self._counted
            estimate = counted + self.emitted - emitted
            if now - at >= RECOUNT_EVERY or estimate >= RECOUNT_NEAR * self.limits.max_backlog:
                estimate = None
        if estimate is None:
            estimate = backpressure.backlog(self.store)
            self._counted = (now, estimate, self.emitted)
        if not self.limits.min_free_disk:
            return Reading(estimate, 2**62)
        return Reading(estimate, self._disk_free(self.store.path.parent) + backpressure.reusable_bytes(self.store))

    def _held(self) -> bool:
        """Whether backpressure holds the clock now; logs each transition once."""
        if self.limits == NO_LIMITS:
            return False
        if self.paused is not None and self._monotonic() < self._next_pause_poll:
            return True
        reading = self._reading()
        reason = backpressure.pause_reason(reading, self.limits, self.paused is not None)
        if reason is None and self.paused is not None:
            log.info("scheduler.resumed", backlog=reading.backlog, free_disk=reading.free_disk,
                     paused_since=self.paused["since"])
            self.paused = None
            self._last_tick = self._monotonic()  # the clock stood still: the pause is not simulated time
        elif reason is not None and self.paused is None:
            self.paused = {"since": rfc3339(datetime.fromtimestamp(self._wall(), UTC)), "reason": reason}
            log.warning("scheduler.paused", reason=reason, backlog=reading.backlog, free_disk=reading.free_disk,
                        sim_now=rfc3339(self.sim_now),
                        hint="the clock stops until the enricher and deliverer catch up (the stream stays "
                             "the same, only later)")
        elif reason is not None and self.paused is not None:
            self.paused["reason"] = reason
        self.life.note(paused=self.paused)
        if self.paused is not None:
            self._next_pause_poll = self._monotonic() + self._pause_poll
            self._counted = None  # the consumers are draining: count afresh at the next look
        return self.paused is not None

    async def step(self) -> bool:
        """Fast-forward one chunk towards the target, or wait for the next live tick and write it."""
        if self._make_stream is not None:
            self._start(self._make_stream())
        if self._held():
            await self.life.sleep(self._pause_poll)
            self._last_tick = self._monotonic()
            return False
        if self.target is not None and self.sim_now < self.target:
            self._commit(min(self.target, self.sim_now + BACKFILL_CHUNK))
            if self.sim_now >= self.target:
                log.info("scheduler.fast_forward_done", sim_now=rfc3339(self.sim_now), emitted=self.emitted,
                         events=self.events)
                self._last_tick = self._monotonic()  # live time restarts after the burst of work
            return True
        if not self.live:
            return False
        wait = self._last_tick + self.tick_interval - self._monotonic()
        if wait > 0 and not await self.life.sleep(wait):
            return False
        end = advance(self.sim_now, self._monotonic() - self._last_tick, self.scale_factor)
        # After a stall (commits failing on a full disk, a frozen loop) the gap is written in
        # backfill-sized commits, each crediting the real time it covers, rather than in one transaction
        # of unbounded size (an hour's gap at 720x is ~40,000 intents). The next step comes at once.
        start = self.sim_now
        self._commit(min(end, start + BACKFILL_CHUNK), quiet_ok=True)
        self._last_tick += (self.sim_now - start).total_seconds() / self.scale_factor
        return True

    def drained(self) -> bool:
        """A backfill is done once the clock reached its target."""
        if self._make_stream is not None:
            return False
        return self.target is None or self.sim_now >= self.target

    def status(self) -> str:
        """Where the simulated clock stands."""
        if self._make_stream is not None:
            return "waiting to start the stream"
        held = f", PAUSED: {self.paused['reason']}" if self.paused else ""
        return (f"sim {self.sim_now:%Y-%m-%d %H:%M} UTC, {self.emitted} intents this run, "
                f"{self.store.deferred_count()} lifecycle events waiting{held}")

    async def close(self) -> None:
        """Save the clock if quiet ticks moved it without a commit, then close the store."""
        if self._make_stream is None and self._unsaved is not None:
            try:
                with self.store.transaction() as tx:
                    save_checkpoint(tx, self._unsaved)
            except QueueWriteError as exc:  # no job is lost: the clock re-lives an empty stretch on restart
                log.warning("scheduler.clock_not_saved", error=exc.cause, sim_now=rfc3339(self.sim_now))
        self.store.close()

