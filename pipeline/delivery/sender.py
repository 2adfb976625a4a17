"""One HTTP attempt: the stored bytes, the Standard Webhooks headers, one shared connection pool."""

from __future__ import annotations

import time

import httpx

from pipeline import __version__
from pipeline.delivery.signing import secret_key, sign
from pipeline.errors import PermanentDeliveryError, TransientDeliveryError

USER_AGENT = f"finops-input-generator/{__version__}"


class HttpSender:
    """POSTs payload bytes; returns on 2xx, raises Transient/PermanentDeliveryError otherwise."""

    def __init__(self, url: str, *, secret: str | None, connect_timeout: float, timeout: float,
                 concurrency: int) -> None:
        self.url = url
        self._key = secret_key(secret) if secret else None
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,  # a redirect is a failure: the payload must reach the configured URL
        )

    def headers(self, payload_id: str, body: bytes) -> dict[str, str]:
        """Headers of one attempt, signed afresh with this attempt's timestamp."""
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": payload_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, payload_id, timestamp, body)
        return headers

    async def send(self, payload_id: str, body: bytes) -> int:
        """One attempt; the status on success."""
        try:
            response = await self._client.post(self.url, content=body, headers=self.headers(payload_id, body))
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= response.status_code < 300:
            return response.status_code
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise TransientDeliveryError("http_error", response.status_code)
        raise PermanentDeliveryError("http_error", response.status_code, response.text[:200])

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
