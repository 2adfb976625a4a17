"""Liveness: each worker's heartbeat; queue-stats shows who runs, how fast, and --check fails when one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.liveness import STALE_AFTER, Heartbeat, liveness, problems, role_state
from tests.children import Child, running, stats, wait_for
from tests.conftest import Receiver, command


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command("queue-stats", "--check"), env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_heartbeat_goes_stale_and_a_dead_pid_is_seen_at_once(tmp_path: Path) -> None:
    """Running while fresh; "not responding" past STALE_AFTER; "died" when the pid is gone; a clean one-shot
    end is no problem, a live role's stop is."""
    wall = [2_000_000_000.0]
    beat = Heartbeat(tmp_path, "enricher", one_shot=False, processed=lambda: 120, wall=lambda: wall[0])
    beat.beat(force=True)
    assert role_state(tmp_path, "enricher", now=wall[0] + 1)["running"]
    stale = role_state(tmp_path, "enricher", now=wall[0] + STALE_AFTER + 1)
    assert not stale["running"] and "not responding" in stale["problem"]
    dead = role_state(tmp_path, "enricher", now=wall[0] + 1, alive=lambda _pid: False)
    assert not dead["running"] and "died" in dead["problem"] and str(os.getpid()) in dead["problem"]
    beat.stopped(clean=True)
    assert problems({"enricher": role_state(tmp_path, "enricher", now=wall[0])}) == [
        f"enricher stopped at {beat.record['stopped_at']}"]
    once = Heartbeat(tmp_path, "scheduler", one_shot=True, processed=lambda: 0, wall=lambda: wall[0])
    once.stopped(clean=False)
    assert problems({"scheduler": role_state(tmp_path, "scheduler", now=wall[0])}) == []
    assert liveness(tmp_path)["deliverer"] == role_state(tmp_path, "deliverer")  # never ran: stopped, no problem
    assert not liveness(tmp_path)["deliverer"]["running"] and liveness(tmp_path)["deliverer"]["problem"] is None


@pytest.mark.process
def test_check_fails_within_a_minute_of_a_killed_deliverer_and_passes_after_its_restart(
        tmp_path: Path, env: dict[str, str], receiver: Receiver) -> None:
    """SIGKILL leaves no goodbye: the dead pid is what --check notices, naming the role and the reason."""
    logs = tmp_path / "logs"
    workers = {role: Child(role, env=env, logs=logs) for role in ("scheduler", "enricher", "deliverer")}
    with running(*workers.values()):
        everyone = list(workers.values())
        up = wait_for(lambda: (s := stats(env)) and all(w["running"] for w in s["workers"].values()) and s,
                      "all three running", everyone)
        for role, child in workers.items():
            assert up["workers"][role]["pid"] == child.proc.pid and up["workers"][role]["since"]
        wait_for(lambda: _check(env).returncode == 0, "--check passes", everyone)
        rates = wait_for(lambda: (s := stats(env))["queues"]["payloads"]["rate_per_min"] is not None and s,
                         "a delivery rate over the last minute", everyone)
        assert rates["queues"]["payloads"]["rate_per_min"] >= 0
        table = subprocess.run(command("queue-stats"), env=env, capture_output=True, text=True, timeout=60,
                               check=False).stdout
        assert f"deliverer  running, pid {workers['deliverer'].proc.pid}" in table, table

        workers["deliverer"].proc.send_signal(signal.SIGKILL)
        workers["deliverer"].proc.wait(timeout=30)
        killed = time.monotonic()
        failed = wait_for(lambda: (r := _check(env)).returncode == 1 and r, "--check fails", everyone, timeout=60)
        assert "deliverer died" in failed.stdout and str(workers["deliverer"].proc.pid) in failed.stdout
        print(f"--check failed {time.monotonic() - killed:.1f} s after the SIGKILL")

        again = Child("deliverer", env=env, logs=logs, label="deliverer-restarted")
        with running(again):
            wait_for(lambda: _check(env).returncode == 0, "--check passes after the restart", [*everyone, again])
