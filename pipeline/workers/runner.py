"""The thin runner every worker shares: signals set a flag, the loop calls `step()` until told to stop.

A worker is an object with `role`, `async step() -> bool` (True when it did work), `drained()` (nothing
left for `--drain`), `status()` (a short backlog line) and `async close()`. Waits inside a step go through
`Lifecycle.sleep`, which ends at once on SIGTERM/SIGINT and keeps feeding the systemd watchdog.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Protocol

import structlog

from pipeline.errors import QueueWriteError
from pipeline.workers.sdnotify import Notifier

log = structlog.get_logger()

# Idle polling: persist-queue cannot wake a consumer from another process, so poll, backing off from
# 2 ms to 25 ms while idle. bin/bench measured 40 ms as a pickup p99 of 39 ms against the 50 ms target;
# 25 ms keeps a margin for a slower machine at ~40 cheap reads/s (idle CPU ~0.4 % here, target 1 %).
POLL_MIN, POLL_MAX, POLL_GROWTH = 0.002, 0.025, 1.5
STATUS_EVERY = 5.0
# A failed queue write (disk full, read-only) is retried with back-off up to this many seconds apart.
WRITE_RETRY_MAX = 30.0


class Worker(Protocol):
    """What the runner drives."""

    role: str

    async def step(self) -> bool: ...

    def drained(self) -> bool: ...

    def status(self) -> str: ...

    async def close(self) -> None: ...


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Lifecycle:
    """The stop flag, interruptible sleeps and the systemd notifier of one worker process."""

    def __init__(self, notifier: Notifier) -> None:
        self.stop = asyncio.Event()
        self.notifier = notifier
        self._last_ping = 0.0
        self._wake: asyncio.Future[None] | None = None  # the sleep in progress, ended early by a stop

    def request_stop(self) -> None:
        """What the signal handlers call: sets the flag and ends the current sleep."""
        self.stop.set()
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def ping(self) -> None:
        """Feed the watchdog, at most as often as it asks for."""
        interval = self.notifier.watchdog_interval
        now = time.monotonic()
        if interval is not None and now - self._last_ping >= min(interval, 1.0):
            self._last_ping = now
            self.notifier.watchdog()

    async def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`; False if a stop was requested (the caller abandons its wait)."""
        # One future and one timer per slice, like asyncio.sleep: the idle poll runs this tens of times a
        # second, and a task per wait (asyncio.wait_for on the stop event) cost twice the CPU.
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            self.ping()
            self._wake = wake = loop.create_future()
            timer = loop.call_later(min(remaining, 1.0), _resolve, wake)
            try:
                await wake
            finally:
                timer.cancel()
                self._wake = None
        return False


async def run(worker: Worker, life: Lifecycle, *, drain: bool = False) -> int:
    """Drive `worker` until a stop is requested (or, with `drain`, until it has nothing left)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, life.request_stop)
    life.notifier.ready(worker.status())
    log.info("worker.started", role=worker.role, pid=os.getpid(), drain=drain)
    delay, write_delay, last_status, steps = POLL_MIN, 0.0, 0.0, 0
    write_error: str | None = None
    try:
        while not life.stop.is_set():
            life.ping()
            try:
                did_work = await worker.step()
            except QueueWriteError as exc:
                # Nothing upstream was acknowledged; keep it and try again when space returns.
                # One error line per distinct cause, not one per retry.
                write_delay = min(WRITE_RETRY_MAX, max(0.5, write_delay * 2))
                if exc.cause != write_error:
                    log.error("queue.write_failed", role=worker.role, path=str(exc.path), error=exc.cause,
                              retry_max_s=WRITE_RETRY_MAX)
                write_error = exc.cause
                await life.sleep(write_delay)
                continue
            if write_error is not None:
                log.info("queue.write_recovered", role=worker.role)
                write_error, write_delay = None, 0.0
            steps += did_work
            now = time.monotonic()
            if now - last_status >= STATUS_EVERY:
                last_status = now
                life.notifier.status(worker.status())
            if did_work:
                delay = POLL_MIN
                continue
            if drain and worker.drained():
                break
            await life.sleep(delay)
            delay = min(POLL_MAX, delay * POLL_GROWTH)
    finally:
        life.notifier.stopping()
        await worker.close()
        log.info("worker.stopped", role=worker.role, busy_steps=steps, stop_requested=life.stop.is_set())
    return 0
