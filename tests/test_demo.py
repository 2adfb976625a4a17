"""bin/demo as a newcomer runs it: deliveries scroll past, Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN

pytestmark = pytest.mark.process  # every test here starts real processes


@pytest.mark.slow
def test_demo_shows_deliveries_and_stops_on_ctrl_c(env: dict[str, str]) -> None:
    """Payload lines appear within 30 s, and SIGINT to the group ends all processes with status 0."""
    env.pop("STATE_DIR")
    proc = subprocess.Popen([str(BIN / "demo")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum("$" in line for line in lines) < 5:
        lines.append(proc.stdout.readline())
    payload_lines = [line for line in lines if "$" in line and "x" in line]
    assert len(payload_lines) >= 5, lines
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, rest
    assert "demo stopped" in rest
    work = Path(rest.strip().rsplit(": ", 1)[1])
    for worker in ("scheduler", "enricher", "deliverer"):
        log = (work / f"{worker}.log").read_text()
        assert '"event": "worker.stopped"' in log, worker


@pytest.mark.parametrize(("flag", "text"), [("--help", "usage: bin/demo"), ("--version", "demo ")])
def test_demo_answers_help_and_version_without_starting(flag: str, text: str, env: dict[str, str]) -> None:
    """--help and --version print and exit 0 instead of starting the pipeline."""
    done = subprocess.run([str(BIN / "demo"), flag], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and done.stdout.startswith(text)
    assert "receiver on" not in done.stdout
