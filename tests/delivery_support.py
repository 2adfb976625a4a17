"""Shared by the delivery, receiver and replay tests: payloads in a real store, real processes."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.env import sealed
from pipeline.queues import open_store
from pipeline.receiver import free_port
from tests import conftest
from tests.conftest import wait_until

__all__ = ["free_port", "wait_until"]  # re-exported: the delivery tests import everything from here

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def put_payloads(state_dir: Path, ids: Sequence[str]) -> None:
    """Queue one small JSON payload per id, as the enricher would (compact JSON, `id` field)."""
    store = open_store(state_dir)
    try:
        with store.transaction() as tx:
            tx.put("payloads", [json.dumps({"schema_version": 1, "id": i, "pad": "x" * 200},
                                           separators=(",", ":")).encode() for i in ids])
    finally:
        store.close()


def _env(extra: dict[str, str]) -> dict[str, str]:
    return sealed(None, **extra)


def start_receiver(port: int, *args: str, wait: bool = True) -> subprocess.Popen[bytes]:
    """bin/receiver on `port` with extra flags; waits until it answers unless told not to."""
    proc = subprocess.Popen(conftest.command("receiver", "--port", str(port), "--quiet", *args),
                            stderr=subprocess.DEVNULL)
    if wait:
        wait_until(lambda: receiver_stats(port) is not None)
    return proc


def receiver_stats(port: int, path: str = "/stats") -> dict[str, Any] | None:
    """GET /stats (or /answers), or None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            result: dict[str, Any] = json.load(resp)
            return result
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def deliverer(state_dir: Path, port: int, *args: str, env: dict[str, str] | None = None,
              log: Path | None = None) -> subprocess.Popen[bytes]:
    """bin/deliverer against the receiver on `port`; its JSON log lines go to `log` when given."""
    return subprocess.Popen(
        conftest.command("deliverer", "--state-dir", str(state_dir), "--webhook-url",
                         f"http://127.0.0.1:{port}/webhook", *args),
        env=_env(env or {}), stdout=subprocess.PIPE,
        stderr=log.open("ab") if log else subprocess.PIPE)


def command(name: str, state_dir: Path, *args: str, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """Run one of the short commands (queue-stats, replay-dead, deliverer --resume ...) to completion."""
    return conftest.run(name, "--state-dir", str(state_dir), *args, env=_env(env or {}))


def queue_stats(state_dir: Path) -> dict[str, Any]:
    """queue-stats --json, read from another process."""
    result = command("queue-stats", state_dir, "--json")
    assert result.returncode == 0, result.stderr
    stats: dict[str, Any] = json.loads(result.stdout)
    return stats


def stored_ids(path: Path) -> list[str]:
    """webhook-ids the receiver stored, one per accepted delivery."""
    if not path.exists():
        return []
    return [json.loads(line)["webhook_id"] for line in path.read_text().splitlines() if line.strip()]


def log_events(path: Path) -> list[dict[str, Any]]:
    """The deliverer's JSON log lines."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait; the exit code."""
    proc.terminate()
    return proc.wait(timeout=30)
