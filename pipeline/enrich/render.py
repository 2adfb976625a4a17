"""The offline writer: a request text in a person's voice, drawn from the intent id (same text every time).

Each channel has its own voices; facts are phrased in many ways ("8xH100", "eight H100s", "~6h", "half a
day"); a team or an office colours the greeting; some optional facts are left out, and those are then
null in the extraction. Typos touch filler words only, never a fact.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from pipeline.enrich.vocab import WORD_OF
from pipeline.models import Intent, Request

_VOWEL_SOUND = tuple("AEFHILMNORSX")


@dataclass(frozen=True, slots=True)
class Rendered:
    """The request and the names of the `JobFields` its text states."""

    request: Request
    stated: frozenset[str]
    voice: int = 0  # which of the channel's voices wrote it (style hints give Gemini the same draw)


def gpu_spelling(gpu: str, rng: random.Random) -> str:
    if gpu.startswith("A100-") and rng.random() < 0.5:
        size = gpu.split("-")[1]
        gpu = rng.choice([f"A100 {size}", f"A100 ({size})", f"A100-{size[:-1]}"])
    return gpu.lower() if rng.random() < 0.2 else gpu


def gpus_phrase(count: int, gpu: str, rng: random.Random) -> str:
    name = gpu_spelling(gpu, rng)
    if count == 1:
        article = "an" if name[0].upper() in _VOWEL_SOUND else "a"
        return rng.choice([f"{article} {name}", f"a single {name}", f"one {name}", f"1x {name}"])
    plural = f"{name}s" if not name.endswith(")") else name
    options = [f"{count}x{name}", f"{count}x {name}", f"{count} {plural}", f"{name} x{count}",
               f"{count} GPUs ({name})"]
    if count in WORD_OF:
        options += [f"{WORD_OF[count]} {plural}"] * 2
    return rng.choice(options)


def _human_duration(hours: float) -> tuple[float, str]:
    """The duration as a person would round it, and its unit: minutes below 2 h, tenths to 10 h, then hours
    (days when that is within 5 %). The parser reads back the rounded value: within a minute or 5 %."""
    if hours < 2:
        return max(1, round(hours * 60)) / 60, "min"
    if hours < 10:
        return round(hours, 1), "h"
    days = round(hours / 24)
    if hours >= 48 and abs(days * 24 - hours) <= 0.05 * hours:
        return days * 24.0, "d"
    return float(round(hours)), "h"


def hours_phrase(hours: float, rng: random.Random) -> str:
    value, unit = _human_duration(hours)
    approx = rng.choice(["~", "about ", "roughly ", "around "]) if abs(value - hours) > 1e-9 else ""
    phrase = _duration_phrase(value, unit, rng)
    if approx == "~" and not phrase[0].isdigit():  # "~an hour" is nobody's spelling
        approx = "about "
    return approx + phrase


def _duration_phrase(value: float, unit: str, rng: random.Random) -> str:
    special = {0.5: ["half an hour", "30 min"], 1.0: ["an hour", "1h", "one hour"],
               1.5: ["an hour and a half", "90 minutes", "1h30"], 12.0: ["half a day", "12h", "12 hours"],
               24.0: ["a day", "24h", "a full day"], 36.0: ["a day and a half", "36h"]}
    if value in special:
        return rng.choice(special[value])
    if unit == "min":
        minutes = round(value * 60)
        return rng.choice([f"{minutes} minutes", f"{minutes} min", f"{minutes}m", f"{minutes} mins"])
    if unit == "d":
        days = round(value / 24)
        return rng.choice([f"{days} days", f"{days}d", f"{WORD_OF.get(days, days)} days"])
    options = [f"{value:g}h", f"{value:g} hours", f"{value:g} hrs"]
    if value.is_integer() and int(value) in WORD_OF:
        options.append(f"{WORD_OF[int(value)]} hours")
    if not value.is_integer() and (value * 60).is_integer():
        options.append(f"{int(value)}h{round(value * 60) % 60:02d}")
    return rng.choice(options)


_JOB = {
    "evaluation": ["an eval run", "an evaluation pass", "a benchmark run", "evals"],
    "inference_batch": ["batch inference", "an offline scoring job", "a batch-inference job"],
    "notebook": ["a notebook session", "an interactive Jupyter box", "a debug session"],
    "fine_tuning": ["fine-tuning", "a LoRA fine-tune", "an SFT run", "a fine-tune"],
    "training": ["a training run", "training", "a from-scratch training run"],
    "pretraining": ["pre-training", "a pretraining stage", "the next pretraining chunk"],
    "hyperparameter_sweep": ["a hyperparameter sweep", "an HPO sweep", "a grid search"],
}
PRIORITY_PHRASES = {
    "low": ["low priority", "no rush", "whenever there's capacity", "P3", "not urgent"],
    "normal": ["normal priority", "P2", "standard priority"],
    "high": ["high priority", "P1", "it's time-sensitive", "fairly important"],
    "urgent": ["urgent", "ASAP please", "P0", "this is a blocker"],
}
SPOT_PHRASES = {True: ["spot is fine", "happy with spot", "preemptible is fine", "spot instances are ok"],
         False: ["on-demand only", "no spot please", "it can't be preempted"]}
MODEL_PRETTY = {
    "llama-3.1-8b": "Llama 3.1 8B", "llama-3.1-70b": "Llama 3.1 70B", "mistral-7b": "Mistral 7B",
    "qwen2.5-14b": "Qwen2.5 14B", "whisper-large-v3": "Whisper large-v3", "clip-vit-l-14": "CLIP ViT-L/14",
    "bert-large": "BERT-large", "vit-b-16": "ViT-B/16", "vit-l-16": "ViT-L/16", "resnet-50": "ResNet-50",
    "two-tower-recsys": "two-tower recsys", "in-house-lm": "in-house LM", "in-house-multimodal": "in-house multimodal",
    "diffusion-unet": "diffusion UNet",
}
# Greetings by office: a Tokyo engineer and a Berlin one do not open a message the same way.
_GREETING = {
    "japan": ["お疲れ様です! ", "Hi all, ", ""], "europe": ["Moin! ", "Hallo, ", "Hi all, "],
    "india": ["Hi team, ", "Hello all, ", ""], "default": ["hey! ", "hi folks, ", "yo, ", ""],
}
# Why a team wants it, in its own words; keyed by a part of the team's name (profiles name teams freely).
# None of these words means anything to the parser.
_REASON = {
    "speech": ["for the ASR stack", "before the voice release"],
    "vision": ["for the image side", "for the new camera data"],
    "multimodal": ["for the captioning demo"],
    "ads": ["before the next A/B readout"],
    "recommend": ["before the next A/B readout", "for the feed refresh"],
    "search": ["for the relevance review"],
    "rank": ["for the relevance review"],
    "risk": ["for the model-risk review"],
    "fraud": ["for the chargeback spike"],
    "robot": ["for the sim rollouts"],
    "foundation": ["for the next checkpoint"],
    "research": ["for the paper deadline"],
    "nlp": ["for the next checkpoint"],
    "platform": ["for the fleet dashboard"],
    "ops": ["for the release gate"],
    "support": ["for the customer queue"],
    "document": ["for the customer queue"],
    "data": ["for the weekly forecast"],
}
_TYPOS = {"please": ["pls", "plese"], "need": ["ned", "neeed"], "thanks": ["thx", "thansk"],
          "could": ["cuold"], "would": ["woudl"], "tomorrow": ["tommorow"]}


def model_phrase(family: str, rng: random.Random) -> str:
    """A model family as people name it ("Llama 3.1 8B"), or flagged as a model when we know no shape."""
    if family in MODEL_PRETTY and rng.random() < 0.6:
        return MODEL_PRETTY[family]
    return family if family in MODEL_PRETTY else f"model: {family}"


class _Facts:
    """Phrases of one intent's facts, recording which fields the text ends up stating."""

    def __init__(self, intent: Intent, rng: random.Random) -> None:
        self.i, self.rng, self.stated = intent, rng, {"gpu_type", "gpu_count", "est_duration_hours", "job_type"}
        self.voice = 0

    def pick_voice(self, count: int) -> int:
        self.voice = self.rng.randrange(count)
        return self.voice

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def maybe(self, field: str, chance: float, phrase: str) -> str:
        if self.rng.random() < chance:
            self.stated.add(field)
            return phrase
        return ""

    def gpus(self) -> str:
        return gpus_phrase(self.i.gpu_count, self.i.gpu_type, self.rng)

    def hours(self) -> str:
        return hours_phrase(self.i.est_duration_hours, self.rng)

    def job(self) -> str:
        return self.pick(_JOB[self.i.job_type])

    def model(self) -> str:
        self.stated.add("model_family")
        return model_phrase(self.i.model_family, self.rng)

    def team(self) -> str:
        self.stated.add("team")
        return self.pick([f"the {self.i.team} team", f"team {self.i.team}", f"our {self.i.team} team"])

    def project(self) -> str:
        self.stated.add("project")
        return self.pick([f"project {self.i.project}", f"the {self.i.project} project", f"project: {self.i.project}"])

    def priority(self, chance: float = 1.0) -> str:
        if self.i.priority == "normal" and self.rng.random() > chance * 0.6:
            return ""
        self.stated.add("priority")
        return self.pick(PRIORITY_PHRASES[self.i.priority])

    def spot(self, chance: float) -> str:
        return self.maybe("spot_ok", chance, self.pick(SPOT_PHRASES[self.i.spot_ok]))

    def cost_center(self, chance: float) -> str:
        cc = self.i.cost_center
        return self.maybe("cost_center", chance, self.pick([f"charge {cc}", f"cost center {cc}", f"bill to {cc}"]))

    def office(self, chance: float) -> str:
        return self.maybe("office", chance, f"from the {self.i.office} office")

    def region(self, chance: float) -> str:
        r = self.i.cloud_region
        return self.maybe("cloud_region", chance, self.pick([f"in {r}", f"region {r}", f"on {r}"]))

    def greeting(self) -> str:
        return self.pick(_GREETING.get(self.i.office, _GREETING["default"]))

    def reason(self) -> str:
        """A team's own reason, sometimes (", for the ASR stack")."""
        options = [r for key, reasons in _REASON.items() if key in self.i.team for r in reasons]
        return f", {self.pick(options)}" if options and self.rng.random() < 0.5 else ""


def _sentence(*parts: str) -> str:
    """Join the non-empty parts into one sentence."""
    text = ", ".join(p for p in parts if p)
    return f" {text[0].upper()}{text[1:]}." if text else ""


def _slack(f: _Facts) -> str:
    voice = f.pick_voice(4)
    if voice == 0:
        return (f"{f.greeting()}can I get {f.gpus()} for {f.hours()}? it's {f.job()} of {f.model()} for "
                f"{f.project()}{f.reason()}." + _sentence(f.team(), f.priority(), f.spot(0.5), f.region(0.3)))
    if voice == 1:
        return (f"{f.team()} here - need {f.gpus()} ({f.hours()}) for {f.job()} on {f.model()}{f.reason()}."
                + _sentence(f.priority(), f.spot(0.6), f.cost_center(0.3)))
    if voice == 2:
        return (f"quick ask: {f.job()} of {f.model()}, {f.gpus()}, {f.hours()}."
                + _sentence(f.project(), f.priority(), f.office(0.4)) + _sentence(f.spot(0.5)) + " thanks!")
    return (f"{f.greeting()}{f.project()} needs {f.gpus()} for {f.job()} ({f.model()}), should take {f.hours()}."
            + _sentence(f.priority(), f.team()) + _sentence(f.spot(0.4), f.region(0.4)))


def _jira(f: _Facts) -> str:
    voice = f.pick_voice(3)
    if voice == 0:
        f.stated.add("project")
        return (f"[{f.i.project}] GPU request: {f.job()} of {f.model()}. Resources: {f.gpus()}, est. {f.hours()}."
                + _sentence(f.team(), f.cost_center(0.8)) + _sentence(f.priority(), f.spot(0.7), f.region(0.5)))
    if voice == 1:
        return (f"Summary: {f.job()} for {f.project()}\nDetails: we need {f.gpus()} for {f.hours()} to run it on "
                f"{f.model()}." + _sentence(f.priority()) + _sentence(f.team(), f.office(0.5), f.cost_center(0.6))
                + _sentence(f.spot(0.6)))
    return (f"As {f.team()} we request {f.gpus()} for {f.job()} ({f.model()}); duration {f.hours()}."
            + _sentence(f.project(), f.priority(), f.cost_center(0.7), f.spot(0.5)))


def _email(f: _Facts) -> str:
    name = f.i.author.split()[0] if f.i.author else "me"
    voice = f.pick_voice(2)
    if voice == 0:
        body = (f"Hi infra,\n\nOn behalf of {f.team()}, could you allocate {f.gpus()} for {f.hours()}? We plan "
                f"{f.job()} of {f.model()} for {f.project()}{f.reason()}." + _sentence(f.priority(), f.cost_center(0.8))
                + _sentence(f.spot(0.5), f.region(0.4)))
    else:
        body = (f"Hello,\n\nI would like to book {f.gpus()} ({f.hours()}) for {f.job()} on {f.model()}, "
                f"{f.project()}." + _sentence(f.team(), f.office(0.5)) + _sentence(f.priority(), f.spot(0.5)))
    return f"{body}\n\nThanks,\n{name}"


def _cli(f: _Facts) -> str:
    i, rng = f.i, f.rng
    f.stated |= {"team", "project", "priority", "model_family"}
    flags = [f"--team {i.team}", f"--project {i.project}", f"--job {i.job_type}", f"--model {i.model_family}",
             f"--priority {i.priority}"]
    if rng.random() < 0.5:
        flags.append(f"--gres=gpu:{i.gpu_type.lower()}:{i.gpu_count}")
    else:
        flags += [f"--gpus {i.gpu_count}", f"--gpu-type {i.gpu_type}"]
    minutes = round(i.est_duration_hours * 60, 6)
    if minutes.is_integer() and rng.random() < 0.5:
        flags.append(f"--time={int(minutes) // 60:02d}:{int(minutes) % 60:02d}:00")
    else:
        flags.append(f"--hours {i.est_duration_hours:g}")
    if rng.random() < 0.6:
        f.stated.add("spot_ok")
        flags.append("--spot" if i.spot_ok else "--no-spot")
    if rng.random() < 0.4:
        f.stated.add("cloud_region")
        flags.append(f"--region {i.cloud_region}")
    rng.shuffle(flags)
    return rng.choice(["gpu-request submit ", "$ gpuctl request ", "jobctl run "]) + " ".join(flags)


_CHANNELS = {"slack": _slack, "jira": _jira, "email": _email, "cli": _cli}


def _typo(text: str, rng: random.Random) -> str:
    candidates = [word for word in _TYPOS if word in text]
    if not candidates or rng.random() > 0.15:
        return text
    word = rng.choice(candidates)
    return text.replace(word, rng.choice(_TYPOS[word]), 1)


def render(intent: Intent) -> Rendered:
    """A request text for `intent`, the same every time for the same intent id."""
    rng = random.Random(hashlib.sha256(intent.id.encode()).digest())
    facts = _Facts(intent, rng)
    text = _CHANNELS[intent.channel](facts).strip()
    if intent.channel != "cli":
        text = _typo(text, rng)
    return Rendered(Request(text=text, channel=intent.channel, author=intent.author), frozenset(facts.stated),
                    facts.voice)
