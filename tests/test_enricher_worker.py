"""The enricher worker keeps the stream flowing past rows it cannot read and writers that fail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from pipeline.enrich import Enriched
from pipeline.enrich.offline import OfflineEnricher
from pipeline.enrich.stats import EnricherStats
from pipeline.models import DeadLetter, Intent
from pipeline.queues import Counts, Store, open_store
from pipeline.stream import STREAM_KEY
from pipeline.workers.enricher import EnricherWorker
from tests.enrich_fixtures import make_intent


class BrokenEnricher:
    """A writer with a defect: every batch raises."""

    def __init__(self) -> None:
        self.stats = EnricherStats()

    async def enrich(self, intents: Sequence[Intent], seed: int = 0) -> list[Enriched]:
        raise RuntimeError("bug in a writer")

    async def aclose(self) -> None:
        """Nothing to release."""


def store_with(tmp_path: Path, rows: list[bytes]) -> Store:
    """A store whose stream exists and whose intents queue holds `rows`."""
    store = open_store(tmp_path, consumer_of=("intents",))
    with store.transaction() as tx:
        tx.set_meta(STREAM_KEY, json.dumps({"seed": 1, "sim_start": "2026-03-02T00:00:00+00:00",
                                            "profile": "data/profiles/default.toml"}))
        tx.put("intents", rows)
    return store


async def drain(worker: EnricherWorker) -> None:
    """Step until the intents queue is empty."""
    while await worker.step():
        pass


def payload_ids(store: Store) -> list[str]:
    """Ids of the payloads queue, in order."""
    return [json.loads(row.data)["id"] for row in store.rows("payloads")]


def test_unreadable_intent_becomes_a_dead_letter_and_the_rest_flow(tmp_path: Path) -> None:
    """A row no Intent can parse is kept as a dead letter; its neighbours become payloads."""
    good = [make_intent(k) for k in range(5)]
    rows = [g.model_dump_json().encode() for g in good]
    rows.insert(2, b'{"id": "job_from_the_future", "new_field": 1}')
    store = store_with(tmp_path, rows)
    worker = EnricherWorker(store, OfflineEnricher(), batch_size=4)
    asyncio.run(drain(worker))
    assert payload_ids(store) == [g.id for g in good]
    (dead,) = [DeadLetter.model_validate_json(row.data) for row in store.rows("dead")]
    assert dead.reason == "unreadable_intent" and "job_from_the_future" in dead.body
    assert store.counts("intents") == Counts(0, 0, None)


def test_failing_writer_falls_back_to_offline_for_that_batch(tmp_path: Path) -> None:
    """An unexpected error from the writer yields offline payloads, counted as fallbacks, not a crash."""
    good = [make_intent(k) for k in range(3)]
    store = store_with(tmp_path, [g.model_dump_json().encode() for g in good])
    broken = BrokenEnricher()
    worker = EnricherWorker(store, broken, batch_size=8)
    asyncio.run(drain(worker))
    assert payload_ids(store) == [g.id for g in good]
    enrichers = {json.loads(row.data)["generator"]["enricher"] for row in store.rows("payloads")}
    assert enrichers == {"offline"}
    assert broken.stats.fallbacks == 3
