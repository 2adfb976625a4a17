"""The bill of any simulated span, hour by hour, straight from the workload model.

Hour h's rows need every job that holds GPUs during h, and a job can start long after it was requested
and run for days, so the bill generates jobs from `lookback` hours before the span and keeps only the
attempts still running. Memory holds the attempts in flight, never the span: the bill of 90 days
streams like the bill of one.

Commitments: each region's spend commitment (data/prices.toml [commitments]) is drawn down every hour
by that hour's on-demand usage in the region, at the plan's discount, first come first served in the
order jobs were requested; a job-hour is covered whole or not at all. So whether a job's hour is
covered depends only on jobs requested before it: its billed cost is known when it is requested (the
job.finished event carries it), and the same in every span that holds the hour. Covered rows are
billed 0 (the hourly fee is billed on the commitment's purchase row) and cost their discounted price as
EffectiveCost; what no usage drew on is an "Unused" row: EffectiveCost differs from BilledCost as in a
real bill with Savings Plans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pipeline.focus.catalog import BillCatalog, CommitmentPlan
from pipeline.focus.rows import Period, RowBuilder, committed_money, gpu_nano_hours, money
from pipeline.focus.spec import Row
from pipeline.focus.usage import Piece, pieces_of
from pipeline.models import Intent, JobLife
from pipeline.workload import WINDOW_SECONDS, Workload

Jobs = list[tuple[Intent, JobLife]]
JobSource = Callable[[int, int], Jobs]
"""(seed, window) -> every job requested in that window with its life, in request order."""

# How far before a span the bill looks for jobs still running in it. Only a planted runaway of a
# multi-day request can live longer (the life model caps queue waits at 48 h and the longest request is
# 14 days); such a job's hours more than this after its request are left out of the bill.
LOOKBACK_HOURS = 21 * 24
_PRICE_TO_MONEY_UNITS = 100_000_000_000  # 1e-4 USD -> 1e-15 USD (MONEY_SCALE)


def _payer_offices(workload: Workload) -> dict[str, str]:
    """Each region's commitment is held by the billing account of the office that runs most there."""
    best: dict[str, tuple[float, str]] = {}
    for office in workload.profile.offices:
        heads = sum(t.headcount for t in office.teams)
        for region in office.cloud_regions.keys:
            score = (heads * office.cloud_regions.share(region), office.name)
            if region not in best or score > best[region]:
                best[region] = score
    return {region: name for region, (_, name) in best.items()}


@dataclass(frozen=True)
class Charged:
    """A piece with the charge hours its region's commitment covers."""

    piece: Piece
    covered: frozenset[int]


class Ledger:
    """What is left of each region's commitment in each hour, drawn first come first served."""

    def __init__(self, plans: dict[str, CommitmentPlan]) -> None:
        self.plans = plans
        self.full = {region: round(plan.hourly_commitment * 10_000) * _PRICE_TO_MONEY_UNITS
                     for region, plan in plans.items()}
        self._left: dict[tuple[str, int], int] = {}

    def admit(self, piece: Piece, from_hour: int) -> Charged:
        """Draw the piece's on-demand hours (from `from_hour` on) from its region's commitment."""
        plan = self.plans.get(piece.region)
        if plan is None or piece.pricing != "on_demand":
            return Charged(piece, frozenset())
        covered = []
        for hour in range(max(piece.start // WINDOW_SECONDS, from_hour), -(-piece.end // WINDOW_SECONDS)):
            seconds = min(piece.end, (hour + 1) * WINDOW_SECONDS) - max(piece.start, hour * WINDOW_SECONDS)
            draw = committed_money(piece.list_price, gpu_nano_hours(piece.gpu_count, seconds), plan)
            key = (piece.region, hour)
            left = self._left.get(key, self.full[piece.region])
            if draw <= left:
                self._left[key] = left - draw
                covered.append(hour)
        return Charged(piece, frozenset(covered))

    def left(self, region: str, hour: int) -> int:
        return self._left.get((region, hour), self.full[region])

    def forget_before(self, hour: int) -> None:
        for key in [k for k in self._left if k[1] < hour]:
            del self._left[key]


def billed_cost(charged: Charged) -> int:
    """The piece's BilledCost summed over its charge hours (1e-15 USD): covered hours bill 0."""
    piece, total = charged.piece, 0
    for hour in range(piece.start // WINDOW_SECONDS, -(-piece.end // WINDOW_SECONDS)):
        if hour not in charged.covered:
            seconds = min(piece.end, (hour + 1) * WINDOW_SECONDS) - max(piece.start, hour * WINDOW_SECONDS)
            total += money(piece.price, gpu_nano_hours(piece.gpu_count, seconds))
    return total


class Bill:
    """FOCUS rows of the workload's jobs, one charge hour at a time."""

    def __init__(self, workload: Workload, source: JobSource | None = None,
                 lookback: int = LOOKBACK_HOURS) -> None:
        self.workload = workload
        self.catalog = BillCatalog(workload.profile, workload.prices)
        self.rows = RowBuilder(self.catalog, _payer_offices(workload))
        self.source = source or workload.window_jobs
        self.lookback = lookback

    def meter(self, seed: int, first: int, origin: int | None = None, *, record: bool = False) -> Meter:
        """A meter whose first charge hour is `first`; no job is requested before window `origin`
        (a stream's SIM_START) when given; `record` keeps each new job's billed cost (for its events)."""
        return Meter(self, seed, first, origin, record=record)

    def hours(self, seed: int, first: int, end: int, origin: int | None = None) -> Iterator[tuple[int, list[Row]]]:
        """(hour, its rows) for every hour in [first, end), in order."""
        meter = self.meter(seed, first, origin)
        for hour in range(first, end):
            yield hour, meter.rows(hour)


class Meter:
    """Generates jobs in request order and produces the rows of consecutive charge hours from `first`."""

    def __init__(self, bill: Bill, seed: int, first: int, origin: int | None = None, *, record: bool = False) -> None:
        self.bill, self.seed, self.first, self.record = bill, seed, first, record
        self.ledger = Ledger(bill.catalog.commitments)
        start = first - bill.lookback
        self.fed = start if origin is None else min(max(start, origin), first)  # the next window to generate
        self.billed: dict[str, int] = {}  # job id -> billed cost (1e-15 USD) of jobs requested from `first`
        self._pending: dict[int, list[Charged]] = defaultdict(list)
        self._active: list[Charged] = []
        self._next_hour = first

    def feed(self, window: int, jobs: Jobs | None = None) -> None:
        """Admit the jobs requested in `window` and every window before it not yet fed (those from the
        bill's source; `window`'s own may be given, e.g. from the scheduler's cache)."""
        while self.fed <= window:
            batch = jobs if jobs is not None and self.fed == window else self.bill.source(self.seed, self.fed)
            self._admit(batch, record=self.record and self.fed >= self.first)
            self.fed += 1

    def _admit(self, jobs: Jobs, *, record: bool) -> None:
        span_start = self.first * WINDOW_SECONDS
        for intent, life in jobs:
            total = 0
            for piece in pieces_of(intent, life):
                charged = self.ledger.admit(piece, self.first)
                total += billed_cost(charged)
                if piece.end > max(piece.start, span_start):
                    self._pending[max(piece.start // WINDOW_SECONDS, self.first)].append(charged)
            if record:
                self.billed[intent.id] = total

    def rows(self, hour: int, *, build: bool = True) -> list[Row]:
        """The rows of charge hour `hour` (the next one due): commitment fees, usage by job id and
        attempt, then unused commitments. `build=False` moves past the hour without making its rows."""
        if hour != self._next_hour:
            raise ValueError(f"hours are billed in order: expected {self._next_hour}, got {hour}")
        self.feed(hour)  # a job requested in hour h can start in h at the earliest
        arrived = self._pending.pop(hour, [])
        if arrived:
            self._active.extend(arrived)
            self._active.sort(key=lambda c: c.piece.key)
        rows = self._hour_rows(hour) if build else []
        cut = (hour + 1) * WINDOW_SECONDS
        self._active = [c for c in self._active if c.piece.end > cut]
        self.ledger.forget_before(hour + 1)
        self._next_hour += 1
        return rows

    def _hour_rows(self, hour: int) -> list[Row]:
        period = Period(hour)
        h0, h1 = hour * WINDOW_SECONDS, (hour + 1) * WINDOW_SECONDS
        plans, build = self.ledger.plans, self.bill.rows
        rows = [build.purchase(period, plan, self.ledger.full[region]) for region, plan in plans.items()]
        for charged in self._active:
            piece = charged.piece
            seconds = min(piece.end, h1) - max(piece.start, h0)
            if seconds > 0:
                plan = plans[piece.region] if hour in charged.covered else None
                rows.append(build.usage(period, piece, seconds, plan))
        for region, plan in plans.items():
            left = self.ledger.left(region, hour)
            if left > 0:
                rows.append(build.unused(period, plan, left))
        return rows
