"""Back-off as pure functions, shared by delivery's retry schedule and the Gemini enricher's retries.

No clock, no I/O, no global random state: the caller passes a uniform random number in [0, 1), so a
test can pin the jitter and a worker draws it from its own generator.
"""

from __future__ import annotations

# +-20 % around each interval (Svix's JITTER_DELTA), so a burst of failures spreads out.
JITTER = 0.2


def jittered(seconds: float, unit: float) -> float:
    """`seconds` spread by +-JITTER; `unit` is a uniform random number in [0, 1)."""
    return seconds * (1 - JITTER + 2 * JITTER * unit)


def exponential(failures: int, base: float, cap: float, unit: float) -> float:
    """The wait after `failures` failures in a row (0 = the first): `base` doubling each time, jittered,
    and only then capped, so a long outage never waits longer than `cap`."""
    return min(cap, jittered(base * 2.0 ** min(failures, 64), unit))
