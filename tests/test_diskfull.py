"""Disk full on a real tiny tmpfs: workers log one clear error, keep every item, and recover when space returns."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from harness.env import sealed
from pipeline.errors import QueueWriteError, RoleLockedError
from pipeline.locks import RoleLock
from pipeline.queues import QUEUE_FILE, Queue, integrity_ok, open_store, open_view
from pipeline.receiver import free_port

pytestmark = pytest.mark.process  # every test here starts real processes

ENV = {"SEED": "11", "SIM_START": "2026-03-02T00:00:00Z", "ENRICHER": "offline", "ENRICH_BATCH_SIZE": "64"}
WAIT = 60.0  # generous: only how long a broken run hangs before failing


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A fresh 16 MB tmpfs, so SQLite meets a real ENOSPC; skipped where mounting is refused."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
                                capture_output=True, text=True, check=False)
    except FileNotFoundError:
        pytest.skip("no mount command: the disk-full path needs a real tiny file system")
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is refused here ({result.stderr.strip()}); needs root or CAP_SYS_ADMIN")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def command(role: str, state_dir: Path, *args: str) -> list[str]:
    """The argv of one pipeline command on `state_dir`."""
    return [sys.executable, "-m", f"pipeline.commands.{role}", "--state-dir", str(state_dir), *args]


def env() -> dict[str, str]:
    """This test's stream, whatever the caller's environment says."""
    return sealed(None, **ENV)


def fill(mnt: Path, leave: int) -> Path:
    """Fill the file system to ENOSPC, then give `leave` bytes back; returns the filler to delete later."""
    filler = mnt / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def ids(path: Path, queue: Queue) -> list[str]:
    """The ids in one queue, in order."""
    with closing(open_view(path.parent)) as view:
        return [json.loads(row.data)["id"] for row in view.rows(queue)]


def events(log: Path, name: str) -> list[dict[str, str]]:
    """The JSON log lines of one event."""
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{") and json.loads(line).get("event") == name:
            out.append(json.loads(line))
    return out


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds (the bound only stops a broken run from hanging)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def assert_one_line_per_cause(log: Path) -> None:
    """Retries do not repeat the error: consecutive failures with the same cause are logged once."""
    causes = [e["error"] for e in events(log, "queue.write_failed")]
    assert causes, "no queue.write_failed logged"
    assert all(a != b for a, b in itertools.pairwise(causes)), causes
    assert all(e["path"].endswith(QUEUE_FILE) for e in events(log, "queue.write_failed"))


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def backfill(state_dir: Path, span: str, tmp_path: Path) -> list[str]:
    """Intents of a simulated span, written while there is room; their ids."""
    subprocess.run(command("scheduler", state_dir, "--backfill", span), env=env(), check=True,
                   capture_output=True, timeout=WAIT)
    return ids(state_dir / QUEUE_FILE, "intents")


def test_enricher_keeps_every_intent_while_the_disk_is_full_and_recovers(tiny_fs: Path, tmp_path: Path) -> None:
    """Payload writes fail mid-stream with ENOSPC: no intent is acked without its payload; all arrive later."""
    state_dir, log = tiny_fs / "state", tmp_path / "enricher.log"
    intents = backfill(state_dir, "1d", tmp_path)
    filler = fill(tiny_fs, leave=512 * 1024)  # room for some payloads, not for all
    with log.open("wb") as out:
        proc = subprocess.Popen(command("enricher", state_dir, "--drain"), env=env(), stdout=out, stderr=out)
    try:
        wait_for(lambda: bool(events(log, "queue.write_failed")), "the write to fail")
        queue_file = state_dir / QUEUE_FILE
        stuck_intents, stuck_payloads = ids(queue_file, "intents"), ids(queue_file, "payloads")
        # Each intent is in exactly one place: not yet handed over, or handed over with its payload.
        assert sorted(stuck_intents + stuck_payloads) == sorted(intents) and stuck_intents
        assert proc.poll() is None, "the enricher gave up instead of waiting for space"
        filler.unlink()
        assert proc.wait(timeout=WAIT) == 0
    finally:
        proc.kill()
    assert ids(queue_file, "payloads") == intents and ids(queue_file, "intents") == []
    assert integrity_ok(queue_file)
    assert_one_line_per_cause(log)
    assert events(log, "queue.write_recovered")


def test_a_worker_started_on_a_full_disk_waits_instead_of_exiting(tiny_fs: Path, tmp_path: Path) -> None:
    """A reboot onto a full disk: the worker neither exits 65 (never restarted) nor crashes; it waits."""
    state_dir, log = tiny_fs / "state", tmp_path / "enricher.log"
    intents = backfill(state_dir, "12h", tmp_path)
    filler = fill(tiny_fs, leave=0)
    with log.open("wb") as out:
        proc = subprocess.Popen(command("enricher", state_dir, "--drain"), env=env(), stdout=out, stderr=out)
    try:
        wait_for(lambda: bool(events(log, "queue.write_failed")), "the open to fail")
        assert proc.poll() is None, log.read_text()
        filler.unlink()
        assert proc.wait(timeout=WAIT) == 0, log.read_text()
    finally:
        proc.kill()
    assert ids(state_dir / QUEUE_FILE, "payloads") == intents
    assert integrity_ok(state_dir / QUEUE_FILE)
    assert_one_line_per_cause(log)


def test_scheduler_skips_no_simulated_time_while_the_disk_is_full(tiny_fs: Path, tmp_path: Path) -> None:
    """Live ticks fail while full; afterwards the intents equal a clean backfill up to the final clock."""
    state_dir, log = tiny_fs / "state", tmp_path / "scheduler.log"
    live = {**env(), "SCALE_FACTOR": "20000", "TICK_INTERVAL_SEC": "0.2"}
    with log.open("wb") as out:
        proc = subprocess.Popen(command("scheduler", state_dir), env=live, stdout=out, stderr=out)
    try:
        wait_for(lambda: (state_dir / QUEUE_FILE).exists() and len(ids(state_dir / QUEUE_FILE, "intents")) > 100,
                 "the first intents")
        filler = fill(tiny_fs, leave=0)
        wait_for(lambda: bool(events(log, "queue.write_failed")), "a tick to fail")
        filler.unlink()
        wait_for(lambda: bool(events(log, "queue.write_recovered")), "the scheduler to recover")
        proc.terminate()
        assert proc.wait(timeout=WAIT) == 0
    finally:
        proc.kill()
    queue_file = state_dir / QUEUE_FILE
    with closing(open_view(state_dir)) as view:
        clock = json.loads(view.get_meta("clock") or "{}")
    span = datetime.fromisoformat(clock["sim_now"]) - datetime.fromisoformat(ENV["SIM_START"])
    expected = backfill(tmp_path / "clean", f"{span.total_seconds():.6f}", tmp_path)
    assert ids(queue_file, "intents") == expected
    assert integrity_ok(queue_file)
    assert_one_line_per_cause(log)


def test_opening_a_queue_file_on_a_full_disk_is_retryable_not_corrupt(tiny_fs: Path, tmp_path: Path) -> None:
    """SQLite's disk I/O error at open is a QueueWriteError (retry), not exit 65 that systemd never restarts."""
    state_dir = tiny_fs / "state"
    backfill(state_dir, "1h", tmp_path)
    fill(tiny_fs, leave=0)
    with pytest.raises(QueueWriteError):
        open_store(state_dir)


def test_the_role_lock_is_taken_on_a_full_disk(tiny_fs: Path) -> None:
    """Writing the holder's pid may fail with ENOSPC; the flock alone still keeps a second instance out."""
    fill(tiny_fs, leave=0)
    lock = RoleLock(tiny_fs, "enricher").acquire()
    with pytest.raises(RoleLockedError):
        RoleLock(tiny_fs, "enricher").acquire()
    lock.release()


def test_a_worker_started_on_a_read_only_file_system_waits_for_it_to_turn_writable(
        tiny_fs: Path, tmp_path: Path) -> None:
    """EROFS on the role lock and the queue file: one logged error, no crash; all intents enriched after rw."""
    state_dir, log = tiny_fs / "state", tmp_path / "enricher.log"
    intents = backfill(state_dir, "12h", tmp_path)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(command("enricher", state_dir, "--drain"), env=env(), stdout=out, stderr=out)
    try:
        wait_for(lambda: bool(events(log, "queue.write_failed")), "the start to fail")
        assert proc.poll() is None, log.read_text()
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
        assert proc.wait(timeout=WAIT) == 0, log.read_text()
    finally:
        proc.kill()
    assert ids(state_dir / QUEUE_FILE, "payloads") == intents
    assert integrity_ok(state_dir / QUEUE_FILE)
    assert [e["error"] for e in events(log, "queue.write_failed")] == ["Read-only file system"]


def test_deliverer_acks_nothing_it_could_not_record_and_delivers_all_once_space_returns(
        tiny_fs: Path, tmp_path: Path) -> None:
    """Acks fail with ENOSPC after the sends: every payload stays queued or was received; all arrive later."""
    state_dir, log, receipts = tiny_fs / "state", tmp_path / "deliverer.log", tmp_path / "received.jsonl"
    intents = backfill(state_dir, "12h", tmp_path)
    subprocess.run(command("enricher", state_dir, "--drain"), env=env(), check=True, capture_output=True,
                   timeout=WAIT)
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "pipeline.commands.receiver", "--port", str(port),
                                 "--store", str(receipts), "--quiet"], env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    wait_for(lambda: listening(port), "the receiver to listen")
    filler = fill(tiny_fs, leave=64 * 1024)  # room to open the queue file and ack a few, not all

    def received() -> set[str]:
        return {json.loads(line)["webhook_id"] for line in receipts.read_text().splitlines()} \
            if receipts.exists() else set()

    with log.open("wb") as out:
        proc = subprocess.Popen(command("deliverer", state_dir, "--drain"), stdout=out, stderr=out,
                                env={**env(), "WEBHOOK_URL": f"http://127.0.0.1:{port}/webhook"})
    try:
        wait_for(lambda: bool(events(log, "queue.write_failed")), "an ack to fail")
        assert set(ids(state_dir / QUEUE_FILE, "payloads")) | received() == set(intents)
        assert proc.poll() is None, log.read_text()
        filler.unlink()
        assert proc.wait(timeout=WAIT) == 0, log.read_text()
    finally:
        proc.kill()
        receiver.kill()
    assert received() == set(intents)
    assert ids(state_dir / QUEUE_FILE, "payloads") == []
    assert integrity_ok(state_dir / QUEUE_FILE)
