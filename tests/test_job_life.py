"""The pure life model: every job's life is coherent, priced, and a function of (seed, job) alone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import ROOT
from pipeline.models import Intent, JobLife
from pipeline.workload import Workload, window_of

PROFILE = ROOT / "data/profiles/default.toml"
W0 = window_of(datetime(2026, 3, 2, tzinfo=UTC))


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload.load(PROFILE)


@pytest.fixture(scope="module")
def two_days(workload: Workload) -> list[tuple[Intent, JobLife]]:
    return [job for w in range(W0, W0 + 48) for job in workload.window_jobs(5, w)]


def test_every_life_is_coherent(workload: Workload, two_days: list[tuple[Intent, JobLife]]) -> None:
    for intent, life in two_days:
        assert life.job_id == intent.id
        assert life.requested_at == intent.occurred_at
        assert intent.occurred_at <= life.started_at <= life.ended_at
        assert life.attempts[0].started_at == life.started_at
        assert life.attempts[-1].ended_at == life.ended_at
        previous_end = intent.occurred_at
        for number, attempt in enumerate(life.attempts, start=1):
            assert attempt.number == number
            assert previous_end <= attempt.queued_at <= attempt.started_at < attempt.ended_at
            seconds = (attempt.ended_at - attempt.started_at).total_seconds()
            assert attempt.gpu_hours == pytest.approx(attempt.gpu_count * seconds / 3600, abs=1e-6)
            assert attempt.list_cost == pytest.approx(attempt.gpu_hours * attempt.gpu_hour_list_price, abs=1e-3)
            assert attempt.billed_cost == pytest.approx(attempt.gpu_hours * attempt.gpu_hour_price, abs=1e-3)
            expected_price = workload.prices.list_price(attempt.gpu_type, attempt.cloud_region)
            assert attempt.gpu_hour_list_price == expected_price
            if attempt.pricing == "spot":
                assert attempt.gpu_hour_price == workload.prices.spot_price(attempt.gpu_type, attempt.cloud_region)
            else:
                assert attempt.gpu_hour_price == expected_price
            previous_end = attempt.ended_at
        # Every attempt but the last was a spot reclaim; the job's outcome is its last attempt's.
        assert all(a.outcome == "preempted" and a.pricing == "spot" for a in life.attempts[:-1])
        assert life.attempts[-1].outcome == life.outcome
        assert life.gpu_hours == pytest.approx(sum(a.gpu_hours for a in life.attempts), abs=1e-5)
        assert life.billed_cost == pytest.approx(sum(a.billed_cost for a in life.attempts), abs=1e-3)
        assert intent.anomalies == life.anomalies


def test_lives_are_pure(workload: Workload) -> None:
    """Same seed: the same lives in any window order and from a single job; another seed differs."""
    forward = [workload.window_jobs(9, w) for w in range(W0, W0 + 6)]
    backward = [workload.window_jobs(9, w) for w in reversed(range(W0, W0 + 6))][::-1]
    assert forward == backward
    for jobs in forward:
        for intent, life in jobs:
            assert workload.life(9, intent) == life
    assert [life for _, life in workload.window_jobs(10, W0)] != [life for _, life in forward[0]]


@pytest.mark.process
def test_lives_do_not_depend_on_the_process() -> None:
    code = ("from pipeline.workload import Workload; from pipeline import ROOT;"
            f"wl = Workload.load(ROOT / 'data/profiles/default.toml');"
            f"print([l.model_dump_json() for _, l in wl.window_jobs(3, {W0 + 11})])")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(salt), "PATH": "/usr/bin:/bin"}, timeout=120).stdout
            for salt in (1, 2)]
    assert runs[0] == runs[1] and runs[0].startswith("['{")


def test_regular_ids_do_not_move_with_duplicates(workload: Workload) -> None:
    """Duplicates take indexes after the window's regular arrivals, so regular ids keep (window, position)."""
    from pipeline.workload.streams import intent_id

    for w in range(W0, W0 + 48):
        jobs = [intent for intent, _ in workload.window_jobs(5, w)]
        regular = [i for i in jobs if not any(a.kind == "duplicate_submission" for a in i.anomalies)]
        assert sorted(i.index for i in regular) == list(range(len(regular)))
        assert all(i.id == intent_id(5, w, i.index) for i in jobs)
        assert [i.occurred_at for i in jobs] == sorted(i.occurred_at for i in jobs)


def test_profile_without_lifecycle_tables_uses_the_cited_defaults(tmp_path: Path) -> None:
    text = PROFILE.read_text()
    cut = text.index("# ---- Job lives")
    bare = tmp_path / "profiles" / "bare.toml"
    bare.parent.mkdir()
    bare.write_text(text[:cut])
    (tmp_path / "prices.toml").write_text((ROOT / "data/prices.toml").read_text())
    assert Workload.load(bare).window_jobs(5, W0) == Workload.load(PROFILE).window_jobs(5, W0)
