"""Real processes: SIGKILL keeps attempt counts; SIGTERM aborts waits and exits 0, leaving rows queued."""

from __future__ import annotations

import signal
from contextlib import closing
from pathlib import Path

import pytest

from pipeline.delivery import dead, retry_state
from pipeline.queues import open_store, open_view
from tests.delivery_support import (
    deliverer,
    free_port,
    put_payloads,
    queue_stats,
    receiver_stats,
    start_receiver,
    stop,
    wait_until,
)

pytestmark = pytest.mark.process  # every test here starts real processes

SCHEDULE = "0.4,0.4,0.4,0.4,0.4"  # a refused payload dies after 6 attempts


def _retry_rows(state: Path) -> dict[str, tuple[int, str]]:
    with closing(open_view(state)) as view:
        records = [retry_state.RetryRecord.from_hold(hold) for hold in view.holds("payloads")]
    return {r.payload_id: (r.attempts, r.first_attempt_at) for r in records}


def test_sigkill_while_payloads_wait_for_retries_keeps_their_attempt_counts(tmp_path: Path) -> None:
    """After kill -9 and a restart the count continues: 6 requests per refused id in all, not 6 more."""
    port, state = free_port(), tmp_path / "state"
    ids = [f"job_{i:02d}" for i in range(20)]
    rejected = ids[::5]
    (tmp_path / "reject.txt").write_text("\n".join(rejected))
    put_payloads(state, ids)
    receiver = start_receiver(port, "--reject-ids", str(tmp_path / "reject.txt"))
    env = {"DELIVERY_RETRY_SCHEDULE": SCHEDULE}
    try:
        first = deliverer(state, port, env=env)
        def three_attempts_each() -> bool:
            rows = _retry_rows(state)
            return len(rows) == len(rejected) and min(a for a, _ in rows.values()) >= 3

        wait_until(three_attempts_each, interval=0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        before = _retry_rows(state)
        assert len(before) == len(rejected)
        second = deliverer(state, port, "--drain", env=env)
        assert second.wait(timeout=60) == 0
        answered = receiver_stats(port, "/answers")
    finally:
        receiver.kill()
    store = open_store(state)
    letters = {x.letter.payload_id: x.letter for x in dead.read_all(store)}
    store.close()
    assert sorted(letters) == sorted(rejected)
    for payload_id, (_, first_attempt) in before.items():
        assert letters[payload_id].attempts == 6
        assert letters[payload_id].first_attempt_at.isoformat().replace("+00:00", "Z") == first_attempt
    # Persisted: 6 per id, plus at most one request per id answered while the kill landed.
    # Reset on restart would have cost at least 3 + 6 per id.
    assert answered is not None
    assert answered["answered"]["400"] <= 7 * len(rejected)
    # The delivered count is committed with each ack, so the killed run's deliveries are not forgotten.
    assert queue_stats(state)["delivery"]["delivered_total"] == len(ids) - len(rejected)


def test_sigterm_aborts_a_retry_after_wait_and_leaves_rows_queued(tmp_path: Path) -> None:
    """Held by an hour-long Retry-After, the deliverer still stops at once with exit 0; nothing is lost."""
    port, state = free_port(), tmp_path / "state"
    put_payloads(state, [f"job_{i}" for i in range(10)])
    receiver = start_receiver(port, "--fail-rate", "1", "--fail-status", "429", "--retry-after", "3600")
    try:
        proc = deliverer(state, port)
        wait_until(lambda: (receiver_stats(port, "/answers") or {}).get("answered", {}).get("429", 0) > 0)
        assert stop(proc) == 0
    finally:
        receiver.kill()
    store = open_store(state)
    counts = store.counts("payloads")
    store.close()
    assert counts.ready + counts.in_flight == 10


def test_sigterm_with_requests_in_flight_exits_0_and_keeps_them(tmp_path: Path) -> None:
    """Requests stuck on a slow endpoint are abandoned unacked: a restart sends them again."""
    port, state = free_port(), tmp_path / "state"
    put_payloads(state, [f"job_{i}" for i in range(6)])
    receiver = start_receiver(port, "--latency", "30")
    try:
        proc = deliverer(state, port)
        wait_until(lambda: _in_flight(state) > 0)
        assert stop(proc) == 0
    finally:
        receiver.kill()
    store = open_store(state, consumer_of=("payloads",))  # what the next deliverer does on start
    assert store.counts("payloads").ready == 6
    store.close()


def test_sigterm_lets_requests_on_the_wire_finish_so_a_restart_resends_nothing(tmp_path: Path) -> None:
    """Answers arriving within the stop grace are committed: no duplicate after a routine restart."""
    port, state, received = free_port(), tmp_path / "state", tmp_path / "received.jsonl"
    ids = [f"job_{i}" for i in range(4)]
    put_payloads(state, ids)
    receiver = start_receiver(port, "--latency", "1", "--store", str(received))
    try:
        proc = deliverer(state, port)
        wait_until(lambda: _in_flight(state) == len(ids))
        assert stop(proc) == 0  # SIGTERM while all four wait for their answers
        assert _in_flight(state) == 0
        assert deliverer(state, port, "--drain").wait(timeout=60) == 0
        assert receiver_stats(port) == {"received": len(ids), "unique": len(ids), "duplicates": 0}
    finally:
        receiver.kill()


def _in_flight(state: Path) -> int:
    store = open_store(state)
    try:
        return int(store.counts("payloads").in_flight)
    finally:
        store.close()


def test_drain_gives_up_when_the_endpoint_stays_unreachable(tmp_path: Path) -> None:
    """--drain exits 1 naming the outage once the breaker stays open past --drain-timeout; nothing dies."""
    state = tmp_path / "state"
    put_payloads(state, [f"job_{i}" for i in range(5)])
    proc = deliverer(state, free_port(), "--drain", "--drain-timeout", "1",
                     env={"DELIVERY_RETRY_SCHEDULE": "0.2", "DELIVERY_MAX_AGE": "0.5"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and b"unreachable" in err
    stats = queue_stats(state)
    assert stats["dead"]["count"] == 0
    assert stats["delivery"]["breaker"] == "open"
    assert stats["queues"]["payloads"]["ready"] + stats["queues"]["payloads"]["unacked"] == 5
