"""The offline enricher: a request text written from the intent, and a parser that reads it back."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from pipeline.enrich import Enriched
from pipeline.models import Intent, JobFields, Request

MODEL_NAME = "offline-templates-1"

_TEMPLATES = {
    "slack": [
        "hey team, can I get {gpus} for ~{hours} to run {job} of {model} for {project}? {prio}{spot}",
        "{project}: need {gpus}, about {hours}, {job} on {model}. {prio}{spot}",
    ],
    "jira": [
        "[{project}] {job} of {model}: request {gpus} for {hours}. Team {team}, cost centre {cc}. {prio}{spot}",
    ],
    "email": [
        "Hi infra, on behalf of {team} I'd like {gpus} for {hours} to run {job} of {model} "
        "(project {project}, charge {cc}). {prio}{spot} Thanks",
    ],
    "cli": [
        "gpu-request --team {team} --project {project} --gpus {gpus} --hours {hours} --job {job} "
        "--model {model} --priority {priority}{spot_flag}",
    ],
}
_JOB_WORDS = {
    "evaluation": "an evaluation run", "inference_batch": "batch inference", "notebook": "a notebook session",
    "fine_tuning": "fine-tuning", "training": "a training run", "pretraining": "pre-training",
    "hyperparameter_sweep": "a hyperparameter sweep",
}


def render(intent: Intent) -> Request:
    """A request text for `intent`, the same every time for the same intent id."""
    rng = random.Random(hashlib.sha256(intent.id.encode()).digest())
    template = rng.choice(_TEMPLATES[intent.channel])
    hours = f"{intent.est_duration_hours:g}h"
    text = template.format(
        gpus=f"{intent.gpu_count}x {intent.gpu_type}", hours=hours, job=_JOB_WORDS[intent.job_type],
        model=intent.model_family, project=intent.project, team=intent.team, cc=intent.cost_center,
        prio=f"Priority: {intent.priority}.", priority=intent.priority,
        spot=" Spot is fine." if intent.spot_ok else "", spot_flag=" --spot" if intent.spot_ok else "",
    )
    if intent.channel == "cli":
        text = text.replace(f"--job {_JOB_WORDS[intent.job_type]}", f"--job {intent.job_type}")
    return Request(text=text.strip(), channel=intent.channel, author=intent.author)


_GPUS = re.compile(r"(\d+)x ([A-Za-z0-9-]+)|--gpus (\d+)")
_HOURS = re.compile(r"(\d+(?:\.\d+)?)h\b|--hours (\d+(?:\.\d+)?)")
_PRIORITY = re.compile(r"[Pp]riority:? (low|normal|high|urgent)|--priority (low|normal|high|urgent)")


def extract(text: str) -> JobFields:
    """The fields the text states; anything it does not state stays None."""
    fields: dict[str, object] = {}
    if m := _GPUS.search(text):
        fields["gpu_count"] = int(m[1] or m[3])
        if m[2]:
            fields["gpu_type"] = m[2]
    if m := _HOURS.search(text):
        fields["est_duration_hours"] = float(m[1] or m[2])
    if m := _PRIORITY.search(text):
        fields["priority"] = m[1] or m[2]
    for job_type, words in _JOB_WORDS.items():
        if words in text or f"--job {job_type}" in text:
            fields["job_type"] = job_type
    if "Spot is fine" in text or "--spot" in text:
        fields["spot_ok"] = True
    return JobFields.model_validate(fields)


class OfflineEnricher:
    """Writes every text locally: no account, no network."""

    async def enrich(self, intents: Sequence[Intent]) -> list[Enriched]:
        """One text and extraction per intent."""
        out = []
        for intent in intents:
            request = render(intent)
            out.append(Enriched(intent, request, extract(request.text), "offline", MODEL_NAME))
        return out

    async def aclose(self) -> None:
        """Nothing to release."""
