"""Delivery figures over the last hour, in bounded memory: per-minute buckets of counts and a
log-scale latency histogram (a Pi delivering thousands a second must not keep every sample)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

BUCKET_S = 60.0
SPAN_S = 3600.0
# Latency bins grow by 10 % from 1 ms: the reported percentiles are within 10 % of the truth.
_BASE_MS, _GROWTH, _BINS = 1.0, 1.1, 120


def _bin(latency_ms: float) -> int:
    if latency_ms <= _BASE_MS:
        return 0
    return min(_BINS - 1, 1 + int(math.log(latency_ms / _BASE_MS, _GROWTH)))


def _upper_ms(index: int) -> float:
    return _BASE_MS * _GROWTH**index


@dataclass(slots=True)
class _Bucket:
    start: float
    attempts: int = 0
    successes: int = 0
    latencies: list[int] = field(default_factory=lambda: [0] * _BINS)


class Window:
    """Attempts, successes and delivery latencies of the last hour (monotonic times)."""

    def __init__(self) -> None:
        self._buckets: deque[_Bucket] = deque()

    def add(self, now: float, *, ok: bool, latency: float) -> None:
        """Record one attempt; the latency of successful ones feeds the percentiles."""
        if not self._buckets or now - self._buckets[-1].start >= BUCKET_S:
            self._buckets.append(_Bucket(now))
        bucket = self._buckets[-1]
        bucket.attempts += 1
        if ok:
            bucket.successes += 1
            bucket.latencies[_bin(latency * 1000)] += 1

    def snapshot(self, now: float) -> dict[str, float | int | None]:
        """attempts, success rate and p50/p95 latency (ms) over the last hour."""
        while self._buckets and now - self._buckets[0].start > SPAN_S:
            self._buckets.popleft()
        attempts = sum(b.attempts for b in self._buckets)
        successes = sum(b.successes for b in self._buckets)
        hist = [sum(b.latencies[i] for b in self._buckets) for i in range(_BINS)]
        return {"attempts_1h": attempts,
                "success_rate_1h": round(successes / attempts, 4) if attempts else None,
                "latency_p50_ms": _percentile(hist, successes, 0.50),
                "latency_p95_ms": _percentile(hist, successes, 0.95)}


def _percentile(hist: list[int], total: int, q: float) -> float | None:
    if total == 0:
        return None
    rank, seen = q * total, 0
    for index, count in enumerate(hist):
        seen += count
        if seen >= rank:
            return round(_upper_ms(index), 2)
    return round(_upper_ms(_BINS - 1), 2)
