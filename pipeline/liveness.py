"""Heartbeats: each worker says it is alive, and how fast it works, in `STATE_DIR/live/<role>.json`.

A small file per role, replaced atomically every few seconds (no fsync: it is rewritten constantly and
a lost one only makes the role look stopped for a moment). It lives in a subfolder so that the other
workers, which watch the state folder for queue writes (workers/wake.py), are not woken by it.
Readers (`queue-stats`, its `--check`, the dashboard) call `liveness()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROLES = ("scheduler", "enricher", "deliverer")
LIVE_DIR = "live"
BEAT_EVERY = 5.0  # seconds between heartbeats
# A heartbeat older than this means the loop is stuck (pings feed it during every wait too), so `--check`
# fails within a minute of a worker hanging; a dead pid fails it at once.
STALE_AFTER = 30.0
RATE_WINDOW = 60.0  # rates are over the last minute


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def path_of(state_dir: Path, role: str) -> Path:
    """Where a role's heartbeat lives."""
    return state_dir / LIVE_DIR / f"{role}.json"


class Heartbeat:
    """A worker's own heartbeat file: written at start, every BEAT_EVERY seconds, and at stop."""

    def __init__(self, state_dir: Path, role: str, *, one_shot: bool, processed: Callable[[], int],
                 wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path_of(state_dir, role)
        self._processed, self._wall, self._monotonic = processed, wall, monotonic
        self.record: dict[str, Any] = {"role": role, "pid": os.getpid(), "since": _iso(wall()),
                                       "one_shot": one_shot, "stopped_at": None, "samples": []}
        self.notes: dict[str, Any] = {}
        self._next = 0.0

    def beat(self, *, force: bool = False) -> None:
        """Record that the loop is alive (at most every BEAT_EVERY seconds unless forced)."""
        now = self._monotonic()
        if now < self._next and not force:
            return
        self._next = now + BEAT_EVERY
        wall = self._wall()
        samples = [s for s in self.record["samples"] if wall - s[0] <= RATE_WINDOW + BEAT_EVERY and s[0] <= wall]
        samples.append([round(wall, 3), self._processed()])
        self.record.update(samples=samples, last_heartbeat=_iso(wall), last_heartbeat_ts=round(wall, 3),
                           **self.notes)
        self._write()

    def stopped(self, *, clean: bool) -> None:
        """The worker is exiting: say so, so readers need not wait for the heartbeat to go stale."""
        self.record.update(stopped_at=_iso(self._wall()), clean=clean)
        self.beat(force=True)

    def _write(self) -> None:
        # A full or read-only disk must not stop a worker over its heartbeat: the next one tries again.
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.record), encoding="utf-8")
            os.replace(tmp, self.path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another account
        return True
    return True


def _rate(samples: list[list[float]], now: float) -> float | None:
    """Items per second over the last minute, from (wall time, processed this run) samples."""
    recent = [s for s in samples if now - s[0] <= RATE_WINDOW + BEAT_EVERY]
    if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
        return None
    return max(0.0, (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0]))


def role_state(state_dir: Path, role: str, now: float | None = None,
               alive: Callable[[int], bool] = _pid_alive) -> dict[str, Any]:
    """One role: {running, pid, since, last_heartbeat, rate_per_s, one_shot, problem, ...}."""
    now = time.time() if now is None else now
    out: dict[str, Any] = {"running": False, "pid": None, "since": None, "last_heartbeat": None,
                           "rate_per_s": None, "one_shot": False, "problem": None, "paused": None,
                           "stopped_at": None}
    try:
        record = json.loads(path_of(state_dir, role).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out  # never ran here (or its first heartbeat is being written)
    out.update(pid=record.get("pid"), since=record.get("since"), last_heartbeat=record.get("last_heartbeat"),
               stopped_at=record.get("stopped_at"),
               one_shot=bool(record.get("one_shot")), paused=record.get("paused"),
               waiting_for_clock=bool(record.get("waiting_for_clock")))
    beat_age = max(0.0, now - float(record.get("last_heartbeat_ts") or 0.0))
    if record.get("stopped_at"):
        out["problem"] = f"{role} stopped at {record['stopped_at']}" + ("" if record.get("clean") else
                                                                        " (not cleanly)")
        return out
    if not alive(int(record.get("pid") or 0)):
        out["problem"] = (f"{role} died: pid {record.get('pid')} is gone "
                          f"(last heartbeat {beat_age:.0f} s ago, {record.get('last_heartbeat')})")
        return out
    if beat_age > STALE_AFTER:
        out["problem"] = f"{role} not responding: pid {record.get('pid')}, no heartbeat for {beat_age:.0f} s"
        return out
    out["running"] = True
    out["rate_per_s"] = _rate(record.get("samples") or [], now)
    return out


def liveness(state_dir: Path, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Every role's state: {"scheduler": {running, pid, since, last_heartbeat, ...}, ...}."""
    return {role: role_state(state_dir, role, now) for role in ROLES}


def problems(roles: dict[str, dict[str, Any]]) -> list[str]:
    """Why `--check` fails on liveness: a live role that died, hangs or was stopped.

    A role never started in this folder, or whose last run was one-shot (`--drain`, `--backfill`) and
    ended cleanly, is not expected to run.
    """
    found = []
    for state in roles.values():
        # A one-shot run that ended reports its outcome by its exit code (a --drain paused by a 410 exits 1).
        if state["problem"] is None or (state["one_shot"] and state["stopped_at"] is not None):
            continue
        found.append(state["problem"])
    return found
