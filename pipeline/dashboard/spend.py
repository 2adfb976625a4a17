"""The stream as the profile makes it: per-window summaries of jobs, expected rate, bursts and money.

The stream is a pure function of (seed, window), so what the scheduler has written so far can be
recounted here without reading a single payload (delivered payloads leave the state folder). Finished
windows are cached; the current one is counted up to the simulated now.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.models import Intent
from pipeline.workload import Workload, window_of
from pipeline.workload.timegrid import window_start

HOURS_PER_DAY = 24


@dataclass(slots=True)
class Totals:
    """Jobs and request-estimate dollars, in all and per team and cost centre."""

    jobs: int = 0
    estimated: float = 0.0
    listed: float = 0.0
    by_team: dict[str, float] = field(default_factory=dict)
    by_cost_center: dict[str, float] = field(default_factory=dict)

    def add(self, team: str, cost_center: str, estimated: float, listed: float) -> None:
        """Count one job."""
        self.jobs += 1
        self.estimated += estimated
        self.listed += listed
        self.by_team[team] = self.by_team.get(team, 0.0) + estimated
        self.by_cost_center[cost_center] = self.by_cost_center.get(cost_center, 0.0) + estimated


def money(parts: list[Totals]) -> dict[str, Any]:
    """The page's money figures of several totals together, biggest spenders first."""
    teams: dict[str, float] = {}
    centres: dict[str, float] = {}
    for part in parts:
        for total, book in ((teams, part.by_team), (centres, part.by_cost_center)):
            for key, value in book.items():
                total[key] = total.get(key, 0.0) + value
    return {"estimated_usd": round(sum(p.estimated for p in parts), 2),
            "list_usd": round(sum(p.listed for p in parts), 2),
            "jobs": sum(p.jobs for p in parts), "by_team": _ranked(teams), "by_cost_center": _ranked(centres)}


def _ranked(totals: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))}


@dataclass(slots=True)
class WindowSummary:
    """One simulated hour: jobs and expected jobs per office, bursts, and its money."""

    jobs: Counter[str] = field(default_factory=Counter)
    expected: dict[str, float] = field(default_factory=dict)
    burst: dict[str, bool] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)


def summarize(workload: Workload, seed: int, window: int, until: datetime | None = None) -> WindowSummary:
    """The window's figures, counting only jobs that occurred at or before `until` (None: all)."""
    out = WindowSummary()
    for name, exp in workload.window_expected(seed, window).items():
        out.expected[name] = exp.base + exp.burst  # what workload-preview calls "expected"
        out.burst[name] = exp.burst > 0
        out.jobs[name] = 0
    for intent in workload.window_intents(seed, window):
        if until is not None and intent.occurred_at > until:
            break  # sorted by occurred_at
        _add(out, intent)
    return out


def _add(out: WindowSummary, intent: Intent) -> None:
    out.jobs[intent.office] += 1
    out.totals.add(intent.team, intent.cost_center, intent.cost.estimated_cost, intent.cost.estimated_list_cost)


class StreamView:
    """Caches finished windows of one stream; `view(now)` is the page's stream and money panels."""

    def __init__(self, workload: Workload, seed: int, start: datetime) -> None:
        self.workload, self.seed = workload, seed
        self.first_window = window_of(start)
        self._done: dict[int, WindowSummary] = {}
        self._ahead: dict[int, WindowSummary] = {}
        self._partial: tuple[tuple[int, datetime], WindowSummary] | None = None

    def _window(self, window: int, current: int, now: datetime) -> WindowSummary:
        if window > current:  # not generated yet: only the expected rate, no job drawn
            if window not in self._ahead:
                self._ahead[window] = summarize(self.workload, self.seed, window, until=window_start(window))
            return self._ahead[window]
        if window == current:
            if self._partial is None or self._partial[0] != (window, now):
                self._partial = ((window, now), summarize(self.workload, self.seed, window, until=now))
            return self._partial[1]
        if window not in self._done:
            self._done[window] = summarize(self.workload, self.seed, window)
        return self._done[window]

    def view(self, now: datetime) -> dict[str, Any]:
        """Today's hourly jobs per office against expected (bursts marked), and spend today and this week."""
        current = window_of(now)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        week_start = day_start - timedelta(days=day_start.weekday())
        first_of_day, first_of_week = window_of(day_start), window_of(week_start)
        # Forget windows before this week: a long run must not grow the caches.
        for cache in (self._done, self._ahead):
            for old in [w for w in cache if w < first_of_week or (cache is self._ahead and w <= current)]:
                del cache[old]
        hours = range(first_of_day, first_of_day + HOURS_PER_DAY)
        day = [self._window(w, current, now) for w in hours]
        ran = range(max(first_of_week, self.first_window), current + 1)  # windows the scheduler has written
        offices = [o.name for o in self.workload.profile.offices]
        return {
            "day": day_start.date().isoformat(),
            "week_start": week_start.date().isoformat(),
            "hours": [window_start(w).isoformat() for w in hours],
            "current_hour": current - first_of_day,
            "offices": [{"name": name,
                         "expected": [round(s.expected[name], 3) for s in day],
                         "jobs": [s.jobs[name] if w in ran else None for w, s in zip(hours, day, strict=True)],
                         "burst": [s.burst[name] for s in day]} for name in offices],
            "money": {"today": money([s.totals for w, s in zip(hours, day, strict=True) if w in ran]),
                      "week": money([self._window(w, current, now).totals for w in ran])},
        }
