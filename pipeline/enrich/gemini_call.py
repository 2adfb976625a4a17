"""One Gemini call at a time through the real google-genai SDK: the model check, generateContent with the
config its family takes, and every failure turned into `Unavailable` (or, when definitive, an exit 78)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from google import genai
from google.genai import errors, types

from pipeline.backoff import exponential
from pipeline.config import Settings
from pipeline.enrich import Interrupted
from pipeline.enrich.api_errors import Unavailable, is_daily_quota, key_rejected, one_line, retry_delay
from pipeline.enrich.model_table import ModelInfo, info_for, load_table, thinking_of
from pipeline.enrich.prompt import SYSTEM_INSTRUCTION, GeminiItem, max_output_tokens
from pipeline.enrich.quota import RateLimiter
from pipeline.errors import GeminiRefusedError
from pipeline.life import Life

log = structlog.get_logger()

BACKOFF_MAX = 60.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Answer:
    """What one generateContent call gave: text, finish reason and billed tokens."""

    text: str | None
    finish: str | None
    tokens_in: int
    tokens_out: int


class GeminiCall:
    """The SDK client, the model now in use and its prices."""

    def __init__(self, settings: Settings, life: Life, client: genai.Client, limiter: RateLimiter,
                 monotonic: Callable[[], float], *, rng: random.Random | None = None) -> None:
        self.settings, self.life, self.client, self.limiter = settings, life, client, limiter
        self._monotonic, self._rng = monotonic, rng or random.Random()
        self.table = load_table()
        self.model_checked = False
        self.attempt = 0
        self._secret = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else ""
        self._use(settings.gemini_model)

    def _use(self, model: str) -> None:
        self.model = model
        self.info: ModelInfo | None = info_for(self.table, model)
        explicit = {"gemini_price_in", "gemini_price_out"} & self.settings.model_fields_set
        # Prices: an explicit GEMINI_PRICE_* is for the configured model; any other model costs its row's.
        if self.info is not None and not (explicit and model == self.settings.gemini_model):
            self.price_in, self.price_out = self.info.price_in, self.info.price_out
        else:
            self.price_in, self.price_out = self.settings.gemini_price_in, self.settings.gemini_price_out

    def config(self, count: int) -> types.GenerateContentConfig:
        """2.5 models: thinking_budget 0 and our temperature; 3.x: thinking_level MINIMAL and the model's
        default temperature (Google advises against changing it for 3.x)."""
        if thinking_of(self.model, self.info) == "budget":
            thinking = types.ThinkingConfig(thinking_budget=0)
            temperature: float | None = 0.9
        else:
            thinking = types.ThinkingConfig(thinking_level=types.ThinkingLevel.MINIMAL)
            temperature = None
        return types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION, response_mime_type="application/json",
            response_schema=list[GeminiItem], temperature=temperature, max_output_tokens=max_output_tokens(count),
            thinking_config=thinking,
        )

    async def check_model(self) -> None:
        """Ask the API about the model (models.get); follow successors of models it no longer serves."""
        while True:
            try:
                await self._race(self.client.aio.models.get(model=self.model))
            except errors.ClientError as exc:
                if exc.code == 404:
                    self._replace(exc)
                    continue
                self._definitive(exc)
                raise self._failure(exc) from None
            except (errors.APIError, Exception) as exc:
                if isinstance(exc, Interrupted):
                    raise
                raise self._failure(exc) from None
            self.model_checked, self.attempt = True, 0
            log.info("enrich.model_checked", model=self.model,
                     family=self.info.family if self.info else "unknown",
                     price_in=self.price_in, price_out=self.price_out)
            return

    def _definitive(self, exc: errors.ClientError) -> None:
        if (reason := key_rejected(exc)) is not None:
            raise GeminiRefusedError("GEMINI_API_KEY", f"rejected by the Gemini API ({reason}: "
                                     f"{one_line(exc.message, self._secret)})")

    def _replace(self, exc: errors.APIError) -> None:
        """The model is not served: move to its successor, or stop (GEMINI_MODEL_FALLBACK=none)."""
        old, old_prices = self.model, (self.price_in, self.price_out)
        successor = self.info.successor if self.info else None
        if self.settings.gemini_model_fallback == "none" or successor is None:
            why = "GEMINI_MODEL_FALLBACK=none" if successor else "no successor in data/gemini_models.toml"
            raise GeminiRefusedError("GEMINI_MODEL", f"{old!r} is not served by the Gemini API "
                                     f"(404: {one_line(exc.message, self._secret)}); {why}")
        self._use(successor)
        self.model_checked = False
        log.warning("enrich.model_replaced", old_model=old, new_model=successor,
                    old_price_in=old_prices[0], old_price_out=old_prices[1],
                    new_price_in=self.price_in, new_price_out=self.price_out)

    async def generate(self, prompt: str, count: int) -> Answer:
        """One generateContent request; its tokens are recorded against the quota."""
        try:
            response = await self._race(self.client.aio.models.generate_content(
                model=self.model, contents=prompt, config=self.config(count)))
        except errors.ClientError as exc:
            if exc.code == 404:  # retired while running: the successor is checked before the next request
                self._replace(exc)
            raise self._failure(exc) from None
        except Interrupted:
            raise
        except Exception as exc:  # connection errors, 5xx, a 200 whose body is not JSON: never crash
            raise self._failure(exc) from None
        self.attempt = 0
        usage = response.usage_metadata
        tokens_in = (usage.prompt_token_count or 0) if usage else 0
        # Thinking tokens are billed as output; cached tokens are part of the prompt count.
        tokens_out = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
        self.limiter.record(tokens_in + tokens_out)
        candidate = response.candidates[0] if response.candidates else None
        finish = candidate.finish_reason.value if candidate and candidate.finish_reason else None
        feedback = response.prompt_feedback
        if candidate is None and feedback is not None and feedback.block_reason is not None:
            finish = f"BLOCKED_{feedback.block_reason.value}"
            log.warning("enrich.prompt_blocked", block_reason=feedback.block_reason.value,
                        message=one_line(feedback.block_reason_message, self._secret), intents=count)
        text = None
        if candidate and candidate.content and candidate.content.parts:
            text = "".join(part.text or "" for part in candidate.content.parts)
        log.info("enrich.gemini_answered", model=self.model, intents=count, finish=finish, tokens_in=tokens_in,
                 tokens_out=tokens_out, cached_tokens=(usage.cached_content_token_count or 0) if usage else 0)
        return Answer(text, finish, tokens_in, tokens_out)

    def _failure(self, exc: BaseException) -> Unavailable:
        # The request was sent: it counts against the per-minute quota even though it failed.
        self.limiter.record(0)
        delay: float | None = None
        permanent = daily = False
        if isinstance(exc, errors.APIError):
            reason = f"http_{exc.code}"
            if exc.code == 429:
                delay, daily = retry_delay(exc), is_daily_quota(exc)
            elif isinstance(exc, errors.ClientError):
                permanent = exc.code not in (404, 408, 409)
                if (rejected := key_rejected(exc)) is not None:
                    reason = f"http_{exc.code}_{rejected}"
        elif isinstance(exc, TimeoutError):
            reason = "timeout"
        else:
            reason = type(exc).__name__
            log.warning("enrich.request_error", error_type=reason, error=one_line(exc, self._secret))
        if delay is None:  # exponential back-off with jitter, so restarts do not retry in step
            delay = exponential(self.attempt, self.settings.gemini_backoff, BACKOFF_MAX, self._rng.random())
        self.attempt += 1
        return Unavailable(reason, delay, permanent=permanent, daily=daily)

    async def sleep(self, seconds: float) -> None:
        """A wait a stop request ends (raising Interrupted)."""
        if not await self.life.sleep(seconds):
            raise Interrupted

    async def _race(self, coro: Awaitable[T]) -> T:
        """The call's result; a stop request cancels it at once (its intents stay unacknowledged)."""
        call: asyncio.Future[T] = asyncio.ensure_future(coro)
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
        """Close the SDK's HTTP session."""
        await self.client.aio.aclose()
