"""Child processes whose output goes to a file, and waits that show that output when their deadline passes."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from tests.conftest import command


class Child:
    """One bin/ command running in the background, stdout and stderr in `<logs>/<name>.log`."""

    def __init__(self, name: str, *args: str, env: dict[str, str], logs: Path, label: str | None = None) -> None:
        self.label = label or name
        logs.mkdir(parents=True, exist_ok=True)
        self.log = logs / f"{self.label}.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command(name, *args), env=env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        """Everything it wrote so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit (a deadline, then SIGKILL); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"{self.label} did not stop within {timeout} s:\n{self.output()[-4000:]}") from None


def report(children: Iterable[Child]) -> str:
    """The tail of every child's output, for a failing assertion."""
    return "\n".join(f"--- {c.label} (exit {c.proc.poll()}) ---\n{c.output()[-3000:]}" for c in children)


def wait_for(predicate: Callable[[], Any], what: str, children: Iterable[Child], timeout: float = 60.0,
             interval: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy (its value is returned) or fail naming `what`, with the output."""
    children = list(children)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError, sqlite3.Error):
            value = predicate()
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s: {what}\n{report(children)}")


def stats(env: dict[str, str], *args: str) -> dict[str, Any]:
    """queue-stats --json (plus `args`) as a dict; raises on a bad exit so `wait_for` retries."""
    result = subprocess.run(command("queue-stats", "--json", *args), env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    if result.returncode not in (0, 1):
        raise ValueError(result.stderr)
    return dict(json.loads(result.stdout))


@contextlib.contextmanager
def running(*children: Child) -> Iterator[tuple[Child, ...]]:
    """Stop (SIGTERM, then SIGKILL after a deadline) every child when the block ends."""
    try:
        yield children
    finally:
        for child in children:
            if child.proc.poll() is None:
                child.proc.terminate()
        for child in children:
            try:
                child.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=10)
