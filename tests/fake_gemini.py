"""A fake of Gemini's REST API (v1beta) for the real google-genai SDK to call: models.get and generateContent.

It checks what it receives as the real API would (a key, a model it serves, `generationConfig` keys valid
for that model's family, a response schema of items carrying `intent_id`) and answers 400
INVALID_ARGUMENT otherwise. Each generateContent request consumes the next scripted mode (then `default`):
a valid answer written from the facts in the prompt, or one of the failures the enricher must survive.
Run as a script it serves on a port and prints `PORT <n>` (for tests that start a real enricher):
`python -m tests.fake_gemini [--port N] [--retire MODEL]... [--bad-key KEY] [MODE...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pipeline.enrich.prompt import INTENTS_MARKER

RETRY_DELAY = "0.05s"
FAMILY = {"gemini-2.5-flash-lite": "2.5", "gemini-2.5-flash": "2.5", "gemini-3-flash": "3",
          "gemini-3.1-flash-lite": "3.1", "gemini-3.5-flash-lite": "3.5"}
_JOB = {"evaluation": ["an evaluation run", "an eval pass", "a benchmark"],
        "inference_batch": ["a batch inference job", "an offline scoring pass"],
        "notebook": ["a notebook session", "an interactive Jupyter session"],
        "fine_tuning": ["a fine-tuning run", "a LoRA fine-tune"],
        "training": ["a training run", "a from-scratch training job"],
        "pretraining": ["a pretraining run", "another pre-training stage"],
        "hyperparameter_sweep": ["a hyperparameter sweep", "an HPO sweep"]}
_PRIORITY = {"low": ["Low priority.", "No rush on this one."],
             "normal": ["Normal priority.", "Standard priority."],
             "high": ["High priority.", "This one is time-sensitive."],
             "urgent": ["This is urgent.", "Urgent, please."]}
_SPOT = {True: ["Spot instances are fine.", "Happy with spot."], False: ["On-demand only, please.", "No spot please."]}
_OPEN = {"slack": ["{greet}could we get {gpus} for {dur}? It's {job} on {model}{for_team}.",
                   "{greet}{team_lead} needs {gpus} ({dur}) for {job} with {model}."],
         "jira": ["GPU request: {job} of {model}{for_team}. Resources: {gpus} for {dur}.",
                  "Title: {job} of {model}\nWe need {gpus} for {dur}{for_team}."],
         "email": ["Hello,\n\ncould you reserve {gpus} for {dur}? We want to run {job} of {model}{for_team}.",
                   "Dear infra team,\n\nplease book {gpus} for {dur} for {job} on {model}{for_team}."]}
_GREET = {"ja": "お疲れ様です! ", "de": "Moin! ", "en-IN": "Hi team, ", "en": "hey, "}


@dataclass
class Seen:
    """One request as the fake received it."""

    path: str
    api_key: str | None
    body: dict[str, Any]
    mode: str


def _pick(options: list[str], key: str) -> str:
    return options[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(options)]


def _gpus(count: int, gpu: str, paraphrase: bool) -> str:
    if paraphrase:
        words = {1: "a single", 2: "a pair of", 4: "four", 8: "eight"}
        return f"{words[count]} {gpu}{'s' if count > 1 else ''}" if count in words else f"{gpu} x{count}"
    return f"{count}x {gpu}" if count > 1 else f"one {gpu}"


def _duration(hours: float, paraphrase: bool) -> str:
    if paraphrase and hours in (12.0, 24.0):
        return {12.0: "half a day", 24.0: "a full day"}[hours]
    if hours < 2:
        return f"{max(1, round(hours * 60))} minutes"
    return f"{hours:g} hours" if hours < 10 else f"about {round(hours)} hours"


def write_text(fact: dict[str, Any], paraphrase: bool = False) -> str:
    """A request in its channel's voice stating exactly the facts given (what a good model answers)."""
    key = fact["intent_id"]
    language = _language(fact.get("style", {}).get("language", ""))
    gpus, dur = _gpus(fact["gpu_count"], fact["gpu_type"], paraphrase), _duration(fact["est_duration_hours"],
                                                                                   paraphrase)
    if fact["channel"] == "cli":
        flags = [f"--gpus {fact['gpu_count']}", f"--gpu-type {fact['gpu_type']}",
                 f"--hours {fact['est_duration_hours']:g}", f"--job {fact['job_type']}"]
        flags += [f"--{name} {fact[key_]}" for name, key_ in (("team", "team"), ("project", "project"),
                                                               ("priority", "priority"), ("model", "model_family"),
                                                               ("region", "cloud_region"), ("office", "office"),
                                                               ("cost-center", "cost_center")) if key_ in fact]
        if "spot_ok" in fact:
            flags.append("--spot" if fact["spot_ok"] else "--no-spot")
        return "gpu-request submit " + " ".join(flags)
    model = fact.get("model_family")
    parts = {"greet": _GREET[language] if fact["channel"] == "slack" else "", "gpus": gpus, "dur": dur,
             "job": _pick(_JOB[fact["job_type"]], key), "model": model or "our model",
             "for_team": f" for the {fact['team']} team" if "team" in fact else "",
             "team_lead": f"the {fact['team']} team" if "team" in fact else "our group"}
    text = _pick(_OPEN[fact["channel"]], key + "o").format(**parts)
    tail = []
    if "project" in fact:
        tail.append(f"It is for project {fact['project']}.")
    if "priority" in fact:
        tail.append(_pick(_PRIORITY[fact["priority"]], key + "p"))
    if "spot_ok" in fact:
        tail.append(_pick(_SPOT[fact["spot_ok"]], key + "s"))
    if "cost_center" in fact:
        tail.append(f"Please charge {fact['cost_center']}.")
    if "office" in fact:
        tail.append(f"We sit in the {fact['office']} office.")
    if "cloud_region" in fact:
        tail.append(f"Region {fact['cloud_region']} works best.")
    sign = f"\n\nThanks,\n{str(fact.get('author', 'me')).split()[0]}" if fact["channel"] == "email" else ""
    return " ".join([text, *tail]) + sign


def _language(habit: str) -> str:
    return "ja" if "Japanese" in habit else "de" if "German" in habit else "en-IN" if "Indian" in habit else "en"


def _item(fact: dict[str, Any], paraphrase: bool = False) -> dict[str, Any]:
    """The answer item of one intent: the text, and the extraction of exactly the facts it states."""
    extracted = {name: fact.get(name) for name in ("team", "cost_center", "project", "office", "cloud_region",
                                                   "job_type", "model_family", "gpu_type", "gpu_count",
                                                   "est_duration_hours", "priority", "spot_ok")}
    return {"intent_id": fact["intent_id"], "request_text": write_text(fact, paraphrase), **extracted}


def _facts(body: dict[str, Any]) -> list[dict[str, Any]]:
    text = "".join(p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", []))
    lines = text.split(INTENTS_MARKER, 1)[1].strip().splitlines()
    return [json.loads(line) for line in lines]


def _items(mode: str, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = [_item(f, paraphrase=mode == "paraphrase") for f in facts]
    if mode == "wrong_ids":  # every other item names an intent that is not in the batch
        for item in items[::2]:
            item["intent_id"] += "-wrong"
    elif mode == "shuffled":  # ids are what match items to intents, not positions
        items.reverse()
    elif mode == "missing":
        items = items[:-1]
    elif mode == "extra":
        items.append(dict(items[0], intent_id="job_nobody_asked"))
    elif mode == "duplicate":
        items.append(dict(items[0]))
    elif mode == "inconsistent":
        items[0]["gpu_count"] += 1
    elif mode == "invalid":
        items[0]["gpu_count"] = "many"
    elif mode == "contradict":  # the example: the text refuses spot, the extraction invents facts
        items[0]["request_text"] += " No spot please."
        items[0].update(spot_ok=True, project="made-up-project")
    elif mode == "hallucinate":  # a fact the prompt did not give, filled in by the model
        name = next(n for n in ("project", "cost_center", "office", "spot_ok", "priority", "team") if n not in facts[0])
        items[0][name] = {"spot_ok": True, "priority": "urgent", "cost_center": "CC-0000"}.get(name, "made-up")
    return items


def _reply(text: str | None, body_chars: int, model: str, finish: str = "STOP") -> web.Response:
    content = {"role": "model", "parts": [{"text": text}]} if text is not None else {"role": "model"}
    out_tokens = len(text or "") // 4
    thoughts = 0 if FAMILY.get(model, "2.5") == "2.5" else 12  # MINIMAL thinking still thinks a little
    return web.json_response({
        "candidates": [{"content": content, "finishReason": finish, "index": 0}],
        # Roughly what the real tokenizer counts (about 4 characters a token).
        "usageMetadata": {"promptTokenCount": body_chars // 4, "candidatesTokenCount": out_tokens,
                          "thoughtsTokenCount": thoughts, "cachedContentTokenCount": body_chars // 16,
                          "totalTokenCount": body_chars // 4 + out_tokens + thoughts},
        "modelVersion": model})


def _error(code: int, status: str, message: str, details: Sequence[dict[str, Any]] = ()) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "status": status,
                                        "details": list(details)}}, status=code)


def _quota(*ids: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": quota_id} for quota_id in ids]}


_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
_RETRY = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": RETRY_DELAY}
_ERRORS: dict[str, Callable[[], web.Response]] = {
    "429": lambda: _error(429, "RESOURCE_EXHAUSTED", f"Quota exceeded. Please retry in {RETRY_DELAY}.",
                          [_quota(_MINUTE), _RETRY]),
    "429_day": lambda: _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for the day.", [_quota(_DAY)]),
    "429_both": lambda: _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", [_quota(_MINUTE, _DAY), _RETRY]),
    "500": lambda: _error(500, "INTERNAL", "An internal error has occurred."),
    "503": lambda: _error(503, "UNAVAILABLE", "The model is overloaded."),
    "403": lambda: _error(403, "PERMISSION_DENIED", "Permission denied on resource project."),
    "502_html": lambda: web.Response(status=502, content_type="text/html",
                                     text="<html><body><h1>502 Bad Gateway</h1></body></html>"),
}


def key_invalid(key: str | None) -> web.Response:
    """What the real API answers to a key it does not know (400 with ErrorInfo API_KEY_INVALID), with the
    DebugInfo detail that echoes the key (https://github.com/google/timesketch/pull/3703)."""
    return _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
         "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
         "message": "API key not valid. Please pass a valid API key."},
        {"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": f"Invalid API key: {key}"}])


def request_problem(model: str, body: dict[str, Any]) -> str | None:
    """Why the real API would refuse this generateContent body, or None."""
    config = body.get("generationConfig", {})
    thinking = config.get("thinkingConfig", {})
    has_budget = "thinking_budget" in thinking or "thinkingBudget" in thinking
    has_level = "thinking_level" in thinking or "thinkingLevel" in thinking
    if FAMILY[model] == "2.5" and (has_level or not has_budget):
        return f"{model} takes thinking_budget, not thinking_level"
    if FAMILY[model] != "2.5" and (has_budget or not has_level):
        return f"{model} takes thinking_level; thinking_budget is not supported"
    schema = config.get("responseSchema") or {}
    if config.get("responseMimeType") != "application/json" or schema.get("type") != "ARRAY":
        return "a JSON array response schema is expected"
    if "intent_id" not in schema.get("items", {}).get("required", []):
        return "items must require intent_id"
    return None


@dataclass
class FakeGemini:
    """The scripted server; `seen` records every request (generateContent and models.get)."""

    modes: list[str] = field(default_factory=list)
    default: str = "ok"
    slow_seconds: float = 2.0
    retired: set[str] = field(default_factory=set)
    bad_keys: set[str] = field(default_factory=lambda: {"bad-key"})
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    billed_out: int = 0  # output tokens of the valid answers, thinking included (as Google bills them)
    url: str = ""

    def _model(self, request: web.Request) -> str:
        return request.match_info["model"].split(":")[0]

    def _refusal(self, request: web.Request, model: str) -> web.Response | None:
        if (key := request.headers.get("x-goog-api-key")) in self.bad_keys:
            return key_invalid(key)
        if model not in FAMILY or model in self.retired:
            return _error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not "
                          "supported for generateContent.")
        return None

    async def get_model(self, request: web.Request) -> web.Response:
        """models.get: what the enricher's start-up check asks."""
        model = self._model(request)
        self.seen.append(Seen(request.path, request.headers.get("x-goog-api-key"), {}, "get"))
        if (refusal := self._refusal(request, model)) is not None:
            return refusal
        return web.json_response({"name": f"models/{model}", "displayName": model, "version": FAMILY[model],
                                  "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
                                  "supportedGenerationMethods": ["generateContent", "countTokens"],
                                  "thinking": True})

    async def generate(self, request: web.Request) -> web.StreamResponse:  # noqa: PLR0911 - one per mode
        raw = await request.text()
        body = json.loads(raw)
        model = self._model(request)
        mode = self.modes.pop(0) if self.modes else self.default
        self.seen.append(Seen(request.path, request.headers.get("x-goog-api-key"), body, mode))
        if (refusal := self._refusal(request, model)) is not None:
            return refusal
        if (problem := request_problem(model, body)) is not None:
            return _error(400, "INVALID_ARGUMENT", problem)
        if mode in _ERRORS:
            return _ERRORS[mode]()
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        facts = _facts(body)
        if mode == "truncated":  # cut inside the first item: nothing complete
            return _reply(json.dumps(_items("ok", facts))[:120], len(raw), model, finish="MAX_TOKENS")
        if mode == "truncated_half":  # cut inside the last half: the first items are complete
            text = json.dumps(_items("ok", facts))
            return _reply(text[:len(text) * 5 // 8], len(raw), model, finish="MAX_TOKENS")
        if mode == "badjson":
            return _reply(json.dumps(_items("ok", facts))[:-5], len(raw), model)
        if mode == "safety":
            return _reply(None, len(raw), model, finish="SAFETY")
        if mode == "blocked":  # the prompt itself is blocked: no candidate at all
            return web.json_response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                                      "usageMetadata": {"promptTokenCount": len(raw) // 4,
                                                        "totalTokenCount": len(raw) // 4},
                                      "modelVersion": model})
        if mode == "empty":  # a candidate with no content
            return web.json_response({"candidates": [{"finishReason": "STOP", "index": 0}],
                                      "usageMetadata": {"promptTokenCount": len(raw) // 4}, "modelVersion": model})
        reply = _reply(json.dumps(_items(mode, facts), ensure_ascii=False), len(raw), model)
        usage = json.loads(reply.body)["usageMetadata"]  # type: ignore[arg-type]
        self.billed_out += usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
        return reply

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/{version}/models/{model}", self.get_model)
        app.router.add_post("/{version}/models/{model}", self.generate)
        app.router.add_get("/__seen", self.report)
        return app

    async def report(self, request: web.Request) -> web.Response:
        """What a test in another process needs to know about the requests seen."""
        return web.json_response([{"path": s.path, "api_key": s.api_key, "mode": s.mode} for s in self.seen])

    async def __aenter__(self) -> FakeGemini:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


async def _serve(args: argparse.Namespace) -> None:
    async with FakeGemini(modes=args.modes, retired=set(args.retire), port=args.port,
                          bad_keys={"bad-key", *args.bad_key}) as fake:
        sys.stdout.write(f"PORT {fake.url.rsplit(':', 1)[1]}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--retire", action="append", default=[])
    parser.add_argument("--bad-key", action="append", default=[])
    parser.add_argument("modes", nargs="*")
    asyncio.run(_serve(parser.parse_args()))
