"""One HTTP attempt: the stored bytes, the Standard Webhooks headers, one shared connection pool.

This is the only module that knows the HTTP library (aiohttp: see the commit that chose it for the
measured numbers). It never raises for what the endpoint did: every attempt becomes an `Attempt`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from pipeline import __version__
from pipeline.delivery.signing import secret_key, sign

USER_AGENT = f"finops-input-generator/{__version__}"
SNIPPET_BYTES = 300  # how much of a refusal's body a dead letter keeps


@dataclass(frozen=True, slots=True)
class Attempt:
    """The result of one POST: a status, or an error when nothing was answered."""

    status: int | None
    error: str | None = None
    retry_after: str | None = None
    snippet: str = ""
    latency: float = 0.0


def attempt_headers(key: bytes | None, payload_id: str, body: bytes, now: float) -> dict[str, str]:
    """Headers of one attempt, signed afresh with this attempt's timestamp."""
    timestamp = int(now)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": payload_id,
        "webhook-timestamp": str(timestamp),
    }
    if key is not None:
        headers["webhook-signature"] = sign(key, payload_id, timestamp, body)
    return headers


class HttpSender:
    """POSTs payload bytes to one URL over one pool of `concurrency` connections."""

    def __init__(self, url: str, *, secret: str | None, connect_timeout: float, timeout: float,
                 concurrency: int) -> None:
        self.url = url
        self._key = secret_key(secret) if secret else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout),
        )

    async def send(self, payload_id: str, body: bytes) -> Attempt:
        """One attempt (redirects are not followed: the payload must reach the configured URL)."""
        started = time.monotonic()
        headers = attempt_headers(self._key, payload_id, body, time.time())
        try:
            async with self._session.post(self.url, data=body, headers=headers, allow_redirects=False) as resp:
                snippet = b"" if 200 <= resp.status < 300 else await resp.content.read(SNIPPET_BYTES)
                return Attempt(resp.status, retry_after=resp.headers.get("retry-after"),
                               snippet=snippet.decode(errors="replace"), latency=time.monotonic() - started)
        except Exception as exc:  # any failure of one attempt is an unanswered attempt, never a crash
            detail = str(exc) or "no detail"
            return Attempt(None, error=f"{type(exc).__name__}: {detail}"[:200],
                           latency=time.monotonic() - started)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._session.close()
        await asyncio.sleep(0)  # let aiohttp's transports finish closing before the loop ends
