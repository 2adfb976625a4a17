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
from typing import TYPE_CHECKING, Protocol

import structlog

from pipeline.errors import QueueWriteError
from pipeline.workers.sdnotify import Notifier
from pipeline.workers.wake import FolderChanges

if TYPE_CHECKING:
    from pipeline.queues import Store

log = structlog.get_logger()

# Idle polling: persist-queue cannot wake a consumer from another process, so poll, backing off from
# 2 ms to 25 ms while idle. A longer ceiling brought bin/bench's pickup p99 close to its 50 ms target;
# 25 ms keeps a margin for a slower machine at a few dozen cheap reads a second.
# Where the state folder can be watched (workers/wake.py) a write wakes the worker at once, and the poll
# is only a safety net, backing off to POLL_MAX_WATCHED.
POLL_MIN, POLL_MAX, POLL_GROWTH = 0.002, 0.025, 1.5
POLL_MAX_WATCHED = 0.25
STATUS_EVERY = 5.0
# A failed queue write (disk full, read-only) is retried with back-off up to this many seconds apart.
WRITE_RETRY_MAX = 30.0


class WriteBackoff:
    """Back-off over failed queue writes (disk full, read-only): one error line per distinct cause."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.delay = 0.0
        self.cause: str | None = None

    def failed(self, exc: QueueWriteError) -> float:
        """Log the failure if its cause is new; the seconds to wait before the next try."""
        self.delay = min(WRITE_RETRY_MAX, max(0.5, self.delay * 2))
        if exc.cause != self.cause:
            log.error("queue.write_failed", role=self.role, path=str(exc.path), error=exc.cause,
                      retry_max_s=WRITE_RETRY_MAX)
        self.cause = exc.cause
        return self.delay

    def succeeded(self) -> None:
        """A write went through: say so once if writes were failing."""
        if self.cause is not None:
            log.info("queue.write_recovered", role=self.role)
            self.cause, self.delay = None, 0.0


class Worker(Protocol):
    """What the runner drives."""

    role: str
    store: Store  # the queue file it works on: a write to its folder wakes the worker when idle

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
        self._changes: FolderChanges | None = None
        self._idling = False  # the sleep in progress is an idle wait, which a write to the folder also ends
        self._woken = False  # a write to the folder ended the last idle wait

    def request_stop(self) -> None:
        """What the signal handlers call: sets the flag and ends the current sleep."""
        self.stop.set()
        if self._wake is not None:
            _resolve(self._wake)

    def ping(self) -> None:
        """Feed the watchdog, at most as often as it asks for."""
        interval = self.notifier.watchdog_interval
        now = time.monotonic()
        if interval is not None and now - self._last_ping >= min(interval, 1.0):
            self._last_ping = now
            self.notifier.watchdog()

    def watch(self, changes: FolderChanges | None) -> None:
        """Let writes to the state folder end idle waits (None: idle waits are plain sleeps)."""
        self._changes = changes

    def _changed(self) -> None:
        assert self._changes is not None
        self._changes.drain()
        self._woken = True
        if self._wake is not None:
            _resolve(self._wake)

    async def idle(self, seconds: float) -> bool:
        """Wait for work: up to `seconds`, less if the state folder changed; False if a stop was requested.

        The folder is watched only during idle waits, so a busy worker (or the scheduler, which never
        idles) is not woken by every commit of the others; writes made meanwhile are still pending on
        the descriptor, so they end the next idle wait at once.
        """
        self._woken = False
        if self._changes is None:
            return await self.sleep(seconds)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._changes.fd, self._changed)
        self._idling = True
        try:
            return await self.sleep(seconds)
        finally:
            loop.remove_reader(self._changes.fd)
            self._idling = False

    @property
    def woken(self) -> bool:
        """Whether the last idle wait was ended by a write to the state folder."""
        return self._woken

    async def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`; False if a stop was requested (the caller abandons its wait)."""
        # One future and one timer per slice, like asyncio.sleep: the idle poll runs this tens of times a
        # second, and a task per wait (asyncio.wait_for on the stop event) cost twice the CPU.
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self._idling and self._woken):
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
    changes = FolderChanges.open(worker.store.path.parent)
    life.watch(changes)
    poll_max = POLL_MAX if changes is None else POLL_MAX_WATCHED
    life.notifier.ready(worker.status())
    log.info("worker.started", role=worker.role, pid=os.getpid(), drain=drain)
    delay, last_status, steps = POLL_MIN, 0.0, 0
    writes = WriteBackoff(worker.role)
    try:
        while not life.stop.is_set():
            life.ping()
            try:
                did_work = await worker.step()
            except QueueWriteError as exc:
                # Nothing upstream was acknowledged; keep it and try again when space returns.
                await life.sleep(writes.failed(exc))
                continue
            writes.succeeded()
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
            await life.idle(delay)
            # A write is reported as it reaches the WAL, a moment before its commit is visible (the fsync
            # comes after): after a wake, look again soon, backing off from the start.
            delay = POLL_MIN if life.woken else min(poll_max, delay * POLL_GROWTH)
    finally:
        if changes is not None:
            life.watch(None)
            changes.close()
        life.notifier.stopping()
        await worker.close()
        log.info("worker.stopped", role=worker.role, busy_steps=steps, stop_requested=life.stop.is_set())
    return 0
