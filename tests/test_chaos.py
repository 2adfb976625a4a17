"""Proof of no loss: the whole pipeline as real processes under random kills, a reboot, an outage and a receiver
that answers 503, 500 and 429 with Retry-After, answers slowly and drops connections.

CHAOS_SECONDS sets the length of the kill phase (default 110; the whole test takes about 20-40 s more).
The figures are printed (run with -s to see them).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.soak import scenario as soak

CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "110"))
MIN_KILLS, MIN_KILLS_IN_FLIGHT, MIN_PAYLOADS = 30, 10, 2000


@pytest.mark.process
@pytest.mark.slow
@pytest.mark.timeout(int(3 * CHAOS_SECONDS) + 900)
def test_no_payload_lost_or_invented_under_kills_reboot_and_outage(tmp_path: Path) -> None:
    """Every intent of the simulated span arrives, nothing else does, repeats are identical, files intact."""
    scenario = soak.Scenario(kill_seconds=CHAOS_SECONDS, min_kills=MIN_KILLS,
                             min_kills_in_flight=MIN_KILLS_IN_FLIGHT, outage_seconds=20.0)
    report = soak.run(scenario, tmp_path)
    print(f"\nchaos (driver seed {scenario.driver_seed}):\n{report.final()}\n"
          f"payloads during the kill phase {report.payloads_in_kill_phase}, kills in flight {report.kills_in_flight}")

    assert report.lost == [], f"{len(report.lost)} intents never arrived, e.g. {report.lost[:5]}"
    assert report.unexpected == [], f"ids no intent defines arrived: {report.unexpected[:5]}"
    assert report.differing == [], f"a repeated webhook-id carried another body: {report.differing[:5]}"
    assert report.dead_letters == 0
    assert all(report.integrity.values()), report.integrity
    # The run really was the scenario it claims to be.
    assert sum(report.kills.values()) >= MIN_KILLS and all(report.kills[r] > 0 for r in soak.WORKERS)
    assert report.kills_in_flight >= MIN_KILLS_IN_FLIGHT
    assert report.payloads_in_kill_phase >= MIN_PAYLOADS
    assert report.reboots == 1 and report.outages == 1
    assert all(report.answers[fault] > 0 for fault in ("503", "500", "429", "dropped")), report.answers
    # All three event types were in the span, and no job's event overtook an earlier one of the same job.
    types, overtaken = arrival_order(tmp_path / "received.jsonl")
    print(f"received by type: {dict(types)}")
    assert {"job.requested", "job.started", "job.finished"} <= set(types) <= {
        "job.requested", "job.started", "job.finished", "cost.usage"}, types
    assert overtaken == [], f"events delivered before their job's earlier event: {overtaken[:5]}"


def arrival_order(receipts: Path) -> tuple[Counter[str], list[str]]:
    """Distinct events received per type, and the ids whose first arrival came before an earlier event's."""
    rank = {"job.requested": 0, "job.started": 1, "job.finished": 2}
    seen: dict[str, int] = {}  # job -> highest rank received so far
    firsts: set[str] = set()
    types: Counter[str] = Counter()
    overtaken: list[str] = []
    for line in receipts.read_text().splitlines():
        record = json.loads(line)
        webhook_id, body = record["webhook_id"], record["body"]
        if webhook_id in firsts:
            continue
        firsts.add(webhook_id)
        kind = body.get("type", "job.requested")
        types[kind] += 1
        if kind not in rank:  # cost.usage: an hour of the bill, no job's own event
            continue
        job = body.get("job_id", body["id"])
        if rank[kind] != seen.get(job, -1) + 1:
            overtaken.append(webhook_id)
        seen[job] = max(seen.get(job, -1), rank[kind])
    return types, overtaken


@given(seed=st.integers(0, 2**31), low=st.floats(0.1, 5), spread=st.floats(0, 5), cycle=st.floats(10, 100))
def test_the_driver_plan_keeps_its_promises(seed: int, low: float, spread: float, cycle: float) -> None:
    """Events come in time order, kills are spaced within the interval, one outage and one reboot per cycle."""
    scenario = soak.Scenario(kill_seconds=cycle, kill_interval=(low, low + spread), cycle=cycle)
    plan = list(itertools.takewhile(lambda e: e[0] < 3 * cycle, soak._events(scenario, random.Random(seed))))
    assert [at for at, _ in plan] == sorted(at for at, _ in plan)
    kills = [at for at, what in plan if what == "kill"]
    assert all(low - 1e-9 <= b - a <= low + spread + 1e-9 for a, b in itertools.pairwise(kills))
    for n in range(3):
        in_cycle = [what for at, what in plan if n * cycle <= at < (n + 1) * cycle]
        assert in_cycle.count("outage") == 1 and in_cycle.count("reboot") == 1


@pytest.mark.process
def test_bin_soak_runs_a_short_scenario_and_reports(tmp_path: Path) -> None:
    """bin/soak end to end for a few seconds: exit 0 and a final report saying nothing was lost."""
    result = subprocess.run([sys.executable, "-m", "harness.soak", "--state-dir", str(tmp_path / "run"),
                             "--duration", "6", "--cycle", "6", "--outage", "1", "--scale-factor", "5000"],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lost 0  unexpected 0  repeats that differ 0  dead letters 0  integrity ok" in result.stdout
    assert "reboots 1  outages 1" in result.stdout


@pytest.mark.process
def test_bin_soak_refuses_a_folder_in_use(tmp_path: Path) -> None:
    """A second soak in the same folder would mix two runs' receipts: usage error, nothing started."""
    (tmp_path / "received.jsonl").write_text("")
    result = subprocess.run([sys.executable, "-m", "harness.soak", "--state-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["received.jsonl"]
