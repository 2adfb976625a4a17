"""Placeholder first model (replaced by the full workload model): a daily curve and a few job classes."""

from __future__ import annotations

import hashlib
import math
import random
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.models import Cost, Intent

WINDOW_SECONDS = 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_of(t: datetime) -> int:
    """The fixed simulated-time window holding `t`."""
    return int((t - _EPOCH).total_seconds() // WINDOW_SECONDS)


def window_start(w: int) -> datetime:
    """Start of window `w` (UTC)."""
    return _EPOCH + timedelta(seconds=w * WINDOW_SECONDS)


def intent_id(seed: int, window: int, index: int) -> str:
    """A stable id from (seed, window, index)."""
    return "job_" + hashlib.sha256(f"{seed}:{window}:{index}".encode()).hexdigest()[:20]


def _rng(seed: int, stream: str, window: int) -> random.Random:
    return random.Random(hashlib.sha256(f"{seed}:{stream}:{window}".encode()).digest())


class Workload:
    """Jobs per window from a daily curve (peak at 15:00 UTC) and weekday factor."""

    def __init__(self, per_day: float) -> None:
        self.per_day = per_day

    @classmethod
    def load(cls, profile: Path, prices: Path | None = None) -> Workload:
        """Read the profile."""
        data = tomllib.loads(profile.read_text())
        return cls(float(data.get("jobs_per_day", 1500)))

    def expected_per_day(self) -> float:
        """Mean jobs per simulated day."""
        return self.per_day

    def _rate(self, start: datetime) -> float:
        hour = start.hour + 0.5
        curve = 1 + 0.8 * math.cos((hour - 15) / 24 * 2 * math.pi)
        weekday = 1.0 if start.weekday() < 5 else 0.35
        return self.per_day / 24 * curve * weekday

    def window_intents(self, seed: int, window: int) -> list[Intent]:
        """Every job of one window, sorted by time."""
        rng = _rng(seed, "arrivals", window)
        start = window_start(window)
        lam, count, p = self._rate(start), 0, 1.0
        threshold = math.exp(-lam)
        while True:  # Knuth's Poisson sampler: fine for the small per-window means here
            p *= rng.random()
            if p <= threshold:
                break
            count += 1
        offsets = sorted(rng.uniform(0, WINDOW_SECONDS) for _ in range(count))
        intents = []
        for index, offset in enumerate(offsets):
            gpus = rng.choice([1, 1, 1, 2, 4, 8, 16])
            hours = round(rng.lognormvariate(math.log(2), 1.0), 2)
            price = 3.0
            intents.append(Intent(
                id=intent_id(seed, window, index), window=window, index=index,
                occurred_at=start + timedelta(seconds=round(offset, 3)),
                office="us-west", team="vision", cost_center="CC-100", project="atlas",
                author="dana", channel=rng.choice(["slack", "jira", "email", "cli"]),
                cloud_region="us-east-1", job_type="training", model_family="llama",
                gpu_type="H100", gpu_count=gpus, est_duration_hours=hours, priority="normal",
                spot_ok=False,
                cost=Cost(pricing="on_demand", gpu_hour_list_price=price, gpu_hour_price=price,
                          estimated_list_cost=round(gpus * hours * price, 2),
                          estimated_cost=round(gpus * hours * price, 2)),
            ))
        return intents
