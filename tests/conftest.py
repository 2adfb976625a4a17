"""Shared fixtures: real processes on a temporary state folder, a real receiver on loopback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.env import seal_this_process, sealed
from pipeline.queues import open_view
from pipeline.receiver import free_port

# Before any test module reads a setting: the caller's shell and the checkout's .env (ENRICHER=offline,
# ENRICH_FALLBACK=wait, WEBHOOK_URL...) must not change what a test does, in-process or in a child.
seal_this_process()

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "bin"


def command(name: str, *args: str) -> list[str]:
    """The argv of a bin/ command, run through the venv's python directly (no bootstrap check)."""
    module = "pipeline.commands." + name.replace("-", "_")
    return [sys.executable, "-m", module, *args]


@pytest.fixture(autouse=True)
def _process_tests_are_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that ran a child process must carry the `process` mark, or bin/test --fast would not be the
    in-process tier it claims to be. Children that ended add to this process's children CPU times."""
    before = os.times()
    yield
    after = os.times()
    ran_children = (after.children_user + after.children_system) > (before.children_user + before.children_system)
    if ran_children and request.node.get_closest_marker("process") is None:
        pytest.fail("this test started a process: mark it @pytest.mark.process (bin/test --fast skips those)")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for the commands: own state folder, fixed seed and start, offline."""
    base = sealed()
    base.update({
        "STATE_DIR": str(tmp_path / "state"),
        "SEED": "42",
        "SIM_START": "2026-03-02T00:00:00Z",
        "ENRICHER": "offline",
        "PYTHONUNBUFFERED": "1",
    })
    return base


def run(name: str, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output."""
    return subprocess.run(command(name, *args), env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@dataclass
class Receiver:
    """A running bin/receiver and where it stores deliveries."""

    url: str
    store: Path
    proc: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        """GET /stats."""
        with urllib.request.urlopen(self.url.replace("/webhook", "/stats"), timeout=5) as r:
            return dict(json.load(r))

    def ids(self) -> list[str]:
        """Every webhook-id received, in arrival order (repeats included)."""
        if not self.store.exists():
            return []
        return [json.loads(line)["webhook_id"] for line in self.store.read_text().splitlines() if line]


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    """Poll until `predicate()` is true, or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, sqlite3.Error):  # a file or table another process has not created yet
            pass
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def receiver(tmp_path: Path, env: dict[str, str]) -> Iterator[Receiver]:
    """bin/receiver on a free loopback port; WEBHOOK_URL in `env` points at it."""
    port = free_port()
    store = tmp_path / "received.jsonl"
    proc = subprocess.Popen(command("receiver", "--port", str(port), "--store", str(store), "--quiet"), env=env)
    rec = Receiver(f"http://127.0.0.1:{port}/webhook", store, proc)
    env["WEBHOOK_URL"] = rec.url
    wait_until(lambda: rec.stats() is not None)
    yield rec
    proc.terminate()
    proc.wait(timeout=10)


def sql(path: Path, *statements: str) -> None:
    """Run statements (a test altering a queue file by hand) on a file with plain sqlite3 and leave no WAL behind."""
    with closing(sqlite3.connect(path)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def intents_in(state_dir: Path) -> list[dict[str, Any]]:
    """Every intent still in a state folder's intents queue, in queue order."""
    with closing(open_view(state_dir)) as view:
        return [json.loads(row.data) for row in view.rows("intents")]


@pytest.fixture(scope="session")
def focus_week(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One week of the default profile's FOCUS bill, generated once for the bill and validator tests."""
    from tests.focus_support import make_week

    return make_week(tmp_path_factory.mktemp("focus-week"))
