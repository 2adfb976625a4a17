"""The whole benchmark in one run: every section (a)-(e), in an order that keeps comparisons fair."""

from __future__ import annotations

import dataclasses
import os
import platform
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness.bench import baselines, footprint, ours
from harness.bench import dashboard_footprint as dashboard_bench
from harness.bench.rig import Rig, median, percentile
from harness.procs import strace_usable
from pipeline.config import Settings
from pipeline.workload import Workload

DAY = 86400


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """How much to measure: the full run, or --quick (one small run of everything, for the smoke test)."""

    n: int = 20_000
    runs: int = 3
    raw_n: int = 20_000
    http_n: int = 20_000
    backfill_days: int = 30
    idle_seconds: float = 30.0
    pickup_count: int = 400
    pickup_rate: float = 20.0
    steady_seconds: float = 30.0
    steady_scale: float = 720.0
    dashboard_seconds: float = 30.0

    @classmethod
    def quick(cls) -> BenchPlan:
        """Small enough for a test; the numbers only show that every measurement works."""
        return cls(n=600, runs=1, raw_n=500, http_n=300, backfill_days=2, idle_seconds=2.0, pickup_count=30,
                   pickup_rate=50.0, steady_seconds=4.0, dashboard_seconds=4.0)


def machine(rig: Rig) -> dict[str, Any]:
    """What the numbers were measured on."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    return {
        "cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
        "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
        "persist-queue": version("persist-queue"), "httpx": version("httpx"), "aiohttp": version("aiohttp"),
        "fsync_ms": round(baselines.fsync_cost_ms(rig.root), 3),
    }


def run_all(rig: Rig, settings: Settings, plan: BenchPlan, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure everything; returns plain data (JSON-able) for the report."""
    workload = Workload.load(settings.profile)
    span_s = int(plan.n / workload.expected_per_day() * DAY)
    out: dict[str, Any] = {"plan": dataclasses.asdict(plan), "span_s": span_s,
                           "settings": {"synchronous": "FULL", "delivery_concurrency": settings.delivery_concurrency,
                                        "enrich_batch_size": settings.enrich_batch_size}}
    progress("machine")
    out["machine"] = machine(rig)

    progress("(a) raw persist-queue")
    queue = [baselines.raw_queue(plan.raw_n, "FULL") for _ in range(plan.runs)]
    out["raw_put"] = median([q.put for q in queue])
    out["raw_get_ack"] = median([q.get_ack for q in queue])
    progress("(a) raw HTTP loop")
    with rig.receiver() as rec:
        out["http"] = median([baselines.http_loop(settings, rec.url, plan.http_n) for _ in range(plan.runs)])

    # Alternate the two pipelines so that a busy moment on the machine hits both alike.
    minimal_runs, pipeline_runs, alone_runs = [], [], []
    for i in range(plan.runs):
        progress(f"(a)+(b) minimal pipeline and ours, run {i + 1}/{plan.runs}")
        minimal_runs.append(baselines.minimal_pipeline(rig, plan.n))
        pipeline_runs.append(ours.concurrent(rig, span_s))
        alone_runs.append(ours.one_at_a_time(rig, span_s))
    out["minimal"] = {"rate": median([m.rate for m in minimal_runs]), "n": plan.n,
                      "received": [m.received for m in minimal_runs],
                      "cpu_ms": {k: median([m.cpu_ms[k] for m in minimal_runs]) for k in minimal_runs[0].cpu_ms}}
    out["pipeline"] = {
        "e2e": median([r.e2e_rate for r in pipeline_runs]),
        "emitted": [r.emitted for r in pipeline_runs],
        "received": [r.received for r in pipeline_runs], "unique": [r.unique for r in pipeline_runs],
        "duplicates": [r.duplicates for r in pipeline_runs],
        "stages": {role: median([r.stage_rates[role] for r in pipeline_runs]) for role in ours.ROLES},
        "restarts": {role: sum(r.restarts[role] for r in pipeline_runs) for role in ours.ROLES},
        "peak_rss_mb": {role: max(r.peak_rss_mb[role] for r in pipeline_runs) for role in ours.ROLES},
        "cpu_ms": {k: median([r.cpu_ms[k] for r in pipeline_runs]) for k in pipeline_runs[0].cpu_ms},
    }
    out["alone"] = {
        "rates": {role: median([r.rates[role] for r in alone_runs]) for role in ours.ROLES},
        "sim_days_per_s": median([span_s / DAY / r.backfill_seconds for r in alone_runs]),
        "peak_rss_mb": {role: max(r.peak_rss_mb[role] for r in alone_runs) for role in ours.ROLES},
    }

    progress(f"(c) {plan.backfill_days}-day backfill")
    fills = [ours.backfill(rig, plan.backfill_days * DAY) for _ in range(plan.runs)]
    out["backfill"] = {"days": plan.backfill_days, "intents": fills[0][0], "seconds": median([s for _, s in fills])}

    progress("fsyncs per payload (strace)")
    why_not = strace_usable()
    if why_not is None:
        traced = ours.concurrent(rig, span_s, count_fsyncs=True)
        traced_min = baselines.minimal_pipeline(rig, plan.n, count_fsyncs=True)
        out["fsyncs"] = {"pipeline": traced.fsyncs, "pipeline_payloads": traced.unique,
                         "minimal": traced_min.fsyncs, "minimal_payloads": traced_min.received}
    else:
        progress(f"fsync count skipped: {why_not}")
        out["fsyncs"] = {"skipped": why_not}

    progress(f"(d) idle CPU over {plan.idle_seconds:g} s at SCALE_FACTOR=1")
    idle = footprint.idle(rig, plan.idle_seconds)
    out["idle"] = {"cpu_percent": idle.cpu_percent, "peak_rss_mb": idle.peak_rss_mb, "startup_s": idle.startup_s}
    progress("(d) pickup latency")
    picks = [x for _ in range(plan.runs)
             for x in footprint.pickup(rig, workload, plan.pickup_count, plan.pickup_rate)]
    out["pickup_ms"] = {"n": len(picks), "p50": percentile(picks, 50) * 1000, "p99": percentile(picks, 99) * 1000}
    progress(f"(e) steady state at SCALE_FACTOR={plan.steady_scale:g}")
    runs = [footprint.steady(rig, plan.steady_seconds, plan.steady_scale) for _ in range(plan.runs)]
    lat = [x for run in runs for x in run.from_occurrence]
    hop = [x for run in runs for x in run.from_emitted]
    out["steady_ms"] = {"n": len(lat), "p50": percentile(lat, 50) * 1000, "p99": percentile(lat, 99) * 1000,
                        "emitted_p50": percentile(hop, 50) * 1000, "emitted_p99": percentile(hop, 99) * 1000,
                        "scale": plan.steady_scale}
    progress(f"(f) dashboard with one tab open, {plan.dashboard_seconds:g} s at SCALE_FACTOR={plan.steady_scale:g}")
    dash = [dashboard_bench.footprint(rig, plan.dashboard_seconds, plan.steady_scale) for _ in range(plan.runs)]
    out["dashboard"] = {**dashboard_bench.as_dict(dash[0]), "cpu_percent": median([x.cpu_percent for x in dash]),
                        "peak_rss_mb": max(x.peak_rss_mb for x in dash)}
    return out
