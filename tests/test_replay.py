"""bin/replay: a span of simulated time sent again with the ids a clean backfill of it gives, state untouched."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.events import stamp
from pipeline.focus.bill import lookback_hours
from pipeline.models import EVENT_TYPES
from pipeline.receiver import free_port
from pipeline.stream import Stream
from pipeline.workers.span import span_events
from pipeline.workload import Workload
from tests.conftest import ROOT, Receiver, intents_in, run

SPAN = ("--from", "2026-03-03T00:00:00Z", "--to", "2026-03-05T00:00:00Z")


def _snapshot(state_dir: Path) -> list[str]:
    """Every row of every table of the queue file, as SQL: equal snapshots mean an untouched state."""
    conn = sqlite3.connect(state_dir / "queues.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _span_rows(state_dir: Path, start: str, end: str) -> list[dict[str, Any]]:
    """The rows (of every event type) a backfill from SIM_START stored for the simulated span (start, end], in
    stream order: what a clean backfill delivers for that span."""
    return [row for row in intents_in(state_dir) if start < _at(row) <= end]


def _at(row: dict[str, Any]) -> str:
    """A stored row's simulated time as a fixed-width UTC text (cost.usage: the end of its charge hour)."""
    return datetime.fromisoformat(str(row["occurred_at"])).astimezone(UTC).replace(tzinfo=None).isoformat()


def _without_emitted_at(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "emitted_at"}


def _same_bodies(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    """Each lifecycle and usage body equals the stored one but for emitted_at; requests match by id (their
    text is the offline writer's)."""
    stored = {row["id"]: row for row in expected}
    for body in got:
        if body.get("type", "job.requested") != "job.requested":
            assert _without_emitted_at(body) == _without_emitted_at(stored[body["id"]]), body["id"]


@pytest.mark.process
def test_replay_of_two_days_delivers_exactly_the_ids_of_a_clean_backfill(
        env: dict[str, str], receiver: Receiver) -> None:
    """The running stream (3 days backfilled from SIM_START 2026-03-02) is replayed for days 2-3: the receiver
    gets each event a clean backfill delivers for that span once (requests, the starts and finishes in the
    span also of jobs requested before it, the hourly bills), the same bodies, and the queue file is unchanged."""
    state = Path(env["STATE_DIR"])
    done = run("scheduler", "--backfill", "3d", env=env)
    assert done.returncode == 0, done.stderr
    before = _snapshot(state)
    replay = run("replay", *SPAN, env=env, timeout=600)
    assert replay.returncode == 0, replay.stderr
    assert _snapshot(state) == before
    expected = _span_rows(state, "2026-03-03T00:00:00", "2026-03-05T00:00:00")
    types = Counter(row.get("type", "job.requested") for row in expected)
    assert types["job.requested"] > 1000 and types["cost.usage"] == 48, types
    assert types["job.started"] > 0 and types["job.finished"] > 0, types
    # Some finishes in the span belong to jobs requested before it.
    early = {row["id"] for row in intents_in(state) if _at(row) <= "2026-03-03T00:00:00"}
    assert any(row["id"].removesuffix(".finished") in early for row in expected if row.get("type") == "job.finished")
    received = receiver.ids()
    assert sorted(received) == sorted(row["id"] for row in expected)  # each exactly once: same multiset
    assert f"sent {len(expected)} payload(s)" in replay.stdout
    bodies = [json.loads(line)["body"] for line in receiver.store.read_text().splitlines()]
    _same_bodies(expected, bodies)


@pytest.mark.process
def test_replay_to_file_writes_the_span_in_stream_order(tmp_path: Path, env: dict[str, str]) -> None:
    """--to-file writes one payload a line, in the stream's order, with the stream's ids and bodies; only the
    types WEBHOOK_EVENT_TYPES selects."""
    done = run("scheduler", "--backfill", "1d", env=env)
    assert done.returncode == 0, done.stderr
    state = Path(env["STATE_DIR"])
    out = tmp_path / "span.jsonl"
    span = ("--from", "2026-03-02T06:00:00Z", "--to", "2026-03-02T12:00:00Z")
    replay = run("replay", *span, "--to-file", str(out), env=env)
    assert replay.returncode == 0, replay.stderr
    bodies = [json.loads(line) for line in out.read_text().splitlines()]
    expected = _span_rows(state, "2026-03-02T06:00:00", "2026-03-02T12:00:00")
    assert [b["id"] for b in bodies] == [row["id"] for row in expected] and len(bodies) > 100
    _same_bodies(expected, bodies)
    replay = run("replay", *span, "--to-file", str(out), env={**env, "WEBHOOK_EVENT_TYPES": "job.finished"})
    assert replay.returncode == 0, replay.stderr
    finished = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert finished == [row["id"] for row in expected if row.get("type") == "job.finished"] and finished


@pytest.mark.process
def test_replay_needs_a_stream_or_a_seed_and_an_ordered_span(tmp_path: Path, env: dict[str, str]) -> None:
    """Without a stream in the state folder and without SEED it stops with one line and exit 2; a reversed
    span is a usage error too."""
    env.pop("SEED")
    (tmp_path / "empty").mkdir()
    env["STATE_DIR"] = str(tmp_path / "empty")
    done = run("replay", *SPAN, "--to-file", str(tmp_path / "x.jsonl"), env=env)
    assert done.returncode == 2 and "--seed" in done.stderr and "Traceback" not in done.stderr
    done = run("replay", "--from", "2026-03-05T00:00:00Z", "--to", "2026-03-03T00:00:00Z", env=env)
    assert done.returncode == 2 and "later than --from" in done.stderr


@pytest.mark.process
def test_replay_to_an_endpoint_that_answers_nothing_stops_with_one_line(env: dict[str, str]) -> None:
    """Connection refused through every quick retry: the replay stops (not one payload at a time for hours),
    says so in one line and exits 1."""
    assert run("scheduler", "--backfill", "1d", env=env).returncode == 0
    env["WEBHOOK_URL"] = f"http://127.0.0.1:{free_port()}/webhook"
    done = run("replay", "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-03T00:00:00Z", env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "answered nothing" in done.stderr and "Traceback" not in done.stderr


def test_a_span_long_after_sim_start_is_the_stream_from_sim_start_cut_to_it() -> None:
    """A span starting more than the bill's lookback after SIM_START (so replay starts its bill and jobs at the
    lookback, not at SIM_START) gives exactly the events, bodies and order of the stream generated from
    SIM_START, cut to the span: the lookback misses no start, finish or billed cost, and the bill is the same."""
    workload = Workload.load(ROOT / "data/profiles/startup.toml")
    start = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    stream = Stream(7, start, "data/profiles/startup.toml", None)
    t1 = start + timedelta(hours=lookback_hours(workload) + 30)
    t2 = t1 + timedelta(days=2)
    emitted_at = datetime(2026, 11, 30, tzinfo=UTC)

    def events(first: datetime) -> list[tuple[str, bytes]]:
        return [e for _end, chunk in span_events(workload, stream, first, t2, emitted_at, types=EVENT_TYPES)
                for e in chunk]

    replayed = events(t1)
    whole = [e for e in events(start) if e[0].split("|")[0] > stamp(t1)]
    assert replayed == whole
    kinds = Counter(key.split("|")[1] for key, _ in replayed)
    assert kinds["3"] == 48 and all(kinds[rank] for rank in "012"), kinds
