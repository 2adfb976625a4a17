"""The simulated clock: a pure advance rule plus its checkpoint in the state file.

Simulated time moves only while the scheduler runs: real seconds measured on the monotonic clock, times
the scale factor. The checkpoint (the simulated position and the wall time it was written) is stored in
the same transaction as the intents it covers, so a restart neither repeats nor skips any.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.queues import Tx, View

CLOCK_KEY = "clock"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where the simulated clock stands, and when (wall clock) that was written."""

    sim_now: datetime
    wall_at: float
    scale_factor: float

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps({"sim_now": self.sim_now.isoformat(), "wall_at": self.wall_at,
                           "scale_factor": self.scale_factor})

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse the stored form."""
        raw = json.loads(text)
        return cls(datetime.fromisoformat(raw["sim_now"]), float(raw["wall_at"]), float(raw["scale_factor"]))


def advance(sim_now: datetime, real_seconds: float, scale_factor: float) -> datetime:
    """The simulated time `real_seconds` of running later."""
    return sim_now + timedelta(seconds=max(0.0, real_seconds) * scale_factor)


def load_checkpoint(store: View) -> Checkpoint | None:
    """The stored checkpoint, or None before the scheduler's first tick."""
    text = store.get_meta(CLOCK_KEY)
    return None if text is None else Checkpoint.from_json(text)


def save_checkpoint(tx: Tx, checkpoint: Checkpoint) -> None:
    """Store the checkpoint inside the caller's transaction (with the intents it covers)."""
    tx.set_meta(CLOCK_KEY, checkpoint.to_json())


def rfc3339(moment: datetime) -> str:
    """The one way times are shown: RFC 3339 in UTC with `Z`; whole seconds, or milliseconds when there are any."""
    moment = moment.astimezone(UTC)
    if moment.microsecond == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now() -> datetime:
    """The wall clock, in UTC (only for timestamps people read, never for waits)."""
    return datetime.now(UTC)
