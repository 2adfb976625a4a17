"""The Gemini enricher: spends the quota where the phrasebank is thinnest, one google-genai request per
batch, every item checked; what Gemini does not write comes from the phrasebank, else the offline writer.

Traps of the SDK this module works around: it has no timeout and no retry by default, ignores a 429's
RetryInfo, does not retry async timeouts, defaults to API v1 in 3.x and silently leaves `parsed` None on
bad JSON. So: explicit `api_version` and timeout, one attempt per SDK call, every retry and wait here
(through `life.sleep`, so SIGTERM ends it at once), and the answer's text parsed per item.

Imported only when Gemini is configured: google-genai costs tens of MB the offline path does not pay.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import structlog
from google import genai
from google.genai import types

from pipeline.clock import utc_now
from pipeline.config import Settings
from pipeline.enrich import Enriched
from pipeline.enrich.api_errors import Unavailable
from pipeline.enrich.check import check_answer
from pipeline.enrich.gemini_call import GeminiCall
from pipeline.enrich.offline import enrich_offline
from pipeline.enrich.phrasebank import Phrasebank, PhrasebankUnavailable
from pipeline.enrich.prompt import SYSTEM_INSTRUCTION, build_prompt, max_output_tokens, omitted
from pipeline.enrich.quota import RateLimiter, seconds_to_quota_reset
from pipeline.enrich.stats import EnricherStats, quota_day
from pipeline.enrich.template import derive
from pipeline.life import Life
from pipeline.models import Intent

log = structlog.get_logger()

# Longest single sleep while waiting for the daily quota, so the loop re-checks the day now and then.
QUOTA_POLL = 60.0
# Templates kept per (channel, language, job class): enough variety, and a bank that stays a few tens of
# MB on a Pi after years of quota (140 buckets x 300 ~ 42,000 templates at most).
MAX_PER_BUCKET = 300


class GeminiEnricher:
    """Writes texts with Gemini and its phrasebank; what neither can write is written offline."""

    def __init__(
        self,
        settings: Settings,
        life: Life,
        stats: EnricherStats | None = None,
        *,
        bank: Phrasebank | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        assert settings.gemini_api_key is not None, "GeminiEnricher needs GEMINI_API_KEY"
        self.settings, self.life, self.bank = settings, life, bank
        self.stats = stats or EnricherStats()
        self._monotonic, self._wall = monotonic, wall
        self.limiter = RateLimiter(settings.gemini_rpm, settings.gemini_rpd, settings.gemini_tpm, monotonic)
        self._down_since: float | None = None  # first failure of the current outage
        self._skip_until = 0.0  # after an outage past GEMINI_MAX_WAIT (fallback offline): probe again then
        self._quota_reported = ""  # the quota day whose exhaustion was logged
        self._outage_reported = False
        base_url = str(settings.gemini_base_url).rstrip("/") if settings.gemini_base_url else None
        client = genai.Client(
            api_key=settings.gemini_api_key.get_secret_value(),
            http_options=types.HttpOptions(
                base_url=base_url, api_version="v1beta", timeout=int(settings.gemini_timeout * 1000),
            ),
        )
        self.call = GeminiCall(settings, life, client, self.limiter, monotonic)

    @property
    def model(self) -> str:
        """The model requests go to now (the configured one, or its successor)."""
        return self.call.model

    async def start(self) -> None:
        """The start-up model check: exits 78 (GeminiRefusedError) on a rejected key or an unserved model
        without successor; a network failure is logged and the check repeated before the next request."""
        try:
            await self.call.check_model()
        except Unavailable as exc:
            # Do not hold the first batches for an outage at boot (a Pi often starts before its network):
            # they flow from the phrasebank and offline, and the check is repeated after this pause.
            pause = min(QUOTA_POLL, self.settings.gemini_max_wait)
            self._skip_until = self._monotonic() + pause
            log.warning("enrich.model_check_deferred", model=self.model, reason=exc.reason, retry_in_s=pause)

    async def enrich(self, intents: Sequence[Intent], seed: int = 0) -> list[Enriched]:
        """One `Enriched` per intent, in order; raises Interrupted when a stop ends a wait."""
        done: dict[str, Enriched] = {}
        asked: set[str] = set()
        if self.bank is not None:
            self.bank.refresh()
        first = True
        while chunk := self._choose([i for i in intents if i.id not in done and i.id not in asked], first):
            first = False
            asked.update(i.id for i in chunk)
            written = await self._write(chunk)
            done.update(written)
            self._learn(written.values())
        for intent in intents:
            if intent.id in done:
                continue
            item = self.bank.write(intent, seed) if self.bank is not None else None
            if item is None:
                item = enrich_offline(intent)
                self.stats.fallbacks += 1
            done[intent.id] = item
        return [done[i.id] for i in intents]

    def _choose(self, pending: list[Intent], first: bool) -> list[Intent]:
        """The next batch for Gemini: intents no template fits first (worth waiting for the quota), then the
        thinnest buckets' when a request may go at once; [] when Gemini is resting or the day is spent."""
        size = self.settings.enrich_batch_size
        if not pending or self._resting():
            return []
        if self.bank is None:
            return pending[:size]
        ranked = sorted(pending, key=self.bank.thinness)
        if self.bank.thinness(ranked[0]) == 0:
            return ranked[:size]
        if first and self._down_since is None and self.limiter.wait_time(self._estimate(size),
                                                                         self.stats.requests_today) == 0:
            return ranked[:size]
        return []

    def _resting(self) -> bool:
        offline = self.settings.enrich_fallback == "offline"
        self.stats.roll_day(quota_day(self._wall()))
        spent = self.stats.requests_today >= self.settings.gemini_rpd
        return offline and (self._monotonic() < self._skip_until or spent)

    def _learn(self, written: Iterable[Enriched]) -> None:
        """Each Gemini text becomes a template when it round-trips (stored before its payload commits)."""
        if self.bank is None:
            return
        day = self._wall().date().isoformat()
        found, refused = [], 0
        for item in written:
            if self.bank.thinness(item.intent) >= MAX_PER_BUCKET:
                continue
            template = derive(item.intent, item.request.text, item.model, day)
            if isinstance(template, str):
                refused += 1
                log.debug("phrasebank.not_templated", intent_id=item.intent.id, reason=template)
            else:
                found.append(template)
        try:
            added = self.bank.add(found)
        except PhrasebankUnavailable as exc:  # the texts are still delivered; only their templates are lost
            log.error("phrasebank.write_failed", error=str(exc), templates=len(found))
            return
        self.stats.templates_added += added
        self.stats.templates_refused += refused
        if found or refused:
            log.info("phrasebank.learned", added=added, refused=refused, total=len(self.bank))

    async def _write(self, intents: Sequence[Intent]) -> dict[str, Enriched]:
        """Gemini's accepted items; refused ones are asked once more (after MAX_TOKENS: in smaller
        batches, without the items already complete); what still fails is left to the caller."""
        done: dict[str, Enriched] = {}
        queue: list[tuple[list[Intent], int]] = [(list(intents), 0)]
        while queue:
            batch, attempt = queue.pop(0)
            answer = await self._request(batch)
            if answer is None:
                break
            text, finish = answer
            checked = check_answer(batch, text, finish, self.model, omitted(batch))
            done.update(checked.accepted)
            refused = [i for i in batch if i.id in checked.refused]
            if refused or checked.extra_ids:
                log.warning("enrich.items_refused", attempt=attempt, refused=len(refused), finish=finish,
                            reasons=sorted(set(checked.refused.values())), extra_ids=len(checked.extra_ids))
            if refused and attempt == 0:
                step = math.ceil(len(refused) / 2) if finish == "MAX_TOKENS" else len(refused)
                queue += [(refused[k:k + step], 1) for k in range(0, len(refused), step)]
        return done

    def _estimate(self, count: int) -> int:
        return (len(SYSTEM_INSTRUCTION) + 300 * count) // 4 + max_output_tokens(count)

    async def _request(self, batch: Sequence[Intent]) -> tuple[str | None, str | None] | None:
        """The answer's text and finish reason, after any waits; None: Gemini does not write this batch."""
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
                await self.call.sleep(wait)
                continue
            try:
                if not self.call.model_checked:
                    await self.call.check_model()
                answer = await self.call.generate(prompt, len(batch))
            except Unavailable as exc:
                if not await self._after_failure(exc):
                    return None
                continue
            self._down_since, self._outage_reported = None, False
            self.stats.add_request(quota_day(self._wall()), answer.tokens_in, answer.tokens_out,
                                   self.call.price_in, self.call.price_out)
            return answer.text, answer.finish

    async def _after_failure(self, exc: Unavailable) -> bool:
        """Wait out one failure; False when the fallback applies instead."""
        now = self._monotonic()
        self._down_since = self._down_since if self._down_since is not None else now
        if exc.daily:
            self.stats.requests_today = max(self.stats.requests_today, self.settings.gemini_rpd)
            return True  # the quota branch of _request decides
        outage = now - self._down_since + exc.delay
        too_long = exc.permanent or outage > self.settings.gemini_max_wait
        log.warning("enrich.request_failed", reason=exc.reason, retry_in_s=round(exc.delay, 3),
                    outage_s=round(now - self._down_since, 3), attempt=self.call.attempt)
        if too_long and self.settings.enrich_fallback == "offline":
            self._skip_until = now + self.settings.gemini_max_wait
            self._down_since, self.call.attempt = None, 0
            log.error("enrich.gemini_unavailable", reason=exc.reason, fallback="offline",
                      probe_again_in_s=self.settings.gemini_max_wait)
            return False
        if too_long and not self._outage_reported:  # ENRICH_FALLBACK=wait: say so once per outage
            self._outage_reported = True
            log.error("enrich.gemini_unavailable", reason=exc.reason, fallback="wait")
        await self.call.sleep(exc.delay)
        return True

    async def aclose(self) -> None:
        """Close the SDK's HTTP session (it leaks one otherwise: python-genai#1343) and the phrasebank."""
        await self.call.aclose()
        if self.bank is not None:
            self.bank.close()
