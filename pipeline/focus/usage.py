"""What the bill is made of: each attempt of each job, as a span of GPU time at one price.

`Piece` is the one shape the bill reads; `pieces_of` turns a job (its request and its life) into
pieces. Prices are kept in whole units of 1e-4 USD, so every row's
costs are exact products (FOCUS checks ListCost = ListUnitPrice x PricingQuantity to 1e-9).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline.models import Intent, JobLife

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


def pieces_of(intent: Intent, life: JobLife) -> list[Piece]:
    """One piece per attempt of the job's life, at the GPU type, region and price it ran on, billed to
    the cost centre and with the tags its life has (planted anomalies included)."""
    tags = tags_json(life.tags)
    return [
        Piece(
            job_id=intent.id, attempt=a.number, start=int(a.started_at.timestamp()),
            end=int(a.ended_at.timestamp()), gpu_type=a.gpu_type, gpu_count=a.gpu_count, region=a.cloud_region,
            pricing=a.pricing, list_price=scaled(a.gpu_hour_list_price), price=scaled(a.gpu_hour_price),
            office=intent.office, team=intent.team, cost_center=life.cost_center, tags=tags,
            job_type=intent.job_type,
        )
        for a in life.attempts
    ]
