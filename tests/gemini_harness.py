"""Runs the enricher worker with the real GeminiEnricher (real SDK) against the fake server, in-process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Settings, load_settings
from pipeline.enrich.gemini import GeminiEnricher
from pipeline.enrich.phrasebank import Phrasebank
from pipeline.enrich.stats import ENRICHER_KEY, EnricherStats
from pipeline.queues import open_store
from pipeline.stream import establish_stream
from pipeline.workers.enricher import EnricherWorker
from pipeline.workers.runner import Lifecycle, run
from pipeline.workers.sdnotify import Notifier
from tests.enrich_fixtures import make_intent
from tests.fake_gemini import FakeGemini, Seen

# Short waits so a scenario takes well under a second of back-off.
FAST = {"gemini_timeout": 0.5, "gemini_backoff": 0.01, "gemini_max_wait": 5.0, "gemini_rpm": 1000,
        "gemini_tpm": 10_000_000, "enrich_batch_size": 8}


@dataclass
class Outcome:
    """What a run left behind."""

    payloads: list[dict[str, Any]]
    intents_left: int
    stats: EnricherStats
    fake: FakeGemini

    def written_by(self, enricher: str) -> int:
        return sum(p["generator"]["enricher"] == enricher for p in self.payloads)

    @property
    def generated(self) -> list[Seen]:
        """The generateContent requests the fake received (not the models.get checks)."""
        return [s for s in self.fake.seen if s.mode != "get"]


def settings_for(state_dir: Path, url: str, **overrides: Any) -> Settings:
    """Settings for a run against the fake (a test key, short waits)."""
    return load_settings(state_dir=state_dir, gemini_api_key="test-key", gemini_base_url=url, seed=1,
                         **{**FAST, **overrides})


def seed_intents(state_dir: Path, settings: Settings, count: int) -> list[str]:
    """A state folder with a stream identity and `count` intents queued; their ids."""
    store = open_store(state_dir)
    establish_stream(store, settings)
    intents = [make_intent(k) for k in range(count)]
    with store.transaction() as tx:
        tx.put("intents", [i.model_dump_json().encode() for i in intents])
    store.close()
    return [i.id for i in intents]


def run_scenario(state_dir: Path, modes: list[str], count: int = 16, *, default: str = "ok",
                 stop_after_payloads: int | None = None, stop_after_requests: int | None = None,
                 bank: bool = False, retired: tuple[str, ...] = (), **overrides: Any) -> Outcome:
    """Seed `count` intents, run the enricher (draining) against a fake scripted with `modes`; optionally
    request a stop (as SIGTERM does) once that many payloads are stored or requests were answered.
    `bank`: with the phrasebank (in the state folder); `retired`: models the fake no longer serves."""

    async def main() -> Outcome:
        async with FakeGemini(modes=list(modes), default=default, retired=set(retired)) as fake:
            settings = settings_for(state_dir, fake.url, **overrides)
            seed_intents(state_dir, settings, count)
            store = open_store(state_dir, consumer_of=("intents",))
            life = Lifecycle(Notifier(None))
            phrasebank = Phrasebank(state_dir) if bank else None
            worker = EnricherWorker(store, GeminiEnricher(settings, life, EnricherStats(), bank=phrasebank),
                                    batch_size=settings.enrich_batch_size)
            if stop_after_payloads is not None or stop_after_requests is not None:
                payloads, requests = stop_after_payloads or 0, stop_after_requests or 0
                asyncio.get_running_loop().create_task(_stop_when(
                    life, lambda: store.counts("payloads").ready >= payloads and len(fake.seen) >= requests))
            await run(worker, life, drain=True)
        check = open_store(state_dir)
        rows = check.rows("payloads")
        left = check.counts("intents")
        stats = EnricherStats.from_json(check.get_meta(ENRICHER_KEY))
        check.close()
        return Outcome([json.loads(r.data) for r in rows], left.ready + left.in_flight, stats, fake)

    return asyncio.run(main())


async def _stop_when(life: Lifecycle, reached: Callable[[], bool]) -> None:
    while not reached():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # let the worker enter its next wait
    life.request_stop()
