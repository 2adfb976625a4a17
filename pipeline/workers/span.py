"""The events of a span of simulated time: the one place that turns the stream's jobs and bill into ordered
event bodies. The scheduler writes them as its clock passes (deferring each job's later events to their
time); bin/replay regenerates any span through `span_events` without a queue.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from pipeline.events import RANK, lifecycle_events, order_key, stamp
from pipeline.focus.bill import lookback_hours
from pipeline.focus.live import LiveBill
from pipeline.models import Intent, JobLife
from pipeline.stream import Stream
from pipeline.workload import WINDOW_SECONDS, Workload, window_of

# A backfill commits per chunk of simulated time: large enough that the fsync per commit is amortised,
# small enough that a kill loses little work and memory stays flat.
BACKFILL_CHUNK = timedelta(seconds=WINDOW_SECONDS * 6)


def span_jobs(workload: Workload, seed: int, start: datetime, end: datetime, *,
              windows: dict[int, list[tuple[Intent, JobLife]]] | None = None,
              on_new_window: Callable[[int, list[tuple[Intent, JobLife]]], None] | None = None,
              ) -> list[tuple[Intent, JobLife]]:
    """Every job (request and life) with start < occurred_at <= end: what the scheduler generates for that span
    of simulated time, whatever the ticks. `windows` caches generated windows between calls;
    `on_new_window` sees each window once as it is generated (the scheduler's live bill).
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


def job_events(intent: Intent, life: JobLife, seed: int, emitted_at: datetime,
               billed_cost: float | None) -> list[tuple[str, str, bytes]]:
    """(stream order, simulated time, body) of a job's request and of its job.started and job.finished."""
    request = (order_key(intent.occurred_at, "job.requested", intent.id), stamp(intent.occurred_at),
               intent.model_dump_json().encode())
    return [request, *((e.key, e.at, e.body.model_dump_json().encode())
                       for e in lifecycle_events(intent, life, seed, emitted_at, billed_cost))]


def chunks(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """(start, end] cut into the scheduler's backfill chunks."""
    while start < end:
        stop = min(end, start + BACKFILL_CHUNK)
        yield start, stop
        start = stop


def span_events(workload: Workload, stream: Stream, start: datetime, end: datetime, emitted_at: datetime, *,
                types: tuple[str, ...]) -> Iterator[tuple[datetime, list[tuple[str, bytes]]]]:
    """(chunk end, [(stream order, body)]) of every event with start < simulated time <= end that a stream
    delivers, of the given types, in stream order, one backfill chunk at a time: job requests, the
    job.started/job.finished of jobs requested up to the bill's lookback before `start` (no life is
    longer), and the cost.usage of each charge hour ending in the span. Requests are Intents, as the
    scheduler stores them.

    Generated as a scheduler restarted a lookback before `start` would: its bill's ledger then holds every
    job running in the span, so billed costs and rows are those of the stream from SIM_START.
    """
    origin = max(start - timedelta(hours=lookback_hours(workload)), stream.sim_start)
    bill = LiveBill(workload, stream.seed, stream.sim_start, origin, events=False)
    windows: dict[int, list[tuple[Intent, JobLife]]] = {}
    later: list[tuple[str, str, bytes]] = []  # (stream order, time, body) after the chunk that made them
    low_at, end_at = stamp(start), stamp(end)
    for low, high in [*chunks(origin, start), *chunks(start, end)]:
        inside, until = high > start, stamp(high)
        batch: list[tuple[str, bytes]] = []
        for intent, life in span_jobs(workload, stream.seed, low, high, windows=windows, on_new_window=bill.feed):
            billed = bill.billed_cost(intent.id)
            if life.ended_at <= start:
                continue  # all its events are before the span
            for key, at, body in job_events(intent, life, stream.seed, emitted_at, billed):
                if low_at < at <= end_at and _type_of(key) in types:
                    heapq.heappush(later, (key, at, body))
        while later and later[0][1] <= until:
            key, _at, body = heapq.heappop(later)
            batch.append((key, body))
        for window in [w for w in windows if w < window_of(high)]:
            del windows[window]
        bill.events = inside and "cost.usage" in types
        batch += bill.due(high, emitted_at)
        if inside:
            yield high, sorted(batch, key=lambda item: item[0])


_TYPES = {str(rank): name for name, rank in RANK.items()}


def _type_of(key: str) -> str:
    """The event type of a stream order key (its rank)."""
    return _TYPES.get(key.split("|")[1], "")
