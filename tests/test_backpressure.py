"""Backpressure: at MAX_BACKLOG or MIN_FREE_DISK the scheduler's clock stops, and the stream stays the same."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from pipeline.backpressure import RESUME_BACKLOG, RESUME_DISK, Limits, Reading, pause_reason
from pipeline.queues import Store, open_store
from pipeline.receiver import free_port
from tests.children import Child, running, stats, wait_for
from tests.conftest import intents_in, run
from tests.test_scheduler import FakeClock, ids, scheduler


@given(st.integers(0, 10_000), st.integers(0, 10**9), st.integers(1, 5_000), st.integers(0, 10**8),
       st.booleans())
def test_pause_rule_has_hysteresis(backlog: int, free: int, bound: int, floor: int, paused: bool) -> None:
    """Running: pause at the bound. Paused: stay paused until below 90 % of it and 10 % above the floor."""
    reason = pause_reason(Reading(backlog, free), Limits(bound, floor), paused)
    limit = bound * (RESUME_BACKLOG if paused else 1.0)
    disk = floor * (RESUME_DISK if paused else 1.0)
    assert (reason is not None) == (backlog >= limit or (floor > 0 and free < disk))


def _consume(store: Store) -> list[str]:
    """What an enricher catching up does to the intents queue: take everything and acknowledge it."""
    rows = store.take("intents", 10**6)
    with store.transaction() as tx:
        tx.ack("intents", [row.pqid for row in rows])
    return [json.loads(row.data)["id"] for row in rows]


def test_a_backfill_pauses_at_the_bound_and_resumes_into_the_same_stream(tmp_path: Path) -> None:
    """The backlog never passes the bound by more than one commit; the intents equal a clean backfill's."""
    clock, free = FakeClock(), {"bytes": 10**12}
    span = timedelta(days=2)
    worker = scheduler(tmp_path / "bounded", clock, 720, backfill=span, limits=Limits(500, 10**8),
                       disk_free=lambda _folder: free["bytes"], pause_poll=0.0)
    consumer = open_store(tmp_path / "bounded", consumer_of=("intents",))
    seen: list[str] = []
    waiting_max = 0

    async def step() -> None:
        nonlocal waiting_max
        await worker.step()
        waiting_max = max(waiting_max, len(ids(tmp_path / "bounded")))

    async def drive() -> None:
        while worker.paused is None:  # 1. the backlog reaches the bound
            await step()
        assert len(ids(tmp_path / "bounded")) >= 500 and "MAX_BACKLOG" in worker.paused["reason"]
        at = worker.sim_now
        for _ in range(3):
            await step()
        assert worker.sim_now == at and worker.paused is not None, "paused: the simulated clock stands still"
        seen.extend(_consume(consumer))
        await step()
        assert worker.paused is None
        free["bytes"] = 10**8 // 2  # 2. the disk runs low
        await step()
        assert worker.paused is not None and "MIN_FREE_DISK" in worker.paused["reason"]
        free["bytes"] = int(1.05 * 10**8)  # above the floor, below its resume mark
        await step()
        assert worker.paused is not None
        free["bytes"] = 10**12
        while not worker.drained():  # 3. the rest, the consumers catching up whenever it pauses
            await step()
            if worker.paused is not None:
                seen.extend(_consume(consumer))

    with structlog.testing.capture_logs() as logs:
        asyncio.run(drive())
    seen.extend(_consume(consumer))
    clean = scheduler(tmp_path / "clean", FakeClock(), 720, backfill=span)
    asyncio.run(_until_drained(clean))
    assert seen == ids(tmp_path / "clean")
    largest_commit = max(e["count"] + e.get("events", 0) for e in logs if e["event"] == "scheduler.emitted")
    assert waiting_max <= 500 + largest_commit, "past the bound by one commit at most"
    transitions = [e["event"] for e in logs if e["event"] in ("scheduler.paused", "scheduler.resumed")]
    assert len(transitions) >= 4 and all(a != b for a, b in itertools.pairwise(transitions))


async def _until_drained(worker: object) -> None:
    while not worker.drained():  # type: ignore[attr-defined]
        await worker.step()  # type: ignore[attr-defined]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MiB tmpfs: a small SD card that an outage could fill."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (tests/test_backpressure.py covers the rule with a fake disk)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)], capture_output=True,
                             text=True, check=False, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, timeout=30)


@pytest.mark.process
def test_an_outage_fills_a_small_disk_to_the_floor_then_every_payload_arrives(
        small_disk: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """Endpoint down: the scheduler pauses at MIN_FREE_DISK, nothing fails; endpoint back: all arrive, 0 lost."""
    port = free_port()
    env.update(STATE_DIR=str(small_disk / "state"), SCALE_FACTOR="36000", TICK_INTERVAL_SEC="0.2",
               MIN_FREE_DISK="24MiB", WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook",
               DELIVERY_RETRY_SCHEDULE="0.2,0.5,1", DELIVERY_CONNECT_TIMEOUT="1")
    logs = tmp_path / "logs"
    workers = [Child(role, env=env, logs=logs) for role in ("scheduler", "enricher", "deliverer")]
    with running(*workers):
        paused = wait_for(lambda: stats(env)["backpressure"]["paused"] and stats(env), "the scheduler pauses",
                          workers, timeout=180)
        assert "MIN_FREE_DISK" in paused["backpressure"]["reason"] and paused["dead"]["count"] == 0
        held = paused["sim_clock"]["now"]
        check = subprocess.run(_queue_stats("--check"), env=env, capture_output=True, text=True, timeout=60,
                               check=False)
        assert check.returncode == 1 and "paused by backpressure" in check.stdout, check.stdout
        assert stats(env)["sim_clock"]["now"] == held, "paused: the simulated clock stands still"
        assert all(w.proc.poll() is None for w in workers)
        store = tmp_path / "received.jsonl"
        receiver = Child("receiver", "--port", str(port), "--store", str(store), "--quiet", env=env, logs=logs)
        with running(receiver):
            wait_for(lambda: not stats(env)["backpressure"]["paused"], "the scheduler resumes",
                     [*workers, receiver], timeout=180)
            assert workers[0].stop() == 0
            wait_for(lambda: _empty(stats(env)), "everything delivered", [*workers, receiver], timeout=300)
            for worker in workers[1:]:
                assert worker.stop() == 0
        final = stats(env)
        assert final["dead"]["count"] == 0
        assert "queue.write_failed" not in "".join(w.output() for w in workers), "no write ever failed"
    received = {json.loads(line)["webhook_id"] for line in store.read_text().splitlines() if line}
    span = datetime.fromisoformat(final["sim_clock"]["now"]) - datetime.fromisoformat(env["SIM_START"])
    clean = dict(env, STATE_DIR=str(tmp_path / "clean"))
    result = run("scheduler", "--backfill", f"{span.total_seconds():.6f}", env=clean, timeout=600)
    assert result.returncode == 0, result.stderr
    expected = {intent["id"] for intent in intents_in(tmp_path / "clean")}
    assert len(expected) > 5000 and received == expected
    bp = paused["backpressure"]
    print(f"paused at backlog {bp['backlog']}, free {bp['free_disk_bytes']} B (floor {bp['min_free_disk_bytes']}); "
          f"received {len(received)} = clean backfill {len(expected)}, dead {final['dead']['count']}")


def _queue_stats(*args: str) -> list[str]:
    from tests.conftest import command

    return command("queue-stats", *args)


def _empty(s: dict[str, object]) -> bool:
    queues = s["queues"]
    assert isinstance(queues, dict)
    return all(queues[q]["ready"] == 0 and queues[q]["unacked"] == 0 for q in ("intents", "payloads"))
