"""The file and NATS sinks behind the deliverer's `Sender` protocol (`send(payload_id, body) -> Attempt`).

A destination's lane of the deliverer drives any of them the same way as the webhook sender: an
`Attempt` with status 200 means "this destination has it" (a line fsynced, a JetStream ack); a failure
is an unanswered attempt (status None) that the lane's retry schedule, breaker and dead letters handle.
`RateLimited` wraps any sender with an endpoint's `rate_limit` (requests per second).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal, Protocol

from pipeline.delivery.sender import Attempt
from pipeline.sinks.jsonl import JsonlFiles
from pipeline.sinks.nats import NatsPublisher

DELIVERED = 200  # the status a lane counts as delivered, whatever the sink


class _Send(Protocol):
    async def send(self, payload_id: str, body: bytes) -> Attempt: ...

    async def aclose(self) -> None: ...


class FileSender:
    """Appends each sent body to the JSON Lines files; concurrent sends share one write and one fsync."""

    def __init__(self, directory: Path, *, rotate: Literal["size", "day"], rotate_bytes: int,
                 fsync: Callable[[int], None] | None = None) -> None:
        self._files = JsonlFiles(directory, rotate=rotate, rotate_bytes=rotate_bytes,
                                 **({"fsync": fsync} if fsync else {}))
        self._pending: list[tuple[bytes, asyncio.Future[Attempt]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.writes = 0  # how many fsynced writes served the sends (figures, tests)

    async def send(self, payload_id: str, body: bytes) -> Attempt:
        """Resolves once the body's line is on disk (status 200), or with the write's error (status None)."""
        future: asyncio.Future[Attempt] = asyncio.get_running_loop().create_future()
        self._pending.append((body, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let every send started in this turn of the loop join the group
        while self._pending:
            group, self._pending = self._pending, []
            started = time.monotonic()
            try:
                # The write and fsync block; in a thread so the other destinations' lanes keep running.
                await asyncio.to_thread(self._files.write, [body for body, _ in group])
                self.writes += 1
                result = Attempt(DELIVERED, latency=time.monotonic() - started)
            except OSError as exc:  # disk full, read-only: retried by the lane like an unreachable endpoint
                result = Attempt(None, error=f"{type(exc).__name__}: {exc}"[:200],
                                 latency=time.monotonic() - started)
            for _, future in group:
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        """Finish a write in progress and close the open file."""
        if self._flushing is not None:
            await self._flushing
        self._files.close()


class NatsSender:
    """Publishes each sent body with the NATS publisher; connects on first use and again after a failure."""

    def __init__(self, publisher: NatsPublisher) -> None:
        self._publisher = publisher
        self._connected = False

    async def send(self, payload_id: str, body: bytes) -> Attempt:
        """Status 200 once JetStream acknowledged it (also as a duplicate it already stored)."""
        started = time.monotonic()
        if not self._connected:
            try:
                await self._publisher.connect()
                self._connected = True
            except Exception as exc:  # a server that is down or refuses: the lane retries later
                await self._publisher.close()
                return Attempt(None, error=f"{type(exc).__name__}: {exc}"[:200], latency=time.monotonic() - started)
        (result,) = await self._publisher.publish([body])
        if result.ok:
            return Attempt(DELIVERED, latency=time.monotonic() - started)
        await self._publisher.close()  # start afresh on the next send (the connection may be gone)
        self._connected = False
        return Attempt(None, error=result.error, latency=time.monotonic() - started)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._publisher.close()


class TokenBucket:
    """Requests per second with a burst of one second's worth; pure given its clock."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self._clock = rate, clock
        self._tokens, self._at = max(1.0, rate), clock()

    def delay(self) -> float:
        """Take one token; how long to wait before using it (0 when one is there)."""
        now = self._clock()
        self._tokens = min(max(1.0, self.rate), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class RateLimited:
    """A sender that starts at most `rate` attempts per second (an endpoint's `rate_limit`)."""

    def __init__(self, inner: _Send, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self._inner, self._bucket, self._sleep = inner, TokenBucket(rate, clock), sleep

    async def send(self, payload_id: str, body: bytes) -> Attempt:
        """Wait for a token, then send."""
        wait = self._bucket.delay()
        if wait > 0:
            await self._sleep(wait)
        return await self._inner.send(payload_id, body)

    async def aclose(self) -> None:
        """Close the inner sender."""
        await self._inner.aclose()

