"""Backpressure: a bound on what waits, so an endpoint outage cannot fill the disk.

Two limits: MAX_BACKLOG items waiting (intents plus payloads, in flight or not, counted in payloads)
and MIN_FREE_DISK bytes left on the state folder's disk (free blocks plus the free pages inside queues.db,
which SQLite reuses but never gives back). At either the scheduler pauses: its simulated
clock stops, so the stream it writes later is the same one, only later. It resumes with hysteresis,
below 90 % of the backlog bound and with 10 % more than the floor free, so it does not flap.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.queues import View

RESUME_BACKLOG = 0.9
RESUME_DISK = 1.1


@dataclass(frozen=True, slots=True)
class Limits:
    """The bound: items waiting, and bytes the disk keeps free (0: no floor)."""

    max_backlog: int
    min_free_disk: int


@dataclass(frozen=True, slots=True)
class Reading:
    """What waits now, and the disk's free bytes."""

    backlog: int
    free_disk: int


def disk_free(folder: Path) -> int:
    """Bytes an unprivileged writer may still use on `folder`'s file system (statvfs f_bavail)."""
    return shutil.disk_usage(folder).free


def reusable_bytes(store: View) -> int:
    """Space freed inside the queue file: reused for new rows but never returned to the disk, so after a
    backlog drains it counts as free space (else a scheduler paused at the floor never resumes)."""
    return store.reusable_bytes()


def backlog(store: View) -> int:
    """Intents and payloads waiting, ready or in flight (each intent becomes one payload)."""
    total = 0
    for queue in ("intents", "payloads"):
        counts = store.counts(queue)
        total += counts.ready + counts.in_flight
    return total


def pause_reason(reading: Reading, limits: Limits, paused: bool) -> str | None:
    """Why the scheduler must (stay) paused, or None. Pure: hysteresis is decided from `paused`."""
    backlog_bound = limits.max_backlog * (RESUME_BACKLOG if paused else 1.0)
    disk_floor = limits.min_free_disk * (RESUME_DISK if paused else 1.0)
    if reading.backlog >= backlog_bound:
        return f"backlog {reading.backlog} >= MAX_BACKLOG {limits.max_backlog}" + (
            f" (resumes below {int(backlog_bound)})" if paused else "")
    if limits.min_free_disk and reading.free_disk < disk_floor:
        return f"free disk {reading.free_disk} bytes < MIN_FREE_DISK {limits.min_free_disk}" + (
            f" (resumes at {int(disk_floor)})" if paused else "")
    return None
