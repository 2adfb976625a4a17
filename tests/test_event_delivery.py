"""Lifecycle events through the enricher and the deliverer: passed through in order, sent in each job's
order, filtered by WEBHOOK_EVENT_TYPES; and one committed JSON Schema per event type."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.enrich.offline import OfflineEnricher
from pipeline.events import parse_event_types, selected
from pipeline.models import EVENT_TYPES, event_schema
from pipeline.queues import Counts, open_store
from pipeline.workers.deliverer import Deliverer, Tuning
from pipeline.workers.enricher import EnricherWorker
from tests.conftest import run
from tests.enrich_fixtures import make_intent
from tests.test_deliver_worker import FakeClock, ScriptedSender, _run
from tests.test_enricher_worker import drain, payload_ids, store_with

DOCS = Path(__file__).resolve().parent.parent / "docs" / "events"


def event(job: str, kind: str) -> bytes:
    return json.dumps({"schema_version": 1, "type": kind, "id": f"{job}.{kind.split('.')[1]}", "job_id": job},
                      separators=(",", ":")).encode()


def test_enricher_passes_lifecycle_events_through_in_queue_order(tmp_path: Path) -> None:
    intents = [make_intent(k) for k in range(4)]
    rows = [intents[0].model_dump_json().encode(), event(intents[0].id, "job.started"),
            intents[1].model_dump_json().encode(), event(intents[0].id, "job.finished"),
            intents[2].model_dump_json().encode(), intents[3].model_dump_json().encode(),
            event(intents[2].id, "job.started")]
    store = store_with(tmp_path, rows)
    asyncio.run(drain(EnricherWorker(store, OfflineEnricher(), batch_size=3)))
    assert payload_ids(store) == [intents[0].id, f"{intents[0].id}.started", intents[1].id,
                                  f"{intents[0].id}.finished", intents[2].id, intents[3].id,
                                  f"{intents[2].id}.started"]
    stored = [row.data for row in store.rows("payloads")]
    assert stored[1] == rows[1] and stored[3] == rows[3]  # byte for byte
    first = json.loads(stored[0])
    assert (first["type"], first["job_id"]) == ("job.requested", intents[0].id)


def _put(state: Path, bodies: list[bytes]) -> None:
    store = open_store(state)
    with store.transaction() as tx:
        tx.put("payloads", bodies)
    store.close()


def _deliverer(state: Path, sender: ScriptedSender, clock: FakeClock, types: tuple[str, ...] = EVENT_TYPES,
               concurrency: int = 4) -> Deliverer:
    return Deliverer(open_store(state, consumer_of=("payloads",)), sender,
                     Tuning((1.0, 2.0), 100.0, 3600.0, concurrency, types), rng=random.Random(1), clock=clock,
                     wall=lambda: datetime(2026, 3, 2, tzinfo=UTC))


def requested(job: str) -> bytes:
    return json.dumps({"schema_version": 1, "type": "job.requested", "id": job, "job_id": job}).encode()


def test_a_jobs_events_wait_for_its_earlier_event_to_be_delivered(tmp_path: Path) -> None:
    """job_a's request fails twice; its started/finished are held until it is delivered; job_b flows."""
    _put(tmp_path, [requested("job_a"), requested("job_b"), event("job_a", "job.started"),
                    event("job_b", "job.started"), event("job_a", "job.finished"), event("job_b", "job.finished")])
    sender, clock = ScriptedSender(script={"job_a": [503, 503]}), FakeClock()
    d = _deliverer(tmp_path, sender, clock)
    asyncio.run(_run(d, clock, 20))
    delivered = [pid for pid, status in sender.answers if status == 204]
    assert sorted(delivered) == sorted(["job_a", "job_b", "job_a.started", "job_b.started", "job_a.finished",
                                        "job_b.finished"])
    assert [p for p in delivered if p.startswith("job_a")] == ["job_a", "job_a.started", "job_a.finished"]
    assert [p for p in sender.answers if p[0] != "job_a"] == [(p, 204) for p in delivered if p != "job_a"]
    assert delivered.index("job_b.finished") < delivered.index("job_a")  # job_b did not wait for job_a
    assert d.drained()


def test_a_dead_lettered_request_no_longer_holds_its_job_back(tmp_path: Path) -> None:
    _put(tmp_path, [requested("job_a"), event("job_a", "job.started")])
    sender, clock = ScriptedSender(script={"job_a": [400] * 5}), FakeClock()
    d = _deliverer(tmp_path, sender, clock)
    asyncio.run(_run(d, clock, 20))
    assert ("job_a.started", 204) in sender.answers and d.drained()


def test_webhook_event_types_sends_only_the_selected_types(tmp_path: Path) -> None:
    _put(tmp_path, [requested("job_a"), event("job_a", "job.started"), event("job_a", "job.finished"),
                    b'{"schema_version":1,"id":"job_old"}'])  # a body from before types: job.requested
    sender, clock = ScriptedSender(), FakeClock()
    d = _deliverer(tmp_path, sender, clock, types=("job.finished",))
    asyncio.run(_run(d, clock, 5))
    assert [pid for pid, _ in sender.answers] == ["job_a.finished"]
    assert d.drained() and d.store.counts("payloads") == Counts(0, 0, None)


def test_event_type_selection_is_a_pure_function() -> None:
    assert parse_event_types("") == EVENT_TYPES == parse_event_types("all")
    assert parse_event_types(" job.finished ,job.started,job.finished") == ("job.finished", "job.started")
    with pytest.raises(ValueError, match=r"unknown: job\.bogus"):
        parse_event_types("job.requested,job.bogus")
    assert selected(event("job_a", "job.started"), ("job.started",))
    assert not selected(requested("job_a"), ("job.started",))
    assert selected(b"not json", ("job.started",))  # the deliverer dead-letters it rather than dropping it


@pytest.mark.process
def test_an_unknown_event_type_exits_78(env: dict[str, str]) -> None:
    env["WEBHOOK_EVENT_TYPES"] = "job.requested,job.exploded"
    result = run("deliverer", env=env)
    assert result.returncode == 78, result.stderr
    assert "WEBHOOK_EVENT_TYPES" in result.stderr and "job.exploded" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_committed_event_schemas_match_the_models(kind: str) -> None:
    """docs/events/<type>.schema.json is regenerated with `python -m pipeline.models <type>`."""
    schema = DOCS / f"{kind}.schema.json"
    assert schema.read_text() == event_schema(kind)
    doc = json.loads(schema.read_text())
    job_fields = {"job_id"} if kind.startswith("job.") else set()  # cost.usage is an hour of the bill
    assert {"type", "id", "occurred_at", "emitted_at", *job_fields} <= set(doc["required"]) | {"type"}
    assert doc["properties"]["type"]["const"] == kind


def test_the_receivers_readable_line_tells_what_happened_to_the_job() -> None:
    from pipeline import ROOT
    from pipeline.events import lifecycle_events
    from pipeline.receiver import readable_line
    from pipeline.workload import Workload

    workload = Workload.load(ROOT / "data/profiles/default.toml")
    intent, life = workload.window_jobs(1, 493_000)[0]
    started, finished = (json.loads(e.body.model_dump_json())
                         for e in lifecycle_events(intent, life, 1, datetime(2026, 3, 2, tzinfo=UTC)))
    assert f"started {intent.id} on " in readable_line(started)
    line = readable_line(finished)
    assert f"finished {intent.id} {life.outcome} after" in line and f"{life.billed_cost:,.2f}  finished" in line
