"""Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`, sent as `v1,<base64>`."""

from __future__ import annotations

import base64
import hashlib
import hmac

# A signature whose timestamp is further than this from the receiver's clock is refused (the
# Standard Webhooks libraries' fixed tolerance).
TIMESTAMP_TOLERANCE = 300


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (the base64 part, decoded)."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def well_formed_timestamp(timestamp: str) -> bool:
    """Whole seconds since the epoch in ASCII digits (not "²", not 5,000 digits int() refuses)."""
    return timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12


def verify(key: bytes, msg_id: str, timestamp: str, signatures: str, body: bytes, *, now: float) -> bool:
    """Whether any `v1` entry of a `webhook-signature` header matches and the timestamp is fresh."""
    if not well_formed_timestamp(timestamp) or abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE:
        return False
    expected = sign(key, msg_id, int(timestamp), body).encode()
    return any(
        hmac.compare_digest(expected, entry.encode())
        for entry in signatures.split()
        if entry.startswith("v1,")
    )
