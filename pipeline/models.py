"""The data that flows through the queues: Intent -> Payload (-> DeadLetter).

`docs/payload.schema.json` is generated from `Payload` (`python -m pipeline.models`);
tests/test_models.py fails when the two drift.
"""

from __future__ import annotations

import enum
import json
import sys
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

JobType = Literal[
    "evaluation", "inference_batch", "notebook", "fine_tuning", "training", "pretraining",
    "hyperparameter_sweep",
]
Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal["slack", "jira", "email", "cli"]
Pricing = Literal["on_demand", "spot"]
SCHEMA_VERSION: Literal[1] = 1
# Every delivered body carries one of these as `type` (WEBHOOK_EVENT_TYPES selects which are sent).
EventType = Literal["job.requested", "job.started", "job.finished", "cost.usage"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# What happened to a job in the end; an attempt can also end "preempted" (spot capacity reclaimed).
Outcome = Literal["completed", "failed", "cancelled", "preempted"]
EndReason = Literal["finished", "error", "user_cancel", "time_limit", "spot_preempted"]
AnomalyKind = Literal[
    "runaway", "idle_notebook", "wrong_cost_center", "missing_tags", "spend_spike",
    "duplicate_submission", "gpu_upgrade",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cost(_Frozen):
    """What the job costs at the price catalog's list price and at the price it runs at."""

    currency: Literal["USD"] = "USD"
    pricing: Pricing
    gpu_hour_list_price: float = Field(description="On-demand list price of one GPU-hour")
    gpu_hour_price: float = Field(description="Price of one GPU-hour as the job runs (spot or on-demand)")
    estimated_list_cost: float
    estimated_cost: float


class Anomaly(_Frozen):
    """A planted anomaly: what a FinOps detector should find, and the evidence it should see."""

    kind: AnomalyKind
    id: str = Field(description="anomaly_<hex>; every job of one spend spike shares the spike's id")
    evidence: dict[str, str | float | int | None]


class Intent(_Frozen):
    """A job request as the scheduler sampled it: the ground truth behind a payload."""

    id: str = Field(description="job_<hex>: derived from (seed, window, index)")
    window: int = Field(description="Index of the fixed simulated-time window the job arrived in")
    index: int = Field(description="Position of the job within its window")
    occurred_at: datetime = Field(description="Simulated time of the request (UTC)")
    office: str
    team: str
    cost_center: str
    project: str
    author: str
    channel: Channel
    cloud_region: str
    job_type: JobType
    model_family: str
    gpu_type: str
    gpu_count: int = Field(ge=1)
    est_duration_hours: float = Field(gt=0)
    priority: Priority
    spot_ok: bool
    cost: Cost
    burst_id: str | None = None
    is_burst: bool = False
    anomalies: tuple[Anomaly, ...] = Field(default=(), description="Planted anomalies of this job (answer key)")


class Attempt(_Frozen):
    """One run of a job on the capacity it got; a preempted spot attempt is followed by another."""

    number: int = Field(ge=1)
    queued_at: datetime = Field(description="When this attempt entered the queue (the request, or the preemption)")
    started_at: datetime
    ended_at: datetime
    outcome: Outcome
    gpu_type: str = Field(description="The GPU type the attempt actually ran on")
    gpu_count: int = Field(ge=1)
    cloud_region: str
    pricing: Pricing
    gpu_hour_list_price: float
    gpu_hour_price: float
    hours: float = Field(description="(ended_at - started_at) in hours")
    gpu_hours: float = Field(description="gpu_count x hours")
    list_cost: float = Field(description="gpu_hours x gpu_hour_list_price")
    billed_cost: float = Field(description="gpu_hours x gpu_hour_price")


class JobLife(_Frozen):
    """What happened to a job: a pure function of (seed, intent, profile, prices)."""

    job_id: str
    requested_at: datetime
    started_at: datetime = Field(description="Start of the first attempt")
    ended_at: datetime = Field(description="End of the last attempt")
    outcome: Outcome
    end_reason: EndReason
    requested_hours: float
    actual_hours: float = Field(description="Sum of the attempts' hours")
    queue_wait_seconds: float = Field(description="First attempt: started_at - requested_at")
    gpu_hours: float
    currency: Literal["USD"] = "USD"
    list_cost: float
    billed_cost: float
    cost_center: str = Field(description="The cost centre the job was billed to")
    tags: dict[str, str] = Field(description="Tags on the billed resource (some may be missing)")
    attempts: tuple[Attempt, ...] = Field(min_length=1)
    anomalies: tuple[Anomaly, ...] = ()


class Request(_Frozen):
    """The natural-language request as a person wrote it."""

    text: str
    channel: Channel
    author: str


class JobFields(_Frozen):
    """The structured extraction of the request text; a field the text does not state is null."""

    team: str | None = None
    cost_center: str | None = None
    project: str | None = None
    office: str | None = None
    cloud_region: str | None = None
    job_type: JobType | None = None
    model_family: str | None = None
    gpu_type: str | None = None
    gpu_count: int | None = None
    est_duration_hours: float | None = None
    priority: Priority | None = None
    spot_ok: bool | None = None


class Generator(_Frozen):
    """Which enricher wrote the text, and what makes the stream reproducible."""

    enricher: Literal["gemini", "phrasebank", "offline"] = Field(
        description="gemini: written by Gemini for this intent; phrasebank: a Gemini text's template filled "
                    "with this intent's facts; offline: the local writer")
    model: str = Field(description="The model that wrote the text (for phrasebank: wrote the template)")
    template: str | None = Field(default=None, description="The phrasebank template's id (phrasebank only)")
    seed: int
    version: str


class Payload(_Frozen):
    """The body of a `job.requested` event: the request as written, its extraction, cost and truth."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["job.requested"] = "job.requested"
    id: str
    job_id: str = Field(description="The job this event is about (for job.requested, equal to id)")
    occurred_at: datetime
    emitted_at: datetime
    request: Request
    job: JobFields
    cost: Cost
    truth: Intent
    generator: Generator

    @model_validator(mode="before")
    @classmethod
    def _job_id_is_the_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "job_id" not in data and "id" in data:
            return {**data, "job_id": data["id"]}
        return data


class EventGenerator(_Frozen):
    """What makes a lifecycle event reproducible."""

    seed: int
    version: str


class EventTruth(_Frozen):
    """The answer key's view of the job: its planted anomalies (empty for most jobs)."""

    anomalies: tuple[Anomaly, ...] = ()


class _JobEvent(_Frozen):
    """What every lifecycle event of a job carries."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: EventType
    id: str
    job_id: str
    occurred_at: datetime
    emitted_at: datetime
    requested_at: datetime
    started_at: datetime
    team: str
    project: str
    job_type: JobType
    cost_center: str = Field(description="The cost centre the job is billed to")
    tags: dict[str, str] = Field(description="Tags on the billed resource (a planted anomaly may drop some)")
    truth: EventTruth
    generator: EventGenerator


class JobStarted(_JobEvent):
    """The body of a `job.started` event: the job's first attempt began to run."""

    type: Literal["job.started"] = "job.started"
    id: str = Field(description="<job_id>.started")
    occurred_at: datetime = Field(description="Simulated time the job started (= started_at)")
    queue_wait_seconds: float
    cloud_region: str
    gpu_type: str = Field(description="The GPU type it actually runs on")
    gpu_count: int
    pricing: Pricing
    gpu_hour_list_price: float
    gpu_hour_price: float


class JobFinished(_JobEvent):
    """The body of a `job.finished` event: how the job ended, what it used and what it cost."""

    type: Literal["job.finished"] = "job.finished"
    id: str = Field(description="<job_id>.finished")
    occurred_at: datetime = Field(description="Simulated time the job ended (= ended_at)")
    outcome: Outcome
    end_reason: EndReason
    ended_at: datetime
    requested_hours: float
    actual_hours: float
    gpu_hours: float = Field(description="Sum over attempts of gpu_count x hours")
    pricing: Pricing = Field(description="Pricing of the last attempt (every attempt has its own)")
    currency: Literal["USD"] = "USD"
    list_cost: float
    billed_cost: float = Field(description="What the bill charges for the job: the sum of BilledCost over its "
                               "FOCUS rows (cost.usage, bin/export); hours a commitment covers are billed 0")
    attempts: tuple[Attempt, ...]


class CostUsage(_Frozen):
    """The body of a `cost.usage` event: the FOCUS 1.2 CostAndUsage rows of one simulated charge hour.

    Sent when the simulated clock passes the hour's end; the rows are exactly those bin/export writes for
    that hour (as in its JSONL format: decimals as numbers, date/times as ISO 8601 UTC text)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["cost.usage"] = "cost.usage"
    id: str = Field(description="usage_<hex>: derived from (seed, charge hour)")
    occurred_at: datetime = Field(description="Simulated end of the charge hour (= charge_period_end)")
    emitted_at: datetime
    focus_version: Literal["1.2"] = "1.2"
    dataset: Literal["CostAndUsage"] = "CostAndUsage"
    charge_period_start: datetime
    charge_period_end: datetime
    rows: tuple[dict[str, str | int | float | None], ...] = Field(
        description="FOCUS rows, one object per row, keyed by column id (x_ columns link rows to job ids)")
    generator: EventGenerator


class DeadReason(enum.StrEnum):
    """Why a payload became a dead letter (the `reason` of a DeadLetter)."""

    REJECTED = "rejected"  # a non-transient status through the whole schedule
    TOO_LARGE = "too_large"  # 413
    MAX_AGE = "max_age"  # failing transiently for longer than DELIVERY_MAX_AGE
    UNREADABLE = "unreadable"  # a queue row without a payload id: never sent
    UNREADABLE_INTENT = "unreadable_intent"  # an intents row the enricher cannot read: never enriched


class DeadLetter(_Frozen):
    """A payload delivery gave up on, kept until replayed or purged by a person."""

    payload_id: str
    body: str = Field(description="The exact payload bytes, as UTF-8 text")
    reason: str
    last_status: int | None
    response_snippet: str = ""
    attempts: int
    first_attempt_at: datetime
    last_attempt_at: datetime
    dead_at: datetime


EVENT_MODELS: dict[str, type[BaseModel]] = {
    "job.requested": Payload, "job.started": JobStarted, "job.finished": JobFinished, "cost.usage": CostUsage,
}


def payload_schema() -> str:
    """The payload's JSON Schema as committed in docs/payload.schema.json."""
    return json.dumps(Payload.model_json_schema(), indent=2, sort_keys=True) + "\n"


def event_schema(event_type: str) -> str:
    """The JSON Schema of one event type as committed in docs/events/<type>.schema.json."""
    return json.dumps(EVENT_MODELS[event_type].model_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1:  # python -m pipeline.models job.started
        sys.stdout.write(event_schema(sys.argv[1]))
    else:
        sys.stdout.write(payload_schema())
