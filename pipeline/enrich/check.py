"""Checking Gemini's answer item by item: valid, for an intent of the batch, once, and true to the intent.

Pure: the text of the answer in, the accepted items and the reason each other intent was refused out.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from pipeline.enrich import Enriched
from pipeline.enrich.parse import extract
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


def norm(value: str) -> str:
    """A name compared without case and separators ("Search Ranking" = "search-ranking" = "search_ranking")."""
    return _SEPARATORS.sub("-", value.strip().lower()).strip("-")


_SEPARATORS = re.compile(r"[\s_\-./:]+")
IDENTIFIERS = ("team", "cost_center", "project", "office", "cloud_region")


def contradiction(intent: Intent, job: JobFields | GeminiItem) -> str | None:
    """The first field whose stated (non-null) value disagrees with the intent, or None."""
    for name in (*IDENTIFIERS, "model_family"):
        value = getattr(job, name)
        if value is not None and norm(value) != norm(getattr(intent, name)):
            return name
    if job.gpu_type is not None and _gpu(job.gpu_type) != _gpu(intent.gpu_type):
        return "gpu_type"
    hours = job.est_duration_hours
    if hours is not None and not math.isclose(hours, intent.est_duration_hours, rel_tol=DURATION_TOLERANCE,
                                              abs_tol=0.1):
        return "est_duration_hours"
    for name in ("gpu_count", "job_type", "priority", "spot_ok"):
        value = getattr(job, name)
        if value is not None and value != getattr(intent, name):
            return name
    return None


def mismatch(intent: Intent, item: GeminiItem, omit: Sequence[str] = ()) -> str | None:
    """Why the item cannot be accepted as this intent's request, or None.

    Every extracted field must agree with the intent; the facts every request states must be there; a
    fact the style hint left out must be null; a name must appear in the text; and the project's own
    parser reading the same text must not contradict the intent (so neither contradicts the extraction).
    """
    for name in ("gpu_type", "gpu_count", "est_duration_hours"):
        if getattr(item, name) is None:
            return f"missing:{name}"
    if (wrong := contradiction(intent, item)) is not None:
        return wrong
    for name in omit:
        if getattr(item, name, None) is not None:
            return f"unstated:{name}"
    text = norm(item.request_text)
    for name in IDENTIFIERS:
        value = getattr(item, name)
        if value is not None and norm(value) not in text:
            return f"unstated:{name}"
    if (wrong := contradiction(intent, extract(item.request_text))) is not None:
        return f"text:{wrong}"
    return None


def _items(text: str | None, *, truncated: bool = False) -> list[object] | None:
    """The answer's items; of a truncated answer (MAX_TOKENS), the items that were completed."""
    raw_text = (text or "").strip()
    try:
        raw = json.loads(raw_text)
    except ValueError:
        return complete_items(raw_text) if truncated else None
    if isinstance(raw, dict) and isinstance(raw.get("items"), list):
        raw = raw["items"]
    return raw if isinstance(raw, list) else None


def complete_items(text: str) -> list[object]:
    """The whole JSON values at the start of a cut-off JSON array ('[{...}, {...}, {"intent_' -> 2 items)."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    items: list[object] = []
    if start < 0:
        return items
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return items
        items.append(value)


def check_answer(intents: Sequence[Intent], text: str | None, finish_reason: str | None, model: str,
                 omit: Mapping[str, Sequence[str]] | None = None) -> Checked:
    """Accept each item that is valid, unique, for this batch and true to its intent; refuse every other.

    A MAX_TOKENS answer keeps its completed items (the rest are refused as `finish_max_tokens`); any other
    finish but STOP (SAFETY, RECITATION, OTHER) refuses the whole batch. `omit`: per intent id, the facts
    its style hint left out, which must be null.
    """
    out = Checked()
    truncated = finish_reason == "MAX_TOKENS"
    if finish_reason not in (None, "STOP") and not truncated:
        out.refused = {i.id: f"finish_{finish_reason.lower()}" for i in intents}
        return out
    items = _items(text, truncated=truncated)
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
        if (wrong := mismatch(intent, item, (omit or {}).get(key, ()))) is not None:
            out.refused[key] = f"inconsistent:{wrong}"
            continue
        out.accepted[key] = _accepted(intent, item, model)
    missing = "finish_max_tokens" if truncated else "missing"
    for intent in intents:
        if intent.id not in out.accepted and intent.id not in out.refused:
            out.refused[intent.id] = missing
    return out


def _accepted(intent: Intent, item: GeminiItem, model: str) -> Enriched:
    """Gemini's extraction, the GPU in the catalog's spelling ("A100 80GB" -> "A100-80GB") as the parser
    gives it; a field Gemini left null that the parser reads in its text (and agrees) is filled in."""
    text = item.request_text.strip()
    fields = {**item.model_dump(exclude={"intent_id", "request_text"}), "gpu_type": _gpu(item.gpu_type)}
    parsed = extract(text).model_dump()
    fields.update({name: value for name, value in parsed.items() if fields.get(name) is None})
    request = Request(text=text, channel=intent.channel, author=intent.author)
    return Enriched(intent, request, JobFields.model_validate(fields), "gemini", model)
