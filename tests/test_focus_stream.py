"""The streamed bill: cost.usage events equal the export of the same span, and each job.finished carries
the sum of its rows' BilledCost; both survive a scheduler that stops and resumes."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pipeline.events import event_type, is_lifecycle, selected
from pipeline.focus.bill import Bill
from pipeline.focus.summary import COMMITMENTS
from pipeline.focus.writers import row_object
from pipeline.workload import Workload, window_of
from tests.conftest import intents_in, run
from tests.focus_support import PROFILE, ROOT

STARTUP = ROOT / "data" / "profiles" / "startup.toml"


def _backfill(env: dict[str, str], *spans: str) -> list[dict[str, Any]]:
    for span in spans:
        done = run("scheduler", "--backfill", span, env=env, timeout=900)
        assert done.returncode == 0, done.stderr
    return intents_in(Path(env["STATE_DIR"]))


@pytest.mark.process
def test_streamed_cost_usage_equals_the_export_and_job_finished_sums_its_rows(env: dict[str, str]) -> None:
    env["PROFILE"] = str(PROFILE)
    # Two backfills of 9 h: the second resumes from the saved clock (a restart mid-stream).
    events = _backfill(env, "9h", "9h")
    start = datetime.fromisoformat(env["SIM_START"].replace("Z", "+00:00"))
    first = window_of(start)
    usage = [e for e in events if event_type(json.dumps(e).encode()) == "cost.usage"]
    assert [e["charge_period_start"] for e in usage] == [
        f"{datetime.fromtimestamp((first + h) * 3600, start.tzinfo):%Y-%m-%dT%H:%M:%SZ}" for h in range(18)]
    # In stream order with the job events: times never go back.
    times = [datetime.fromisoformat(str(e["occurred_at"]).replace("Z", "+00:00")) for e in events]
    assert times == sorted(times)

    streamed = [row for e in usage for row in e["rows"]]
    workload = Workload.load(PROFILE)
    exported = [row_object(r) for _, rows in Bill(workload).hours(int(env["SEED"]), first, first + 18, origin=first)
                for r in rows]
    assert streamed == exported
    assert len(streamed) > 100

    billed: dict[str, Decimal] = defaultdict(Decimal)
    for row in streamed:
        if row["x_JobId"] is not None:
            billed[str(row["x_JobId"])] += Decimal(str(row["BilledCost"]))
    finished = [e for e in events if e.get("type") == "job.finished"]
    assert len(finished) > 100
    covered = 0
    for event in finished:  # every job that finished in the span ran all its hours inside it
        # The event carries the exact sum of the rows, rounded to 4 decimals like every cost in the events.
        assert round(float(billed[event["job_id"]]), 4) == event["billed_cost"], event["job_id"]
        covered += event["billed_cost"] < sum(a["billed_cost"] for a in event["attempts"]) - 0.001
    assert covered > 0  # some jobs ran on the commitment: billed less than their price x hours


def test_cost_usage_is_a_selectable_event_type_passed_through_by_the_enricher() -> None:
    body = json.dumps({"type": "cost.usage", "id": "usage_x", "rows": []}).encode()
    assert is_lifecycle(body)  # the enricher passes it on unchanged
    assert selected(body, ("cost.usage",))
    assert not selected(body, ("job.requested", "job.finished"))


@pytest.mark.process
def test_bill_per_team_and_day_in_workload_preview_equals_the_export(tmp_path: Path, env: dict[str, str]) -> None:
    """bin/workload-preview --bill shows, per team and UTC day, the sum of bin/export's BilledCost."""
    args = ("--seed", "5", "--profile", str(STARTUP))
    out = tmp_path / "bill.csv"
    exported = run("export", "--from", env["SIM_START"], "--to", "2026-03-04T00:00Z", "--out", str(out), *args,
                   env=env, timeout=600)
    assert exported.returncode == 0, exported.stderr
    shown = run("workload-preview", "--days", "2", "--bill", *args, env=env, timeout=600)
    assert shown.returncode == 0, shown.stderr
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with out.open(newline="") as handle:
        for row in csv.DictReader(handle):
            totals[(row["x_Team"] or COMMITMENTS, row["ChargePeriodStart"][:10])] += Decimal(row["BilledCost"])
    table = shown.stdout.split("Bill per team and UTC day", 1)[1].splitlines()
    days = table[1].split()[1:]
    assert days == ["2026-03-02", "2026-03-03"]
    seen = {}
    for line in table[2:]:
        if line.strip() and not line.strip().startswith("total"):
            name, *cells = line.rsplit(None, len(days))
            seen.update({(name.strip(), day): Decimal(cell.replace(",", ""))
                         for day, cell in zip(days, cells, strict=True)})
    expected = {key: value.quantize(Decimal("0.01")) for key, value in totals.items()}
    assert {k: v for k, v in seen.items() if v or k in expected} == expected
    assert len(expected) > 2
