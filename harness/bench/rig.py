"""The test rig: a scratch folder, the workers' environment, the project's receiver, small maths."""

from __future__ import annotations

import json
import math
import statistics
import time
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.env import sealed
from harness.procs import BenchError, Child, module_argv
from pipeline.config import Settings
from pipeline.queues import QUEUE_FILE, Queue, open_view
from pipeline.receiver import free_port

SEED = 42
# A Monday at midnight: the placeholder workload's daily curve and weekday factor start from a known point.
SIM_START = datetime.fromisoformat("2026-03-02T00:00:00+00:00")


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile, p in 0..100 (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Receiver:
    """A running bin/receiver."""

    child: Child
    url: str

    def stats(self) -> dict[str, int]:
        """GET /stats: received, unique, duplicates."""
        with urllib.request.urlopen(self.url.replace("/webhook", "/stats"), timeout=10) as r:
            return {k: int(v) for k, v in json.load(r).items()}


class Rig:
    """Scratch space under `root`; every run gets its own state folder and the same fixed stream."""

    def __init__(self, root: Path, environ: Mapping[str, str], settings: Settings) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        # Sealed from the caller's settings and .env; of those, only the ones the report names as shaping
        # the numbers are passed on (as the bench's own settings object read them).
        self.base_env = sealed(environ, SEED=str(SEED), SIM_START=SIM_START.isoformat(), ENRICHER="offline",
                               SYNCHRONOUS="FULL", PYTHONUNBUFFERED="1",
                               DELIVERY_CONCURRENCY=str(settings.delivery_concurrency),
                               ENRICH_BATCH_SIZE=str(settings.enrich_batch_size))
        self._count = 0

    def fresh_dir(self, label: str) -> Path:
        """A new empty folder for one run."""
        self._count += 1
        path = self.root / f"{self._count:03d}-{label}"
        path.mkdir()
        return path

    def env(self, state_dir: Path, url: str | None = None, **extra: str) -> dict[str, str]:
        """The workers' environment for one state folder (and receiver)."""
        env = dict(self.base_env, STATE_DIR=str(state_dir), **extra)
        if url is not None:
            env["WEBHOOK_URL"] = url
        return env

    def worker(self, role: str, env: dict[str, str], *args: str, strace_to: Path | None = None) -> Child:
        """Spawn bin/<role> (through its module, as the bin/ wrapper does)."""
        return Child(role, module_argv(f"pipeline.commands.{role}", *args), env, self.logs, strace_to=strace_to)

    @contextmanager
    def receiver(self, store: Path | None = None) -> Any:
        """bin/receiver on a free port for the duration of the block."""
        port = free_port()
        args = ["--port", str(port), "--quiet"] + (["--store", str(store)] if store else [])
        child = Child("receiver", module_argv("pipeline.commands.receiver", *args), self.base_env, self.logs)
        rec = Receiver(child, f"http://127.0.0.1:{port}/webhook")
        try:
            wait_for(lambda: _answers(rec), 30, "the receiver to answer")
            yield rec
        finally:
            child.kill()


def _answers(rec: Receiver) -> bool:
    if rec.child.poll() is not None:
        raise BenchError(f"receiver exited: {rec.child.exit.stderr if rec.child.exit else ''}")
    try:
        rec.stats()
    except OSError:
        return False
    return True


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.005) -> None:
    """Poll `predicate()` until true; BenchError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def queue_rows(state_dir: Path, queue: Queue) -> int:
    """Rows (any status) in one of the project's queues; 0 before the file or table exists."""
    path = state_dir / QUEUE_FILE
    if not path.exists():
        return 0
    with closing(open_view(state_dir)) as view:
        return len(view.rows(queue))


def log_events(stderr: str, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of one event name in a worker's stderr."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found
