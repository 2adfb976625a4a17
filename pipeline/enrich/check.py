"""Checking Gemini's answer item by item: valid, for an intent of the batch, once, and true to the intent.

Pure: the text of the answer in, the accepted items and the reason each other intent was refused out.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from pipeline.enrich import Enriched
from pipeline.enrich.prompt import GeminiItem
from pipeline.enrich.vocab import GPU_RE, gpu_name
from pipeline.models import Intent, JobFields, Request

# A stated duration may round the intent's ("about 6 hours" for 6.3 h), but not change it.
DURATION_TOLERANCE = 0.2


@dataclass
class Checked:
    """Accepted items by intent id, refused intent ids with the reason, and ids nobody asked for."""

    accepted: dict[str, Enriched] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    extra_ids: list[str] = field(default_factory=list)


def _gpu(value: str | None) -> str | None:
    if value is None:
        return None
    match = GPU_RE.fullmatch(value.strip())
    return gpu_name(match) if match else value.strip().upper()


def mismatch(intent: Intent, item: GeminiItem) -> str | None:
    """The first fact where the extraction contradicts (or omits) the intent, or None."""
    if _gpu(item.gpu_type) != _gpu(intent.gpu_type):
        return "gpu_type"
    if item.gpu_count != intent.gpu_count:
        return "gpu_count"
    hours = item.est_duration_hours
    if hours is None or not math.isclose(hours, intent.est_duration_hours, rel_tol=DURATION_TOLERANCE, abs_tol=0.1):
        return "est_duration_hours"
    if item.priority != intent.priority:
        return "priority"
    if (item.team or "").strip().lower() != intent.team.lower():
        return "team"
    return None


def _items(text: str | None) -> list[object] | None:
    try:
        raw = json.loads(text or "")
    except ValueError:
        return None
    if isinstance(raw, dict) and isinstance(raw.get("items"), list):
        raw = raw["items"]
    return raw if isinstance(raw, list) else None


def check_answer(intents: Sequence[Intent], text: str | None, finish_reason: str | None, model: str) -> Checked:
    """Accept each item that is valid, unique, for this batch and consistent; refuse every other intent."""
    out = Checked()
    if finish_reason not in (None, "STOP"):  # MAX_TOKENS (truncated), SAFETY, RECITATION, OTHER
        out.refused = {i.id: f"finish_{finish_reason.lower()}" for i in intents}
        return out
    items = _items(text)
    if items is None:
        out.refused = {i.id: "invalid_json" for i in intents}
        return out
    by_id = {i.id: i for i in intents}
    ids = Counter(item.get("intent_id") for item in items if isinstance(item, dict))
    for raw in items:
        key = raw.get("intent_id") if isinstance(raw, dict) else None
        if not isinstance(key, str) or key not in by_id:
            out.extra_ids.append(str(key))
            continue
        if ids[key] > 1:
            out.refused[key] = "duplicated"
            continue
        try:
            item = GeminiItem.model_validate(raw)
        except ValidationError as exc:
            out.refused[key] = f"invalid:{exc.errors()[0]['loc'][0]}"
            continue
        intent = by_id[key]
        if (wrong := mismatch(intent, item)) is not None:
            out.refused[key] = f"inconsistent:{wrong}"
            continue
        # The GPU in the catalog's spelling ("A100 80GB" -> "A100-80GB"), as the offline parser gives it.
        job = JobFields.model_validate({**item.model_dump(exclude={"intent_id", "request_text"}),
                                        "gpu_type": _gpu(item.gpu_type)})
        request = Request(text=item.request_text.strip(), channel=intent.channel, author=intent.author)
        out.accepted[key] = Enriched(intent, request, job, "gemini", model)
    for intent in intents:
        if intent.id not in out.accepted and intent.id not in out.refused:
            out.refused[intent.id] = "missing"
    return out
