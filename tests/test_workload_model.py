"""Determinism and structure of the workload model: windows, ids, streams, bursts."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.env import sealed
from pipeline import ROOT
from pipeline.models import Intent
from pipeline.workload import WINDOW_SECONDS, Workload, intent_id, window_of, window_start
from pipeline.workload.choice import Choice
from pipeline.workload.streams import keyed_random

PROFILE = ROOT / "data/profiles/default.toml"
FIRST = window_of(datetime(2026, 3, 2, tzinfo=UTC))


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload.load(PROFILE)


def _digest(intents: list[Intent]) -> str:
    return hashlib.sha256("".join(i.model_dump_json() for i in intents).encode()).hexdigest()


def test_intent_ids_are_pinned() -> None:
    """Ids never change between versions: an accidental change would re-key every stored stream."""
    assert intent_id(0, 0, 0) == "job_4b5fd15397829318f39a"
    assert intent_id(42, 492336, 7) == "job_eaa1121cd567d8a5c36e"


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_window_of_and_window_start_agree(t: datetime) -> None:
    """Every instant lies in [window_start(w), window_start(w + 1)) of its window w."""
    w = window_of(t)
    assert window_start(w) <= t < window_start(w + 1)
    assert window_of(window_start(w)) == w
    assert window_start(w + 1) - window_start(w) == timedelta(seconds=WINDOW_SECONDS)


def test_window_intents_are_sorted_indexed_and_inside_their_window(workload: Workload) -> None:
    """Indexes 0..n-1 (position, but duplicate submissions come last), ids from (seed, window, index),
    occurred_at sorted and inside the window."""
    for window in range(FIRST + 10, FIRST + 16):
        intents = workload.window_intents(3, window)
        assert intents
        assert sorted(i.index for i in intents) == list(range(len(intents)))
        assert all(i.window == window and i.id == intent_id(3, window, i.index) for i in intents)
        times = [i.occurred_at for i in intents]
        assert times == sorted(times)
        assert window_start(window) <= times[0] and times[-1] < window_start(window + 1)


def test_same_seed_gives_identical_streams_and_other_seeds_differ() -> None:
    """Two loads of the profile produce the same intents for a seed; another seed gives another stream."""
    a, b = Workload.load(PROFILE), Workload.load(PROFILE)
    windows = range(FIRST, FIRST + 48)
    first = [i for w in windows for i in a.window_intents(9, w)]
    assert first == [i for w in windows for i in b.window_intents(9, w)]
    assert [i.id for i in first] != [i.id for w in windows for i in a.window_intents(10, w)]


def test_window_intents_do_not_depend_on_call_order() -> None:
    """Generating windows backwards, with far-away windows in between, changes nothing."""
    forward, shuffled = Workload.load(PROFILE), Workload.load(PROFILE)
    windows = list(range(FIRST, FIRST + 72))
    expected = {w: forward.window_intents(5, w) for w in windows}
    for w in reversed(windows):
        shuffled.window_intents(5, w + 24 * 400)  # evicts the burst cache between calls
        assert shuffled.window_intents(5, w) == expected[w]


@pytest.mark.process
def test_another_process_gives_the_same_stream(workload: Workload) -> None:
    """A fresh interpreter with another hash seed reproduces the intents byte for byte."""
    windows = range(FIRST + 30, FIRST + 34)
    here = _digest([i for w in windows for i in workload.window_intents(77, w)])
    code = (
        "import hashlib; from pipeline.workload import Workload; from pipeline import ROOT;"
        "wl = Workload.load(ROOT / 'data/profiles/default.toml');"
        f"xs = [i for w in range({windows.start}, {windows.stop}) for i in wl.window_intents(77, w)];"
        "print(hashlib.sha256(''.join(i.model_dump_json() for i in xs).encode()).hexdigest())"
    )
    env = sealed(PYTHONHASHSEED="12345")
    there = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert there.stdout.strip() == here


def test_bursts_span_window_and_day_boundaries(workload: Workload) -> None:
    """A burst drawn on one day still raises rates after midnight, and its jobs fall inside its span."""
    spanning = None
    for day_start in range(FIRST + 24, FIRST + 24 * 60, 24):
        for burst in workload.bursts(1, day_start):
            if burst.start < day_start * WINDOW_SECONDS:
                spanning = (burst, day_start)
                break
        if spanning:
            break
    assert spanning is not None, "no burst crossed midnight in 60 days"
    burst, window = spanning
    assert burst in workload.bursts(1, window)
    for w in range(window, window + 13):
        for intent in workload.window_intents(1, w):
            if intent.burst_id is not None:
                owner = next(b for b in workload.bursts(1, w) if b.id == intent.burst_id)
                assert owner.start <= intent.occurred_at.timestamp() < owner.end


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=FIRST - 24 * 3650, max_value=FIRST + 24 * 3650), st.integers(0, 2**32))
def test_expected_counts_are_positive_and_burst_jobs_name_a_live_burst(
    workload: Workload, window: int, seed: int
) -> None:
    """Any window has a positive expected count, and each burst job names a burst covering its instant."""
    expected = workload.window_expected(seed, window)
    assert sum(e.base for e in expected.values()) > 0
    live = {b.id: b for b in workload.bursts(seed, window)}
    for intent in workload.window_intents(seed, window):
        if intent.is_burst:
            burst = live[intent.burst_id or ""]
            assert burst.start <= intent.occurred_at.timestamp() < burst.end
            assert expected[intent.office].burst > 0


def test_expected_per_day_matches_a_week_of_expected_counts(workload: Workload) -> None:
    """expected_per_day (used for the Gemini quota plan) agrees with the window-by-window expectation."""
    weeks = 4
    total = sum(
        sum(e.base + e.burst for e in workload.window_expected(seed, w).values())
        for seed in range(3)
        for w in range(FIRST, FIRST + 24 * 7 * weeks)
    )
    assert total / (3 * 7 * weeks) == pytest.approx(workload.expected_per_day(), rel=0.08)


@pytest.mark.slow  # many generated cases; the full run covers it
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0]), min_size=1),
       st.integers(0, 2**32))
def test_choice_never_picks_a_zero_weight_key(weights: dict[str, float], seed: int) -> None:
    """Weighted picks only return keys with weight > 0, and the shares sum to 1."""
    if sum(weights.values()) == 0:
        with pytest.raises(ValueError, match="must not all be 0"):
            Choice.of(weights)
        return
    choice = Choice.of(weights)
    rng = keyed_random(seed, "test", 0)
    assert all(weights[choice.pick(rng)] > 0 for _ in range(50))
    assert sum(choice.shares().values()) == pytest.approx(1.0)
