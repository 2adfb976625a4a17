"""Counter-based random streams: every draw is keyed by (seed, stream name, counters).

Nothing here touches process-global random state or Python's salted `hash()`: a stream is a fresh
`random.Random` seeded from a BLAKE2b digest of its key, so the same key gives the same numbers in
every process, whatever was drawn before.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

# Bumping this changes every stream: do it only together with a note that old seeds now differ.
_STREAM_VERSION = "v1"


def _digest(*parts: object, size: int) -> bytes:
    key = "|".join(str(part) for part in parts).encode()
    return hashlib.blake2b(key, digest_size=size).digest()


def keyed_random(seed: int, name: str, *counters: int) -> random.Random:
    """An independent generator for (seed, name, counters...)."""
    return random.Random(int.from_bytes(_digest(_STREAM_VERSION, seed, name, *counters, size=16), "big"))


def intent_id(seed: int, window: int, index: int) -> str:
    """The job id: "job_" + 20 hex digits derived from (seed, window, index) alone."""
    return "job_" + _digest("intent", seed, window, index, size=10).hex()


def burst_id(seed: int, day: int, index: int) -> str:
    """The id of the `index`-th burst drawn for simulated day `day`."""
    return "burst_" + _digest("burst", seed, day, index, size=6).hex()


def anomaly_id(seed: int, *parts: object) -> str:
    """The id of a planted anomaly, from the seed and what it is attached to (a job, or a team-day)."""
    return "anomaly_" + _digest("anomaly", seed, *parts, size=8).hex()


def poisson_points(rng: random.Random, start: float, end: float, rate: float) -> Iterator[float]:
    """Points of a homogeneous Poisson process of `rate` per second on [start, end).

    Exponential gaps: exact for any rate, and count and times come from one pass.
    """
    if rate <= 0.0 or end <= start:
        return
    t = start + rng.expovariate(rate)
    while t < end:
        yield t
        t += rng.expovariate(rate)
