"""The data that flows through the queues: Intent -> Payload (-> DeadLetter).

`docs/payload.schema.json` is generated from `Payload` (`python -m pipeline.models`);
tests/test_models.py fails when the two drift.
"""

from __future__ import annotations

import enum
import json
import sys
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobType = Literal[
    "evaluation", "inference_batch", "notebook", "fine_tuning", "training", "pretraining",
    "hyperparameter_sweep",
]
Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal["slack", "jira", "email", "cli"]
Pricing = Literal["on_demand", "spot"]
SCHEMA_VERSION: Literal[1] = 1


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
    """The JSON body of each delivery."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    occurred_at: datetime
    emitted_at: datetime
    request: Request
    job: JobFields
    cost: Cost
    truth: Intent
    generator: Generator


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


def payload_schema() -> str:
    """The payload's JSON Schema as committed in docs/payload.schema.json."""
    return json.dumps(Payload.model_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(payload_schema())
