"""bin/workload-preview: the chart and totals a user sees before running a profile."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from pipeline import ROOT
from pipeline.commands.workload_preview import run
from pipeline.workload import Workload

STARTUP = str(ROOT / "data/profiles/startup.toml")
FIRST = 492336  # 2026-03-02 00:00 UTC


def test_preview_shows_each_office_and_daily_totals_of_the_real_stream(capsys: pytest.CaptureFixture[str]) -> None:
    """The printed daily job counts are exactly what the model generates for that seed and span."""
    code = run(["--days", "2", "--profile", STARTUP, "--seed", "5", "--start", "2026-03-02T00:00:00Z"])
    out = capsys.readouterr().out
    assert code == 0
    assert "berlin (Europe/Berlin)" in out
    workload = Workload.load(ROOT / "data/profiles/startup.toml")
    for day, label in enumerate(["Mon 03-02", "Tue 03-03"]):
        jobs = sum(len(workload.window_intents(5, w)) for w in range(FIRST + 24 * day, FIRST + 24 * day + 24))
        row = re.search(rf"^  {label}\s+24\s+(\d+)\s", out, re.MULTILINE)
        assert row is not None, out
        assert int(row[1]) == jobs


@pytest.mark.parametrize(("tz", "offset", "first_hours"), [("UTC", 0, 2), ("Asia/Tokyo", 9, 17)])
def test_days_are_real_calendar_days_when_the_start_is_not_midnight(
        tz: str, offset: int, first_hours: int, capsys: pytest.CaptureFixture[str]) -> None:
    """From 22:00 UTC the first row is the 2 (or, in Tokyo, 17) hours left of that day, labelled with its own
    date and marked partial; each full day's count is the model's for exactly that calendar day."""
    code = run(["--days", "2", "--profile", STARTUP, "--seed", "5", "--start", "2026-03-02T22:00:00Z", "--tz", tz])
    out = capsys.readouterr().out
    assert code == 0
    workload = Workload.load(ROOT / "data/profiles/startup.toml")
    first_label = "Tue 03-03" if offset else "Mon 03-02"
    assert re.search(rf"^  {first_label}\*\s+{first_hours}\s", out, re.MULTILINE), out
    full_day_start = FIRST + 24 + 24 * (offset > 0) - offset  # the first midnight (local) after the start
    full_label = "Wed 03-04" if offset else "Tue 03-03"
    jobs = sum(len(workload.window_intents(5, w)) for w in range(full_day_start, full_day_start + 24))
    row = re.search(rf"^  {full_label} \s+24\s+(\d+)\s", out, re.MULTILINE)
    assert row is not None and int(row[1]) == jobs, out
    assert f"({tz} days, all offices" in out


def test_help_states_the_true_defaults_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    """The start and seed defaults name the state folder's stream first, as the command behaves."""
    with pytest.raises(SystemExit) as info:
        run(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "where the state folder's simulated clock stands, else SIM_START, else 00:00 UTC today" in text
    assert "the state folder's stream, else SEED, else 0" in text
    assert "examples: bin/workload-preview --days 7" in text


def test_preview_prints_jobs_per_real_minute_for_each_pace(capsys: pytest.CaptureFixture[str]) -> None:
    """The pace line: the rate at SCALE_FACTOR and at each preset; COMPANY_SIZE scales it."""
    assert run(["--days", "1", "--seed", "1", "--start", "2026-03-02T00:00:00Z", "--company-size", "2000"]) == 0
    out = capsys.readouterr().out
    assert "2000 engineers" in out
    workload = Workload.load(ROOT / "data/profiles/default.toml", company_size=2000)
    realtime = workload.expected_per_day() / 1440
    assert f"realtime (1) {realtime:.3g}, demo (60) {realtime * 60:.3g}, default (720) {realtime * 720:,.0f}" in out


def test_preview_marks_bursts(capsys: pytest.CaptureFixture[str]) -> None:
    """Over a week of the default profile some office shows a B row with ^ marks."""
    assert run(["--days", "7", "--seed", "2", "--start", "2026-03-02T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+B  .*\^", out, re.MULTILINE)
    for office in ("us-west", "us-east", "europe", "india", "japan"):
        assert f"{office} (" in out


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is not None, reason="matplotlib is installed")
def test_png_without_matplotlib_says_how_to_install(capsys: pytest.CaptureFixture[str]) -> None:
    """--png without the preview extra exits 2 with the install command."""
    assert run(["--days", "1", "--png", "out.png"]) == 2
    assert "pip install -e '.[preview]'" in capsys.readouterr().err


@pytest.mark.slow  # many generated cases; the full run covers it
@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs the preview extra")
def test_png_chart_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--png writes a real PNG image beside the terminal chart."""
    out = tmp_path / "preview.png"
    assert run(["--days", "2", "--seed", "3", "--start", "2026-03-02T00:00:00Z", "--png", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000  # five panels of lines, not an empty canvas
    assert f"wrote {out}" in capsys.readouterr().out


def test_bad_days_is_a_usage_error() -> None:
    """--days 0 is refused by the parser with exit 2."""
    with pytest.raises(SystemExit) as info:
        run(["--days", "0"])
    assert info.value.code == 2


@pytest.mark.process
def test_command_help_and_version_run_as_a_process() -> None:
    """bin/workload-preview answers --help and --version with exit 0."""
    for flag, text in (("--help", "--days"), ("--version", "workload-preview")):
        done = subprocess.run([str(ROOT / "bin/workload-preview"), flag], capture_output=True, text=True, check=False)
        assert done.returncode == 0
        assert text in done.stdout


@pytest.mark.process
def test_preview_follows_the_running_stream_of_the_state_folder(env: dict[str, str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """With a state folder, the preview uses its seed and starts where its simulated clock stands."""
    from tests.conftest import run as run_command

    assert run_command("scheduler", "--backfill", "2d", env=env).returncode == 0
    assert run(["--days", "1", "--state-dir", env["STATE_DIR"]]) == 0
    out = capsys.readouterr().out
    assert "seed 42, 1 day(s) from 2026-03-04T00:00:00Z" in out
