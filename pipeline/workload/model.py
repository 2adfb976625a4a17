"""`Workload`: the scheduler's one entry point into the workload model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.models import Intent, JobLife
from pipeline.workload.anomalies import AnomalyPlanter
from pipeline.workload.attributes import JobSampler
from pipeline.workload.bursts import BurstSchedule
from pipeline.workload.life import LifeModel
from pipeline.workload.prices import PriceCatalog, load_prices
from pipeline.workload.profile import Profile, load_profile, resized
from pipeline.workload.rate import Burst, RateModel
from pipeline.workload.streams import keyed_random, poisson_points
from pipeline.workload.timegrid import from_epoch_seconds


@dataclass(frozen=True)
class WindowExpectation:
    """Expected arrivals of one window for one office: the base rate and what bursts add."""

    base: float
    burst: float


class Workload:
    """A profile plus a price catalog: a pure function from (seed, window) to that window's jobs."""

    def __init__(self, profile: Profile, prices: PriceCatalog) -> None:
        self.profile = profile
        self.prices = prices
        self._rate = RateModel(profile)
        self._bursts = BurstSchedule(profile)
        self._jobs = JobSampler(profile, prices)
        self.anomalies = AnomalyPlanter(profile, prices)
        self._lives = LifeModel(profile, prices, self.anomalies)

    @classmethod
    def load(cls, profile: Path, prices: Path | None = None, company_size: int | None = None) -> Workload:
        """Read a profile and its price catalog (default: data/prices.toml beside data/profiles/); with
        `company_size`, every team's headcount is scaled to a company of that many engineers."""
        prices = prices if prices is not None else profile.resolve().parent.parent / "prices.toml"
        loaded, catalog = resized(load_profile(profile), company_size), load_prices(prices)
        gpu_types = {g for c in loaded.classes.values() for g in c.gpu_types.keys}
        regions = {r for o in loaded.offices for r in o.cloud_regions.keys}
        gaps = catalog.missing(gpu_types, regions)
        if gaps:
            raise ValueError(f"{prices}: no price for {', '.join(gaps)} used by profile {profile}")
        return cls(loaded, catalog)

    def bursts(self, seed: int, window: int) -> tuple[Burst, ...]:
        """The bursts that raise some rate during window `window`."""
        return self._bursts.touching(seed, window)

    def window_intents(self, seed: int, window: int) -> list[Intent]:
        """Every job arriving in `window`, sorted by occurred_at, each labelled with its planted anomalies."""
        return [intent for intent, _ in self.window_jobs(seed, window)]

    def window_jobs(self, seed: int, window: int) -> list[tuple[Intent, JobLife]]:
        """Every job arriving in `window` with its life, sorted by occurred_at.

        Regular arrivals have index = position among them; duplicate submissions (a planted anomaly)
        come after them as indexes n, n+1, ... so they never move a regular job's id.
        """
        regular = self._arrivals(seed, window)
        duplicates: list[Intent] = []
        for intent in regular:
            copy = self.anomalies.duplicate(seed, intent, len(regular) + len(duplicates))
            if copy is not None:
                duplicates.append(copy)
        jobs = []
        for intent in sorted(regular + duplicates, key=lambda i: (i.occurred_at, i.index)):
            life = self._lives.life(seed, intent)
            jobs.append((intent.model_copy(update={"anomalies": life.anomalies}), life))
        return jobs

    def life(self, seed: int, intent: Intent) -> JobLife:
        """The life of one job (the same as window_jobs gives for it)."""
        return self._lives.life(seed, intent)

    def _arrivals(self, seed: int, window: int) -> list[Intent]:
        """The regular arrivals of `window`, sorted by occurred_at, with index = position."""
        rng = keyed_random(seed, "arrivals", window)
        arrivals = [
            (t, seq, segment)
            for seq, segment in enumerate(self._rate.window_segments(window, self.bursts(seed, window)))
            for t in poisson_points(rng, segment.start, segment.end, segment.rate)
        ]
        arrivals.sort(key=lambda a: (a[0], a[1]))  # the segment order breaks (improbable) exact ties
        return [
            self._jobs.sample(seed, window, index, from_epoch_seconds(t), seg)
            for index, (t, _, seg) in enumerate(arrivals)
        ]

    def window_expected(self, seed: int, window: int) -> dict[str, WindowExpectation]:
        """Expected arrivals per office in `window`, given the burst schedule drawn for `seed`."""
        base = [0.0] * len(self.profile.offices)
        extra = [0.0] * len(self.profile.offices)
        for segment in self._rate.window_segments(window, self.bursts(seed, window)):
            (extra if segment.burst else base)[segment.office] += segment.expected
        return {
            office.name: WindowExpectation(base[o], extra[o]) for o, office in enumerate(self.profile.offices)
        }

    def expected_per_day(self) -> float:
        """Mean jobs per simulated day, bursts included (a week's average; holidays left out)."""
        return self._rate.mean_daily() + self._rate.mean_burst_excess_per_day()


__all__ = ["WindowExpectation", "Workload"]
