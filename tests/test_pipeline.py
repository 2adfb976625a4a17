"""The three workers and the receiver as real processes on a temporary state folder."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.focus.live import usage_id
from pipeline.queues import open_view
from pipeline.workload import Workload, window_of, window_start
from tests.conftest import Receiver, command, intents_in, run, wait_until

pytestmark = pytest.mark.process  # every test here starts real processes


def expected_ids(start: datetime, end: datetime, seed: int = 42) -> set[str]:
    """The event ids the seed defines for (start, end], straight from the workload model: each job's
    request, its start and end when they fall inside the span, and the bill of every charge hour that
    ends inside it (cost.usage, one event an hour whether or not a job ran)."""
    workload = Workload.load(load_settings().profile)
    found: set[str] = set()
    for w in range(window_of(start), window_of(end) + 1):
        for intent, life in workload.window_jobs(seed, w):
            if start < intent.occurred_at <= end:
                found.add(intent.id)
                found |= {f"{intent.id}.started"} if life.started_at <= end else set()
                found |= {f"{intent.id}.finished"} if life.ended_at <= end else set()
    found |= {usage_id(seed, hour) for hour in range(window_of(start), window_of(end))
              if start < window_start(hour + 1) <= end}
    return found


START = datetime.fromisoformat("2026-03-02T00:00:00+00:00")


def checkpoint(state_dir: Path) -> datetime:
    """The scheduler's persisted simulated position."""
    with closing(open_view(state_dir)) as view:
        text = view.get_meta("clock")
    return START if text is None else datetime.fromisoformat(json.loads(text)["sim_now"])


def test_backfill_day_is_delivered_complete_without_duplicates(env: dict[str, str], receiver: Receiver) -> None:
    """Every intent of a one-day backfill arrives exactly once at the receiver."""
    assert run("scheduler", "--backfill", "1d", env=env).returncode == 0
    assert run("enricher", "--drain", env=env).returncode == 0
    result = run("deliverer", "--drain", env=env)
    assert result.returncode == 0, result.stderr
    expected = expected_ids(START, START + timedelta(days=1))
    assert len(expected) > 500
    assert set(receiver.ids()) == expected
    assert receiver.stats() == {"received": len(expected), "unique": len(expected), "duplicates": 0}
    stats = json.loads(run("queue-stats", "--json", env=env).stdout)
    assert stats["queues"]["intents"]["ready"] == stats["queues"]["payloads"]["ready"] == 0
    assert stats["sim_clock"]["now"] == (START + timedelta(days=1)).isoformat().replace("+00:00", "Z")


def test_deliverer_killed_mid_drain_loses_nothing(env: dict[str, str], receiver: Receiver) -> None:
    """SIGKILL during delivery, then a restart with --drain: every payload still arrives."""
    assert run("scheduler", "--backfill", "3d", env=env).returncode == 0
    assert run("enricher", "--drain", env=env).returncode == 0
    expected = expected_ids(START, START + timedelta(days=3))
    proc = subprocess.Popen(command("deliverer"), env=env, stderr=subprocess.DEVNULL)
    wait_until(lambda: receiver.stats()["received"] >= 200, interval=0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert receiver.stats()["unique"] < len(expected), "the kill landed after the drain finished"
    assert run("deliverer", "--drain", env=env).returncode == 0
    assert set(receiver.ids()) == expected


def test_scheduler_restart_continues_from_its_checkpoint(env: dict[str, str]) -> None:
    """Simulated time advances only while the scheduler runs, and no intent repeats or goes missing."""
    env.update({"SCALE_FACTOR": "20000", "TICK_INTERVAL_SEC": "0.1"})
    state = Path(env["STATE_DIR"])
    first = subprocess.Popen(command("scheduler"), env=env, stderr=subprocess.DEVNULL)
    wait_until(lambda: (state / "queues.db").exists() and checkpoint(state) > START + timedelta(hours=6))
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=10) == 0
    stopped_at = checkpoint(state)
    time.sleep(2.0)  # downtime must not count
    begun = time.monotonic()
    second = subprocess.Popen(command("scheduler"), env=env, stderr=subprocess.DEVNULL)
    wait_until(lambda: checkpoint(state) > stopped_at + timedelta(hours=6))
    second.send_signal(signal.SIGKILL)
    second.wait()
    ran_for = time.monotonic() - begun
    resumed_to = checkpoint(state)
    assert stopped_at < resumed_to <= stopped_at + timedelta(seconds=ran_for * 20000)
    ids = [i["id"] for i in intents_in(state)]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_ids(START, resumed_to)


def test_second_instance_of_a_role_exits_75(env: dict[str, str]) -> None:
    """A worker whose role is already held exits 75 naming the holder's pid."""
    holder = subprocess.Popen(command("enricher"), env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: (Path(env["STATE_DIR"]) / "enricher.lock").exists()
                   and (Path(env["STATE_DIR"]) / "enricher.lock").read_text().strip() == str(holder.pid))
        result = run("enricher", env=env)
        assert result.returncode == 75
        assert f"pid {holder.pid}" in result.stderr
        backfill = run("scheduler", "--backfill", "1h", env=env)
        assert backfill.returncode == 0  # another role is free
    finally:
        holder.terminate()
        assert holder.wait(timeout=10) == 0


def test_queue_stats_json_has_every_design_key(env: dict[str, str]) -> None:
    """queue-stats --json carries the documented keys, with counts from SQL."""
    assert run("scheduler", "--backfill", "2h", env=env).returncode == 0
    stats = json.loads(run("queue-stats", "--json", env=env).stdout)
    assert set(stats) >= {"queues", "dead", "sim_clock", "seed", "delivery", "enricher"}
    assert set(stats["queues"]["payloads"]) >= {"ready", "unacked", "oldest_ready_age_s", "waiting_retry"}
    assert set(stats["delivery"]) >= {"delivered_total", "last_success_at", "last_error", "breaker", "paused",
                                      "next_retry_at"}
    assert set(stats["enricher"]) >= {"requests_today", "tokens_in", "tokens_out", "est_cost_usd", "fallbacks"}
    assert stats["seed"] == 42
    assert stats["queues"]["intents"]["ready"] == len(intents_in(Path(env["STATE_DIR"]))) > 0


def test_queue_stats_refuses_a_missing_state_folder(env: dict[str, str], tmp_path: Path) -> None:
    """A read-only command never creates the folder it was pointed at."""
    env["STATE_DIR"] = str(tmp_path / "nowhere")
    result = run("queue-stats", env=env)
    assert result.returncode == 2
    assert "no such state folder" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_changed_seed_is_refused_naming_both_values(env: dict[str, str]) -> None:
    """A different SEED on an existing state folder exits 78 naming the stored one."""
    assert run("scheduler", "--backfill", "1h", env=env).returncode == 0
    env["SEED"] = "43"
    result = run("scheduler", "--backfill", "1h", env=env)
    assert result.returncode == 78
    assert "SEED='43'" in result.stderr and "42" in result.stderr


def test_logs_are_json_lines_off_a_terminal(env: dict[str, str]) -> None:
    """Off a terminal every log line is a JSON object with a stable event name."""
    result = run("scheduler", "--backfill", "1h", env=env)
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert events[0] == "worker.settings" and events[-1] == "worker.stopped"
    assert "worker.started" in events


def test_error_lines_name_the_command_and_watch_ends_cleanly_on_ctrl_c(env: dict[str, str], tmp_path: Path) -> None:
    """Messages start with the command's name; Ctrl-C leaves queue-stats --watch with exit 0."""
    env["STATE_DIR"] = str(tmp_path / "nowhere")
    assert run("queue-stats", env=env).stderr.startswith("queue-stats: ")
    env["STATE_DIR"] = str(tmp_path)
    watch = subprocess.Popen(command("queue-stats", "--watch", "0.2"), env=env, stdout=subprocess.PIPE)
    assert watch.stdout is not None
    watch.stdout.readline()  # it is showing the table
    watch.send_signal(signal.SIGINT)
    assert watch.wait(timeout=10) == 0
