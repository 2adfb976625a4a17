"""The shared back-off: pure, jittered around each doubling, capped after the jitter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.backoff import JITTER, exponential, jittered


@given(failures=st.integers(0, 200), base=st.floats(0.001, 100), cap=st.floats(0.001, 3600),
       unit=st.floats(0, 1, exclude_max=True))
def test_the_wait_never_passes_the_cap_and_stays_within_the_jitter(failures: int, base: float, cap: float,
                                                                   unit: float) -> None:
    """Capped after jitter: never above the cap, never further than JITTER from the doubled base."""
    wait = exponential(failures, base, cap, unit)
    nominal = base * 2.0 ** min(failures, 64)
    assert 0 < wait <= cap
    assert wait == min(cap, jittered(nominal, unit))
    assert nominal * (1 - JITTER) <= jittered(nominal, unit) <= nominal * (1 + JITTER)


def test_doubling_from_the_base_with_the_jitter_pinned() -> None:
    """unit 0.5 is the middle of the jitter: the plain doubling, then the cap."""
    assert [exponential(n, 2.0, 60.0, 0.5) for n in range(7)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
