"""What the bill is made of: each attempt of each job, as a span of GPU time at one price.

`Piece` is the one shape the bill reads; `pieces_of` turns a job (its request, and its life once the
life model gives one) into pieces. Money is kept in whole units of 1e-4 USD for prices, so every row's
costs are exact products (FOCUS checks ListCost = ListUnitPrice x PricingQuantity to 1e-9).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from pipeline.models import Intent

PRICE_SCALE = 10_000  # prices in the catalog have at most 4 decimals


@dataclass(frozen=True)
class Piece:
    """One attempt of a job: GPUs held from `start` to `end` (epoch seconds) at one price."""

    job_id: str
    attempt: int
    start: int
    end: int
    gpu_type: str
    gpu_count: int
    region: str
    pricing: str  # "on_demand" | "spot"
    list_price: int  # 1e-4 USD per GPU-hour
    price: int  # 1e-4 USD per GPU-hour, as billed before any commitment
    office: str
    team: str
    cost_center: str  # the cost centre billed (a planted anomaly may make it the wrong one)
    tags: str  # FOCUS Tags: a JSON object, keys the job's tags (some may be missing)
    job_type: str

    @property
    def key(self) -> tuple[str, int]:
        return self.job_id, self.attempt


def scaled(price: float) -> int:
    """A catalog price as whole 1e-4 USD."""
    return round(price * PRICE_SCALE)


def tags_json(tags: dict[str, str]) -> str:
    return json.dumps(dict(sorted(tags.items())), separators=(",", ":"))


def pieces_of(intent: Intent) -> list[Piece]:
    """The request's job as one attempt that starts when asked and runs as long as requested.

    Stands in for the job-life model until that lands: the bill reads only `Piece`s.
    """
    start = int(intent.occurred_at.timestamp())
    seconds = max(1, round(timedelta(hours=intent.est_duration_hours).total_seconds()))
    tags = {"team": intent.team, "project": intent.project, "cost_center": intent.cost_center,
            "job_type": intent.job_type}
    return [Piece(
        job_id=intent.id, attempt=1, start=start, end=start + seconds, gpu_type=intent.gpu_type,
        gpu_count=intent.gpu_count, region=intent.cloud_region, pricing=intent.cost.pricing,
        list_price=scaled(intent.cost.gpu_hour_list_price), price=scaled(intent.cost.gpu_hour_price),
        office=intent.office, team=intent.team, cost_center=intent.cost_center, tags=tags_json(tags),
        job_type=intent.job_type,
    )]
