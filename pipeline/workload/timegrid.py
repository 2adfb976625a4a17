"""Fixed simulated-time windows, counted from the Unix epoch.

Windows never move with ticks, restarts or the scale factor, so (seed, window, index) names a job
for good (the payload contract: ids).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

WINDOW_SECONDS = 3600
DAY_SECONDS = 86400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_of(t: datetime) -> int:
    """The window that holds instant `t` (naive times are taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    # Whole microseconds, so a time exactly on a boundary belongs to the window it starts.
    micros = (t - _EPOCH) // timedelta(microseconds=1)
    return micros // (WINDOW_SECONDS * 1_000_000)


def window_start(w: int) -> datetime:
    """The first instant of window `w`, in UTC."""
    return _EPOCH + timedelta(seconds=w * WINDOW_SECONDS)


def from_epoch_seconds(t: float) -> datetime:
    """A UTC datetime from epoch seconds, floored to the microsecond so it never leaves its window."""
    return _EPOCH + timedelta(microseconds=int(t * 1_000_000))
