"""Shared by the dashboard tests: a real bin/dashboard on loopback, and readings of queue-stats."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pipeline.receiver import free_port
from tests.conftest import command

TOKEN = "dash-test-token-4f1c"


class Dashboard:
    """A running bin/dashboard; its output goes to a log file shown when a wait fails."""

    def __init__(self, state_dir: Path, env: dict[str, str], log: Path, *args: str, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                command("dashboard", "--state-dir", str(state_dir), "--host", host, "--port", str(self.port), *args),
                env=env, stdout=out, stderr=subprocess.STDOUT)
        self.token = env.get("DASHBOARD_TOKEN")
        deadline = time.monotonic() + 60
        while self.get("/api/snapshot") is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"bin/dashboard did not come up:\n{self.output()}")
            time.sleep(0.1)

    def get(self, path: str, headers: dict[str, str] | None = None) -> dict[str, Any] | None:
        """GET a JSON path with the token (if any), or None while nothing listens."""
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = urllib.request.Request(self.url + path, headers={**auth, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                result: dict[str, Any] = json.load(resp)
                return result
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def output(self) -> str:
        """Everything the dashboard printed."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        """SIGTERM, then the exit code (it must stop promptly, open event streams or not)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"bin/dashboard did not stop on SIGTERM:\n{self.output()}") from None


def queue_stats(state_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """`queue-stats --json --check` as a script would read it (exit 1 only means unhealthy)."""
    done = subprocess.run(command("queue-stats", "--state-dir", str(state_dir), "--json", "--check"), env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result
