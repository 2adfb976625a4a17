"""Is the wall clock plausible? A Pi has no real-time clock: until NTP syncs it may read 1970.

The wall clock is implausible when it reads earlier than this build, or earlier than the last write to
the state folder (a clock set back, or a Pi that booted without network). While it is, no worker fixes
SIM_START, stamps or signs a payload or judges an age: it waits (runner.py) and goes on once it is sane.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

# No copy of this program ran before this moment: a clock reading earlier is wrong, not early.
BUILD_FLOOR = datetime(2026, 11, 29, tzinfo=UTC).timestamp()
# A state file written up to this much "in the future" is within ordinary NTP slewing, not a jump.
SLACK_S = 5.0
# The files every commit or heartbeat touches; their modification times are the last write.
_WRITTEN = ("queues.db", "queues.db-wal")


def last_written(state_dir: Path) -> float:
    """The latest modification time (wall clock) of the state folder's files, 0 when none exist."""
    latest = 0.0
    for path in (*(state_dir / name for name in _WRITTEN), *sorted((state_dir / "live").glob("*.json"))):
        try:
            latest = max(latest, path.stat().st_mtime)
        except OSError:
            continue
    return latest


def floor(state_dir: Path) -> float:
    """The earliest plausible wall-clock time for this state folder now."""
    return max(BUILD_FLOOR, last_written(state_dir) - SLACK_S)


def plausible(now: float, state_dir: Path) -> bool:
    """Whether `now` (a wall-clock time) is plausible for this state folder."""
    return now >= floor(state_dir)


def age(now: float, then: float | None) -> float | None:
    """Seconds from `then` to `now`, or None when either side comes from an implausible clock.

    Never negative (a clock set back) and never absurd (a row stamped in 1970 before NTP synced).
    """
    if then is None or now < BUILD_FLOOR or then < BUILD_FLOOR:
        return None
    return max(0.0, now - then)


class ClockGate:
    """What a worker asks before each step: may I use the wall clock now? Looked up at most once a second."""

    def __init__(self, state_dir: Path, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.state_dir, self._wall, self._monotonic = state_dir, wall, monotonic
        self._checked_at: float | None = None
        self._sane = True
        self.floor = BUILD_FLOOR

    def sane(self) -> bool:
        """True when the wall clock is plausible (cached for a second while it is)."""
        now = self._monotonic()
        if self._sane and self._checked_at is not None and now - self._checked_at < 1.0:
            return True
        self._checked_at = now
        self.floor = floor(self.state_dir)
        self._sane = self._wall() >= self.floor
        return self._sane

    def reading(self) -> float:
        """The wall clock now (for the log line that says what it read)."""
        return self._wall()
