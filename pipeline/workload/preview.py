"""What a profile will produce: hourly expected and sampled arrivals per office, and daily totals.

Pure data and text; bin/workload-preview (pipeline/commands/workload_preview.py) does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.workload.model import Workload
from pipeline.workload.timegrid import window_start

_BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass
class OfficeSeries:
    """One office, one value per simulated hour."""

    name: str
    timezone: str
    expected: list[float] = field(default_factory=list)  # base + the drawn bursts' excess
    sampled: list[int] = field(default_factory=list)
    burst_active: list[bool] = field(default_factory=list)


@dataclass
class DayTotals:
    """One simulated (UTC) day, all offices."""

    day: datetime
    jobs: int = 0
    expected: float = 0.0
    burst_jobs: int = 0
    bursts: set[str] = field(default_factory=set)
    gpu_hours: float = 0.0
    list_cost: float = 0.0
    cost: float = 0.0


@dataclass
class Preview:
    """The expected and sampled stream of `days` days from window `first_window`."""

    first_window: int
    offices: list[OfficeSeries]
    days: list[DayTotals]


def build_preview(workload: Workload, seed: int, first_window: int, days: int) -> Preview:
    """Generate every window of the span once, collecting the hourly series and daily totals."""
    offices = [OfficeSeries(o.name, o.timezone.key) for o in workload.profile.offices]
    by_name = {series.name: series for series in offices}
    totals: list[DayTotals] = []
    for hour in range(days * 24):
        window = first_window + hour
        if hour % 24 == 0:
            totals.append(DayTotals(window_start(window)))
        day = totals[-1]
        expected = workload.window_expected(seed, window)
        counts = dict.fromkeys(by_name, 0)
        for intent in workload.window_intents(seed, window):
            counts[intent.office] += 1
            day.jobs += 1
            day.gpu_hours += intent.gpu_count * intent.est_duration_hours
            day.list_cost += intent.cost.estimated_list_cost
            day.cost += intent.cost.estimated_cost
            if intent.burst_id:
                day.burst_jobs += 1
                day.bursts.add(intent.burst_id)
        for name, series in by_name.items():
            series.expected.append(expected[name].base + expected[name].burst)
            series.sampled.append(counts[name])
            series.burst_active.append(expected[name].burst > 0)
            day.expected += expected[name].base + expected[name].burst
    return Preview(first_window, offices, totals)


def spark(values: list[float], top: float) -> str:
    """One block character per value, scaled so `top` is a full block."""
    steps = len(_BLOCKS) - 1
    return "".join(_BLOCKS[min(steps, round(v / top * steps))] if top > 0 else " " for v in values)


def render_text(preview: Preview) -> str:
    """The terminal chart: per office a block per UTC hour (E expected, S sampled, ^ burst), then totals."""
    lines: list[str] = []
    for series in preview.offices:
        top = max(max(series.expected, default=0.0), max(series.sampled, default=0))
        lines.append(f"{series.name} ({series.timezone}): jobs per UTC hour, full block = {top:.0f}")
        lines.append(f"  {'UTC hour':<11}  {'00    06    12    18':<24}  {'exp.':>7} {'sampled':>7}")
        for d, day in enumerate(preview.days):
            hours = slice(d * 24, d * 24 + 24)
            expected, sampled = series.expected[hours], series.sampled[hours]
            label = day.day.strftime("%a %m-%d")
            lines.append(f"  {label:<9} E  {spark(expected, top)}  {sum(expected):7.1f}")
            lines.append(f"  {'':<9} S  {spark([float(s) for s in sampled], top)}  {'':7} {sum(sampled):7d}")
            if any(series.burst_active[hours]):
                marks = "".join("^" if active else " " for active in series.burst_active[hours])
                lines.append(f"  {'':<9} B  {marks}")
        lines.append("")
    lines.append("Daily totals (UTC days, all offices; ^ = a burst raises this office's rate)")
    lines.append(f"  {'day':<10} {'jobs':>6} {'expected':>9} {'burst jobs':>10} {'bursts':>6} "
                 f"{'GPU-hours':>10} {'list $':>12} {'cost $':>12}")
    for day in preview.days:
        label = day.day.strftime("%a %m-%d")
        lines.append(f"  {label:<10} {day.jobs:6d} {day.expected:9.1f} {day.burst_jobs:10d} "
                     f"{len(day.bursts):6d} {day.gpu_hours:10,.0f} {day.list_cost:12,.0f} {day.cost:12,.0f}")
    return "\n".join(lines) + "\n"
