"""The arrival intensity: per team, the office's local hour curve x weekday factor x holidays x bursts.

Within a window the intensity is piecewise constant: local hours change only on quarter hours (every
real UTC offset and DST switch is a multiple of 15 minutes) and bursts start and end at drawn
instants. `window_segments` cuts a window into those pieces, so sampling each piece as a homogeneous
Poisson process is an exact non-homogeneous Poisson process, and the sum of rate x length is the
exact expected count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from pipeline.workload.profile import Profile
from pipeline.workload.timegrid import WINDOW_SECONDS

QUARTER = 900
_QUARTERS = WINDOW_SECONDS // QUARTER


@dataclass(frozen=True)
class Burst:
    """A spell in which some teams submit `factor` times their usual rate (a Cox-process jump)."""

    id: str
    start: float  # epoch seconds
    end: float
    factor: float
    target_kind: str  # "team" or "office"
    target: str
    teams: tuple[tuple[int, int], ...]  # (office index, team index) pairs it raises

    def covers(self, start: float, end: float) -> bool:
        """Whether the burst overlaps [start, end)."""
        return self.start < end and start < self.end


@dataclass(frozen=True)
class Segment:
    """A piece of a window with a constant rate (per second) for one team, base or burst excess."""

    start: float
    end: float
    rate: float
    office: int
    team: int
    burst: Burst | None

    @property
    def expected(self) -> float:
        return self.rate * (self.end - self.start)


class RateModel:
    """The profile's intensity, precomputed into plain tuples for the hot path."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._curves = [profile.normalised_curve(office.curve) for office in profile.offices]
        self._weekday = profile.calendar.weekday_factors
        self._holiday_factor = profile.calendar.holiday_factor
        self._holidays = [frozenset(office.holidays) for office in profile.offices]
        self.team_daily: list[tuple[float, ...]] = [
            tuple(team.headcount * (office.jobs_per_head_per_day or profile.jobs_per_head_per_day)
                  for team in office.teams)
            for office in profile.offices
        ]

    def office_factor(self, office: int, t: float) -> float:
        """Multiplier of a team's daily rate per second at instant `t` (local hour, weekday, holiday)."""
        local = datetime.fromtimestamp(t, self.profile.offices[office].timezone)
        factor = self._curves[office][local.hour] * self._weekday[local.weekday()]
        if local.date() in self._holidays[office]:
            factor *= self._holiday_factor
        return factor / 86400

    def window_segments(self, window: int, bursts: tuple[Burst, ...]) -> list[Segment]:
        """The window cut into constant-rate pieces, in a fixed order (it fixes the draw order)."""
        segments: list[Segment] = []
        for q in range(_QUARTERS):
            q0 = window * WINDOW_SECONDS + q * QUARTER
            q1 = q0 + QUARTER
            factors = [self.office_factor(o, q0) for o in range(len(self.team_daily))]
            for o, dailies in enumerate(self.team_daily):
                segments.extend(Segment(q0, q1, d * factors[o], o, t, None) for t, d in enumerate(dailies))
            for burst in bursts:
                if not burst.covers(q0, q1):
                    continue
                start, end = max(burst.start, q0), min(burst.end, q1)
                excess = burst.factor - 1.0
                segments.extend(
                    Segment(start, end, self.team_daily[o][t] * factors[o] * excess, o, t, burst)
                    for o, t in burst.teams
                )
        return segments

    def mean_daily(self) -> float:
        """Mean base jobs per day over a week (curves have mean 1; holidays left out)."""
        weekday_mean = sum(self._weekday) / 7
        return sum(sum(d) for d in self.team_daily) * weekday_mean

    def mean_burst_excess_per_day(self) -> float:
        """Expected extra jobs per day from bursts, at the targets' average rate."""
        b = self.profile.bursts
        mean, lo, hi = b.mean_span_hours, b.min_span_hours, b.max_span_hours
        # E[min(max(X, lo), hi)] for X ~ Exp(mean): the clamped span the draws use.
        span_hours = lo + mean * (math.exp(-lo / mean) - math.exp(-hi / mean))
        excess = (b.factor_min + b.factor_max) / 2 - 1.0
        weekday_mean = sum(self._weekday) / 7
        heads = [[team.headcount for team in office.teams] for office in self.profile.offices]
        total_heads = sum(sum(h) for h in heads)
        # A team target is drawn by head-count, an office target too: the mean targeted daily rate.
        team_rate = sum(
            h / total_heads * self.team_daily[o][t] for o, hs in enumerate(heads) for t, h in enumerate(hs)
        )
        office_rate = sum(sum(hs) / total_heads * sum(self.team_daily[o]) for o, hs in enumerate(heads))
        target_daily = b.team_share * team_rate + (1 - b.team_share) * office_rate
        return b.per_day * excess * span_hours / 24 * target_daily * weekday_mean
