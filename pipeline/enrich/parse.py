"""The extraction: a parser of free request text (ours, Gemini's or a person's) into `JobFields`.

It reads only the text: a field the text does not state stays None. Identifiers (cost centre, region,
project, team, office, model) are read first and blanked out, so that "eval-pipeline" as a project name
does not also read as an evaluation job, nor "CC-1100" as a number of hours.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline.enrich.vocab import GPU_RE, JOB_KEYWORDS, NUMBER_WORDS, PRIORITY_KEYWORDS, gpu_name
from pipeline.models import JobFields

_I = re.IGNORECASE
_NAME = r"([a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*)"
# Words that can stand where a name is expected ("hey team can I...", "our whole team") but are none.
_STOP = {"the", "our", "my", "a", "an", "whole", "entire", "same", "ml", "infra", "this", "that", "your", "main",
         "home", "head", "new", "other", "platform", "data", "gpu", "compute", "local", "can", "i", "we", "here",
         "please", "pls", "need", "needs", "is", "has", "hi", "hey", "and", "for", "to", "of", "on", "in", "with",
         "would", "could", "will", "as", "lead", "members", "budget", "account", "channel", "name", "id"}

_COST_CENTER = re.compile(r"\bCC[- ]?(\d{3,5})\b", _I)
_REGION = re.compile(
    r"\b(?:us|eu|ap|sa|ca|me|af|il)-(?:north|south|east|west|central|northeast|southeast|northwest|southwest)-\d\b", _I
)
_TEAM = (
    re.compile(r"--team[= ]" + _NAME, _I),
    re.compile(r"\bteam *[:=] *" + _NAME, _I),
    re.compile(r"\b(?:the|our|my|from|on|for) +" + _NAME + r" +team\b", _I),
    re.compile(r"(?:^|[,;(]) *" + _NAME + r" +team\b", _I | re.MULTILINE),
    re.compile(r"\bteam +" + _NAME, _I),
)
_PROJECT = (
    re.compile(r"--project[= ]" + _NAME, _I),
    re.compile(r"\bproj(?:ect)? *[:=] *" + _NAME, _I),
    re.compile(r"\bthe +" + _NAME + r" +project\b", _I),
    re.compile(r"\bproject +" + _NAME, _I),
    re.compile(r"^ *\[" + _NAME + r"\]", _I),
)
_OFFICE = (
    re.compile(r"--office[= ]" + _NAME, _I),
    re.compile(r"\boffice *[:=] *" + _NAME, _I),
    re.compile(r"\b(?:the|our|from|in) +" + _NAME + r" +office\b", _I),
)
# Model families: known shapes with the spellings people use ("Llama 3.1 8B", "qwen2.5-14b", "ResNet50"),
# then whatever a flag or "model:" names.
_MODEL_SHAPES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"\bllama[ -]?(\d(?:\.\d)?)[ -](\d+)b\b", _I), lambda m: f"llama-{m[1]}-{m[2]}b"),
    (re.compile(r"\bqwen[ -]?(\d(?:\.\d)?)[ -](\d+)b\b", _I), lambda m: f"qwen{m[1]}-{m[2]}b"),
    (re.compile(r"\b(mistral|gemma|falcon)[ -]?(\d+)b\b", _I), lambda m: f"{m[1].lower()}-{m[2]}b"),
    (re.compile(r"\bwhisper[ -]large[ -]?(v\d)\b", _I), lambda m: f"whisper-large-{m[1].lower()}"),
    (re.compile(r"\bclip[ -]vit[ -]?([lbh])[ -/]?(\d+)\b", _I), lambda m: f"clip-vit-{m[1].lower()}-{m[2]}"),
    (re.compile(r"\bvit[ -]?([lbh])[ -/]?(\d+)\b", _I), lambda m: f"vit-{m[1].lower()}-{m[2]}"),
    (re.compile(r"\bresnet[ -]?(\d+)\b", _I), lambda m: f"resnet-{m[1]}"),
    (re.compile(r"\bbert[ -](base|large)\b", _I), lambda m: f"bert-{m[1].lower()}"),
    (re.compile(r"\btwo[ -]tower(?:[ -]recsys)?\b", _I), lambda m: "two-tower-recsys"),
    (re.compile(r"\bdiffusion[ -]unet\b|\bunet diffusion\b", _I), lambda m: "diffusion-unet"),
    (re.compile(r"\bin[ -]house[ -](lm|multimodal)\b", _I), lambda m: f"in-house-{m[1].lower()}"),
    (re.compile(r"--model[= ]([a-z][\w.-]*)", _I), lambda m: m[1].lower().rstrip(".")),
    (re.compile(r"\bmodel\s*[:=]\s*([a-z][\w.-]*)", _I), lambda m: m[1].lower().rstrip(".")),
)

_NUM_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_COUNT_BEFORE = re.compile(
    r"(?:(?P<num>\d[\d,]*)|(?P<word>" + _NUM_WORD + r")|(?P<pair>a pair of|a couple of)|(?P<one>a single|single|an?))"
    r"\s*(?:x|\u00d7|\*)?\s*(?:more\s+)?(?:of\s+(?:the\s+)?)?$",
    _I,
)
_COUNT_AFTER = re.compile(r"^\s*(?:gpus?\s*)?(?:x|\u00d7|\*)\s*(\d+)\b", _I)
_COUNT_ALONE = (
    re.compile(r"--gpus?[= ](\d+)", _I),
    re.compile(r"\bgpu(?:_count|s)?\s*[:=]\s*(\d+)", _I),
    re.compile(r"\b(\d[\d,]*|" + _NUM_WORD + r")\s+(?:gpus|cards|accelerators)\b", _I),
)
_GRES = re.compile(r"--gres[= ]gpu:([\w-]+):(\d+)", _I)

_UNIT_HOURS = {"m": 1 / 60, "min": 1 / 60, "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60,
               "h": 1, "hr": 1, "hrs": 1, "hour": 1, "hours": 1, "d": 24, "day": 24, "days": 24,
               "week": 168, "weeks": 168}
_DURATION_PHRASES = (
    (re.compile(r"\ba day and a half\b", _I), 36.0),
    (re.compile(r"\ban hour and a half\b", _I), 1.5),
    (re.compile(r"\bhalf a day\b|\bhalf-day\b", _I), 12.0),
    (re.compile(r"\bhalf an hour\b", _I), 0.5),
    (re.compile(r"\b(?:a|one|a full|one full) day\b", _I), 24.0),
    (re.compile(r"\b(?:a|one) week\b", _I), 168.0),
    (re.compile(r"\b(?:an|one) hour\b", _I), 1.0),
    (re.compile(r"\ba couple of hours\b", _I), 2.0),
)
_SLURM_TIME = re.compile(r"--time[= ](?:(\d+)-)?(\d{1,3}):(\d{2})(?::(\d{2}))?", _I)
_HOURS_FLAG = re.compile(r"--(?:hours|duration)[= ](\d+(?:\.\d+)?)(h|m|d)?\b|\bhours\s*[:=]\s*(\d+(?:\.\d+)?)", _I)
_HM = re.compile(
    r"(?<![\w.])(\d+)\s*h(?:ours?|rs?)?\s*(?:and\s+)?(\d+)\s*m(?:in(?:ute)?s?)?\b|(?<![\w.])(\d+)h(\d{2})\b", _I
)
_AMOUNT = re.compile(
    r"(?<![\w.-])(\d+(?:\.\d+)?|" + _NUM_WORD + r")\s*"
    r"(minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week)\b",
    _I,
)
_SPOT_NO = re.compile(
    r"no spot|not on spot|on-demand only|--no-spot|non-preemptible|no preemptible|spot\s*[:=]\s*(?:no|false)"
    r"|can(?:no|')t be preempted|must not be preempted|needs? on-demand|on-demand please", _I,
)
_SPOT_YES = re.compile(
    r"spot(?: instances?| capacity)? (?:is |are )?(?:fine|ok|okay)|--spot\b|preemptible (?:is |are )?(?:fine|ok)"
    r"|spot\s*[:=]\s*(?:yes|true)|can be preempted|happy with spot|use spot|on spot is fine|preemption is fine", _I,
)
_PRIORITY_EXPLICIT = re.compile(r"(?:--priority[= ]|\bprio(?:rity)?\s*[:=]?\s*)(low|normal|high|urgent)\b", _I)
_JOB_FLAG = re.compile(
    r"--job(?:-type)?[= ](evaluation|inference_batch|notebook|fine_tuning|training|pretraining|hyperparameter_sweep)",
    _I,
)


class _Text:
    """The text with spans blanked out once a field has claimed them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: dict[str, tuple[int, int]] = {}  # where each field was read (the phrasebank's slots)

    def take(self, match: re.Match[str], group: int = 0, field: str = "") -> None:
        self.blank(*match.span(group), field=field)

    def blank(self, start: int, end: int, field: str = "") -> None:
        if field:
            self.spans[field] = (start, end)
        self.text = self.text[:start] + " " * (end - start) + self.text[end:]


def _number(token: str) -> int:
    token = token.lower().replace(",", "")
    return NUMBER_WORDS[token] if token in NUMBER_WORDS else int(token)


def _first_name(text: _Text, patterns: tuple[re.Pattern[str], ...], field: str) -> str | None:
    for pattern in patterns:
        for match in pattern.finditer(text.text):
            name = match[1].lower().rstrip(".")
            if name not in _STOP:
                text.take(match, 1, field)
                return name
    return None


def _gpus(text: _Text) -> tuple[str | None, int | None]:
    if m := _GRES.search(text.text):
        gpu = GPU_RE.fullmatch(m[1])
        text.take(m, 0, "gpus_gres")
        return (gpu_name(gpu) if gpu else m[1].upper()), int(m[2])
    gpu_type = count = None
    if gpu := GPU_RE.search(text.text):
        gpu_type = gpu_name(gpu)
        offset = max(0, gpu.start() - 30)
        start, end = gpu.span()
        if m := _COUNT_BEFORE.search(text.text[offset:start]):
            count = (_number(m["num"] or m["word"]) if m["num"] or m["word"] else 2 if m["pair"] else 1)
            start = offset + m.start()
        elif m := _COUNT_AFTER.match(text.text[end:]):
            count = int(m[1])
            end += m.end()
        text.blank(start, end, "gpus" if count is not None else "gpu_type")
    if count is None:
        for pattern in _COUNT_ALONE:
            if m := pattern.search(text.text):
                count = _number(m[1])
                text.take(m, 1, "gpu_count")
                break
    return gpu_type, count


def _hours(text: _Text) -> float | None:
    t = text.text
    if m := _SLURM_TIME.search(t):
        days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
        text.spans["hours_flag"] = m.span()
        return round(days * 24 + hours + minutes / 60 + seconds / 3600, 4)
    if m := _HOURS_FLAG.search(t):
        value = float(m[1] or m[3])
        text.spans["hours_flag"] = m.span()
        return round(value * _UNIT_HOURS.get((m[2] or "h").lower(), 1), 4)
    if m := _HM.search(t):
        h, mins = (m[1], m[2]) if m[1] else (m[3], m[4])
        text.spans["hours"] = m.span()
        return round(int(h) + int(mins) / 60, 4)
    for pattern, phrase_hours in _DURATION_PHRASES:
        if m := pattern.search(t):
            text.spans["hours"] = m.span()
            return phrase_hours
    if m := _AMOUNT.search(t):
        amount = float(m[1]) if m[1][0].isdigit() else float(NUMBER_WORDS[m[1].lower()])
        text.spans["hours"] = m.span()
        return round(amount * _UNIT_HOURS[m[2].lower()], 4)
    return None


def _earliest(text: str, table: tuple[tuple[str, str], ...]) -> tuple[str, tuple[int, int]] | None:
    best: tuple[int, int, str, tuple[int, int]] | None = None
    for rank, (value, pattern) in enumerate(table):
        if (m := re.search(pattern, text, _I)) and (best is None or (m.start(), rank) < best[:2]):
            best = (m.start(), rank, value, m.span())
    return None if best is None else (best[2], best[3])


def _model(text: _Text) -> str | None:
    for pattern, canonical in _MODEL_SHAPES:
        if m := pattern.search(text.text):
            text.take(m, 0, "model")
            return canonical(m)
    return None


def _spot(text: _Text) -> bool | None:
    if m := _SPOT_NO.search(text.text):
        text.spans["spot"] = m.span()
        return False
    if m := _SPOT_YES.search(text.text):
        text.spans["spot"] = m.span()
        return True
    return None


def extract(raw: str) -> JobFields:
    """The fields `raw` states; anything it does not state stays None."""
    return locate(raw)[0]


def locate(raw: str) -> tuple[JobFields, dict[str, tuple[int, int]]]:
    """The fields `raw` states, and the span each fact was read from (keys name the spelling's kind:
    "gpus" for a count with its GPU, "gpus_gres" for a --gres flag, "hours_flag" for --hours/--time...)."""
    text = _Text(raw)
    fields: dict[str, object] = {}
    if m := _COST_CENTER.search(text.text):
        fields["cost_center"] = f"CC-{m[1]}"
        text.take(m, 0, "cost_center")
    if m := _REGION.search(text.text):
        fields["cloud_region"] = m[0].lower()
        text.take(m, 0, "cloud_region")
    fields["project"] = _first_name(text, _PROJECT, "project")
    fields["team"] = _first_name(text, _TEAM, "team")
    fields["office"] = _first_name(text, _OFFICE, "office")
    fields["model_family"] = _model(text)
    fields["gpu_type"], fields["gpu_count"] = _gpus(text)
    fields["est_duration_hours"] = _hours(text)
    fields["spot_ok"] = _spot(text)
    if m := _PRIORITY_EXPLICIT.search(text.text):
        fields["priority"] = m[1].lower()
        text.spans["priority_word"] = m.span(1)
    elif found := _earliest(text.text, PRIORITY_KEYWORDS):
        fields["priority"], text.spans["priority"] = found
    m = _JOB_FLAG.search(text.text)
    job = _earliest(text.text, JOB_KEYWORDS)
    fields["job_type"] = m[1].lower() if m else job[0] if job else None
    return JobFields.model_validate(fields), text.spans
