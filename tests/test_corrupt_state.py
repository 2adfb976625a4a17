"""Corrupt or foreign state: a worker stops with exit 65 naming the file and never touches or replaces it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import persistqueue
import pytest

from harness.env import sealed
from pipeline.errors import EX_DATAERR, StateError
from pipeline.queues import QUEUE_FILE, open_store
from pipeline.queues.sqlite import FORMAT_VERSION
from tests.conftest import sql

# How each worker is started so that, given a sound file, it would finish on its own.
ROLES = {"scheduler": ["--backfill", "1h"], "enricher": ["--drain"], "deliverer": ["--drain"]}


def run_role(role: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    """One worker process on `state_dir`, to completion."""
    env = sealed()
    env.update(SEED="7", SIM_START="2026-03-02T00:00:00Z", ENRICHER="offline",
               WEBHOOK_URL="http://127.0.0.1:9/webhook")
    return subprocess.run([sys.executable, "-m", f"pipeline.commands.{role}", "--state-dir", str(state_dir),
                           *ROLES[role]], check=False, env=env, capture_output=True, text=True, timeout=60)


def folder_digest(state_dir: Path) -> dict[str, str]:
    """Every queue file in the folder (main file, WAL, shm) and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in state_dir.glob(QUEUE_FILE + "*")}


def assert_refused(role: str, state_dir: Path, problem: str) -> None:
    """The worker exits 65 with one message naming the file and the problem; no queue file changed."""
    before = folder_digest(state_dir)
    result = run_role(role, state_dir)
    assert result.returncode == EX_DATAERR, result.stderr
    assert str(state_dir / QUEUE_FILE) in result.stderr and problem in result.stderr
    assert "Traceback" not in result.stderr
    assert folder_digest(state_dir) == before


def sound_file(state_dir: Path, intents: int = 0) -> Path:
    """A queue file of this version (with `intents` rows in the intents queue)."""
    store = open_store(state_dir)
    with store.transaction() as tx:
        tx.put("intents", [b'{"id": "job_%d", "filler": "%s"}' % (i, b"x" * 500) for i in range(intents)])
    store.close()
    return state_dir / QUEUE_FILE


@pytest.mark.process
@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_file_that_is_not_sqlite_stops_every_worker(tmp_path: Path, role: str) -> None:
    """Random bytes where the queue file should be: exit 65, the bytes stay as they were."""
    (tmp_path / QUEUE_FILE).write_bytes(os.urandom(5000))
    assert_refused(role, tmp_path, "not an SQLite database")


@pytest.mark.process
def test_another_programs_sqlite_database_is_not_adopted(tmp_path: Path) -> None:
    """A valid SQLite file of someone else's (no queue tables of ours) is refused, not extended with ours."""
    sql(tmp_path / QUEUE_FILE, "CREATE TABLE people (name TEXT)", "INSERT INTO people VALUES ('ada')")
    assert_refused("enricher", tmp_path, "not a queue file of this program (it holds tables people)")


@pytest.mark.process
def test_corrupt_pages_behind_a_valid_header_are_refused(tmp_path: Path) -> None:
    """Garbage over the queue's pages (the header still says SQLite): exit 65, the file is kept for a person."""
    path = sound_file(tmp_path, intents=300)
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.write(b"\xff" * 16384)
    assert_refused("enricher", tmp_path, "unreadable (database disk image is malformed)")


def test_corruption_met_mid_run_is_a_state_error_not_a_crash(tmp_path: Path) -> None:
    """Pages that go bad while a worker runs surface as StateError (exit 65) on its next take."""
    path = sound_file(tmp_path, intents=300)
    store = open_store(tmp_path)  # not the intents consumer: it has read none of the intents pages yet
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        fh.write(b"\xff" * 16384)
    with pytest.raises(StateError, match="malformed"):
        store.take("intents", 300)
    store.close()


def test_a_first_start_killed_before_the_version_stamp_still_opens(tmp_path: Path) -> None:
    """Queue tables without pipeline_meta are our own unfinished creation, not a foreign file."""
    queue = persistqueue.SQLiteAckQueue(str(tmp_path), name="intents", db_file_name=QUEUE_FILE, auto_resume=False)
    queue._conn.close()
    store = open_store(tmp_path)
    assert store.get_meta("format_version") == str(FORMAT_VERSION)
    store.close()
