"""bin/demo as a newcomer runs it: deliveries scroll past at a stated pace, failures show, Ctrl-C summarises."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, command, run


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command("demo", *args), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _finish(proc: subprocess.Popen[str], timeout: float) -> str:
    """The demo's whole output once it ends by itself, or fail the test (after killing it) past `timeout`."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the demo did not stop within {timeout} s:\n{proc.communicate()[0]}")

pytestmark = pytest.mark.process  # every test here starts real processes


@pytest.mark.slow
def test_demo_shows_deliveries_and_prints_a_summary_on_ctrl_c(env: dict[str, str]) -> None:
    """Payload lines appear, fit 120 columns when not on a terminal, and SIGINT to the group ends all
    processes with status 0 and a summary: payloads, duration, spend per team, dead letters, logs."""
    env.pop("STATE_DIR")
    proc = _start(env, "--scale-factor", "default")
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum("$" in line for line in lines) < 5:
            lines.append(proc.stdout.readline())
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    payload_lines = [line for line in lines if "$" in line and "x" in line]
    assert len(payload_lines) >= 5, lines
    assert lines[0].startswith("demo pace: SCALE_FACTOR=720 (default)"), lines
    assert any(line.startswith("receiver: http://127.0.0.1:") for line in lines), lines
    assert all(len(line.rstrip("\n")) <= 120 for line in lines + rest.splitlines()), lines
    assert proc.returncode == 0, rest
    assert "demo stopped after" in rest and "payload(s) delivered" in rest, rest
    assert "spend per team (estimated, USD)" in rest and "dead letters: 0" in rest, rest
    work = Path(rest.strip().rsplit(": ", 1)[1])
    for worker in ("scheduler", "enricher", "deliverer"):
        log = (work / f"{worker}.log").read_text()
        assert '"event": "worker.stopped"' in log, worker
        assert '"event": "worker.settings"' in log, worker


def test_demo_with_a_bad_setting_prints_the_line_and_exits_78_quickly(env: dict[str, str]) -> None:
    """A bad setting stops the demo at once with the one line naming it and exit 78 (the deadline is
    generous: only a demo that hangs fails it)."""
    env.pop("STATE_DIR")
    env["DELIVERY_CONCURRENCY"] = "0"
    proc = _start(env)
    out = _finish(proc, 15)
    assert proc.returncode == 78, out
    assert out.startswith("demo: configuration error: DELIVERY_CONCURRENCY='0'") and "Traceback" not in out, out


@pytest.mark.slow
def test_demo_stops_with_a_failing_workers_line_and_code(tmp_path: Path, env: dict[str, str]) -> None:
    """A worker that exits on its own (here: its role is held by a scheduler already running on the state
    folder) ends the demo with that worker's one-line error, its exit code and the summary."""
    state = tmp_path / "shared-state"
    env["STATE_DIR"] = str(state)
    holder = subprocess.Popen(command("scheduler"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stderr is not None
        seen = [holder.stderr.readline() for _ in range(3)]  # settings, pace, started: the lock is held by then
        assert any('"worker.started"' in line for line in seen), seen
        proc = _start(env, "--state-dir", str(state))
        out = _finish(proc, 90)
    finally:
        holder.terminate()
        holder.wait(timeout=30)
    assert proc.returncode == 75, out
    assert "demo: scheduler exited with 75: scheduler:" in out, out
    assert "demo stopped after" in out, out


@pytest.mark.parametrize(("flag", "text"), [("--help", "usage: demo"), ("--version", "demo ")])
def test_demo_answers_help_and_version_without_starting(flag: str, text: str, env: dict[str, str]) -> None:
    """--help and --version print and exit 0 instead of starting the pipeline; --help shows an example."""
    done = subprocess.run([str(BIN / "demo"), flag], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0 and done.stdout.startswith(text), done.stdout + done.stderr
    assert "receiver:" not in done.stdout
    if flag == "--help":
        assert "examples:" in done.stdout and "bin/demo --scale-factor realtime" in done.stdout


def test_demo_refuses_an_abbreviated_flag(env: dict[str, str]) -> None:
    """--scale is not --scale-factor: a usage error, nothing started."""
    done = run("demo", "--scale", "10", env=env)
    assert done.returncode == 2 and "unrecognized arguments: --scale" in done.stderr


def test_payload_lines_fit_the_width_in_terminal_columns() -> None:
    """A Japanese greeting takes two columns a character: the line is cut by columns, not characters."""
    from pipeline.commands.demo import _columns, _line

    body = {"occurred_at": "2026-03-02T09:15:00Z", "job": {"team": "multimodal"},
            "truth": {"gpu_count": 4, "gpu_type": "A100-80GB"}, "cost": {"estimated_cost": 25.88},
            "request": {"text": "お疲れ様です! can I get 4xA100 for the vision-language eval " * 3}}
    for width in (60, 80, 120):
        line = _line(body, width)
        assert sum(map(_columns, line)) <= width, (width, line)
        assert line.endswith("…") or width < 70  # below ~70 columns only the figures fit
