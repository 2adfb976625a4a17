"""bin/answer-key: reproducible for any span, additive over spans, and equal to the truth the stream carries."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline import ROOT
from pipeline.workload import Workload
from pipeline.workload.answer_key import Entry, answer_key
from tests.conftest import intents_in, run
from tests.test_lifecycle_events import backfill, waiting
from tests.test_scheduler import START

PROFILE = ROOT / "data/profiles/default.toml"
KINDS = {"runaway", "idle_notebook", "wrong_cost_center", "missing_tags", "spend_spike", "duplicate_submission",
         "gpu_upgrade"}


def key(entries: list[Entry]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(e.kind, e.id, tuple(e.job_ids)) for e in entries]


def test_spans_in_any_order_add_up_to_the_whole_span() -> None:
    workload = Workload.load(PROFILE)
    whole = answer_key(workload, 42, START, START + timedelta(days=3))
    parts = [answer_key(workload, 42, START + timedelta(days=d), START + timedelta(days=d + 1)) for d in (2, 0, 1)]
    joined = sorted(key(parts[1]) + key(parts[2]) + key(parts[0]), key=lambda k: k[1])
    # A spike spans a day, so it never straddles two of these parts; every other kind is one job.
    assert sorted(key(whole), key=lambda k: k[1]) == joined
    assert whole and key(whole) == key(answer_key(Workload.load(PROFILE), 42, START, START + timedelta(days=3)))
    assert key(whole) != key(answer_key(workload, 43, START, START + timedelta(days=3)))


def test_every_kind_is_planted_over_a_month_at_about_one_percent() -> None:
    workload = Workload.load(PROFILE)
    entries = answer_key(workload, 1, START, START + timedelta(days=30))
    assert {e.kind for e in entries} == KINDS
    jobs = sum(1 for w in range(0, 30 * 24) for _ in workload.window_intents(1, w + int(START.timestamp()) // 3600))
    labelled = sum(len(e.job_ids) for e in entries)
    assert 0.005 < labelled / jobs < 0.02


def test_the_stream_carries_the_answer_key_in_its_truth(tmp_path: Path) -> None:
    """Anomalies labelled in the requested/finished events of a backfill equal the answer key of the span."""
    backfill(tmp_path / "state", 2)
    rows = intents_in(tmp_path / "state")
    labelled_request = {(a["id"], r["id"]) for r in rows if "type" not in r for a in r.get("anomalies", [])}
    # Finished events, sent or still waiting for their time at the end of the span.
    finished = [r for r in rows + waiting(tmp_path / "state") if r.get("type") == "job.finished"]
    labelled_finish = {(a["id"], r["job_id"]) for r in finished for a in r["truth"]["anomalies"]}
    entries = answer_key(Workload.load(PROFILE), 42, START, START + timedelta(days=2))
    expected = {(e.id, job) for e in entries for job in e.job_ids}
    assert labelled_request == expected == labelled_finish


@pytest.mark.process
def test_command_text_and_json_are_reproducible(env: dict[str, str]) -> None:
    args = ("answer-key", "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-05T00:00:00Z", "--json")
    first, second = run(*args, env=env), run(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert doc["seed"] == 42 and doc["anomalies"] and sum(doc["counts"].values()) == len(doc["anomalies"])
    assert set(doc["anomalies"][0]) == {"kind", "id", "first_requested_at", "team", "job_ids", "evidence",
                                        "gpu_hours", "billed_cost"}
    text = run(*args[:-1], env=env)
    assert text.returncode == 0 and text.stdout.count("\n") == len(doc["anomalies"]) + 1


@pytest.mark.process
def test_command_refuses_a_bad_span(env: dict[str, str]) -> None:
    result = run("answer-key", "--from", "2026-03-05", "--to", "2026-03-02", env=env)
    assert result.returncode == 2 and "--to must be later" in result.stderr
    result = run("answer-key", "--from", "yesterday", "--to", "2026-03-02", env=env)
    assert result.returncode == 2 and "ISO 8601" in result.stderr


@pytest.mark.process
def test_answer_key_is_the_same_in_a_fresh_process() -> None:
    code = ("from pipeline.workload import Workload; from pipeline import ROOT;"
            "from pipeline.workload.answer_key import answer_key; from datetime import datetime, timedelta;"
            "s = datetime.fromisoformat('2026-03-02T00:00:00+00:00');"
            "print([e.to_json() for e in answer_key(Workload.load(ROOT / 'data/profiles/default.toml'), 7, s,"
            " s + timedelta(days=2))])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                           env={"PYTHONHASHSEED": str(salt), "PATH": "/usr/bin:/bin"}).stdout for salt in (3, 4)}
    assert len(outs) == 1 and "kind" in outs.pop()
