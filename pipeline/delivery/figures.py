"""The figures `bin/queue-stats` shows under `delivery`, kept by the deliverer and published to meta.

They are written every FIGURES_EVERY seconds when they changed, at least every HEARTBEAT_EVERY (every
commit is an fsync, and a Pi's SD card wears), and at once after a change people should see soon
(breaker opened or closed, pause, resume).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline.delivery.metrics import Window
from pipeline.delivery.retry_state import Clocks
from pipeline.queues import Store

DELIVERY_KEY = "delivery_stats"  # the meta key queue-stats reads
FIGURES_EVERY = 2.0
HEARTBEAT_EVERY = 30.0
_VOLATILE = ("updated_at", "breaker_open_s")  # change every time; not a reason to write


def iso(moment: datetime) -> str:
    """ISO 8601 with a Z."""
    return moment.isoformat().replace("+00:00", "Z")


class Figures:
    """Last success and error, the last hour's window, and when to publish."""

    def __init__(self, store: Store, wall: Callable[[], datetime]) -> None:
        self._store, self._wall = store, wall
        previous = json.loads(store.get_meta(DELIVERY_KEY) or "{}")
        self.previous_total: int = previous.get("delivered_total", 0)
        self.last_success: str | None = previous.get("last_success_at")
        self.last_error: str | None = previous.get("last_error")
        self.window = Window()
        self._next = 0.0
        self._written: tuple[dict[str, Any], float] | None = None  # (stable figures, monotonic time)

    def answered(self, now: float, *, ok: bool, latency: float) -> None:
        """Count one finished request."""
        self.window.add(now, ok=ok, latency=latency)

    def succeeded(self) -> str:
        """Note a delivery; returns the wall time noted."""
        self.last_success = iso(self._wall())
        return self.last_success

    def failed(self, payload_id: str, error: str) -> None:
        """Note a failed request."""
        self.last_error = f"{iso(self._wall())} {payload_id}: {error}"

    def soon(self) -> None:
        """Publish at the next look (a change people should see)."""
        self._next = 0.0

    def next_retry_at(self, wait: float | None) -> str | None:
        """The wall time of a retry `wait` run-clock seconds away, in whole seconds (it must not change
        from one look to the next while nothing happens)."""
        if wait is None:
            return None
        return iso(datetime.fromtimestamp(round(self._wall().timestamp() + max(0.0, wait)), UTC))

    def publish(self, now: float, figures: dict[str, Any], clocks: Clocks, *, force: bool = False) -> None:
        """Write the figures (and the clocks) if it is time and they changed or need a heartbeat."""
        if now < self._next and not force:
            return
        self._next = now + FIGURES_EVERY
        stable = {k: v for k, v in figures.items() if k not in _VOLATILE}
        if (not force and self._written is not None and self._written[0] == stable
                and now - self._written[1] < HEARTBEAT_EVERY):
            return
        with self._store.transaction() as tx:
            tx.set_meta(DELIVERY_KEY, json.dumps({**figures, "updated_at": iso(self._wall())}))
            clocks.save(tx)
        self._written = (stable, now)

    def due(self, now: float) -> bool:
        """Whether `publish` would look now (the caller builds the figures only then)."""
        return now >= self._next
