"""Phrasebank templates: a Gemini text with the intent's facts replaced by typed slots, kept only when it
round-trips.

Pure. The parser locates each fact in the text (`parse.locate`); names (team, project, cost centre, region,
office) are replaced wherever they occur. A template is kept only when (1) filling it with the original
spellings gives back the original text, (2) what is left outside the slots states no fact but the job
class, and (3) the parser reads back exactly the stated facts from fills with the original intent and
with two probe intents whose every fact differs (and no trace of the original's names remains).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.enrich.check import contradiction, norm
from pipeline.enrich.parse import locate
from pipeline.enrich.render import (
    PRIORITY_PHRASES,
    SPOT_PHRASES,
    gpu_spelling,
    gpus_phrase,
    hours_phrase,
    model_phrase,
)
from pipeline.enrich.style import language_of
from pipeline.models import Intent, JobFields

# Slot kind -> the JobFields it states.
SLOT_FIELDS: dict[str, tuple[str, ...]] = {
    "gpus": ("gpu_type", "gpu_count"), "gpus_gres": ("gpu_type", "gpu_count"),
    "gpu_type": ("gpu_type",),
    "gpu_count": ("gpu_count",), "hours": ("est_duration_hours",), "hours_flag": ("est_duration_hours",),
    "model": ("model_family",), "model_raw": ("model_family",),
    "priority": ("priority",), "priority_word": ("priority",),
    "spot": ("spot_ok",), "spot_flag": ("spot_ok",), "team": ("team",), "project": ("project",),
    "cost_center": ("cost_center",), "cloud_region": ("cloud_region",), "office": ("office",),
}
NAMES = ("team", "project", "cost_center", "cloud_region", "office")
_SLOT = re.compile(r"\{(\w+)\}")
# Probe facts: every one differs from any real profile's, so a leftover of the original shows.
_PROBE_GPUS = ("H100", "L4", "A100-80GB", "T4")
_PROBE_MODELS = ("mistral-7b", "resnet-50", "whisper-large-v3", "llama-3.1-70b")
_PROBE_REGIONS = ("eu-west-1", "ap-south-1", "us-east-2", "ap-northeast-1")


@dataclass(frozen=True, slots=True)
class Template:
    """One reusable request: `body` with `{slot}`s (literal braces doubled), where it fits, who wrote it."""

    id: str
    body: str
    channel: str
    language: str
    job_type: str
    stated: tuple[str, ...]
    model: str
    written_on: str
    # The spot wish of the text it came from, when stated: the words around it may give reasons ("we can't
    # risk preemption") that only fit the same wish, so it writes only intents with the same one.
    spot: bool | None = None

    @property
    def bucket(self) -> tuple[str, str, str]:
        """What an intent must share with the template to be written from it."""
        return self.channel, self.language, self.job_type


def bucket_of(intent: Intent) -> tuple[str, str, str]:
    """The (channel, language, job class) of an intent: the templates that fit it share all three."""
    return intent.channel, language_of(intent.office), intent.job_type


def template_id(body: str, bucket: tuple[str, str, str], spot: bool | None = None) -> str:
    """Content-derived: the same template derived twice (or imported twice) is stored once."""
    return "t_" + hashlib.sha256("\x1f".join((*bucket, body, str(spot))).encode()).hexdigest()[:16]


def _expand_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


def _whole_phrase(text: str, start: int, end: int, phrases: list[str]) -> tuple[int, int]:
    """Widen a keyword's span to the whole stock phrase around it ("whenever" -> "whenever there's
    capacity"), so a fill replaces all of it; else to whole words."""
    low = text.lower()
    for phrase in sorted(phrases, key=len, reverse=True):
        at = low.find(phrase.lower(), max(0, start - len(phrase)), end + len(phrase))
        if 0 <= at <= start and at + len(phrase) >= end:
            return at, at + len(phrase)
    return _expand_to_words(text, start, end)


_ALL_PRIORITY = [p for group in PRIORITY_PHRASES.values() for p in group]
_ALL_SPOT = [p for group in SPOT_PHRASES.values() for p in group]


def _name_spans(text: str, value: str) -> list[tuple[int, int]]:
    pattern = re.compile(r"(?<![\w-])" + re.escape(value) + r"(?![\w-])", re.IGNORECASE)
    return [m.span() for m in pattern.finditer(text)]


def _widen(text: str, kind: str, start: int, end: int) -> tuple[int, int, str]:
    """A parser span as a slot: the whole stock phrase of a priority or spot wish, a flag kept a flag."""
    if kind == "model" and (m := re.match(r"--model[= ]", text[start:end])):
        return start + m.end(), end, "model_raw"
    if kind == "model" and re.search(r"--model[= ]$", text[:start]):
        return start, end, "model_raw"
    if kind == "priority":
        return (*_whole_phrase(text, start, end, _ALL_PRIORITY), kind)
    if kind == "spot" and text[start:end].startswith("--"):
        return start, end, "spot_flag"
    if kind == "spot":
        return (*_whole_phrase(text, start, end, _ALL_SPOT), kind)
    return start, end, kind


def _slots(intent: Intent, text: str) -> tuple[list[tuple[int, int, str]], JobFields] | str:
    """The slots of `text` (start, end, kind) in order, or why it cannot be templated."""
    fields, spans = locate(text)
    if (wrong := contradiction(intent, fields)) is not None:
        return f"text_contradicts:{wrong}"
    slots = [_widen(text, kind, start, end) for kind, (start, end) in spans.items() if kind not in NAMES]
    for name in NAMES:
        found = _name_spans(text, getattr(intent, name))
        if name in spans and spans[name] not in found:
            found.append(spans[name])
        slots += [(start, end, name) for start, end in found]
    slots.sort()
    for (_, end, _), (start, _, _) in itertools.pairwise(slots):
        if start < end:
            return "overlapping_facts"
    return slots, fields


def derive(intent: Intent, text: str, model: str, written_on: str) -> Template | str:
    """The template of a checked Gemini text, or the reason none could be made from it."""
    found = _slots(intent, text)
    if isinstance(found, str):
        return found
    slots, fields = found
    parts: list[str] = []
    originals: dict[int, str] = {}
    pos = 0
    for n, (start, end, kind) in enumerate(slots):
        parts.append(text[pos:start].replace("{", "{{").replace("}", "}}"))
        parts.append(f"{{{kind}}}")
        originals[n] = text[start:end]
        pos = end
    parts.append(text[pos:].replace("{", "{{").replace("}", "}}"))
    body = "".join(parts)
    if _refill(body, [originals[n] for n in range(len(slots))]) != text:
        return "no_round_trip"
    # What the parser reads: a name slotted where the parser does not see it ("search-ranking here") is
    # replaced all the same (it must not leak into other intents' texts) but not counted as stated.
    stated = {name for name, value in fields.model_dump().items() if value is not None}
    bucket = bucket_of(intent)
    spot = intent.spot_ok if "spot_ok" in stated else None
    template = Template(template_id(body, bucket, spot), body, *bucket, tuple(sorted(stated)), model, written_on,
                        spot)
    return problem if (problem := verify(template, intent)) else template


def _refill(body: str, values: list[str]) -> str:
    """The body with its slots, in order, replaced by `values` (the original spellings)."""
    it = iter(values)
    pieces = re.split(r"(\{\{|\}\}|\{\w+\})", body)
    out = []
    for piece in pieces:
        if piece == "{{":
            out.append("{")
        elif piece == "}}":
            out.append("}")
        elif _SLOT.fullmatch(piece):
            out.append(next(it))
        else:
            out.append(piece)
    return "".join(out)


_APPROX_BEFORE = re.compile(r"(?:~|\babout |\baround |\broughly |\bapprox\. ?)$", re.IGNORECASE)
_APPROX_START = re.compile(r"^(?:~|about |around |roughly )")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n\s*)$")


def fill(template: Template, intent: Intent, rng: random.Random) -> str:
    """The template written for `intent`, its facts spelled in the offline writer's varied styles."""
    values = []
    for match in re.finditer(r"\{\{|\}\}|\{(\w+)\}", template.body):
        if match[1]:
            phrase = _phrase(match[1], intent, rng)
            if match[1] == "hours" and _APPROX_BEFORE.search(template.body[:match.start()]):
                phrase = _APPROX_START.sub("", phrase)  # "~{hours}" with "about 6h" is not "~about 6h"
            if match[1] not in NAMES and _SENTENCE_START.search(template.body[:match.start()]):
                phrase = phrase[:1].upper() + phrase[1:]
            values.append(phrase)
    return _refill(template.body, values)


def _phrase(kind: str, i: Intent, rng: random.Random) -> str:
    phrases: dict[str, Callable[[], str]] = {
        "gpus": lambda: gpus_phrase(i.gpu_count, i.gpu_type, rng),
        "gpus_gres": lambda: f"--gres=gpu:{i.gpu_type.lower()}:{i.gpu_count}",
        "gpu_type": lambda: gpu_spelling(i.gpu_type, rng),
        "gpu_count": lambda: str(i.gpu_count),
        "hours": lambda: hours_phrase(i.est_duration_hours, rng),
        "hours_flag": lambda: f"--hours {i.est_duration_hours:g}",
        "model": lambda: model_phrase(i.model_family, rng),
        "model_raw": lambda: i.model_family,
        "priority": lambda: rng.choice(PRIORITY_PHRASES[i.priority]),
        "priority_word": lambda: i.priority,
        "spot": lambda: rng.choice(SPOT_PHRASES[i.spot_ok]),
        "spot_flag": lambda: "--spot" if i.spot_ok else "--no-spot",
        "team": lambda: i.team, "project": lambda: i.project, "cost_center": lambda: i.cost_center,
        "cloud_region": lambda: i.cloud_region, "office": lambda: i.office,
    }
    return phrases[kind]()


def reads_back(template: Template, intent: Intent, text: str) -> str | None:
    """Why the parser's reading of a fill is not exactly the template's stated facts of `intent`, or None."""
    fields, _ = locate(text)
    if (wrong := contradiction(intent, fields)) is not None:
        return f"contradicts:{wrong}"
    for name, value in fields.model_dump().items():
        if (value is None) == (name in template.stated):
            return f"{'missing' if value is None else 'unstated'}:{name}"
    return None


def _probes(intent: Intent, keep_spot: bool | None = None) -> list[Intent]:
    out = []
    for k in (1, 2):
        def other(options: tuple[str, ...], current: str, k: int = k) -> str:
            return [o for o in options if norm(o) != norm(current)][k - 1]
        hours = intent.est_duration_hours
        out.append(intent.model_copy(update={
            "team": f"probe{k}-team", "project": f"probe{k}-project", "cost_center": f"CC-{9870 + k}",
            "office": f"probe{k}-office", "cloud_region": other(_PROBE_REGIONS, intent.cloud_region),
            "model_family": other(_PROBE_MODELS, intent.model_family), "gpu_type": other(_PROBE_GPUS, intent.gpu_type),
            "gpu_count": 3 if k == 1 and intent.gpu_count != 3 else 24 if intent.gpu_count != 24 else 6,
            "est_duration_hours": 3.5 if k == 1 and not math.isclose(hours, 3.5, rel_tol=0.3) else 40.0
            if not math.isclose(hours, 40.0, rel_tol=0.3) else 0.75,
            "priority": {"low": "urgent", "urgent": "low", "high": "low", "normal": "urgent"}[intent.priority]
            if k == 1 else {"low": "high", "urgent": "high", "high": "urgent", "normal": "low"}[intent.priority],
            "spot_ok": not intent.spot_ok if keep_spot is None else keep_spot,
        }))
    return out


def verify(template: Template, original: Intent) -> str | None:
    """Why the template is not safe to reuse, or None (see the module's docstring)."""
    skeleton = _SLOT.sub(" ", template.body)
    left = locate(skeleton)[0].model_dump()
    # Names are not looked for here: blanking one leaves "the   team get", which reads as team "get";
    # they are replaced wherever they occur and the probe fills below show any that is left.
    extra = [n for n, v in left.items() if v is not None and n not in ("team", "project", "office")
             and not (n == "job_type" and v == original.job_type)]
    if extra:
        return f"facts_outside_slots:{extra[0]}"
    names = [norm(getattr(original, n)) for n in NAMES]
    for k, intent in enumerate([original, original, *_probes(original, template.spot)]):
        text = fill(template, intent, random.Random(k))
        if (problem := reads_back(template, intent, text)) is not None:
            return f"fill_{k}:{problem}"
        if k >= 2 and any(name and name in norm(text) for name in names):
            return "original_name_left"
    return None
