"""The preview's usage section: GPU-hours and spend per day and per team from the jobs' lives, and the
anomalies planted in the span. Pure data and text, beside preview.py (which shows the requests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.models import JobLife
from pipeline.workload.answer_key import Entry, answer_key
from pipeline.workload.model import Workload
from pipeline.workload.timegrid import DAY_SECONDS, window_start


@dataclass
class Usage:
    """GPU-hours, list and billed dollars."""

    gpu_hours: float = 0.0
    list_cost: float = 0.0
    billed_cost: float = 0.0

    def add(self, gpu_hours: float, list_price: float, price: float) -> None:
        """Count `gpu_hours` used at these per-GPU-hour prices."""
        self.gpu_hours += gpu_hours
        self.list_cost += gpu_hours * list_price
        self.billed_cost += gpu_hours * price


@dataclass
class UsagePreview:
    """Usage of the jobs requested in the span, by the UTC day it is used on and by team."""

    start: datetime
    days: list[Usage]
    teams: dict[str, Usage] = field(default_factory=dict)
    running_after: int = 0  # jobs still running when the span ends
    anomalies: list[Entry] = field(default_factory=list)


def _spread(life: JobLife, start: datetime, days: list[Usage]) -> None:
    """Add each attempt's usage to the days it falls on (clipped to the span)."""
    for attempt in life.attempts:
        t = attempt.started_at
        while t < attempt.ended_at:
            day = int((t - start).total_seconds() // DAY_SECONDS)
            if day >= len(days):
                return
            until = min(attempt.ended_at, start + timedelta(days=day + 1))
            hours = attempt.gpu_count * (until - t).total_seconds() / 3600
            days[day].add(hours, attempt.gpu_hour_list_price, attempt.gpu_hour_price)
            t = until


def build_usage(workload: Workload, seed: int, first_window: int, days: int) -> UsagePreview:
    """Lives of every job requested in the span: usage per day and per team, and the answer key."""
    start = window_start(first_window)
    end = start + timedelta(days=days)
    preview = UsagePreview(start, [Usage() for _ in range(days)])
    for window in range(first_window, first_window + 24 * days):
        for intent, life in workload.window_jobs(seed, window):
            _spread(life, start, preview.days)
            team = preview.teams.setdefault(intent.team, Usage())
            for attempt in life.attempts:
                team.add(attempt.gpu_hours, attempt.gpu_hour_list_price, attempt.gpu_hour_price)
            preview.running_after += life.ended_at > end
    preview.anomalies = answer_key(workload, seed, start, end)
    return preview


def render_usage(preview: UsagePreview) -> str:
    """Text: usage per UTC day, per team, then the planted anomalies."""
    lines = ["", "Usage from the jobs' lives (jobs requested in the span; GPU-hours on the UTC day they run)",
             f"  {'day':<10} {'GPU-hours':>10} {'list $':>12} {'billed $':>12}"]
    for d, usage in enumerate(preview.days):
        label = (preview.start + timedelta(days=d)).strftime("%a %m-%d")
        lines.append(f"  {label:<10} {usage.gpu_hours:10,.0f} {usage.list_cost:12,.0f} {usage.billed_cost:12,.0f}")
    lines.append(f"  ({preview.running_after} jobs still running at the end of the span; their later hours "
                 "are not shown)")
    lines += ["", "Usage per team (every attempt of the span's jobs)",
              f"  {'team':<20} {'GPU-hours':>10} {'list $':>12} {'billed $':>12}"]
    for name, usage in sorted(preview.teams.items(), key=lambda item: -item[1].billed_cost):
        lines.append(f"  {name:<20} {usage.gpu_hours:10,.0f} {usage.list_cost:12,.0f} {usage.billed_cost:12,.0f}")
    lines += ["", f"Planted anomalies in the span ({len(preview.anomalies)}; bin/answer-key lists them too)"]
    lines += [f"  {entry.line()}" for entry in preview.anomalies]
    return "\n".join(lines) + "\n"
