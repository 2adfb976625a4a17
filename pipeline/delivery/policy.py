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

# +-20 % around each scheduled interval (Svix's JITTER_DELTA), so a burst of failures spreads out.
JITTER = 0.2


class Kind(enum.Enum):
    """What one answer means."""

    DELIVERED = "delivered"
    TRANSIENT = "transient"
    REJECTED = "rejected"
    TOO_LARGE = "too_large"
    GONE = "gone"


class DeadReason(enum.StrEnum):
    """Why a payload became a dead letter (the `reason` of a DeadLetter)."""

    REJECTED = "rejected"  # a non-transient status through the whole schedule
    TOO_LARGE = "too_large"  # 413
    MAX_AGE = "max_age"  # failing transiently for longer than DELIVERY_MAX_AGE
    UNREADABLE = "unreadable"  # a queue row without a payload id: never sent
    UNREADABLE_INTENT = "unreadable_intent"  # an intents row the enricher cannot read: never enriched


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


def jittered(seconds: float, unit: float) -> float:
    """`seconds` spread by +-JITTER; `unit` is a uniform random number in [0, 1)."""
    return seconds * (1 - JITTER + 2 * JITTER * unit)


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
