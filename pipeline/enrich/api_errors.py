"""Reading Gemini's error answers: what is definitive (a rejected key, an unknown model) and what passes."""

from __future__ import annotations

import json
from typing import Any

from google.genai import errors


class Unavailable(Exception):
    """A request failed in a way that may pass: wait `delay` seconds (`permanent`: retrying will not help)."""

    def __init__(self, reason: str, delay: float, *, permanent: bool = False, daily: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.delay, self.permanent, self.daily = reason, delay, permanent, daily


def _details(exc: errors.APIError) -> list[dict[str, Any]]:
    body = exc.details if isinstance(exc.details, dict) else {}
    found = body.get("error", {}).get("details", []) or []
    return [d for d in found if isinstance(d, dict)]


def retry_delay(exc: errors.APIError) -> float | None:
    """The server's RetryInfo delay of a 429 ("53s"), if it gave one."""
    for detail in _details(exc):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            try:
                return float(str(detail.get("retryDelay", "")).rstrip("s"))
            except ValueError:
                return None
    return None


def is_daily_quota(exc: errors.APIError) -> bool:
    """Whether a 429 says the per-day quota is spent (QuotaFailure with a PerDay quota id)."""
    return "PerDay" in json.dumps(exc.details) if exc.details else False


def error_reason(exc: errors.APIError) -> str | None:
    """The ErrorInfo reason of an error answer (API_KEY_INVALID, ...), if any."""
    for detail in _details(exc):
        if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo") and detail.get("reason"):
            return str(detail["reason"])
    return None


def key_rejected(exc: errors.APIError) -> str | None:
    """Why the API rejected the key for good, or None: 400 API_KEY_INVALID (what the real API answers to a
    bad key), or 401/403 (a key without access). The reason is the API's, never the key itself."""
    reason = error_reason(exc)
    if exc.code == 400 and reason and reason.startswith("API_KEY"):
        return reason
    if exc.code in (401, 403):
        return reason or str(exc.status or exc.code)
    return None


def one_line(message: object, secret: str) -> str:
    """An API message fit for a log line or an exit line: one line, short, the key masked if echoed."""
    text = " ".join(str(message or "").split())[:200]
    return text.replace(secret, "***") if secret else text
