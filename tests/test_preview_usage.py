"""bin/workload-preview's usage section: GPU-hours and spend per day and team from the lives, and the anomalies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline import ROOT
from pipeline.workload import Workload, window_of
from pipeline.workload.answer_key import answer_key
from pipeline.workload.preview_usage import build_usage, render_usage
from tests.conftest import run
from tests.test_scheduler import START


def test_usage_adds_up_to_the_lives_of_the_span() -> None:
    workload = Workload.load(ROOT / "data/profiles/default.toml")
    usage = build_usage(workload, 42, window_of(START), 2)
    lives = [life for w in range(window_of(START), window_of(START) + 48) for _, life in workload.window_jobs(42, w)]
    end = START + timedelta(days=2)
    inside = sum(a.gpu_count * (min(a.ended_at, end) - a.started_at).total_seconds() / 3600
                 for life in lives for a in life.attempts if a.started_at < end)
    assert sum(day.gpu_hours for day in usage.days) == pytest.approx(inside, rel=1e-9)
    assert sum(team.gpu_hours for team in usage.teams.values()) == pytest.approx(sum(x.gpu_hours for x in lives),
                                                                                 rel=1e-6)
    assert sum(team.billed_cost for team in usage.teams.values()) == pytest.approx(
        sum(x.billed_cost for x in lives), rel=1e-6)
    assert usage.running_after == sum(life.ended_at > end for life in lives) > 0
    assert [e.id for e in usage.anomalies] == [e.id for e in answer_key(workload, 42, START, end)]
    text = render_usage(usage)
    assert "Usage per team" in text and "Planted anomalies in the span" in text
    assert all(e.kind in text and e.job_ids[0] in text for e in usage.anomalies if len(e.job_ids) == 1)


@pytest.mark.process
def test_preview_command_shows_usage_and_anomalies(env: dict[str, str]) -> None:
    result = run("workload-preview", "--days", "2", "--seed", "42", "--start", "2026-03-02T00:00:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "Usage from the jobs' lives" in result.stdout and "Planted anomalies in the span" in result.stdout
