"""The scheduler: the stream depends on the seed and simulated windows only, never on how time was cut."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipeline.clock import load_checkpoint
from pipeline.config import load_settings
from pipeline.queues import open_store
from pipeline.stream import Stream
from pipeline.workers.runner import Lifecycle
from pipeline.workers.scheduler import QUIET_CHECKPOINT_EVERY, Scheduler
from pipeline.workers.sdnotify import Notifier
from pipeline.workers.span import BACKFILL_CHUNK
from pipeline.workload import Workload, window_of
from tests.conftest import command, intents_in, run, wait_until

START = datetime.fromisoformat("2026-03-02T00:00:00+00:00")


class FakeClock:
    """Monotonic and wall clocks a test moves by hand."""

    def __init__(self) -> None:
        self.mono, self.wall = 100.0, 1_800_000_000.0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def scheduler(state: Path, clock: FakeClock, scale: float, **kwargs: object) -> Scheduler:
    """A scheduler on `state` driven by the fake clock."""
    workload = Workload.load(load_settings().profile)
    return Scheduler(open_store(state), workload, Stream(42, START, "default"), Lifecycle(Notifier(None)),
                     scale_factor=scale, tick_interval=1.0, monotonic=lambda: clock.mono,
                     wall=lambda: clock.wall, **kwargs)  # type: ignore[arg-type]


def ids(state: Path) -> list[str]:
    """Intent ids in queue order."""
    return [i["id"] for i in intents_in(state)]


async def run_until_drained(worker: Scheduler) -> None:
    """Step a fast-forwarding scheduler until it reached its target."""
    while not worker.drained():
        await worker.step()


async def live_ticks(worker: Scheduler, clock: FakeClock, rng: random.Random, count: int) -> None:
    """Ticks of random real length (each at least the tick interval, so no step waits)."""
    for _ in range(count):
        clock.advance(rng.uniform(1.0, 9))
        await worker.step()


@pytest.mark.process
def test_ticks_of_any_size_give_the_same_stream(tmp_path: Path) -> None:
    """Random tick lengths and a change of scale factor reproduce one backfill of the same span."""
    clock = FakeClock()
    live = scheduler(tmp_path / "live", clock, scale=720)
    rng = random.Random(5)
    asyncio.run(live_ticks(live, clock, rng, 60))
    live.scale_factor = 3600  # as if restarted with another SCALE_FACTOR: simulated time stays continuous
    asyncio.run(live_ticks(live, clock, rng, 20))
    end = live.sim_now
    batch = scheduler(tmp_path / "batch", FakeClock(), scale=720, backfill=end - START)
    asyncio.run(run_until_drained(batch))
    assert batch.sim_now == end
    assert ids(tmp_path / "live") == ids(tmp_path / "batch")
    assert len(ids(tmp_path / "live")) > 100


def run_and_stop(state: Path, clock: FakeClock) -> datetime:
    """A first scheduler run of a few live ticks; returns where its clock stopped."""
    first = scheduler(state, clock, scale=720)
    asyncio.run(live_ticks(first, clock, random.Random(1), 3))
    first.store.close()
    return first.sim_now


@pytest.mark.process
def test_catch_up_generates_the_downtime_at_once(tmp_path: Path) -> None:
    """--catch-up advances the clock by downtime x scale, then goes on live."""
    clock = FakeClock()
    stopped = run_and_stop(tmp_path, clock)
    clock.wall += 100  # powered off for 100 s: the monotonic clock restarts, the wall clock does not
    again = scheduler(tmp_path, clock, scale=720, catch_up=True)
    asyncio.run(run_until_drained(again))
    assert again.sim_now == stopped + timedelta(seconds=100 * 720)


@pytest.mark.process
def test_restart_without_catch_up_resumes_at_the_checkpoint(tmp_path: Path) -> None:
    """Downtime does not move simulated time unless asked to."""
    clock = FakeClock()
    stopped = run_and_stop(tmp_path, clock)
    clock.advance(1000)
    again = scheduler(tmp_path, clock, scale=720)
    assert again.sim_now == stopped > START
    checkpoint = load_checkpoint(again.store)
    assert checkpoint is not None and checkpoint.sim_now == again.sim_now


@pytest.mark.process
def test_split_backfills_equal_one_backfill(env: dict[str, str], tmp_path: Path) -> None:
    """A 3-day backfill followed by a 4-day one gives exactly the intents of one 7-day backfill."""
    assert run("scheduler", "--backfill", "3d", env=env).returncode == 0
    assert run("scheduler", "--backfill", "4d", env=env).returncode == 0
    split = ids(Path(env["STATE_DIR"]))
    env["STATE_DIR"] = str(tmp_path / "one")
    assert run("scheduler", "--backfill", "7d", env=env).returncode == 0
    assert split == ids(tmp_path / "one")


@pytest.mark.process
def test_live_run_with_kills_equals_a_backfill(env: dict[str, str], tmp_path: Path) -> None:
    """SCALE_FACTOR=7200, 0.2 s ticks, two SIGKILLs: the intents equal a backfill of the same span."""
    env.update({"SCALE_FACTOR": "7200", "TICK_INTERVAL_SEC": "0.2"})
    state = Path(env["STATE_DIR"])
    for _ in range(3):
        proc = subprocess.Popen(command("scheduler"), env=env, stderr=subprocess.DEVNULL)
        wait_until(lambda: (state / "queues.db").exists() and len(intents_in(state)) > 0)
        time.sleep(random.uniform(0.8, 1.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = open_store(state)
    checkpoint = load_checkpoint(store)
    store.close()
    assert checkpoint is not None
    span = (checkpoint.sim_now - START).total_seconds()
    env["STATE_DIR"] = str(tmp_path / "backfill")
    assert run("scheduler", "--backfill", f"{span}", env=env).returncode == 0
    assert ids(state) == ids(tmp_path / "backfill")
    # Every event type, body for body (the real emission time aside): the job events and the hourly bill.
    same = [{k: v for k, v in row.items() if k != "emitted_at"} for row in intents_in(state)]
    assert same == [{k: v for k, v in row.items() if k != "emitted_at"} for row in intents_in(tmp_path / "backfill")]
    assert {row.get("type", "job.requested") for row in intents_in(state)} == {
        "job.requested", "job.started", "job.finished", "cost.usage"}
    meta = json.loads(open_store(tmp_path / "backfill").get_meta("clock") or "{}")
    assert meta["sim_now"] == checkpoint.sim_now.isoformat()


@pytest.mark.process
def test_quiet_ticks_commit_rarely_and_a_stop_saves_the_clock(tmp_path: Path) -> None:
    """At SCALE_FACTOR=1 ticks without a job write nothing until QUIET_CHECKPOINT_EVERY; close saves the clock."""
    workload = Workload.load(load_settings().profile)
    jobs = sorted(i.occurred_at for i in workload.window_intents(42, window_of(START)))
    start = next(a for a, b in itertools.pairwise(jobs) if b - a > timedelta(seconds=5))
    clock = FakeClock()

    def quiet_scheduler() -> Scheduler:
        return Scheduler(open_store(tmp_path), workload, Stream(42, start, "default"), Lifecycle(Notifier(None)),
                         scale_factor=1, tick_interval=1.0, monotonic=lambda: clock.mono, wall=lambda: clock.wall)

    quiet = quiet_scheduler()

    async def ticks(count: int) -> None:
        for _ in range(count):
            clock.advance(1.0)
            await quiet.step()

    asyncio.run(ticks(3))
    assert ids(tmp_path) == [] and load_checkpoint(quiet.store) is None  # three seconds without a job: no commit
    clock.advance(QUIET_CHECKPOINT_EVERY)
    asyncio.run(ticks(1))
    saved = load_checkpoint(quiet.store)
    assert saved is not None and saved.sim_now == quiet.sim_now == start + timedelta(seconds=14)
    asyncio.run(ticks(2))
    assert load_checkpoint(quiet.store) == saved
    ended_at, ticked_at = quiet.sim_now, clock.wall
    clock.advance(0.5)  # the stop comes between ticks
    asyncio.run(quiet.close())
    again = quiet_scheduler()
    assert again.sim_now == ended_at
    checkpoint = load_checkpoint(again.store)
    assert checkpoint is not None and checkpoint.wall_at == ticked_at  # the clock as that tick left it


@pytest.mark.process
def test_a_long_stall_is_written_in_bounded_commits(tmp_path: Path) -> None:
    """An hour without a tick at 720x is caught up in backfill-sized commits, to the same stream."""
    clock = FakeClock()
    # 30 simulated days twice: without the hourly bill events, which test_focus_stream.py covers.
    live = scheduler(tmp_path / "live", clock, scale=720, cost_events=False)
    clock.advance(3600)  # e.g. every commit failed for an hour on a full disk
    asyncio.run(live.step())
    assert live.sim_now == START + BACKFILL_CHUNK
    commits = 1
    while live.sim_now < START + timedelta(seconds=3600 * 720):
        asyncio.run(live.step())  # behind schedule: no step waits
        commits += 1
    assert live.sim_now == START + timedelta(seconds=3600 * 720)
    assert commits == 3600 * 720 // BACKFILL_CHUNK.total_seconds()
    batch = scheduler(tmp_path / "batch", FakeClock(), scale=720, backfill=live.sim_now - START, cost_events=False)
    asyncio.run(run_until_drained(batch))
    assert ids(tmp_path / "live") == ids(tmp_path / "batch")
