"""Phrasebank export and import as JSON Lines: one template per line, each imported line validated whole.

An imported template must carry its own content-derived id, name only known slots, and pass the same
verification a freshly derived template passes (probe fills read back exactly its stated facts), run
against a stand-in intent of its bucket. A bad line is reported and skipped; the good ones are stored
together in one transaction, so no line is ever half-imported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.enrich.template import SLOT_FIELDS, Template, template_id, verify
from pipeline.models import Cost, Intent

_FIELDS = {"id": str, "body": str, "channel": str, "language": str, "job_type": str, "stated": list,
           "model": str, "written_on": str}
_OFFICE_OF_LANGUAGE = {"ja": "japan", "de": "europe", "en-IN": "india", "en": "us-west"}
_COST = Cost(pricing="on_demand", gpu_hour_list_price=1.0, gpu_hour_price=1.0, estimated_list_cost=1.0,
             estimated_cost=1.0)


@dataclass
class ImportResult:
    """The templates that passed and, per bad line number, why it was skipped."""

    templates: list[Template] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)


def stand_in(template: Template) -> Intent:
    """An intent of the template's bucket with ordinary facts, to verify an imported template against."""
    return Intent.model_validate({
        "id": "job_import_check", "window": 0, "index": 0, "occurred_at": datetime(2026, 1, 5, tzinfo=UTC),
        "office": _OFFICE_OF_LANGUAGE.get(template.language, "us-west"), "team": "import-team",
        "cost_center": "CC-4321", "project": "import-project", "author": "Import Check",
        "channel": template.channel, "cloud_region": "us-west-2", "job_type": template.job_type,
        "model_family": "llama-3.1-8b", "gpu_type": "A100-40GB", "gpu_count": 2, "est_duration_hours": 6.0,
        "priority": "high", "spot_ok": True if template.spot is None else template.spot, "cost": _COST})


def _shape_problem(raw: object) -> str | None:
    if not isinstance(raw, dict):
        return "not a JSON object"
    for name, kind in _FIELDS.items():
        if not isinstance(raw.get(name), kind):
            return f"{name}: missing or not a {kind.__name__}"
    if not all(isinstance(s, str) for s in raw["stated"]):
        return "stated: not a list of field names"
    if raw.get("spot") is not None and not isinstance(raw.get("spot"), bool):
        return "spot: not true, false or null"
    unknown = sorted(set(re.findall(r"(?<!\{)\{(\w+)\}", raw["body"])) - set(SLOT_FIELDS))
    return f"body: unknown slot {{{unknown[0]}}}" if unknown else None


def parse_line(line: str) -> Template | str:
    """One line as a template, or why it is not one."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg})"
    if (problem := _shape_problem(raw)) is not None:
        return problem
    try:
        template = Template(raw["id"], raw["body"], raw["channel"], raw["language"], raw["job_type"],
                            tuple(raw["stated"]), raw["model"], raw["written_on"], raw.get("spot"))
        if template_id(template.body, template.bucket, template.spot) != template.id:
            return "id does not match the template's content"
        problem = verify(template, stand_in(template))
    except (ValueError, KeyError, IndexError) as exc:  # an unknown channel or job class, a broken body
        return f"invalid template ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})"
    return f"does not round-trip ({problem})" if problem else template


def read_lines(lines: Iterable[str]) -> ImportResult:
    """Every line validated; blank lines are ignored."""
    out = ImportResult()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        found = parse_line(line)
        if isinstance(found, str):
            out.bad[number] = found
        else:
            out.templates.append(found)
    return out
