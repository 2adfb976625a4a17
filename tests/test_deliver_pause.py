"""Real processes: a 410 Gone pauses delivery (persisted, visible, the queue keeps filling) until --resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.delivery_support import (
    command,
    deliverer,
    free_port,
    log_events,
    put_payloads,
    queue_stats,
    receiver_stats,
    start_receiver,
    stop,
    stored_ids,
    wait_until,
)

pytestmark = pytest.mark.process  # every test here starts real processes


def test_410_pauses_until_resume(tmp_path: Path) -> None:
    """--drain exits 1 naming the pause; a restarted deliverer stays paused; --resume delivers everything."""
    port, state, received, log = free_port(), tmp_path / "state", tmp_path / "received.jsonl", tmp_path / "d.log"
    ids = [f"job_{i:02d}" for i in range(10)]
    put_payloads(state, ids)
    gone = start_receiver(port, "--fail-rate", "1", "--fail-status", "410")
    try:
        drain = deliverer(state, port, "--drain")
        _, err = drain.communicate(timeout=60)
        assert drain.returncode == 1
        assert b"410" in err and b"--resume" in err
    finally:
        gone.kill()
        gone.wait()
    stats = queue_stats(state)
    assert stats["delivery"]["paused"] is True
    assert stats["queues"]["payloads"]["ready"] + stats["queues"]["payloads"]["unacked"] == len(ids)
    check = command("queue_stats", state, "--check")
    assert check.returncode == 1 and "paused" in check.stdout
    assert "PAUSED" in command("queue_stats", state).stdout

    later = [f"job_later_{i}" for i in range(5)]
    put_payloads(state, later)  # the queue keeps filling while paused
    fixed = start_receiver(port, "--store", str(received))
    try:
        proc = deliverer(state, port, log=log)
        wait_until(lambda: any(e["event"] == "delivery.paused" for e in log_events(log)))
        assert receiver_stats(port) == {"received": 0, "unique": 0, "duplicates": 0}
        resume = command("deliverer", state, "--resume")
        assert resume.returncode == 0 and "resumed" in resume.stdout
        wait_until(lambda: (receiver_stats(port) or {}).get("unique") == len(ids) + len(later))
        assert stop(proc) == 0
    finally:
        fixed.kill()
    assert sorted(stored_ids(received)) == sorted(ids + later)
    assert queue_stats(state)["delivery"]["paused"] is False
    assert "not paused" in command("deliverer", state, "--resume").stdout


def test_resume_without_a_running_deliverer_clears_the_pause_in_queue_stats(tmp_path: Path) -> None:
    """queue-stats reads the pause record itself, so --resume shows at once even with no deliverer running."""
    port, state = free_port(), tmp_path / "state"
    put_payloads(state, ["job_00"])
    gone = start_receiver(port, "--fail-rate", "1", "--fail-status", "410")
    try:
        assert deliverer(state, port, "--drain").wait(timeout=60) == 1
    finally:
        gone.kill()
        gone.wait()
    assert queue_stats(state)["delivery"]["paused"] is True
    assert command("deliverer", state, "--resume").returncode == 0
    stats = queue_stats(state)
    assert (stats["delivery"]["paused"], stats["delivery"]["paused_since"]) == (False, None)
    assert command("queue_stats", state, "--check").returncode == 0
