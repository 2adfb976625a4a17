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
        row = re.search(rf"^  {label}\s+(\d+)\s", out, re.MULTILINE)
        assert row is not None, out
        assert int(row[1]) == jobs


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
    assert "seed 42, 1 day(s) from 2026-03-04 00:00 UTC" in out
