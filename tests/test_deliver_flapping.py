"""Real processes: a flapping endpoint (503s, 429 with Retry-After, dropped connections) gets everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.delivery_support import (
    SECRET,
    command,
    deliverer,
    free_port,
    log_events,
    put_payloads,
    queue_stats,
    receiver_stats,
    start_receiver,
    stored_ids,
)

pytestmark = pytest.mark.process  # every test here starts real processes

RETRY_AFTER = 0.4  # longer than any jittered 0.2 s interval, so honouring it is visible in the log


def test_flapping_endpoint_ends_with_every_payload_delivered(tmp_path: Path) -> None:
    """With a fifth of answers failing, every payload arrives signed, none is dead, 429s wait their Retry-After."""
    port, state, received, log = free_port(), tmp_path / "state", tmp_path / "received.jsonl", tmp_path / "d.log"
    ids = [f"job_{i:03d}" for i in range(60)]
    put_payloads(state, ids)
    receiver = start_receiver(port, "--store", str(received), "--secret", SECRET, "--seed", "7",
                              "--fail-rate", "0.2", "--fail-status", "503", "--fail-status", "429",
                              "--retry-after", str(RETRY_AFTER), "--drop-rate", "0.05")
    try:
        proc = deliverer(state, port, "--drain", "--drain-timeout", "60",
                         env={"DELIVERY_RETRY_SCHEDULE": "0.2,0.2,0.2", "WEBHOOK_SECRET": SECRET}, log=log)
        assert proc.wait(timeout=120) == 0
        answered = receiver_stats(port, "/answers")
    finally:
        receiver.kill()
    assert answered is not None
    assert set(stored_ids(received)) == set(ids)
    assert answered["answered"].get("401", 0) == 0  # every attempt, retries included, was signed afresh
    assert answered["answered"]["429"] > 0 and answered["answered"]["503"] > 0 and answered["dropped"] > 0
    stats = queue_stats(state)
    assert stats["dead"]["count"] == 0
    assert stats["delivery"]["delivered_total"] == len(ids)
    assert 0 < stats["delivery"]["success_rate_1h"] < 1
    retries = [e for e in log_events(log) if e["event"] == "delivery.retry_scheduled"]
    after_429 = [e["retry_in"] for e in retries if e["error"] == "HTTP 429"]
    assert after_429 and min(after_429) >= RETRY_AFTER
    assert command("queue_stats", state, "--check").returncode == 0
