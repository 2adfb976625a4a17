"""bin/bench --quick as a smoke check: every measurement runs and the report holds sane values (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bench.ours import ROLES
from harness.bench.report import BEGIN, END

pytestmark = pytest.mark.process  # every test here starts real processes


def test_quick_bench_writes_every_row_with_sane_values(tmp_path: Path) -> None:
    """A quick run delivers every intent once, counts fsyncs, and writes each target and row into the report."""
    out, raw = tmp_path / "PERFORMANCE.md", tmp_path / "bench.json"
    out.write_text("# kept\n\nhand-written notes\n")
    result = subprocess.run([sys.executable, "-m", "harness.bench", "--quick", "--out", str(out),
                             "--json", str(raw)], capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    r = json.loads(raw.read_text())
    pipeline = r["pipeline"]
    assert pipeline["emitted"][0] > 100
    assert pipeline["unique"] == pipeline["received"] == pipeline["emitted"]
    assert pipeline["duplicates"] == [0]
    assert r["minimal"]["received"] == [r["plan"]["n"]]
    for rate in (r["raw_put"], r["raw_get_ack"], r["http"], r["minimal"]["rate"], pipeline["e2e"],
                 *pipeline["stages"].values(), *r["alone"]["rates"].values(), r["alone"]["sim_days_per_s"]):
        assert rate > 0
    assert set(pipeline["cpu_ms"]) == set(r["minimal"]["cpu_ms"]) == {*ROLES, "receiver"}
    assert all(ms > 0 for ms in (*pipeline["cpu_ms"].values(), *r["minimal"]["cpu_ms"].values()))
    for role in ROLES:
        assert 10 < pipeline["peak_rss_mb"][role] < 1000
        assert 0 <= r["idle"]["cpu_percent"][role] < 100
        assert 0 < r["idle"]["startup_s"][role] < 60
    fsyncs = r["fsyncs"]
    if "skipped" not in fsyncs:
        assert fsyncs["pipeline_payloads"] == pipeline["emitted"][0]
        assert sum(fsyncs["pipeline"].values()) / fsyncs["pipeline_payloads"] > 0
        assert fsyncs["minimal"] >= 2 * fsyncs["minimal_payloads"]  # one commit per put and per ack at least
    assert r["pickup_ms"]["n"] == r["plan"]["pickup_count"]
    assert 0 < r["pickup_ms"]["p50"] <= r["pickup_ms"]["p99"]
    steady = r["steady_ms"]
    assert steady["n"] > 0 and 0 < steady["p50"] <= steady["p99"]
    assert 0 < steady["emitted_p50"] <= steady["emitted_p99"] <= steady["p99"]
    text = out.read_text()
    assert text.startswith("# kept\n\nhand-written notes\n") and BEGIN in text and END in text
    for row in ("every intent delivered exactly once", "end to end >= 1.9x", "fsyncs per payload",
                "CPU ms per payload", "pickup latency p99", "idle CPU <= 1 % (enricher)",
                "peak RSS <= 120 MB (enricher with google-genai)", "backfill <= 2x raw puts", "raw persist-queue put",
                "raw persist-queue get+ack", "raw HTTP POST loop", "minimal pipeline", "simulated days per real second",
                "delivery latency at SCALE_FACTOR=720",
                "start-up, spawn to worker.started", "deliverer alone", "scheduler while concurrent"):
        assert row in text, row
    if "skipped" not in fsyncs:
        assert "n/a" not in text.split(BEGIN)[1]
