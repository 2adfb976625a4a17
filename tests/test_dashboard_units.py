"""The dashboard's pieces: lock holders, the stream view against workload-preview, money, history, read-only."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline import ROOT
from pipeline.dashboard.history import History
from pipeline.dashboard.liveness import holders, locked_inodes
from pipeline.dashboard.payloads import summary
from pipeline.dashboard.received import KEEP, Received
from pipeline.dashboard.server import is_loopback
from pipeline.dashboard.spend import StreamView
from pipeline.queues import QUEUE_FILE, Counts, open_reader, open_store
from pipeline.queues.sqlite import SqliteView
from pipeline.workload import Workload, window_of
from pipeline.workload.preview import build_preview

PROFILE = ROOT / "data" / "profiles" / "default.toml"
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def test_proc_locks_lines_are_parsed_and_waiters_skipped() -> None:
    """Only FLOCK holders count; a blocked waiter's '->' line and POSIX locks do not."""
    text = ("1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF\n"
            "1: -> FLOCK  ADVISORY  WRITE 4343 fd:01:9999 0 EOF\n"
            "2: POSIX  ADVISORY  WRITE 77 08:02:555 0 EOF\n")
    assert locked_inodes(text) == {(0xFD, 0x01, 1234)}


@pytest.mark.process
def test_a_held_role_lock_is_running_and_a_stale_pid_file_is_not(tmp_path: Path) -> None:
    """A child holding the flock shows as running with its pid; a lock file left by a dead process does not."""
    (tmp_path / "deliverer.lock").write_text("999999\n")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(tmp_path / 'scheduler.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode())\n"
        "print('held', flush=True); time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        seen = {h.role: h for h in holders(tmp_path)}
        assert seen["scheduler"].running and seen["scheduler"].pid == holder.pid
        assert not seen["deliverer"].running and seen["deliverer"].pid is None
        assert not seen["enricher"].running
        # Looking never takes the lock: a worker starting now still gets it.
        fd = os.open(tmp_path / "deliverer.lock", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert not {h.role: h for h in holders(tmp_path)}["scheduler"].running


def test_without_proc_locks_a_live_pid_counts(tmp_path: Path) -> None:
    """Where /proc/locks is missing, the pid in the lock file decides."""
    (tmp_path / "enricher.lock").write_text(f"{os.getpid()}\n")
    (tmp_path / "deliverer.lock").write_text("999999\n")
    seen = {h.role: h for h in holders(tmp_path, proc_locks=tmp_path / "no-such-file")}
    assert seen["enricher"].running and not seen["deliverer"].running


@pytest.fixture(scope="module")
def workload() -> Workload:
    """The default profile."""
    return Workload.load(PROFILE)


def test_stream_view_shows_the_numbers_of_workload_preview(workload: Workload) -> None:
    """Per office and hour, expected rate, sampled jobs and burst marks equal build_preview's; money of the
    whole day equals its daily cost."""
    seed, day = 7, START + timedelta(days=2)
    preview = build_preview(workload, seed, window_of(day), 1)
    view = StreamView(workload, seed, START).view(day + timedelta(hours=23, minutes=59, seconds=59.999))
    assert [o["name"] for o in view["offices"]] == [s.name for s in preview.offices]
    for shown, series in zip(view["offices"], preview.offices, strict=True):
        assert shown["expected"] == [round(x, 3) for x in series.expected]
        assert shown["jobs"] == series.sampled
        assert shown["burst"] == series.burst_active
    today = view["money"]["today"]
    assert today["jobs"] == preview.days[0].jobs
    assert today["estimated_usd"] == pytest.approx(preview.days[0].cost, abs=0.01)
    assert sum(today["by_team"].values()) == pytest.approx(today["estimated_usd"], abs=0.5)


def test_stream_view_counts_only_what_the_scheduler_has_written(workload: Workload) -> None:
    """Mid-day: later hours have no jobs (None), the current hour counts jobs up to now, the week starts on
    the stream's first day (nothing before SIM_START was generated)."""
    seed = 7
    now = START + timedelta(days=1, hours=10, minutes=30)
    view = StreamView(workload, seed, START).view(now)
    assert view["current_hour"] == 10
    jobs = view["offices"][0]["jobs"]
    assert all(j is None for j in jobs[11:]) and all(j is not None for j in jobs[:11])
    so_far = [i for w in range(window_of(START), window_of(now) + 1)
              for i in workload.window_intents(seed, w) if i.occurred_at <= now]
    assert view["money"]["week"]["jobs"] == len(so_far)
    assert view["money"]["week"]["estimated_usd"] == pytest.approx(sum(i.cost.estimated_cost for i in so_far), abs=0.01)
    assert view["week_start"] == START.date().isoformat()


def test_history_keeps_a_bounded_span_and_derives_the_delivery_rate() -> None:
    """Samples closer than the step are skipped, older than the span dropped; the rate is deliveries per second."""
    history = History(span_s=100.0, step_s=5.0)

    def stats(delivered: int) -> dict[str, object]:
        return {"queues": {"intents": {"ready": 1, "unacked": 0},
                           "payloads": {"ready": 2, "unacked": 1, "waiting_retry": 3}},
                "dead": {"count": 4}, "delivery": {"delivered_total": delivered}}

    for t in range(0, 300, 1):
        history.add(float(t), stats(t * 2))
    series = history.series()
    assert series["t"][-1] - series["t"][0] <= 100.0
    assert len(series["t"]) <= 21
    assert series["payloads"][-1] == 3 and series["waiting_retry"][-1] == 3 and series["dead"][-1] == 4
    assert series["delivered_per_s"][-1] == pytest.approx(2.0)
    assert history.rates()["delivered_per_s"] == pytest.approx(2.0)
    thinned = history.series(points=5)
    assert len(thinned["t"]) <= 5 and thinned["t"][-1] == series["t"][-1]
    assert thinned["delivered_per_s"][-1] == pytest.approx(2.0)


def test_received_keeps_the_newest_and_counts_money_once(workload: Workload) -> None:
    """The receiver's view lists at most KEEP payloads, newest first; a duplicate is listed but not billed twice."""
    intents = [i for w in range(window_of(START), window_of(START) + 6) for i in workload.window_intents(3, w)]
    assert len(intents) > KEEP
    view = Received()
    for intent in intents:
        body = {"id": intent.id, "occurred_at": intent.occurred_at.isoformat(), "truth": intent.model_dump(mode="json"),
                "cost": intent.cost.model_dump(mode="json"), "request": {"text": "x"}}
        view.add(body, duplicate=False)
    view.add(body, duplicate=True)
    latest = view.latest()
    assert len(latest) == KEEP and latest[0]["status"] == "duplicate" and latest[1]["id"] == intents[-1].id
    money = view.money()
    assert money is not None and money["today"]["jobs"] == len(intents)
    assert money["today"]["estimated_usd"] == pytest.approx(sum(i.cost.estimated_cost for i in intents), abs=0.01)


def test_loopback_names() -> None:
    """Only loopback addresses (and localhost) may go without a token."""
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("pi.local")


def test_open_reader_cannot_write_and_creates_nothing(tmp_path: Path) -> None:
    """The dashboard's store: no file for a new folder, and SQLite refuses writes through it."""
    assert open_reader(tmp_path) is None
    assert not (tmp_path / QUEUE_FILE).exists()
    open_store(tmp_path).close()
    files = sorted(tmp_path.iterdir())
    store = open_reader(tmp_path)
    assert isinstance(store, SqliteView)
    try:
        assert store.counts("payloads") == Counts(0, 0, None)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store._query("INSERT INTO pipeline_meta (key, value) VALUES ('x', 'y')")
    finally:
        store.close()
    assert sorted(tmp_path.iterdir()) == files  # no -wal or -shm made to read a file nobody writes


def test_a_payload_is_shown_with_its_extraction_beside_the_truth() -> None:
    """A field the text left out is no mismatch, a duration within 20 % agrees, a wrong team does not."""
    body = {"id": "job_1", "occurred_at": "2026-03-02T10:00:00+00:00", "request": {"text": "need 2 H100s"},
            "job": {"team": "vision", "gpu_count": 2, "est_duration_hours": 1.1},
            "truth": {"team": "speech", "gpu_count": 2, "gpu_type": "H100", "est_duration_hours": 1.0},
            "cost": {"estimated_cost": 5.0}, "generator": {"enricher": "offline"}}
    shown = summary(body, "ready")
    fields = {f["name"]: f for f in shown["fields"]}
    assert not fields["team"]["match"] and fields["gpu_count"]["match"]
    assert fields["gpu_type"]["match"] and fields["gpu_type"]["extracted"] is None
    assert fields["est_duration_hours"]["match"]
    assert (shown["team"], shown["gpus"], shown["type"], shown["raw"]) == ("speech", "2x H100", "job.requested", body)
