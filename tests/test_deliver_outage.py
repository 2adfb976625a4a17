"""Real processes: a connection-refused outage far longer than the schedule and DELIVERY_MAX_AGE.

The issue's scenario is a 60 s outage with DELIVERY_RETRY_SCHEDULE=0.2,0.2,0.2; here the outage lasts
8 s, which keeps its meaning (13x the whole 0.6 s schedule, 4x DELIVERY_MAX_AGE=2s) and the suite short.
"""

from __future__ import annotations

import socket
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.delivery_support import (
    deliverer,
    free_port,
    log_events,
    put_payloads,
    queue_stats,
    start_receiver,
    stop,
    stored_ids,
    wait_until,
)

pytestmark = pytest.mark.process  # every test here starts real processes

OUTAGE_START, OUTAGE_LENGTH = 2.0, 8.0
ENV = {"DELIVERY_RETRY_SCHEDULE": "0.2,0.2,0.2", "DELIVERY_MAX_AGE": "2s"}


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _attempts(log: Path) -> dict[str, int]:
    """Attempts per payload id from the deliverer's log (a payload without events took one)."""
    most: dict[str, int] = defaultdict(lambda: 1)
    for event in log_events(log):
        if event["event"] == "delivery.retry_scheduled":
            most[event["payload_id"]] = max(most[event["payload_id"]], event["attempt"] + 1)
        elif event["event"] == "delivery.delivered_after_retry":
            most[event["payload_id"]] = max(most[event["payload_id"]], event["attempts"])
    return most


def test_outage_ends_with_everything_delivered_none_dead(tmp_path: Path) -> None:
    """Every payload arrives, none is dead, payloads queued during the outage used at most 2 attempts,
    and queue-stats from another process showed the breaker open with payloads waiting for a retry."""
    port, state, received, log = free_port(), tmp_path / "state", tmp_path / "received.jsonl", tmp_path / "d.log"
    receiver = start_receiver(port, "--store", str(received), "--outage", f"{OUTAGE_START},{OUTAGE_LENGTH}")
    put_payloads(state, [f"job_pre_{i}" for i in range(20)])
    proc = deliverer(state, port, env=ENV, log=log)
    all_ids: list[str] = [f"job_pre_{i}" for i in range(20)]
    during: list[str] = []
    seen_down = seen_open = False
    batch = 0
    try:
        while True:
            down = not _accepts(port)
            ids = [f"job_{batch}_{i}" for i in range(3)]
            put_payloads(state, ids)
            all_ids += ids
            batch += 1
            if down:
                during += ids
                seen_down = True
                if not seen_open:
                    stats = queue_stats(state)
                    seen_open = (stats["delivery"]["breaker"] != "closed"
                                 and stats["queues"]["payloads"]["waiting_retry"] > 0)
            elif seen_down:
                break  # the outage is over
            assert batch < 400, "the receiver's outage never ended"
            time.sleep(0.1)

        def settled() -> bool:
            stats = queue_stats(state)
            payloads = stats["queues"]["payloads"]
            return bool(payloads["ready"] == payloads["unacked"] == payloads["waiting_retry"] == 0)

        wait_until(settled, interval=0.3)
        assert stop(proc) == 0
    finally:
        proc.kill()
        receiver.kill()
    stats = queue_stats(state)
    assert seen_open, "queue-stats never showed the breaker open with payloads waiting for a retry"
    assert stats["dead"]["count"] == 0
    assert set(stored_ids(received)) == set(all_ids)
    attempts = _attempts(log)
    assert during, "no payload was queued during the outage"
    assert max(attempts[i] for i in during) <= 2
    assert stats["delivery"]["breaker"] == "closed"
