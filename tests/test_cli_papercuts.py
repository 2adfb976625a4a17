"""The first hour of a new user at the command line: help pages, abbreviations, filters, faults, --watch."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from pipeline.receiver import free_port
from tests.conftest import command, run
from tests.test_replay_dead import _bury

pytestmark = pytest.mark.process  # every test here starts real processes

COMMANDS = ("scheduler", "enricher", "deliverer", "receiver", "queue-stats", "replay-dead", "replay",
            "workload-preview", "install-systemd", "demo", "dashboard")


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_shows_an_example_and_each_flags_variable_and_default(name: str, env: dict[str, str]) -> None:
    """An `examples:` section, and every option with a value names it (METAVAR) and says its default unless it
    is a plain switch or a one-off filter."""
    done = run(name, "--help", env=env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "\nexamples:\n  bin/" in text or "\nexamples:\n  ENRICHER" in text, text
    options = text.split("options:", 1)[1].split("examples:", 1)[0]
    entries = re.split(r"\n  (?=-)", options)
    for entry in filter(str.strip, entries):
        flag = entry.split()[0].rstrip(",")
        if flag in ("-h", "--version") or not re.match(r"--[\w-]+ [A-Z_.\[]", entry.strip()):
            continue  # a switch takes no value
        words = " ".join(entry.split())
        assert "default" in words or flag in _NO_DEFAULT, f"{name} {flag}: {words}"


# Filters and one-off inputs have no default: absent means "not given".
_NO_DEFAULT = {"--id", "--status", "--reason", "--since", "--limit", "--from", "--to", "--to-file", "--store",
               "--secret", "--retry-after", "--reject-ids", "--outage", "--png", "--backfill", "--seed",
               "--json", "--user"}


def test_abbreviated_flags_are_refused(env: dict[str, str]) -> None:
    """`bin/scheduler --scale 10` used to mean --scale-factor 10 on the checkout's state folder."""
    done = run("scheduler", "--scale", "10", env=env)
    assert done.returncode == 2 and "unrecognized arguments: --scale 10" in done.stderr
    assert not Path(env["STATE_DIR"]).exists()


def test_replay_dead_takes_since_as_its_help_shows_and_refuses_unknown_reasons_and_ids(
        tmp_path: Path, env: dict[str, str]) -> None:
    """`--since "2h ago"` works; an unknown --reason or --id is a usage error naming it, not an empty match."""
    state = Path(env["STATE_DIR"])
    state.mkdir()
    _bury(state, [("p1", "rejected", 400, 0)])
    for since in ("2h ago", "2h", "3 d ago", "2026-01-01T00:00:00Z"):
        done = run("replay-dead", "--since", since, "--dry-run", env=env)
        assert done.returncode == 0, (since, done.stderr)
    done = run("replay-dead", "--reason", "rejectd", env=env)
    assert done.returncode == 2 and "invalid choice: 'rejectd'" in done.stderr
    done = run("replay-dead", "--id", "p1", "--id", "nope", env=env)
    assert done.returncode == 2 and "not a dead letter: nope" in done.stderr
    done = run("replay-dead", "--id", "p1", "--dry-run", env=env)
    assert done.returncode == 0 and "would replay p1" in done.stdout


def test_receiver_says_where_it_listens_and_fail_status_alone_fails_every_request(tmp_path: Path) -> None:
    """--fail-status 503 without --fail-rate answers 503 to every request; the receiver prints its URL."""
    port = free_port()
    proc = subprocess.Popen(command("receiver", "--port", str(port), "--fail-status", "503", "--retry-after", "5"),
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith(f"receiver: listening on http://127.0.0.1:{port}/webhook"), line
        assert "faults: fail-rate" in line
        answer = httpx.post(f"http://127.0.0.1:{port}/webhook", content=b"{}", headers={"webhook-id": "x"})
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    done = subprocess.run(command("receiver", "--retry-after", "5"), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and "--retry-after is sent only with failures" in done.stderr


def test_queue_stats_watch_into_a_pipe_is_plain_timestamped_text(env: dict[str, str]) -> None:
    """No screen codes into a pipe; each refresh starts with an RFC 3339 UTC timestamp."""
    assert run("scheduler", "--backfill", "1h", env=env).returncode == 0
    proc = subprocess.Popen(command("queue-stats", "--watch", "0.2"), env=env, stdout=subprocess.PIPE, text=True)
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(bool(stamp.match(line)) for line in lines) < 2:
            lines.append(proc.stdout.readline().rstrip("\n"))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert sum(bool(stamp.match(line)) for line in lines) >= 2, lines
    assert not any("\x1b" in line for line in lines), lines


def test_workers_log_their_effective_settings_without_secrets(env: dict[str, str]) -> None:
    """worker.settings carries every setting; the webhook secret and API key only as set/unset."""
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    env.update({"WEBHOOK_SECRET": secret, "GEMINI_API_KEY": "AIza-very-secret", "ENRICHER": "offline",
                "WEBHOOK_URL": "http://user:pw@127.0.0.1:9/webhook?token=abc"})
    done = run("scheduler", "--backfill", "1h", env=env)
    assert done.returncode == 0, done.stderr
    event = next(json.loads(line) for line in done.stderr.splitlines() if '"worker.settings"' in line)
    assert event["webhook_secret"] == "set" and event["gemini_api_key"] == "set"
    assert event["webhook_url"] == "http://127.0.0.1:9/webhook"
    assert event["scale_factor"] == 720 and event["seed"] == 42
    assert "MfKQ9r8" not in done.stderr and "very-secret" not in done.stderr and "pw@" not in done.stderr
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", event["timestamp"])
    pace = next(json.loads(line) for line in done.stderr.splitlines() if '"scheduler.pace"' in line)
    assert pace["jobs_per_real_minute"] == pytest.approx(653.5, abs=1)


def test_times_shown_are_rfc3339_with_z(env: dict[str, str]) -> None:
    """queue-stats --json's simulated clock uses `Z`, never `+00:00`."""
    assert run("scheduler", "--backfill", "1h", env=env).returncode == 0
    stats = json.loads(run("queue-stats", "--json", env=env).stdout)
    assert stats["sim_clock"]["start"] == "2026-03-02T00:00:00Z"
    assert stats["sim_clock"]["now"] == "2026-03-02T01:00:00Z"
