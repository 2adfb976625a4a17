"""The Gemini enricher: one google-genai request per batch, checked item by item, within quota.

Traps of the SDK this module works around (research/gemini.md): it has no timeout and no retry by default,
ignores a 429's RetryInfo, does not retry async timeouts, defaults to API v1 in 3.x and silently leaves
`parsed` None on bad JSON. So: explicit `api_version` and timeout, one attempt per SDK call, every retry
and wait here (through `life.sleep`, so SIGTERM ends it at once), and the answer's text parsed per item.

Imported only when Gemini is configured: google-genai costs tens of MB the offline path does not pay.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from google import genai
from google.genai import errors, types

from pipeline.backoff import exponential
from pipeline.clock import utc_now
from pipeline.config import Settings
from pipeline.enrich import Enriched, Interrupted
from pipeline.enrich.check import check_answer
from pipeline.enrich.offline import enrich_offline
from pipeline.enrich.prompt import SYSTEM_INSTRUCTION, GeminiItem, build_prompt, max_output_tokens
from pipeline.enrich.quota import RateLimiter, seconds_to_quota_reset
from pipeline.enrich.stats import EnricherStats, quota_day
from pipeline.life import Life
from pipeline.models import Intent

log = structlog.get_logger()

BACKOFF_MAX = 60.0
# Longest single sleep while waiting for the daily quota, so the loop re-checks the day now and then.
QUOTA_POLL = 60.0


class _Unavailable(Exception):
    """A request failed in a way that may pass: wait `delay` seconds (`permanent`: retrying will not help)."""

    def __init__(self, reason: str, delay: float, *, permanent: bool = False, daily: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.delay, self.permanent, self.daily = reason, delay, permanent, daily


def retry_delay(exc: errors.APIError) -> float | None:
    """The server's RetryInfo delay of a 429 ("53s"), if it gave one."""
    body = exc.details if isinstance(exc.details, dict) else {}
    for detail in body.get("error", {}).get("details", []) or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            try:
                return float(str(detail.get("retryDelay", "")).rstrip("s"))
            except ValueError:
                return None
    return None


def is_daily_quota(exc: errors.APIError) -> bool:
    """Whether a 429 says the per-day quota is spent (QuotaFailure with a PerDay quota id)."""
    return "PerDay" in json.dumps(exc.details) if exc.details else False


class GeminiEnricher:
    """Writes texts with Gemini; what it cannot get right is written offline and counted as a fallback."""

    def __init__(
        self,
        settings: Settings,
        life: Life,
        stats: EnricherStats | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        assert settings.gemini_api_key is not None, "GeminiEnricher needs GEMINI_API_KEY"
        self.settings, self.life, self.model = settings, life, settings.gemini_model
        self.stats = stats or EnricherStats()
        self._monotonic, self._wall, self._rng = monotonic, wall, rng or random.Random()
        self.limiter = RateLimiter(settings.gemini_rpm, settings.gemini_rpd, settings.gemini_tpm, monotonic)
        self._down_since: float | None = None  # first failure of the current outage
        self._skip_until = 0.0  # after an outage past GEMINI_MAX_WAIT (fallback offline): probe again then
        self._attempt = 0
        self._quota_reported = ""  # the quota day whose exhaustion was logged
        self._outage_reported = False
        base_url = str(settings.gemini_base_url).rstrip("/") if settings.gemini_base_url else None
        self._client = genai.Client(
            api_key=settings.gemini_api_key.get_secret_value(),
            http_options=types.HttpOptions(
                base_url=base_url, api_version="v1beta", timeout=int(settings.gemini_timeout * 1000),
            ),
        )

    def _config(self, count: int) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION, response_mime_type="application/json",
            response_schema=list[GeminiItem], temperature=0.9, max_output_tokens=max_output_tokens(count),
            thinking_config=types.ThinkingConfig(thinking_budget=0),
        )

    async def enrich(self, intents: Sequence[Intent]) -> list[Enriched]:
        """One `Enriched` per intent, in order; raises Interrupted when a stop ends a wait."""
        done: dict[str, Enriched] = {}
        pending = list(intents)
        for round_ in ("first", "retry"):  # refused items are asked for once more, then written offline
            if not pending:
                break
            answer = await self._request(pending)
            if answer is None:
                break
            text, finish = answer
            checked = check_answer(pending, text, finish, self.model)
            done.update(checked.accepted)
            if checked.refused or checked.extra_ids:
                log.warning("enrich.items_refused", round=round_, refused=len(checked.refused),
                            reasons=sorted(set(checked.refused.values())), extra_ids=len(checked.extra_ids))
            pending = [i for i in pending if i.id in checked.refused]
        for intent in pending:
            done[intent.id] = enrich_offline(intent)
        if pending:
            self.stats.fallbacks += len(pending)
            log.info("enrich.fallback_offline", count=len(pending))
        return [done[i.id] for i in intents]

    async def _request(self, batch: Sequence[Intent]) -> tuple[str | None, str | None] | None:
        """The answer's text and finish reason, after any waits; None: write this batch offline."""
        prompt = build_prompt(batch)
        estimate = len(prompt) // 4 + len(SYSTEM_INSTRUCTION) // 4 + max_output_tokens(len(batch))
        offline = self.settings.enrich_fallback == "offline"
        while True:
            if offline and self._monotonic() < self._skip_until:
                return None
            self.stats.roll_day(quota_day(self._wall()))
            wait = self.limiter.wait_time(estimate, self.stats.requests_today)
            if wait is None:
                if self._quota_reported != self.stats.day:  # once per quota day, not once per batch
                    self._quota_reported = self.stats.day
                    log.warning("enrich.daily_quota_spent", rpd=self.settings.gemini_rpd,
                                fallback=self.settings.enrich_fallback)
                if offline:
                    return None
                wait = min(QUOTA_POLL, seconds_to_quota_reset(self._wall()))
                log.info("enrich.quota_wait", reason="daily", wait_s=round(wait, 1))
            elif wait > 0:
                log.debug("enrich.quota_wait", reason="rate", wait_s=round(wait, 3))
            if wait > 0:
                await self._sleep(wait)
                continue
            try:
                return await self._send(prompt, batch)
            except _Unavailable as exc:
                if not await self._after_failure(exc):
                    return None

    async def _after_failure(self, exc: _Unavailable) -> bool:
        """Wait out one failure; False when the fallback applies instead."""
        now = self._monotonic()
        self._down_since = self._down_since if self._down_since is not None else now
        if exc.daily:
            self.stats.requests_today = max(self.stats.requests_today, self.settings.gemini_rpd)
            return True  # the quota branch of _request decides
        outage = now - self._down_since + exc.delay
        too_long = exc.permanent or outage > self.settings.gemini_max_wait
        log.warning("enrich.request_failed", reason=exc.reason, retry_in_s=round(exc.delay, 3),
                    outage_s=round(now - self._down_since, 3), attempt=self._attempt)
        if too_long and self.settings.enrich_fallback == "offline":
            self._skip_until = now + self.settings.gemini_max_wait
            self._down_since, self._attempt = None, 0
            log.error("enrich.gemini_unavailable", reason=exc.reason, fallback="offline",
                      probe_again_in_s=self.settings.gemini_max_wait)
            return False
        if too_long and not self._outage_reported:  # ENRICH_FALLBACK=wait: say so once per outage
            self._outage_reported = True
            log.error("enrich.gemini_unavailable", reason=exc.reason, fallback="wait")
        await self._sleep(exc.delay)
        return True

    async def _sleep(self, seconds: float) -> None:
        if not await self.life.sleep(seconds):
            raise Interrupted

    async def _send(self, prompt: str, batch: Sequence[Intent]) -> tuple[str | None, str | None]:
        """One request; its tokens are counted; every failure becomes `_Unavailable`."""
        call = asyncio.ensure_future(self._client.aio.models.generate_content(
            model=self.model, contents=prompt, config=self._config(len(batch))))
        try:
            response = await self._race_stop(call)
        except errors.ClientError as exc:
            if exc.code == 429:
                raise self._failure("http_429", retry_delay(exc), daily=is_daily_quota(exc)) from None
            raise self._failure(f"http_{exc.code}", None, permanent=exc.code not in (408, 409)) from None
        except errors.APIError as exc:
            raise self._failure(f"http_{exc.code}", None) from None
        except TimeoutError:
            raise self._failure("timeout", None) from None
        except Interrupted:
            raise
        except Exception as exc:  # connection errors, a 200 whose body is not JSON: never crash the worker
            log.warning("enrich.request_error", error_type=type(exc).__name__, error=str(exc)[:300])
            raise self._failure(type(exc).__name__, None) from None
        self._down_since, self._attempt, self._outage_reported = None, 0, False
        usage = response.usage_metadata
        tokens_in = (usage.prompt_token_count or 0) if usage else 0
        tokens_out = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
        self.limiter.record(tokens_in + tokens_out)
        self.stats.add_request(quota_day(self._wall()), tokens_in, tokens_out,
                               self.settings.gemini_price_in, self.settings.gemini_price_out)
        candidate = response.candidates[0] if response.candidates else None
        finish = candidate.finish_reason.value if candidate and candidate.finish_reason else None
        text = None
        if candidate and candidate.content and candidate.content.parts:
            text = "".join(part.text or "" for part in candidate.content.parts)
        log.info("enrich.gemini_answered", intents=len(batch), finish=finish, tokens_in=tokens_in,
                 tokens_out=tokens_out)
        return text, finish

    def _failure(self, reason: str, delay: float | None, *, permanent: bool = False,
                 daily: bool = False) -> _Unavailable:
        # The request was sent: it counts against the per-minute quota even though it failed.
        self.limiter.record(0)
        if delay is None:  # exponential back-off with jitter, so restarts do not retry in step
            delay = exponential(self._attempt, self.settings.gemini_backoff, BACKOFF_MAX, self._rng.random())
        self._attempt += 1
        return _Unavailable(reason, delay, permanent=permanent, daily=daily)

    async def _race_stop(self, call: asyncio.Future[types.GenerateContentResponse]) -> types.GenerateContentResponse:
        """The call's result; a stop request cancels it at once (its intents stay unacknowledged)."""
        stop: asyncio.Future[Any] = asyncio.ensure_future(self.life.stop.wait())
        waiters: set[asyncio.Future[Any]] = {call, stop}
        # The SDK's own timeout should fire first; this guard catches a transport that ignores it.
        deadline = self._monotonic() + self.settings.gemini_timeout + 5
        try:
            while not call.done():
                self.life.ping()  # a long answer must not starve the watchdog
                await asyncio.wait(waiters, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if stop.done():
                    raise Interrupted
                if self._monotonic() > deadline:
                    raise TimeoutError
            return call.result()
        finally:
            stop.cancel()
            if not call.done():
                call.cancel()

    async def aclose(self) -> None:
        """Close the SDK's HTTP session (it leaks one otherwise: python-genai#1343)."""
        await self._client.aio.aclose()
