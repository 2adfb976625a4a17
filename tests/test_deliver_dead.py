"""Real processes: ids answered 400 become dead letters; replay-dead --all sends each exactly once more."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.delivery_support import (
    command,
    deliverer,
    free_port,
    put_payloads,
    queue_stats,
    start_receiver,
    stored_ids,
)

pytestmark = pytest.mark.process  # every test here starts real processes

ENV = {"DELIVERY_RETRY_SCHEDULE": "0.1,0.1"}


def test_rejected_ids_are_dead_lettered_then_replayed_exactly_once(tmp_path: Path) -> None:
    """400s end as dead letters (rest delivered); after a fix, replay-dead --all delivers each once more."""
    port, state, received = free_port(), tmp_path / "state", tmp_path / "received.jsonl"
    ids = [f"job_{i:02d}" for i in range(40)]
    rejected = ids[3::8]
    (tmp_path / "reject.txt").write_text("\n".join(rejected) + "\n")
    put_payloads(state, ids)
    receiver = start_receiver(port, "--store", str(received), "--reject-ids", str(tmp_path / "reject.txt"))
    try:
        assert deliverer(state, port, "--drain", env=ENV).wait(timeout=60) == 0
    finally:
        receiver.kill()
        receiver.wait()
    assert sorted(stored_ids(received)) == sorted(set(ids) - set(rejected))
    stats = queue_stats(state)
    assert stats["dead"] == {"count": len(rejected), "by_reason": {"rejected": len(rejected)},
                             "by_status": {"400": len(rejected)}}
    check = command("queue_stats", state, "--check")
    assert check.returncode == 1 and "dead letters" in check.stdout
    listing = json.loads(command("queue_stats", state, "--dead", "--json").stdout)["dead"]["letters"]
    assert [d["payload_id"] for d in listing] == rejected  # oldest first
    assert {d["attempts"] for d in listing} == {3}  # through the two-interval schedule once, then dead
    assert all(d["response_snippet"].startswith("rejected id") for d in listing)

    assert command("replay_dead", state).returncode == 2  # no filter and no --all
    dry = command("replay_dead", state, "--all", "--dry-run")
    assert dry.returncode == 0 and f"would replay {len(rejected)}" in dry.stdout
    assert queue_stats(state)["dead"]["count"] == len(rejected)

    replay = command("replay_dead", state, "--all")
    assert replay.returncode == 0
    assert [line.split()[1] for line in replay.stdout.splitlines()[:-1]] == rejected
    receiver = start_receiver(port, "--store", str(received))  # the endpoint is fixed
    try:
        assert deliverer(state, port, "--drain", env=ENV).wait(timeout=60) == 0
    finally:
        receiver.kill()
        receiver.wait()
    counts = Counter(stored_ids(received))
    assert counts == Counter(ids)  # each replayed id arrived exactly once, nothing else again
    assert queue_stats(state)["dead"]["count"] == 0
    assert command("queue_stats", state, "--check").returncode == 0
