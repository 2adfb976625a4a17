"""bin/replay: a span of simulated time sent again with the ids a clean backfill of it gives, state untouched."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipeline.receiver import free_port
from tests.conftest import Receiver, intents_in, run

pytestmark = pytest.mark.process  # every test here starts real processes

SPAN = ("--from", "2026-03-03T00:00:00Z", "--to", "2026-03-05T00:00:00Z")


def _snapshot(state_dir: Path) -> list[str]:
    """Every row of every table of the queue file, as SQL: equal snapshots mean an untouched state."""
    conn = sqlite3.connect(state_dir / "queues.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _clean_backfill_ids(tmp_path: Path, env: dict[str, str]) -> list[str]:
    """The ids a new state folder started at the span's start and backfilled over it produces."""
    clean = {**env, "STATE_DIR": str(tmp_path / "clean"), "SIM_START": "2026-03-03T00:00:00Z"}
    done = run("scheduler", "--backfill", "2d", env=clean)
    assert done.returncode == 0, done.stderr
    return [i["id"] for i in intents_in(tmp_path / "clean") if _requested(i)]


def _requested(row: dict[str, object]) -> bool:
    """A job request (the events of a job's life, job.started and job.finished, are not replayed yet)."""
    return row.get("type", "job.requested") == "job.requested"


def test_replay_of_two_days_delivers_exactly_the_ids_of_a_clean_backfill(
        tmp_path: Path, env: dict[str, str], receiver: Receiver) -> None:
    """The running stream (3 days generated from 2026-03-02) is replayed for days 2-3: the receiver gets each
    id of a clean 2-day backfill from 2026-03-03 once, and the stream's queue file is unchanged."""
    state = Path(env["STATE_DIR"])
    done = run("scheduler", "--backfill", "3d", env=env)
    assert done.returncode == 0, done.stderr
    before = _snapshot(state)
    replay = run("replay", *SPAN, env=env, timeout=300)
    assert replay.returncode == 0, replay.stderr
    assert _snapshot(state) == before
    expected = _clean_backfill_ids(tmp_path, env)
    received = receiver.ids()
    assert len(expected) > 1000
    assert sorted(received) == sorted(expected)  # each exactly once: same multiset
    assert f"sent {len(expected)} payload(s)" in replay.stdout
    bodies = [json.loads(line)["body"] for line in receiver.store.read_text().splitlines()]
    assert all(b["occurred_at"] > "2026-03-03T00:00:00" for b in bodies)


def test_replay_to_file_writes_the_same_payloads_as_json_lines(tmp_path: Path, env: dict[str, str]) -> None:
    """--to-file writes one payload a line with the same ids, and the command reads nothing but the stream."""
    done = run("scheduler", "--backfill", "1d", env=env)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "span.jsonl"
    replay = run("replay", "--from", "2026-03-02T06:00:00Z", "--to", "2026-03-02T12:00:00Z",
                 "--to-file", str(out), env=env)
    assert replay.returncode == 0, replay.stderr
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    generated = [i["id"] for i in intents_in(Path(env["STATE_DIR"]))
                 if _requested(i) and "2026-03-02T06:00:00" < str(i["occurred_at"]) <= "2026-03-02T12:00:00"]
    assert ids == generated and ids


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


def test_replay_to_an_endpoint_that_answers_nothing_stops_with_one_line(env: dict[str, str]) -> None:
    """Connection refused through every quick retry: the replay stops (not one payload at a time for hours),
    says so in one line and exits 1."""
    assert run("scheduler", "--backfill", "1d", env=env).returncode == 0
    env["WEBHOOK_URL"] = f"http://127.0.0.1:{free_port()}/webhook"
    done = run("replay", "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-03T00:00:00Z", env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "answered nothing" in done.stderr and "Traceback" not in done.stderr
