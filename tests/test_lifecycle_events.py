"""job.requested, job.started and job.finished: complete, in order, and the same however time was cut."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.queues import open_view
from tests.conftest import intents_in
from tests.test_scheduler import START, FakeClock, live_ticks, run_until_drained, scheduler


def bodies(state: Path) -> list[dict[str, Any]]:
    """Every job event of the intents queue in order, without the real time it was emitted (the bill's
    cost.usage events are tested in test_focus_stream.py)."""
    return [{k: v for k, v in row.items() if k != "emitted_at"} for row in intents_in(state)
            if row.get("type") != "cost.usage"]


def kind(row: dict[str, Any]) -> str:
    return str(row.get("type", "job.requested"))


def at(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["occurred_at"])


def waiting(state: Path) -> list[dict[str, Any]]:
    """Lifecycle events waiting for their time, in stream order, without the time they were built."""
    with closing(open_view(state)) as view:
        rows = [json.loads(b) for b in view.deferred()]
    return [{k: v for k, v in row.items() if k != "emitted_at"} for row in rows]


def backfill(state: Path, days: float, seed_clock: FakeClock | None = None) -> None:
    worker = scheduler(state, seed_clock or FakeClock(), scale=720, backfill=timedelta(days=days))
    asyncio.run(run_until_drained(worker))
    asyncio.run(worker.close())


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("events") / "state"
    backfill(state, 2)
    return state


def test_every_request_has_one_start_and_one_end_or_is_still_running(two_days: Path) -> None:
    rows, later = bodies(two_days), waiting(two_days)
    requested = [r["id"] for r in rows if kind(r) == "job.requested"]
    assert len(requested) > 2000 and len(set(requested)) == len(requested)
    events = Counter((r["job_id"], kind(r)) for r in rows + later if kind(r) != "job.requested")
    for job in requested:
        assert events[job, "job.started"] == 1 and events[job, "job.finished"] == 1
    assert sum(events.values()) == 2 * len(requested)
    # Jobs still queued or running at the end of the span: their events wait, none is due yet.
    end = START + timedelta(days=2)
    assert later and all(at(r) > end for r in later)
    assert all(at(r) <= end for r in rows)


def test_events_are_in_time_order_and_each_job_in_its_own_order(two_days: Path) -> None:
    rows = bodies(two_days)
    times = [at(r) for r in rows]
    assert times == sorted(times)
    seen: dict[str, list[str]] = {}
    requested_at: dict[str, datetime] = {}
    for row in rows:
        job = row.get("job_id", row["id"]) if kind(row) != "job.requested" else row["id"]
        seen.setdefault(job, []).append(kind(row))
        if kind(row) == "job.requested":
            requested_at[job] = at(row)
        elif kind(row) == "job.started":
            assert at(row) >= requested_at[job] and row["started_at"] == row["occurred_at"]
        else:
            assert datetime.fromisoformat(row["ended_at"]) >= datetime.fromisoformat(row["started_at"])
    for order in seen.values():
        assert order == ["job.requested", "job.started", "job.finished"][: len(order)]


def test_finished_events_carry_coherent_usage_and_cost(two_days: Path) -> None:
    finished = [r for r in bodies(two_days) if kind(r) == "job.finished"]
    assert {r["outcome"] for r in finished} >= {"completed", "failed", "cancelled"}
    for row in finished:
        total = 0.0
        for attempt in row["attempts"]:
            hours = (datetime.fromisoformat(attempt["ended_at"])
                     - datetime.fromisoformat(attempt["started_at"])).total_seconds() / 3600
            assert attempt["gpu_hours"] == pytest.approx(attempt["gpu_count"] * hours, abs=1e-6)
            total += attempt["gpu_hours"]
        assert row["gpu_hours"] == pytest.approx(total, abs=1e-5)
        # Each is rounded to 4 decimals on its own (billed_cost is the sum of the bill's rows): one unit.
        assert row["billed_cost"] <= row["list_cost"] + 1e-4 + 1e-9
        assert row["id"] == row["job_id"] + ".finished" and row["type"] == "job.finished"


def test_ticks_of_any_size_and_split_backfills_give_the_same_events(tmp_path: Path) -> None:
    """Random live ticks, a scale change, and 1 + 1 day backfills equal one 2-day backfill (all types)."""
    clock = FakeClock()
    live = scheduler(tmp_path / "live", clock, scale=720)
    rng = random.Random(8)
    asyncio.run(live_ticks(live, clock, rng, 40))
    live.scale_factor = 3600
    asyncio.run(live_ticks(live, clock, rng, 25))
    asyncio.run(live.close())
    span = live.sim_now - START
    one = tmp_path / "one"
    worker = scheduler(one, FakeClock(), scale=720, backfill=span)
    asyncio.run(run_until_drained(worker))
    asyncio.run(worker.close())
    assert bodies(tmp_path / "live") == bodies(one)
    assert waiting(tmp_path / "live") == waiting(one)
    assert {kind(r) for r in bodies(one)} == {"job.requested", "job.started", "job.finished"}

    split = tmp_path / "split"
    backfill(split, 1)
    backfill(split, 1)  # resumes at the checkpoint, with the first day's pending events
    whole = tmp_path / "whole"
    backfill(whole, 2)
    assert bodies(split) == bodies(whole) and waiting(split) == waiting(whole)


def test_same_seed_twice_gives_the_same_events_and_another_seed_does_not(tmp_path: Path) -> None:
    backfill(tmp_path / "a", 0.5)
    backfill(tmp_path / "b", 0.5)
    assert bodies(tmp_path / "a") == bodies(tmp_path / "b")
    worker = scheduler(tmp_path / "c", FakeClock(), scale=720, backfill=timedelta(days=0.5))
    worker.stream = type(worker.stream)(43, START, "default")
    asyncio.run(run_until_drained(worker))
    asyncio.run(worker.close())
    assert bodies(tmp_path / "c") != bodies(tmp_path / "a")
