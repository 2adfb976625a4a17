"""What a profile will produce: hourly expected and sampled arrivals per office, and daily totals.

Pure data and text; bin/workload-preview (pipeline/commands/workload_preview.py) does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, tzinfo

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
    """One calendar day (in the preview's time zone), all offices; the first and last may be partial."""

    day: date
    first_hour: int  # index of its first hour in the offices' hourly series
    hours: int = 0  # hours of this day the preview covers (24, or fewer at the ends; 23/25 at DST changes)
    lead: int = 0  # local hours of the day before the preview starts (blank columns in the chart)
    jobs: int = 0
    expected: float = 0.0
    burst_jobs: int = 0
    bursts: set[str] = field(default_factory=set)
    gpu_hours: float = 0.0
    list_cost: float = 0.0
    cost: float = 0.0


@dataclass
class Preview:
    """The expected and sampled stream of `days` x 24 hours from window `first_window`, by calendar day."""

    first_window: int
    offices: list[OfficeSeries]
    days: list[DayTotals]
    tz: tzinfo = UTC

    @property
    def tz_name(self) -> str:
        return str(getattr(self.tz, "key", None) or self.tz.tzname(None) or "UTC")


def build_preview(workload: Workload, seed: int, first_window: int, days: int, tz: tzinfo = UTC) -> Preview:
    """Generate every window of the span once, collecting the hourly series and the totals of each calendar
    day in `tz` (a span that starts at 22:00 has a 2-hour first day, labelled with its own date)."""
    offices = [OfficeSeries(o.name, o.timezone.key) for o in workload.profile.offices]
    by_name = {series.name: series for series in offices}
    totals: list[DayTotals] = []
    for hour in range(days * 24):
        window = first_window + hour
        local = window_start(window).astimezone(tz)
        if not totals or totals[-1].day != local.date():
            totals.append(DayTotals(local.date(), hour, lead=local.hour if not totals else 0))
        day = totals[-1]
        day.hours += 1
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
    return Preview(first_window, offices, totals, tz)


def spark(values: list[float], top: float) -> str:
    """One block character per value, scaled so `top` is a full block."""
    steps = len(_BLOCKS) - 1
    return "".join(_BLOCKS[min(steps, round(v / top * steps))] if top > 0 else " " for v in values)


def day_label(day: DayTotals) -> str:
    """`Mon 03-02`, with a `*` when the preview covers only part of that day."""
    return day.day.strftime("%a %m-%d") + ("*" if day.hours < 23 else " ")


def render_text(preview: Preview) -> str:
    """The terminal chart: per office a block per hour of each calendar day in the preview's time zone
    (E expected, S sampled, ^ burst), then the daily totals."""
    zone = preview.tz_name
    lines: list[str] = []
    for series in preview.offices:
        top = max(max(series.expected, default=0.0), max(series.sampled, default=0))
        lines.append(f"{series.name} ({series.timezone}): jobs per hour, days and hours in {zone}, "
                     f"full block = {top:.0f}")
        lines.append(f"  {'hour':<12}  {'00    06    12    18':<24}  {'exp.':>7} {'sampled':>7}")
        for day in preview.days:
            hours = slice(day.first_hour, day.first_hour + day.hours)
            expected, sampled = series.expected[hours], series.sampled[hours]
            pad = " " * day.lead
            lines.append(f"  {day_label(day):<10} E  {pad}{spark(expected, top):<{24 - day.lead}}  "
                         f"{sum(expected):7.1f}")
            lines.append(f"  {'':<10} S  {pad}{spark([float(s) for s in sampled], top):<{24 - day.lead}}  "
                         f"{'':7} {sum(sampled):7d}")
            if any(series.burst_active[hours]):
                marks = "".join("^" if active else " " for active in series.burst_active[hours])
                lines.append(f"  {'':<10} B  {pad}{marks}")
        lines.append("")
    lines.append(f"Daily totals ({zone} days, all offices; * = the preview covers part of the day)")
    lines.append(f"  {'day':<10} {'hours':>5} {'jobs':>6} {'expected':>9} {'burst jobs':>10} {'bursts':>6} "
                 f"{'GPU-hours':>10} {'list $':>12} {'cost $':>12}")
    for day in preview.days:
        lines.append(f"  {day_label(day):<10} {day.hours:5d} {day.jobs:6d} {day.expected:9.1f} {day.burst_jobs:10d} "
                     f"{len(day.bursts):6d} {day.gpu_hours:10,.0f} {day.list_cost:12,.0f} {day.cost:12,.0f}")
    return "\n".join(lines) + "\n"
