"""The bill of any simulated span, hour by hour, straight from the workload model.

Hour h's rows need every job that holds GPUs during h, and a job can start long after it was requested
and run for days, so the bill generates jobs from `lookback` hours before the span and keeps only the
attempts still running. Memory holds the attempts in flight, never the span: the bill of 90 days
streams like the bill of one.

Commitments: each region's spend commitment (data/prices.toml [commitments]) is drawn down every hour
by that hour's on-demand usage in the region, at the plan's discount, in the order of job id and
attempt; a row is covered whole or not at all. Covered rows are billed 0 (the hourly fee is billed on
the commitment's purchase row) and cost their discounted price as EffectiveCost; what no usage drew on
is an "Unused" row. So EffectiveCost differs from BilledCost as in a real bill with Savings Plans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

from pipeline.focus.catalog import BillCatalog
from pipeline.focus.rows import MONEY_SCALE, Period, RowBuilder, committed_money, gpu_nano_hours
from pipeline.focus.spec import Row
from pipeline.focus.usage import Piece, pieces_of
from pipeline.workload import WINDOW_SECONDS, Workload

JobSource = Callable[[int, int], list[Piece]]
"""(seed, window) -> the pieces of every job requested in that window."""


def intent_pieces(workload: Workload) -> JobSource:
    def source(seed: int, window: int) -> list[Piece]:
        return [p for intent in workload.window_intents(seed, window) for p in pieces_of(intent)]

    return source


def lookback_hours(workload: Workload) -> int:
    """How long before its first charge hour a job can have been requested (hours, rounded up)."""
    longest = max(c.duration_max_hours for c in workload.profile.classes.values())
    return int(longest) + 2


def _payer_offices(workload: Workload) -> dict[str, str]:
    """Each region's commitment is held by the billing account of the office that runs most there."""
    best: dict[str, tuple[float, str]] = {}
    for office in workload.profile.offices:
        heads = sum(t.headcount for t in office.teams)
        for region in office.cloud_regions.keys:
            weight = office.cloud_regions.share(region)
            score = (heads * weight, office.name)
            if region not in best or score > best[region]:
                best[region] = score
    return {region: name for region, (_, name) in best.items()}


class Bill:
    """FOCUS rows of the workload's jobs, one charge hour at a time."""

    def __init__(self, workload: Workload, source: JobSource | None = None, lookback: int | None = None) -> None:
        self.workload = workload
        self.catalog = BillCatalog(workload.profile, workload.prices)
        self.rows = RowBuilder(self.catalog, _payer_offices(workload))
        self._source = source or intent_pieces(workload)
        self.lookback = lookback if lookback is not None else lookback_hours(workload)

    def hours(self, seed: int, first: int, end: int) -> Iterator[tuple[int, list[Row]]]:
        """(hour, its rows) for every hour (window index) in [first, end), in order."""
        pending: dict[int, list[Piece]] = defaultdict(list)
        active: list[Piece] = []
        generated = first - self.lookback
        span_start = first * WINDOW_SECONDS
        for hour in range(first, end):
            while generated <= hour:  # a job requested in hour h can start in h at the earliest
                for piece in self._source(seed, generated):
                    if piece.end <= max(piece.start, span_start):
                        continue
                    pending[max(piece.start // WINDOW_SECONDS, first)].append(piece)
                generated += 1
            arrived = pending.pop(hour, [])
            if arrived:
                active.extend(arrived)
                active.sort(key=lambda p: p.key)
            yield hour, self.hour_rows(hour, active)
            cut = (hour + 1) * WINDOW_SECONDS
            active = [p for p in active if p.end > cut]

    def hour_rows(self, hour: int, active: list[Piece]) -> list[Row]:
        """The rows of one hour: commitment fees, then usage by job id and attempt, then unused commitments."""
        period = Period(hour)
        h0, h1 = hour * WINDOW_SECONDS, (hour + 1) * WINDOW_SECONDS
        plans = self.catalog.commitments
        left = {region: round(plan.hourly_commitment * 10_000) * 10 ** (MONEY_SCALE - 4)
                for region, plan in plans.items()}
        rows = [self.rows.purchase(period, plan, left[region]) for region, plan in plans.items()]
        for piece in active:
            seconds = min(piece.end, h1) - max(piece.start, h0)
            if seconds <= 0:
                continue
            plan = plans.get(piece.region) if piece.pricing == "on_demand" else None
            if plan is not None:
                draw = committed_money(piece.list_price, gpu_nano_hours(piece.gpu_count, seconds), plan)
                if draw <= left[piece.region]:
                    left[piece.region] -= draw
                else:
                    plan = None
            rows.append(self.rows.usage(period, piece, seconds, plan))
        rows += [self.rows.unused(period, plan, left[region]) for region, plan in plans.items() if left[region] > 0]
        return rows
