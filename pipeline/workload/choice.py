"""Weighted choices read from profile tables such as `{ slack = 0.45, jira = 0.25 }`."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
MAX_WEIGHT = 1e9  # weights are relative; beyond this a number is a typo (and float sums lose the small ones)


@dataclass(frozen=True)
class Choice(Generic[K]):
    """Keys with non-negative weights; weights need not sum to 1 (they are normalised)."""

    keys: tuple[K, ...]
    cum: tuple[float, ...]

    @classmethod
    def of(cls, weights: Mapping[K, float]) -> Choice[K]:
        """Build from a mapping; raises ValueError on a negative weight or an all-zero table."""
        if not weights:
            raise ValueError("needs at least one entry")
        total, cum = 0.0, []
        for key, weight in weights.items():
            if (not isinstance(weight, int | float) or isinstance(weight, bool) or not math.isfinite(weight)
                    or not 0 <= weight <= MAX_WEIGHT):
                raise ValueError(f"weight of {key!r} must be a number from 0 to {MAX_WEIGHT:g}, not {weight!r}")
            total += float(weight)
            cum.append(total)
        if total <= 0:
            raise ValueError("weights must not all be 0")
        return cls(tuple(weights), tuple(cum))

    def pick(self, rng: random.Random) -> K:
        """One key, drawn with probability proportional to its weight."""
        i = bisect.bisect_right(self.cum, rng.random() * self.cum[-1])
        return self.keys[min(i, len(self.keys) - 1)]  # float rounding can land on the total

    def share(self, key: K) -> float:
        """The normalised weight of `key` (0 if absent)."""
        if key not in self.keys:
            return 0.0
        i = self.keys.index(key)
        return (self.cum[i] - (self.cum[i - 1] if i else 0.0)) / self.cum[-1]

    def shares(self) -> dict[K, float]:
        """Every key with its normalised weight."""
        return {key: self.share(key) for key in self.keys}
