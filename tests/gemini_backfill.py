"""A 7-simulated-day backfill of the default profile through the real enricher (real SDK, fake Gemini at
the default quota, the phrasebank in the state folder), with waits compressed: every wait the enricher asks
for (rate limits) passes at once on an injected clock, so RPM/RPD hold in that clock's time while the test
takes seconds. Used by tests/test_gemini_backfill.py and, run as a module, to print the figures."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.config import load_settings
from pipeline.enrich.check import contradiction
from pipeline.enrich.gemini import GeminiEnricher
from pipeline.enrich.parse import extract
from pipeline.enrich.phrasebank import Phrasebank
from pipeline.enrich.stats import EnricherStats
from pipeline.models import Intent
from pipeline.queues import open_store
from pipeline.stream import establish_stream
from pipeline.workers.enricher import EnricherWorker
from pipeline.workers.runner import Lifecycle, run
from pipeline.workers.sdnotify import Notifier
from pipeline.workload import Workload
from pipeline.workload.timegrid import window_of
from tests.fake_gemini import FakeGemini

SIM_START = datetime(2026, 3, 2, tzinfo=UTC)
# 08:00 Pacific: the 7 simulated days take 14 real minutes at 720x, all in one quota day.
WALL_START = datetime(2026, 3, 2, 16, tzinfo=UTC)


class CompressedLife(Lifecycle):
    """A Lifecycle whose waits pass at once, advancing `offset` (the clocks below add it)."""

    def __init__(self) -> None:
        super().__init__(Notifier(None))
        self.offset = 0.0

    async def sleep(self, seconds: float) -> bool:
        self.offset += max(0.0, seconds)
        await asyncio.sleep(0)
        return not self.stop.is_set()

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def wall(self) -> datetime:
        return WALL_START + timedelta(seconds=self.monotonic() - self._t0)

    _t0 = time.monotonic()


@dataclass
class Figures:
    """What the backfill left behind."""

    intents: int
    by_enricher: Counter[str]
    contradicting: int
    templates: int
    distinct_templates_used: int
    top_template_share: float
    requests: int
    compressed_seconds: float
    payloads: list[dict[str, Any]]

    def share(self, *enrichers: str) -> float:
        return sum(self.by_enricher[e] for e in enrichers) / self.intents

    def summary(self) -> dict[str, object]:
        return {"intents": self.intents, "by_enricher": dict(self.by_enricher),
                "gemini_or_phrasebank_share": round(self.share("gemini", "phrasebank"), 4),
                "contradicting_payloads": self.contradicting, "templates_in_bank": self.templates,
                "distinct_templates_used": self.distinct_templates_used,
                "most_used_template_share_of_phrasebank": round(self.top_template_share, 4),
                "gemini_requests": self.requests, "simulated_real_seconds": round(self.compressed_seconds)}


def seven_days(seed: int, days: int = 7) -> list[Intent]:
    """The default profile's intents of `days` simulated days from SIM_START, in arrival order."""
    workload = Workload.load(Path(__file__).resolve().parent.parent / "data/profiles/default.toml")
    first = window_of(SIM_START)
    return [i for w in range(first, first + 24 * days) for i in workload.window_intents(seed, w)]


def backfill(state_dir: Path, days: int = 7, seed: int = 1, **overrides: Any) -> Figures:
    """Run it; the figures of the payloads written."""

    async def main() -> Figures:
        async with FakeGemini() as fake:
            settings = load_settings(state_dir=state_dir, gemini_api_key="test-key", gemini_base_url=fake.url,
                                     seed=seed, sim_start=SIM_START, gemini_backoff=0.01, gemini_timeout=5,
                                     **overrides)
            store = open_store(state_dir)
            establish_stream(store, settings)
            intents = seven_days(seed, days)
            with store.transaction() as tx:
                tx.put("intents", [i.model_dump_json().encode() for i in intents])
            store.close()
            store = open_store(state_dir, consumer_of=("intents",))
            life = CompressedLife()
            life._t0 = time.monotonic()
            enricher = GeminiEnricher(settings, life, EnricherStats(), bank=Phrasebank(state_dir),
                                      monotonic=life.monotonic, wall=life.wall)
            worker = EnricherWorker(store, enricher, batch_size=settings.enrich_batch_size * 4)
            await run(worker, life, drain=True)
            stats, offset = enricher.stats, life.offset
        check = open_store(state_dir)
        payloads = [json.loads(row.data) for row in check.rows("payloads")]
        check.close()
        bank = Phrasebank(state_dir)
        templates = len(bank)
        bank.close()
        return _figures(payloads, templates, stats.requests_total, offset)

    return asyncio.run(main())


def _figures(payloads: list[dict[str, Any]], templates: int, requests: int, offset: float) -> Figures:
    by = Counter(p["generator"]["enricher"] for p in payloads)
    wrong = 0
    for p in payloads:
        truth = Intent.model_validate(p["truth"])
        wrong += contradiction(truth, extract(p["request"]["text"])) is not None
    used = Counter(p["generator"]["template"] for p in payloads if p["generator"]["enricher"] == "phrasebank")
    top = used.most_common(1)[0][1] / sum(used.values()) if used else 0.0
    return Figures(len(payloads), by, wrong, templates, len(used), top, requests, offset, payloads)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        figures = backfill(Path(tmp), days=int(sys.argv[1]) if len(sys.argv) > 1 else 7)
        sys.stdout.write(json.dumps(figures.summary(), indent=2) + "\n")
