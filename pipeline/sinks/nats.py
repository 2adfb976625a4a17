"""The NATS sink's publisher: each event to a JetStream subject, acknowledged by the server, deduplicated by id.

Every body is published to `subject` with `{type}` replaced by the event's type (`finops.job.requested`),
with the payload id (the webhook-id a webhook endpoint would get) as `Nats-Msg-Id`. JetStream drops a
message whose id it has seen within the stream's duplicate window, so a deliverer killed after publishing
but before recording it publishes again harmlessly: the stream holds each event once. A body counts as
delivered only when its publish acknowledgement came back (the server stored it, or says it is a
duplicate of one it stored).

When the stream does not exist the sink creates it (file storage, the subjects of the template, a
duplicate window of DUPLICATE_WINDOW); an existing stream is used as its operator configured it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.destinations import NatsSink

# Longer than any restart of a deliverer is likely to take (the server's default is two minutes): within it
# a republished event is recognised as a duplicate.
DUPLICATE_WINDOW = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Published:
    """What became of one body: stored (duplicate when the server had it already) or a failure to retry."""

    payload_id: str | None
    ok: bool
    duplicate: bool = False
    error: str | None = None


def subject_of(template: str, body: bytes) -> str | None:
    """The subject for a body (its `type`, `job.requested` when it has none), or None if it is not an event."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        return None
    event_type = event.get("type", "job.requested")
    return template.replace("{type}", str(event_type)) if isinstance(event_type, str) else None


def stream_subjects(template: str) -> list[str]:
    """The subjects a created stream listens on: `finops.>` for `finops.{type}` (so new event types fit)."""
    if "{type}" not in template:
        return [template]
    head = template.split("{type}", 1)[0]
    return [head + ">"] if head.endswith(".") else [template.replace("{type}", "*") + ".>"]


class NatsPublisher:
    """One connection to the sink's server; `publish` sends a batch concurrently and waits for every ack."""

    def __init__(self, sink: NatsSink, *, timeout: float = 10.0) -> None:
        self.sink, self.timeout = sink, timeout
        self._nc: Any = None
        self._js: Any = None

    async def connect(self) -> None:
        """Connect and make sure the stream exists; raises OSError-like errors when the server is down."""
        import nats  # the `nats` extra; imported here so the rest of the pipeline never needs it
        from nats.js.api import StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        # A few quick reconnects ride out a blip; past them a publish fails and the caller's retry
        # schedule takes over (unlimited attempts would also make the first connect wait forever).
        self._nc = await nats.connect(servers=[self.sink.url], connect_timeout=self.timeout,
                                      allow_reconnect=True, max_reconnect_attempts=2, reconnect_time_wait=0.5)
        self._js = self._nc.jetstream(timeout=self.timeout)
        try:
            await self._js.stream_info(self.sink.stream)
        except NotFoundError:
            await self._js.add_stream(StreamConfig(
                name=self.sink.stream, subjects=stream_subjects(self.sink.subject),
                storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW))

    async def publish(self, bodies: Sequence[bytes]) -> list[Published]:
        """Publish every body and wait for its acknowledgement; one result per body, in order."""
        return list(await asyncio.gather(*(self._one(body) for body in bodies)))

    async def _one(self, body: bytes) -> Published:
        subject = subject_of(self.sink.subject, body)
        if subject is None:
            return Published(None, ok=False, error="not an event body (no id)")
        payload_id = str(json.loads(body)["id"])
        try:
            ack = await self._js.publish(subject, body, timeout=self.timeout,
                                         headers={"Nats-Msg-Id": payload_id})
        except Exception as exc:  # timeouts, no responders, a lost connection: all retried
            return Published(payload_id, ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
        return Published(payload_id, ok=True, duplicate=bool(getattr(ack, "duplicate", False)))

    async def close(self) -> None:
        """Flush and close the connection."""
        if self._nc is not None:
            try:
                await self._nc.close()
            finally:
                self._nc = self._js = None
