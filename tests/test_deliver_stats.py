"""queue-stats for delivery: --check on backlog age, and the last-hour figures kept in bounded memory."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.delivery.metrics import Window
from pipeline.queues import open_store
from tests.delivery_support import command, put_payloads, queue_stats


@pytest.mark.process
def test_check_fails_on_a_backlog_older_than_max_age_even_while_it_waits_for_a_retry(tmp_path: Path) -> None:
    """A payload held in flight (waiting for a retry) still counts as backlog for --check --max-age."""
    put_payloads(tmp_path, ["job_1"])
    store = open_store(tmp_path)
    assert [row.data for row in store.take("payloads", 1)]  # now in flight, not "ready"
    store.close()
    old = command("queue_stats", tmp_path, "--check", "--max-age", "0")
    assert old.returncode == 1 and "oldest payloads item" in old.stdout
    assert command("queue_stats", tmp_path, "--check", "--max-age", "1h").returncode == 0


@pytest.mark.process
def test_fresh_state_has_every_delivery_key(tmp_path: Path) -> None:
    """Before any deliverer ran, the documented keys are there with empty values."""
    put_payloads(tmp_path, ["job_1"])
    stats = queue_stats(tmp_path)
    assert stats["queues"]["payloads"]["waiting_retry"] == 0
    assert stats["dead"] == {"count": 0, "by_reason": {}, "by_status": {}}
    assert {"delivered_total", "last_success_at", "last_error", "breaker", "paused", "next_retry_at"} <= set(
        stats["delivery"])


@settings(max_examples=30)
@given(seed=st.integers(0, 2**32), n=st.integers(50, 2000))
def test_window_percentiles_are_within_the_histogram_resolution(seed: int, n: int) -> None:
    """p50/p95 from the log histogram stay within 10 % (one bin) of the exact percentiles."""
    rng = random.Random(seed)
    latencies = [rng.lognormvariate(-4, 1) for _ in range(n)]  # around 20 ms, long tail
    window = Window()
    for i, latency in enumerate(latencies):
        window.add(i * 0.5, ok=True, latency=latency)
    window.add(n * 0.5, ok=False, latency=1.0)
    snap = window.snapshot(n * 0.5)
    exact = statistics.quantiles([x * 1000 for x in latencies], n=100, method="inclusive")
    assert (snap["attempts_1h"], snap["success_rate_1h"]) == (n + 1, round(n / (n + 1), 4))
    for key, q in (("latency_p50_ms", 50), ("latency_p95_ms", 95)):
        value = snap[key]
        assert value is not None
        assert exact[q - 2] / 1.1 <= value <= exact[min(q, 98)] * 1.1 + 1.0


def test_window_forgets_attempts_older_than_an_hour() -> None:
    """Figures cover the last hour only."""
    window = Window()
    window.add(0.0, ok=False, latency=0.01)
    window.add(4000.0, ok=True, latency=0.01)
    assert window.snapshot(4000.0)["attempts_1h"] == 1
    assert window.snapshot(4000.0)["success_rate_1h"] == 1.0
