"""The outcome policy as pure functions: classify an answer, decide what happens to the payload.

2xx delivers. 408, 429, 5xx and no answer at all (refused, reset, timeout) are transient: retried on the
schedule, repeating its last interval, until the payload's failing age passes DELIVERY_MAX_AGE. 413
dead-letters at once; 410 pauses the whole endpoint; any other status (3xx, 4xx) goes through the
schedule once and is then dead-lettered.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from pipeline.backoff import jittered
from pipeline.models import DeadReason

__all__ = ["Action", "DeadReason", "Decision", "Kind", "classify", "decide", "jittered", "parse_retry_after",
           "retry_delay"]



class Kind(enum.Enum):
    """What one answer means."""

    DELIVERED = "delivered"
    TRANSIENT = "transient"
    REJECTED = "rejected"
    TOO_LARGE = "too_large"
    GONE = "gone"


def classify(status: int | None) -> Kind:
    """The kind of an answer; None means no answer (connection refused or dropped, timeout)."""
    if status is None or status in (408, 429) or status >= 500:
        return Kind.TRANSIENT
    if 200 <= status < 300:
        return Kind.DELIVERED
    if status == 413:
        return Kind.TOO_LARGE
    if status == 410:
        return Kind.GONE
    return Kind.REJECTED


def retry_delay(attempts: int, schedule: Sequence[float], unit: float) -> float:
    """The wait after the `attempts`-th failed attempt (1-based); the last interval repeats."""
    return jittered(schedule[min(max(attempts, 1), len(schedule)) - 1], unit)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    try:  # delta-seconds; a decimal is accepted too (lenient: some servers send "1.5")
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class Action(enum.Enum):
    """What happens to a payload after an answer."""

    DELIVER = "deliver"
    PAUSE = "pause"  # the whole endpoint pauses; the payload waits untouched
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Decision:
    """An action, with the wait before a retry or the reason of a dead letter."""

    action: Action
    delay: float = 0.0
    reason: DeadReason | None = None


def decide(kind: Kind, *, attempts: int, failing_age: float, schedule: Sequence[float], max_age: float,
           retry_after: float | None, unit: float) -> Decision:
    """The payload's fate after its `attempts`-th attempt, failing for `failing_age` answering seconds."""
    immediate = {Kind.DELIVERED: Decision(Action.DELIVER), Kind.GONE: Decision(Action.PAUSE),
                 Kind.TOO_LARGE: Decision(Action.DEAD, reason=DeadReason.TOO_LARGE)}
    if kind in immediate:
        return immediate[kind]
    delay = retry_delay(attempts, schedule, unit)
    if kind is Kind.REJECTED:
        exhausted = attempts > len(schedule)
        return Decision(Action.DEAD, reason=DeadReason.REJECTED) if exhausted else Decision(Action.RETRY, delay)
    if failing_age >= max_age:
        return Decision(Action.DEAD, reason=DeadReason.MAX_AGE)
    return Decision(Action.RETRY, max(delay, retry_after) if retry_after is not None else delay)
