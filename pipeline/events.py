"""Lifecycle events (job.started, job.finished) built from a job's life, and which event types are sent.

Pure functions: the scheduler orders and stores what these build, the enricher passes the bodies through
unchanged, the deliverer asks `selected` whether to send one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from pipeline import __version__
from pipeline.models import (
    EVENT_MODELS,
    EVENT_TYPES,
    EventGenerator,
    EventTruth,
    Intent,
    JobFinished,
    JobLife,
    JobStarted,
)

# Within one instant a job's events keep their natural order.
# A charge hour's cost.usage comes after the job events of the instant it ends.
RANK = {"job.requested": 0, "job.started": 1, "job.finished": 2, "cost.usage": 3}


@dataclass(frozen=True, slots=True)
class Timed:
    """An event body and where it sorts in the stream: (simulated time, rank, id)."""

    key: str
    at: str
    body: BaseModel


def stamp(moment: datetime) -> str:
    """A fixed-width UTC text of an instant that sorts like the instant (microseconds kept)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def order_key(moment: datetime, event_type: str, event_id: str) -> str:
    """The stream order: time, then requested < started < finished, then id."""
    return f"{stamp(moment)}|{RANK.get(event_type, 9)}|{event_id}"


def lifecycle_events(intent: Intent, life: JobLife, seed: int, emitted_at: datetime,
                     billed_cost: float | None = None) -> list[Timed]:
    """The job.started and job.finished events of one job, at their simulated times.

    `billed_cost`: what the bill charges for the job (pipeline/focus: hours a commitment covers are billed
    0); the life's own price x hours when not given."""
    generator = EventGenerator(seed=seed, version=__version__)
    truth = EventTruth(anomalies=life.anomalies)
    first, last = life.attempts[0], life.attempts[-1]
    common = {"job_id": intent.id, "emitted_at": emitted_at, "requested_at": life.requested_at,
              "started_at": life.started_at, "team": intent.team, "project": intent.project,
              "job_type": intent.job_type, "cost_center": life.cost_center, "tags": life.tags,
              "truth": truth, "generator": generator}
    started = JobStarted(
        id=f"{intent.id}.started", occurred_at=life.started_at, queue_wait_seconds=life.queue_wait_seconds,
        cloud_region=first.cloud_region, gpu_type=first.gpu_type, gpu_count=first.gpu_count,
        pricing=first.pricing, gpu_hour_list_price=first.gpu_hour_list_price,
        gpu_hour_price=first.gpu_hour_price, **common)
    finished = JobFinished(
        id=f"{intent.id}.finished", occurred_at=life.ended_at, outcome=life.outcome, end_reason=life.end_reason,
        ended_at=life.ended_at, requested_hours=life.requested_hours, actual_hours=life.actual_hours,
        gpu_hours=life.gpu_hours, pricing=last.pricing, list_cost=life.list_cost,
        billed_cost=life.billed_cost if billed_cost is None else billed_cost,
        attempts=life.attempts, **common)
    return [Timed(order_key(e.occurred_at, e.type, e.id), stamp(e.occurred_at), e) for e in (started, finished)]


def event_type(body: bytes) -> str | None:
    """The `type` of a stored body; a request payload written before types existed is job.requested.

    None when the body is not a JSON object.
    """
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    value = doc.get("type", "job.requested")
    return value if isinstance(value, str) else None


def is_lifecycle(body: bytes) -> bool:
    """Whether a row of the intents queue is a finished event body (passed through) rather than an Intent."""
    return event_type(body) in ("job.started", "job.finished", "cost.usage")


def in_row_order(rows: Sequence[bytes], built: dict[str, bytes]) -> list[bytes]:
    """The enricher's output in its input's order (`rows`: the stored bytes): each row's lifecycle event as
    it is, or the payload built for the row's intent (keyed by job id). Rows without either (unreadable
    intents) are skipped."""
    bodies: list[bytes] = []
    for data in rows:
        if is_lifecycle(data):
            bodies.append(data)
            continue
        try:
            job_id = json.loads(data).get("id")
        except (ValueError, AttributeError):
            continue
        if job_id in built:
            bodies.append(built.pop(job_id))
    return bodies + list(built.values())  # nothing is dropped, even if a writer renamed an id


def parse_event_types(value: object) -> tuple[str, ...]:
    """WEBHOOK_EVENT_TYPES: comma-separated names, `all` or empty for every type; ValueError on an unknown one."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("comma-separated event types such as job.requested,job.finished")
    names = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    if not names or names == ("all",):
        return EVENT_TYPES
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"event types from {', '.join(EVENT_TYPES)} (or all); unknown: {', '.join(unknown)}")
    return names


def selected(body: bytes, types: tuple[str, ...]) -> bool:
    """Whether the deliverer sends this body: its type is selected (an unreadable body is always 'sent',
    so the deliverer's own handling dead-letters it rather than dropping it silently)."""
    kind = event_type(body)
    return kind is None or kind in types


def job_key(payload_id: str) -> str:
    """The job a payload id belongs to: `job_x`, `job_x.started` and `job_x.finished` share `job_x`."""
    return payload_id.split(".", 1)[0]


__all__ = [
    "EVENT_MODELS", "Timed", "event_type", "in_row_order", "is_lifecycle", "job_key", "lifecycle_events", "order_key",
    "parse_event_types", "selected", "stamp",
]
