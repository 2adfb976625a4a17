"""The burst schedule: a few spells per simulated day, drawn before the arrivals they affect.

Bursts are drawn per UTC day from the stream (seed, "bursts", day), so the schedule that touches a
window is the same whichever windows were generated before; a window looks back over every day
whose bursts can still be running (max_span_hours).
"""

from __future__ import annotations

import math

from pipeline.workload.choice import Choice
from pipeline.workload.profile import Profile
from pipeline.workload.rate import Burst
from pipeline.workload.streams import burst_id, keyed_random, poisson_points
from pipeline.workload.timegrid import DAY_SECONDS, WINDOW_SECONDS


class BurstSchedule:
    """Draws and caches the bursts of each simulated day."""

    _CACHE_DAYS = 16

    def __init__(self, profile: Profile) -> None:
        self._spec = profile.bursts
        heads = {
            (o, t): team.headcount
            for o, office in enumerate(profile.offices)
            for t, team in enumerate(office.teams)
        }
        self._teams = Choice.of(heads)
        self._offices = Choice.of({o: sum(t.headcount for t in office.teams)
                                   for o, office in enumerate(profile.offices)})
        self._office_names = [office.name for office in profile.offices]
        self._team_names = {(o, t): team.name for o, office in enumerate(profile.offices)
                            for t, team in enumerate(office.teams)}
        self._team_counts = [len(office.teams) for office in profile.offices]
        self._cache: dict[tuple[int, int], tuple[Burst, ...]] = {}

    def day(self, seed: int, day: int) -> tuple[Burst, ...]:
        """The bursts whose onset falls on UTC day `day`, in onset order."""
        key = (seed, day)
        if key not in self._cache:
            if len(self._cache) >= self._CACHE_DAYS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self._draw(seed, day)
        return self._cache[key]

    def _draw(self, seed: int, day: int) -> tuple[Burst, ...]:
        spec = self._spec
        rng = keyed_random(seed, "bursts", day)
        start = day * DAY_SECONDS
        onsets = list(poisson_points(rng, start, start + DAY_SECONDS, spec.per_day / DAY_SECONDS))
        bursts = []
        for k, onset in enumerate(onsets):
            teams: tuple[tuple[int, int], ...]
            if rng.random() < spec.team_share:
                team = self._teams.pick(rng)
                kind, target, teams = "team", self._team_names[team], (team,)
            else:
                o = self._offices.pick(rng)
                kind, target = "office", self._office_names[o]
                teams = tuple((o, t) for t in range(self._team_counts[o]))
            factor = rng.uniform(spec.factor_min, spec.factor_max)
            span = rng.expovariate(1 / spec.mean_span_hours)
            span = min(max(span, spec.min_span_hours), spec.max_span_hours)
            end = onset + span * 3600
            bursts.append(Burst(burst_id(seed, day, k), onset, end, factor, kind, target, teams))
        return tuple(bursts)

    def touching(self, seed: int, window: int) -> tuple[Burst, ...]:
        """Every burst that overlaps window `window` (looking back max_span_hours)."""
        start = window * WINDOW_SECONDS
        end = start + WINDOW_SECONDS
        first_day = math.floor((start - self._spec.max_span_hours * 3600) / DAY_SECONDS)
        last_day = (end - 1) // DAY_SECONDS
        days = range(first_day, last_day + 1)
        return tuple(burst for d in days for burst in self.day(seed, d) if burst.covers(start, end))
