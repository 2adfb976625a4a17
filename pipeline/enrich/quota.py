"""The quota Gemini is held to: requests and tokens per rolling minute, requests per Pacific day.

Pure bookkeeping on an injected monotonic clock; the caller does the waiting (through `life.sleep`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from pipeline.enrich.stats import QUOTA_TZ

MINUTE = 60.0


class RateLimiter:
    """How long to wait before the next request so that RPM and TPM hold; None when RPD is spent."""

    def __init__(self, rpm: int, rpd: int, tpm: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rpm, self.rpd, self.tpm, self._now = rpm, rpd, tpm, monotonic
        self._sent: deque[tuple[float, int]] = deque()  # (monotonic time, tokens) of the last minute

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now - MINUTE:
            self._sent.popleft()

    def wait_time(self, tokens: int, requests_today: int) -> float | None:
        """Seconds until a request of about `tokens` tokens may go; None if the day's requests are spent."""
        if requests_today >= self.rpd:
            return None
        now = self._now()
        self._prune(now)
        wait = 0.0
        if len(self._sent) >= self.rpm:
            wait = self._sent[-self.rpm][0] + MINUTE - now
        used = sum(t for _, t in self._sent)
        # A request larger than the whole TPM goes alone in an empty minute rather than never.
        if used + tokens > self.tpm and self._sent:
            freed, target = 0, used + tokens - self.tpm
            for sent_at, spent in self._sent:
                freed += spent
                if freed >= target:
                    wait = max(wait, sent_at + MINUTE - now)
                    break
            else:
                wait = max(wait, self._sent[-1][0] + MINUTE - now)
        return max(0.0, wait)

    def record(self, tokens: int) -> None:
        """Count a request just sent (its tokens as reported, or as estimated)."""
        self._sent.append((self._now(), tokens))


def seconds_to_quota_reset(now: datetime) -> float:
    """Seconds from `now` to the next midnight Pacific time, when the daily quota resets."""
    local = now.astimezone(QUOTA_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), QUOTA_TZ)
    return max(1.0, (midnight - local).total_seconds())
