"""bin/replay-dead and the dead-letter store: selection, order, one-transaction moves, purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.delivery import dead
from pipeline.models import DeadLetter
from pipeline.queues import open_store
from tests.delivery_support import command

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _bury(state: Path, rows: list[tuple[str, str, int | None, int]]) -> None:
    """Dead letters (id, reason, status, minutes after T0 they died), as the deliverer writes them."""
    store = open_store(state)
    try:
        with store.transaction() as tx:
            tx.put("payloads", [json.dumps({"id": payload_id}).encode() for payload_id, *_ in rows])
        taken = store.take("payloads", len(rows))
        with store.transaction() as tx:
            for row, (payload_id, reason, status, minutes) in zip(taken, rows, strict=True):
                dead.bury(tx, row.pqid, DeadLetter(
                    payload_id=payload_id, body=json.dumps({"id": payload_id}), reason=reason, last_status=status,
                    attempts=4, first_attempt_at=T0, last_attempt_at=T0, dead_at=T0 + timedelta(minutes=minutes)))
    finally:
        store.close()


def _payload_ids(state: Path) -> list[str]:
    store = open_store(state)
    try:
        return [json.loads(row.data)["id"] for row in store.rows("payloads")]
    finally:
        store.close()


LETTERS = [("job_a", "rejected", 400, 1), ("job_b", "too_large", 413, 2), ("job_c", "max_age", None, 3),
           ("job_d", "rejected", 404, 4), ("job_e", "rejected", 400, 5)]


@pytest.mark.process
def test_filters_select_and_limit_keeps_the_oldest(tmp_path: Path) -> None:
    """--status/--reason/--id/--since select; --limit keeps the oldest; others stay dead."""
    _bury(tmp_path, LETTERS)
    out = command("replay_dead", tmp_path, "--status", "400", "--limit", "1")
    assert out.returncode == 0, out.stderr
    assert _payload_ids(tmp_path) == ["job_a"]
    out = command("replay_dead", tmp_path, "--reason", "rejected", "--id", "job_d", "--id", "job_b")
    assert _payload_ids(tmp_path) == ["job_a", "job_d"]
    out = command("replay_dead", tmp_path, "--since", (T0 + timedelta(minutes=2, seconds=30)).isoformat())
    assert _payload_ids(tmp_path) == ["job_a", "job_d", "job_c", "job_e"]
    store = open_store(tmp_path)
    assert [x.letter.payload_id for x in dead.read_all(store)] == ["job_b"]
    store.close()


def test_replay_keeps_the_exact_body_and_clears_attempts(tmp_path: Path) -> None:
    """The replayed row carries the stored bytes (same webhook-id) and no retry state."""
    _bury(tmp_path, LETTERS[:1])
    store = open_store(tmp_path)
    letters = dead.select(store, dead.Selection(ids=frozenset({"job_a"})))
    dead.replay(store, letters)
    assert [row.data for row in store.rows("payloads")] == [
        letters[0].letter.body.encode()]
    assert store.hold_count("payloads") == 0
    assert store.counts("dead").ready == 0
    store.close()


@pytest.mark.process
def test_usage_errors_exit_2_and_change_nothing(tmp_path: Path) -> None:
    """No filter without --all, or --purge without --yes, is a usage error."""
    _bury(tmp_path, LETTERS)
    assert command("replay_dead", tmp_path).returncode == 2
    assert command("replay_dead", tmp_path, "--all", "--purge").returncode == 2
    for limit in ("0", "-1", "two"):  # a negative slice would silently mean "all but the last N"
        assert command("replay_dead", tmp_path, "--all", "--limit", limit, "--purge", "--yes").returncode == 2
    assert _payload_ids(tmp_path) == []
    store = open_store(tmp_path)
    assert store.counts("dead").ready == len(LETTERS)
    store.close()


@pytest.mark.process
def test_purge_with_yes_deletes_only_the_selection(tmp_path: Path) -> None:
    """--purge --yes deletes the selected dead letters and moves nothing to the payloads queue."""
    _bury(tmp_path, LETTERS)
    out = command("replay_dead", tmp_path, "--reason", "rejected", "--purge", "--yes")
    assert out.returncode == 0 and "purged 3 dead letter(s)" in out.stdout
    store = open_store(tmp_path)
    assert [x.letter.payload_id for x in dead.read_all(store)] == ["job_b", "job_c"]
    store.close()
    assert _payload_ids(tmp_path) == []


@pytest.mark.process
def test_dry_run_lists_without_moving(tmp_path: Path) -> None:
    """--dry-run prints what would move, oldest first, and leaves the dead letters in place."""
    _bury(tmp_path, LETTERS)
    out = command("replay_dead", tmp_path, "--all", "--dry-run")
    assert [line.split()[2] for line in out.stdout.splitlines()[:-1]] == [x[0] for x in LETTERS]
    assert _payload_ids(tmp_path) == []
