"""The 410 pause: a typed record persisted in the queue file's meta, and the deliverer's watch over it.

An endpoint that answers 410 Gone pauses delivery until a person runs `bin/deliverer --resume`, which
may happen in another process while the deliverer runs: a paused deliverer looks for it every
PAUSE_POLL seconds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pipeline.queues import Store, Tx, View

PAUSE_KEY = "delivery_paused"
PAUSE_POLL = 1.0  # how often a paused deliverer looks for `--resume`


@dataclass(frozen=True, slots=True)
class Pause:
    """Why and since when delivery is paused."""

    since: str  # ISO 8601, UTC
    status: int
    payload_id: str

    def to_json(self) -> str:
        """The persisted form."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> Pause | None:
        """The pause a persisted value holds, or None (never paused, lifted, or unreadable)."""
        try:
            value = json.loads(text) if text else None
            return cls(str(value["since"]), int(value["status"]), str(value["payload_id"])) if value else None
        except (ValueError, TypeError, KeyError):
            return None


def read_pause(view: View) -> Pause | None:
    """The persisted pause, or None."""
    return Pause.from_json(view.get_meta(PAUSE_KEY))


def save_pause(tx: Tx, pause: Pause) -> None:
    """Persist a pause within the caller's transaction."""
    tx.set_meta(PAUSE_KEY, pause.to_json())


def lift_pause(store: Store) -> Pause | None:
    """Clear the pause (what `bin/deliverer --resume` does); returns the pause that was lifted, if any."""
    with store.transaction() as tx:
        lifted = Pause.from_json(tx.get_meta(PAUSE_KEY))
        tx.set_meta(PAUSE_KEY, "null")
    return lifted


class PauseWatch:
    """The deliverer's view of the pause: set by a 410 here, lifted by `--resume` from anywhere."""

    def __init__(self, store: View) -> None:
        self._store = store
        self.current = read_pause(store)
        self._next_poll = 0.0

    @property
    def paused(self) -> bool:
        """Whether delivery is paused now."""
        return self.current is not None

    def start(self, pause: Pause) -> bool:
        """Pause (committed by the caller with the outcome that caused it); False if already paused."""
        if self.current is not None:
            return False
        self.current = pause
        return True

    def lifted(self, now: float) -> bool:
        """Look for a `--resume` at most every PAUSE_POLL seconds; True when it lifted the pause just now."""
        if self.current is None or now < self._next_poll:
            return False
        self._next_poll = now + PAUSE_POLL
        self.current = read_pause(self._store)
        return self.current is None
