"""What is sent to Gemini for a batch: the instructions, each intent's id and facts, and the answer's schema."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from pipeline.enrich.style import REQUIRED, style_hint
from pipeline.models import Intent, JobType, Priority

# The fake server in the tests reads the intents back from the lines after this marker.
INTENTS_MARKER = "INTENTS (one JSON object per line):"

SYSTEM_INSTRUCTION = """You write realistic GPU job requests as the engineers of a global company would.
For every intent you are given, write the request that person would send on the given channel:
- slack: short, casual chat; jira: a ticket with a summary line; email: a short polite e-mail signed with
  the author's first name; cli: one command line of a GPU request tool with flags.
Each intent lists only the facts its request states, and a style: the tone, the writer's language habits,
and the facts to leave out. Embed every listed fact naturally (do not list them as key: value pairs,
except on the cli); vary units and spellings ("8xH100", "eight H100s", "~6h", "half a day"). Never state
a fact that is not listed and never contradict one; write names (team, project, cost centre, office,
region) exactly as given.
Then extract from YOUR OWN TEXT the structured fields: a field the text does not state is null.
Answer with a JSON array holding exactly one item per intent, each carrying the intent's intent_id."""


class GeminiItem(BaseModel):
    """One intent's answer: its text and the extraction of that text (flat: Gemini's schema subset).

    The extraction fields repeat JobFields' on purpose rather than inheriting them: Gemini writes
    properties in schema order, and the id and the text must come before the fields read from it.
    """

    model_config = ConfigDict(extra="ignore")

    intent_id: str
    request_text: str = Field(min_length=1, max_length=4000)
    team: str | None = None
    cost_center: str | None = None
    project: str | None = None
    office: str | None = None
    cloud_region: str | None = None
    job_type: JobType | None = None
    model_family: str | None = None
    gpu_type: str | None = None
    gpu_count: int | None = Field(default=None, ge=1)
    # `ge`, not `gt`: Gemini's schema subset has no exclusiveMinimum (the SDK rejects it before sending).
    est_duration_hours: float | None = Field(default=None, ge=0.01)
    priority: Priority | None = None
    spot_ok: bool | None = None


_ALWAYS = ("channel", "author", *REQUIRED)


def build_prompt(intents: Sequence[Intent]) -> str:
    """The user turn: one compact JSON line per intent with the facts to state and its style hint."""
    lines = []
    for intent in intents:
        hint = style_hint(intent)
        facts = intent.model_dump(include={*_ALWAYS, *hint.state})
        lines.append(json.dumps({"intent_id": intent.id, **facts, "style": hint.as_prompt()},
                                separators=(",", ":"), ensure_ascii=False))
    return f"Write {len(intents)} requests.\n{INTENTS_MARKER}\n" + "\n".join(lines)


def omitted(intents: Sequence[Intent]) -> dict[str, tuple[str, ...]]:
    """Per intent id, the facts its style hint leaves out (their extraction must be null)."""
    return {intent.id: style_hint(intent).omit for intent in intents}


def max_output_tokens(count: int) -> int:
    """Room for `count` items (~170 tokens each, see plan.py) with headroom, capped by the API."""
    return min(65_536, 300 * count + 200)
