"""The outcome policy and the endpoint breaker as pure functions: classification, schedule, jitter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.delivery.breaker import THRESHOLD, Breaker, Gate, State
from pipeline.delivery.policy import (
    Action,
    DeadReason,
    Kind,
    classify,
    decide,
    parse_retry_after,
    retry_delay,
)

SCHEDULE = (5.0, 300.0, 1800.0)
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "kind"), [
    (200, Kind.DELIVERED), (204, Kind.DELIVERED), (299, Kind.DELIVERED),
    (None, Kind.TRANSIENT), (408, Kind.TRANSIENT), (429, Kind.TRANSIENT), (500, Kind.TRANSIENT),
    (503, Kind.TRANSIENT), (599, Kind.TRANSIENT),
    (301, Kind.REJECTED), (302, Kind.REJECTED), (400, Kind.REJECTED), (401, Kind.REJECTED),
    (404, Kind.REJECTED), (413, Kind.TOO_LARGE), (410, Kind.GONE),
])
def test_classify_follows_the_issue(status: int | None, kind: Kind) -> None:
    """2xx delivers; 408/429/5xx/no answer retry; redirects and other 4xx are refusals; 413 and 410 special."""
    assert classify(status) is kind


@given(attempts=st.integers(1, 50), unit=st.floats(0, 1, exclude_max=True))
def test_retry_delay_stays_within_20_percent_of_the_schedule(attempts: int, unit: float) -> None:
    """The jittered wait is within +-20 % of its interval, and the last interval repeats."""
    base = SCHEDULE[min(attempts, len(SCHEDULE)) - 1]
    assert 0.8 * base <= retry_delay(attempts, SCHEDULE, unit) <= 1.2 * base


def test_refusals_go_through_the_schedule_once_then_die() -> None:
    """A 4xx is retried after each interval, and dead-lettered after len(schedule)+1 attempts."""
    fates = [decide(Kind.REJECTED, attempts=n, failing_age=0, schedule=SCHEDULE, max_age=1e9,
                    retry_after=None, unit=0.5) for n in range(1, 5)]
    assert [f.action for f in fates] == [Action.RETRY, Action.RETRY, Action.RETRY, Action.DEAD]
    assert [f.delay for f in fates[:3]] == list(SCHEDULE)
    assert fates[3].reason is DeadReason.REJECTED


@given(attempts=st.integers(1, 10_000), age=st.floats(0, 259_199))
def test_transient_failures_never_die_before_max_age(attempts: int, age: float) -> None:
    """However many attempts, a transient failure younger than DELIVERY_MAX_AGE is retried."""
    fate = decide(Kind.TRANSIENT, attempts=attempts, failing_age=age, schedule=SCHEDULE, max_age=259_200,
                  retry_after=None, unit=0.5)
    assert fate.action is Action.RETRY
    assert fate.delay == SCHEDULE[min(attempts, len(SCHEDULE)) - 1]


def test_transient_failures_die_once_max_age_is_reached() -> None:
    """At DELIVERY_MAX_AGE of failing age the payload becomes a max_age dead letter."""
    fate = decide(Kind.TRANSIENT, attempts=3, failing_age=100, schedule=SCHEDULE, max_age=100,
                  retry_after=None, unit=0.5)
    assert (fate.action, fate.reason) == (Action.DEAD, DeadReason.MAX_AGE)


def test_retry_after_lengthens_but_never_shortens_the_wait() -> None:
    """The next attempt waits for the longer of the schedule and the Retry-After."""
    longer = decide(Kind.TRANSIENT, attempts=1, failing_age=0, schedule=SCHEDULE, max_age=1e9,
                    retry_after=60, unit=0.5)
    shorter = decide(Kind.TRANSIENT, attempts=1, failing_age=0, schedule=SCHEDULE, max_age=1e9,
                     retry_after=1, unit=0.5)
    assert (longer.delay, shorter.delay) == (60, 5)


def test_413_dies_at_once_and_410_pauses() -> None:
    """413 is a too_large dead letter on the first attempt; 410 asks for a pause, not a retry."""
    too_large = decide(Kind.TOO_LARGE, attempts=1, failing_age=0, schedule=SCHEDULE, max_age=1e9,
                       retry_after=None, unit=0.5)
    gone = decide(Kind.GONE, attempts=1, failing_age=0, schedule=SCHEDULE, max_age=1e9, retry_after=None,
                  unit=0.5)
    assert (too_large.action, too_large.reason) == (Action.DEAD, DeadReason.TOO_LARGE)
    assert gone.action is Action.PAUSE


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), ("1.5", 1.5), ("Mon, 02 Mar 2026 12:01:30 GMT", 90.0),
    ("Mon, 02 Mar 2026 11:00:00 GMT", 0.0), ("soon", None), ("-5", None), ("nan", None), (None, None),
])
def test_retry_after_parses_seconds_and_http_dates(header: str | None, seconds: float | None) -> None:
    """Delta-seconds and HTTP dates become a wait (past dates: none); garbage is ignored."""
    assert parse_retry_after(header, NOW) == seconds


def test_breaker_opens_after_threshold_failures_and_probes_one_at_a_time() -> None:
    """THRESHOLD failures in a row open it; after the back-off one probe may go; success closes it."""
    breaker = Breaker((1.0, 10.0))
    for _ in range(THRESHOLD - 1):
        breaker.failed(0.0, 0.5, probe=False, answered=True)
    assert breaker.gate(0.0) is Gate.SEND
    breaker.failed(0.0, 0.5, probe=False, answered=True)
    assert breaker.state is State.OPEN
    assert breaker.gate(0.5) is Gate.WAIT
    assert breaker.gate(1.0) is Gate.PROBE
    breaker.probe_started()
    assert breaker.gate(1.0) is Gate.WAIT  # only one probe in flight
    breaker.answered()
    assert (breaker.state, breaker.gate(1.0), breaker.open_for(1.0)) == (State.CLOSED, Gate.SEND, 0.0)


def test_failed_probes_back_off_doubling_up_to_the_cap() -> None:
    """Each failed probe doubles the wait, capped at the schedule's longest interval."""
    breaker = Breaker((1.0, 4.0))
    for _ in range(THRESHOLD):
        breaker.failed(0.0, 0.5, probe=False, answered=True)
    now, waits = 0.0, []
    for _ in range(5):
        wait = next(t / 10 for t in range(1, 1000) if breaker.gate(now + t / 10) is Gate.PROBE)
        waits.append(wait)
        now += wait
        breaker.probe_started()
        breaker.failed(now, 0.5, probe=True, answered=False)
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert breaker.open_for(now) == now


def test_an_answer_between_failures_resets_the_count() -> None:
    """Failures must be consecutive: a refusal or success in between keeps the breaker closed."""
    breaker = Breaker((1.0,))
    for _ in range(3 * THRESHOLD):
        for _ in range(THRESHOLD - 1):
            breaker.failed(0.0, 0.5, probe=False, answered=True)
        breaker.answered()
    assert breaker.state is State.CLOSED


def test_two_unanswered_requests_in_a_row_open_it() -> None:
    """Refused or reset twice in a row is an outage; one lone reset, or answers in between, is not."""
    breaker = Breaker((1.0,))
    breaker.failed(0.0, 0.5, probe=False, answered=False)
    breaker.failed(0.0, 0.5, probe=False, answered=True)
    breaker.failed(0.0, 0.5, probe=False, answered=False)
    states = [breaker.state]
    breaker.failed(0.0, 0.5, probe=False, answered=False)
    assert [*states, breaker.state] == [State.CLOSED, State.OPEN]


def test_retry_after_holds_the_endpoint_even_when_closed() -> None:
    """A Retry-After stops every send until it has passed."""
    breaker = Breaker((1.0,))
    breaker.hold(10.0, 30.0)
    assert breaker.gate(39.9) is Gate.WAIT
    assert breaker.gate(40.0) is Gate.SEND


def test_an_abandoned_probe_leaves_the_breaker_open() -> None:
    """A probe cancelled at shutdown reports the breaker open again, not half-open forever."""
    breaker = Breaker((1.0, 10.0))
    for _ in range(THRESHOLD):
        breaker.failed(0.0, 0.5, probe=False, answered=True)
    breaker.probe_started()
    assert breaker.state is State.HALF_OPEN
    breaker.probe_abandoned()
    assert (breaker.state, breaker.gate(1.0)) == (State.OPEN, Gate.PROBE)
    breaker.answered()
    breaker.probe_abandoned()  # nothing in flight: a closed breaker stays closed
    assert breaker.gate(1.0) is Gate.SEND
