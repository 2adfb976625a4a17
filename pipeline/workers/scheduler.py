"""The scheduler worker: advances the simulated clock and writes the intents it passes.

Each step writes the intents in (checkpoint, new position] and the new checkpoint in one transaction,
so a kill at any point neither repeats nor skips an intent. The stream is a function of the seed and
the fixed simulated-time windows only, never of how the ticks fell. A live tick that passes no job
writes nothing (see QUIET_CHECKPOINT_EVERY): a kill then only makes the clock re-live an empty stretch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from pipeline.clock import Checkpoint, advance, load_checkpoint, rfc3339, save_checkpoint, utc_now
from pipeline.errors import QueueWriteError
from pipeline.events import EVENT_MODELS, event_type, lifecycle_events, order_key, stamp
from pipeline.focus.live import LiveBill
from pipeline.models import Intent, JobLife
from pipeline.queues import Store
from pipeline.stream import Stream
from pipeline.workers.runner import Lifecycle
from pipeline.workload import WINDOW_SECONDS, Workload, window_of

log = structlog.get_logger()

# A backfill commits per chunk of simulated time: large enough that the fsync per commit is amortised,
# small enough that a kill loses little work and memory stays flat.
BACKFILL_CHUNK = timedelta(seconds=WINDOW_SECONDS * 6)
# A live tick that passes no job need not commit: its checkpoint would only move the clock, and the next
# commit moves it as well. At SCALE_FACTOR=1 (a job about once a minute) this saves an fsync a second and
# wakes no consumer. The clock is still saved at least this often (real seconds), and when the worker stops.
QUIET_CHECKPOINT_EVERY = 10.0


def span_jobs(workload: Workload, seed: int, start: datetime, end: datetime, *,
              windows: dict[int, list[tuple[Intent, JobLife]]] | None = None,
              on_new_window: Callable[[int, list[tuple[Intent, JobLife]]], None] | None = None,
              ) -> list[tuple[Intent, JobLife]]:
    """Every job (request and life) with start < occurred_at <= end: what the scheduler generates for that span
    of simulated time, whatever the ticks. `windows` caches generated windows between calls;
    `on_new_window` sees each window once as it is generated (the scheduler's live bill).

    The one place that turns simulated time into the stream's jobs: bin/replay regenerates a span through it.
    """
    windows = {} if windows is None else windows
    found: list[tuple[Intent, JobLife]] = []
    for window in range(window_of(start), window_of(end) + 1):
        if window not in windows:
            windows[window] = workload.window_jobs(seed, window)
            if on_new_window is not None:
                on_new_window(window, windows[window])
        found += [job for job in windows[window] if start < job[0].occurred_at <= end]
    return found


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
        stream: Stream,
        life: Lifecycle,
        *,
        scale_factor: float,
        tick_interval: float,
        backfill: timedelta | None = None,
        catch_up: bool = False,
        cost_events: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.workload, self.stream, self.life = store, workload, stream, life
        self.scale_factor, self.tick_interval = scale_factor, tick_interval
        self._monotonic, self._wall = monotonic, wall
        checkpoint = load_checkpoint(store)
        self.sim_now = checkpoint.sim_now if checkpoint else stream.sim_start
        self.target: datetime | None = None  # fast-forward goal: backfill end or catch-up end
        if backfill is not None:
            self.target = self.sim_now + backfill
        elif catch_up and checkpoint is not None:
            downtime = max(0.0, wall() - checkpoint.wall_at)
            self.target = advance(self.sim_now, downtime, scale_factor)
            log.info("scheduler.catch_up", downtime_s=round(downtime, 1), until=rfc3339(self.target))
        self.live = backfill is None
        self.emitted = 0  # jobs requested this run
        self.events = 0  # rows written this run: requests plus lifecycle events
        self._last_tick = monotonic()
        self._saved_at = self._last_tick  # when a checkpoint was last committed (monotonic)
        self._unsaved: Checkpoint | None = None  # the clock after quiet ticks that committed nothing
        self._windows: dict[int, list[tuple[Intent, JobLife]]] = {}
        # The bill (cost.usage events, and each job's billed cost for job.finished) from the clock on.
        self._cost_events = cost_events  # False when WEBHOOK_EVENT_TYPES leaves cost.usage out: none are made
        self._bill = LiveBill(workload, stream.seed, stream.sim_start, self.sim_now, events=cost_events)
        self._next_due = store.next_deferred()  # earliest lifecycle event waiting for its time

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
            now.append((order_key(intent.occurred_at, "job.requested", intent.id), intent.model_dump_json().encode()))
            billed = self._bill.billed_cost(intent.id)
            for event in lifecycle_events(intent, life, self.stream.seed, emitted_at, billed):
                body = event.body.model_dump_json().encode()
                if event.at <= until:
                    now.append((event.key, body))
                else:
                    later.append((event.key, event.at, body))
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

    async def step(self) -> bool:
        """Fast-forward one chunk towards the target, or wait for the next live tick and write it."""
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
        return self.target is None or self.sim_now >= self.target

    def status(self) -> str:
        """Where the simulated clock stands."""
        return (f"sim {self.sim_now:%Y-%m-%d %H:%M} UTC, {self.emitted} intents this run, "
                f"{self.store.deferred_count()} lifecycle events waiting")

    async def close(self) -> None:
        """Save the clock if quiet ticks moved it without a commit, then close the store."""
        if self._unsaved is not None:
            try:
                with self.store.transaction() as tx:
                    save_checkpoint(tx, self._unsaved)
            except QueueWriteError as exc:  # no job is lost: the clock re-lives an empty stretch on restart
                log.warning("scheduler.clock_not_saved", error=exc.cause, sim_now=rfc3339(self.sim_now))
        self.store.close()

