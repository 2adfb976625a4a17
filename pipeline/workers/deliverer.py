"""The deliverer worker: sends payloads concurrently and acks each only after a 2xx."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from pipeline.delivery.sender import HttpSender
from pipeline.errors import PipelineError
from pipeline.queues import Row, Store

log = structlog.get_logger()


@dataclass(slots=True)
class _Waiting:
    row: Row
    payload_id: str
    attempts: int
    due: float  # monotonic


class Deliverer:
    """Keeps up to `concurrency` payloads in flight; a failed one waits on the retry schedule."""

    role = "deliverer"

    def __init__(self, store: Store, sender: HttpSender, *, concurrency: int,
                 schedule: Sequence[float]) -> None:
        self.store, self.sender, self.concurrency, self.schedule = store, sender, concurrency, schedule
        self.delivered = 0
        self._waiting: dict[int, _Waiting] = {}

    def _due(self) -> list[_Waiting]:
        now = time.monotonic()
        return [w for w in self._waiting.values() if w.due <= now][: self.concurrency]

    async def step(self) -> bool:
        """Send one round: due retries first, then new payloads up to the concurrency."""
        batch = self._due()
        room = self.concurrency - len(self._waiting)  # rows held (sending or waiting) stay bounded
        if room > 0:
            for row in self.store.take("payloads", room):
                payload_id = json.loads(row.data)["id"]
                batch.append(self._waiting.setdefault(row.pqid, _Waiting(row, payload_id, 0, 0.0)))
        if not batch:
            return False
        results = await asyncio.gather(*(self.sender.send(w.payload_id, w.row.data) for w in batch),
                                       return_exceptions=True)
        done = []
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, PipelineError):
                    raise result
                item.attempts += 1
                delay = self.schedule[min(item.attempts, len(self.schedule)) - 1]
                item.due = time.monotonic() + delay
                log.warning("delivery.retry_scheduled", payload_id=item.payload_id, attempt=item.attempts,
                            error=str(result), retry_in=delay)
            else:
                done.append(item.row.pqid)
        if done:
            with self.store.transaction() as tx:
                tx.ack("payloads", done)
            for pqid in done:
                del self._waiting[pqid]
            self.delivered += len(done)
        return bool(done)

    def drained(self) -> bool:
        """Nothing queued and nothing waiting for a retry."""
        return not self._waiting and self.store.counts("payloads")["ready"] == 0

    def status(self) -> str:
        """Backlog for systemd's status line."""
        return (f"{self.store.counts('payloads')['ready']} payloads waiting, "
                f"{len(self._waiting)} retrying, {self.delivered} delivered this run")

    async def close(self) -> None:
        """Close the HTTP pool and the store."""
        await self.sender.aclose()
        self.store.close()
