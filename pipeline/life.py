"""What domain code may ask of the worker it runs in: the stop flag, watchdog pings, interruptible sleeps.

`pipeline.workers.runner.Lifecycle` provides it; domain code depends on this protocol instead, so its
imports never run back up to the workers.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Life(Protocol):
    """The running worker's lifecycle, as seen from below."""

    stop: asyncio.Event

    def ping(self) -> None:
        """Feed the systemd watchdog (a long request must not starve it)."""
        ...

    async def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`; False if a stop was requested (the caller abandons its wait)."""
        ...
