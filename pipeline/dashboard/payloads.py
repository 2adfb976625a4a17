"""Payloads as the page lists them: the request text beside its extraction and its truth."""

from __future__ import annotations

import json
from typing import Any

from pipeline.enrich.check import DURATION_TOLERANCE
from pipeline.queues import View

# What the page compares side by side (the payload's `job` holds the extraction, `truth` the intent).
FIELDS = ("team", "cost_center", "project", "office", "cloud_region", "job_type", "model_family", "gpu_type",
          "gpu_count", "est_duration_hours", "priority", "spot_ok")
LATEST = 40


def summary(body: dict[str, Any], status: str) -> dict[str, Any]:
    """One payload for the page; `raw` is the whole body for the expandable JSON."""
    truth, job = body.get("truth") or {}, body.get("job") or {}
    cost, request = body.get("cost") or {}, body.get("request") or {}
    return {
        "id": body.get("id"),
        "status": status,
        # Lifecycle events carry a `type`; a plain request is the job being asked for.
        "type": body.get("type") or "job.requested",
        "occurred_at": body.get("occurred_at"),
        "team": truth.get("team") or job.get("team"),
        "job_type": truth.get("job_type"),
        "gpus": f"{truth.get('gpu_count', '?')}x {truth.get('gpu_type', '?')}",
        "estimated_cost": cost.get("estimated_cost"),
        "text": request.get("text", ""),
        "enricher": (body.get("generator") or {}).get("enricher"),
        "fields": [{"name": name, "extracted": job.get(name), "truth": truth.get(name),
                    "match": _agrees(name, job.get(name), truth.get(name))} for name in FIELDS],
        "raw": body,
    }


def _agrees(name: str, extracted: Any, truth: Any) -> bool:
    """Whether an extracted field says what the truth says (a field left out says nothing wrong); durations
    within 20 %, the tolerance the enricher checks extractions with."""
    if extracted is None or extracted == truth:
        return True
    if name == "est_duration_hours" and isinstance(extracted, int | float) and isinstance(truth, int | float):
        return abs(extracted - truth) <= DURATION_TOLERANCE * abs(truth)
    return False


def pending(store: View, waiting: set[int], limit: int = LATEST) -> list[dict[str, Any]]:
    """The newest payloads still in the queue: ready, in flight, or waiting for a retry."""
    out = []
    for row in store.rows("payloads", newest_first=True, limit=limit):
        state = "waiting retry" if row.pqid in waiting else "in flight" if row.in_flight else "ready"
        out.append(summary(_parsed(row.data), state))
    return out


def _parsed(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        return {"id": None, "request": {"text": "(unreadable bytes)"}}
    return body if isinstance(body, dict) else {"id": None, "request": {"text": "(not a JSON object)"}}
