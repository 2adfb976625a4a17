"""A fake of Gemini's REST API (generateContent, v1beta) for the real google-genai SDK to call.

Each request consumes the next scripted mode (then `default`): a valid answer written from the intents in
the prompt, or one of the failures the enricher must survive. Run as a script it serves on a port and
prints `PORT <n>` (for tests that start a real enricher process).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from pipeline.enrich.prompt import INTENTS_MARKER

RETRY_DELAY = "0.05s"


@dataclass
class Seen:
    """One request as the fake received it."""

    path: str
    api_key: str | None
    body: dict[str, Any]
    mode: str


def _item(fact: dict[str, Any]) -> dict[str, Any]:
    text = (f"{fact['team']} team here: need {fact['gpu_count']}x{fact['gpu_type']} for about "
            f"{fact['est_duration_hours']}h, {fact['priority']} priority, "
            f"{fact['job_type']} of {fact['model_family']}.")
    return {"intent_id": fact["intent_id"], "request_text": text, "team": fact["team"], "cost_center": None,
            "project": None, "office": None, "cloud_region": None, "job_type": fact["job_type"],
            "model_family": fact["model_family"], "gpu_type": fact["gpu_type"], "gpu_count": fact["gpu_count"],
            "est_duration_hours": fact["est_duration_hours"], "priority": fact["priority"], "spot_ok": None}


def _facts(body: dict[str, Any]) -> list[dict[str, Any]]:
    text = "".join(p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", []))
    lines = text.split(INTENTS_MARKER, 1)[1].strip().splitlines()
    return [json.loads(line) for line in lines]


def _items(mode: str, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = [_item(f) for f in facts]
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
    return items


def _reply(text: str | None, body_chars: int, finish: str = "STOP") -> web.Response:
    content = {"role": "model", "parts": [{"text": text}]} if text is not None else {"role": "model", "parts": []}
    out_tokens = len(text or "") // 4
    return web.json_response({
        "candidates": [{"content": content, "finishReason": finish, "index": 0}],
        # Roughly what the real tokenizer counts (about 4 characters a token).
        "usageMetadata": {"promptTokenCount": body_chars // 4, "candidatesTokenCount": out_tokens,
                          "totalTokenCount": body_chars // 4 + out_tokens},
        "modelVersion": "gemini-2.5-flash-lite"})


def _error(code: int, status: str, message: str, details: Sequence[dict[str, Any]] = ()) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "status": status,
                                        "details": list(details)}}, status=code)


_ERRORS: dict[str, Callable[[], web.Response]] = {
    "429": lambda: _error(429, "RESOURCE_EXHAUSTED", f"Quota exceeded. Please retry in {RETRY_DELAY}.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": RETRY_DELAY}]),
    "429_day": lambda: _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for the day.", [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]),
    "500": lambda: _error(500, "INTERNAL", "An internal error has occurred."),
    "503": lambda: _error(503, "UNAVAILABLE", "The model is overloaded."),
    "403": lambda: _error(403, "PERMISSION_DENIED", "API key not valid. Please pass a valid API key."),
    "502_html": lambda: web.Response(status=502, content_type="text/html",
                                     text="<html><body><h1>502 Bad Gateway</h1></body></html>"),
}


@dataclass
class FakeGemini:
    """The scripted server; `seen` records every request."""

    modes: list[str] = field(default_factory=list)
    default: str = "ok"
    slow_seconds: float = 2.0
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    async def generate(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        body = json.loads(raw)
        mode = self.modes.pop(0) if self.modes else self.default
        self.seen.append(Seen(request.path, request.headers.get("x-goog-api-key"), body, mode))
        if mode in _ERRORS:
            return _ERRORS[mode]()
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        facts = _facts(body)
        if mode == "truncated":
            return _reply(json.dumps(_items("ok", facts))[:120], len(raw), finish="MAX_TOKENS")
        if mode == "badjson":
            return _reply(json.dumps(_items("ok", facts))[:-5], len(raw))
        if mode == "safety":
            return _reply(None, len(raw), finish="SAFETY")
        return _reply(json.dumps(_items(mode, facts)), len(raw))

    def app(self) -> web.Application:
        """The aiohttp application (POST /{version}/models/{model}:generateContent)."""
        app = web.Application()
        app.router.add_post("/{version}/models/{model}", self.generate)
        app.router.add_get("/__seen", self.report)
        return app

    async def report(self, request: web.Request) -> web.Response:
        """What a test in another process needs to know about the requests seen."""
        return web.json_response([{"path": s.path, "api_key": s.api_key, "mode": s.mode} for s in self.seen])

    async def __aenter__(self) -> FakeGemini:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


async def _serve(modes: list[str]) -> None:
    async with FakeGemini(modes=modes) as fake:
        sys.stdout.write(f"PORT {fake.url.rsplit(':', 1)[1]}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1:]))
