"""The bill as the scheduler streams it: a cost.usage event for each charge hour its clock passes, and
each new job's billed cost for its job.finished event.

Both come from one Meter fed with the scheduler's own windows, so the streamed rows are exactly what
bin/export writes for the same seed, SIM_START and span. Jobs requested before SIM_START do not exist
in a stream; a restart warms the meter up from at most LOOKBACK_HOURS back (and never before SIM_START).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pipeline import __version__
from pipeline.events import order_key
from pipeline.focus.bill import Bill, Jobs
from pipeline.focus.writers import row_object
from pipeline.models import CostUsage, EventGenerator
from pipeline.workload import WINDOW_SECONDS, Workload, window_of, window_start

_MONEY = 10**15


def usage_id(seed: int, hour: int) -> str:
    """The cost.usage event id: "usage_" + 20 hex digits of (seed, charge hour)."""
    return "usage_" + hashlib.blake2b(f"usage|{seed}|{hour}".encode(), digest_size=10).hexdigest()


class LiveBill:
    """Feeds the meter the scheduler's windows; hands out billed costs and due cost.usage bodies."""

    def __init__(self, workload: Workload, seed: int, sim_start: datetime, now: datetime, *,
                 events: bool = True) -> None:
        self.seed = seed
        self.events = events  # False: keep the ledger (billed costs) but make no cost.usage events
        self.next_hour = window_of(now)  # the first charge hour whose end the clock has not passed
        self._meter = Bill(workload).meter(seed, self.next_hour, origin=window_of(sim_start), record=True)

    def feed(self, window: int, jobs: Jobs) -> None:
        """The jobs of `window` as the scheduler generated them (windows in order; earlier ones are
        generated here if the scheduler skipped them)."""
        if window >= self._meter.fed:
            self._meter.feed(window, jobs)

    def billed_cost(self, job_id: str) -> float | None:
        """The job's billed cost in USD, rounded to the 4 decimals events carry (None if unknown)."""
        total = self._meter.billed.pop(job_id, None)
        # Rounded as the life model rounds its costs: the nearest float to the exact sum, to 4 decimals.
        return None if total is None else round(total / _MONEY, 4)

    def next_due(self) -> datetime:
        """When the next cost.usage event occurs: the end of the next charge hour."""
        return window_start(self.next_hour + 1)

    def due(self, end: datetime, emitted_at: datetime) -> list[tuple[str, bytes]]:
        """(stream order, body) of the cost.usage events of every charge hour ending at or before `end`."""
        out = []
        while (self.next_hour + 1) * WINDOW_SECONDS <= end.timestamp():
            hour = self.next_hour
            rows = self._meter.rows(hour, build=self.events)
            self.next_hour += 1
            if not self.events:
                continue
            start, stop = datetime.fromtimestamp(hour * WINDOW_SECONDS, UTC), window_start(hour + 1)
            # Built, not validated: the rows come typed from the bill, and validating ~100 rows of 60 columns
            # an hour would cost more than making them.
            body = CostUsage.model_construct(
                id=usage_id(self.seed, hour), occurred_at=stop, emitted_at=emitted_at, charge_period_start=start,
                charge_period_end=stop, rows=tuple(row_object(r) for r in rows),
                generator=EventGenerator(seed=self.seed, version=__version__),
            )
            out.append((order_key(stop, "cost.usage", body.id), body.model_dump_json().encode()))
        return out
