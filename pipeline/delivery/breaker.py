"""The endpoint breaker: one endpoint, one gate in front of every payload's own schedule.

After THRESHOLD transient failures in a row (408/429/5xx or no answer), or UNREACHABLE_THRESHOLD in a row
with no answer at all (refused, reset, timed out: the endpoint is down for every payload, and a single
reset of a stale keep-alive connection should not count as an outage), the breaker opens:
nothing is sent except one probe payload after a back-off that doubles from the schedule's first
interval up to min(its longest interval, PROBE_MAX). A probe's failure costs the probed payload no
attempt, so an outage of any length dead-letters nothing. The first real answer (2xx or a
non-transient status) closes the breaker and delivery resumes at full concurrency.

A Retry-After holds the whole endpoint (in any state): the receiver asked us, not one payload, to wait.
Times are monotonic seconds passed in by the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from pipeline.backoff import jittered

THRESHOLD = 5
UNREACHABLE_THRESHOLD = 2
PROBE_MAX = 300.0


class State(enum.StrEnum):
    """Breaker states as queue-stats shows them."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"  # a probe is in flight


class Gate(enum.Enum):
    """What the breaker allows right now."""

    SEND = "send"
    PROBE = "probe"
    WAIT = "wait"


class Breaker:
    """The endpoint-level back-off (see the module docstring)."""

    def __init__(self, schedule: Sequence[float]) -> None:
        self.base = max(schedule[0], 0.01)
        self.cap = max(self.base, min(max(schedule), PROBE_MAX))
        self.state = State.CLOSED
        self.failures = 0  # transient failures in a row
        self.unreachable = 0  # of which the latest run without any answer
        self.opened_at: float | None = None
        self._backoff = self.base
        self._retry_at = 0.0
        self._hold_until = 0.0

    def gate(self, now: float) -> Gate:
        """Whether a request may start now (a PROBE allows exactly one, then reports back)."""
        if now < self._hold_until:
            return Gate.WAIT
        if self.state is State.CLOSED:
            return Gate.SEND
        if self.state is State.OPEN and now >= self._retry_at:
            return Gate.PROBE
        return Gate.WAIT

    def hold(self, now: float, seconds: float) -> None:
        """Send nothing for `seconds` (a Retry-After)."""
        self._hold_until = max(self._hold_until, now + seconds)

    def probe_started(self) -> None:
        """The single probe is on its way."""
        self.state = State.HALF_OPEN

    def probe_abandoned(self) -> None:
        """The probe was cancelled unanswered (shutdown): the endpoint is as unknown as before it."""
        if self.state is State.HALF_OPEN:
            self.state = State.OPEN

    def answered(self) -> None:
        """The endpoint answered with something other than a transient failure: close."""
        self.state, self.opened_at, self._backoff = State.CLOSED, None, self.base
        self.failures = self.unreachable = 0

    def failed(self, now: float, unit: float, *, probe: bool, answered: bool) -> None:
        """A transient failure (`answered`: with a status); `unit` in [0, 1) jitters the next probe time."""
        self.failures += 1
        self.unreachable = 0 if answered else self.unreachable + 1
        if probe:
            self._backoff = min(self.cap, self._backoff * 2)
            self._reopen(now, unit)
        elif self.state is State.CLOSED and (self.failures >= THRESHOLD or self.unreachable >= UNREACHABLE_THRESHOLD):
            self.opened_at = now
            self._reopen(now, unit)

    def _reopen(self, now: float, unit: float) -> None:
        self.state = State.OPEN
        self._retry_at = now + jittered(self._backoff, unit)

    def open_for(self, now: float) -> float:
        """Seconds the breaker has been open without closing (0 when closed)."""
        return 0.0 if self.opened_at is None else now - self.opened_at
