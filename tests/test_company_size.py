"""COMPANY_SIZE: a company of N engineers is the profile's company scaled, with the same shape."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import ROOT
from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.workload import Workload, window_of
from pipeline.workload.profile import headcount, load_profile, resized

PROFILE = ROOT / "data/profiles/default.toml"
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
SEED = 11


def _jobs_per_office(workload: Workload, days: int) -> Counter[str]:
    first = window_of(START)
    return Counter(i.office for w in range(first, first + days * 24) for i in workload.window_intents(SEED, w))


def test_2000_engineers_give_2000_over_285_times_the_default_jobs_per_day() -> None:
    """Jobs per day of a sampled week are within 5 % of 2000/285 x the default's (per office, sampled counts
    of one week carry the noise of each office's own bursts: the shape test below checks offices)."""
    default, big = Workload.load(PROFILE), Workload.load(PROFILE, company_size=2000)
    assert headcount(default.profile) == 285 and headcount(big.profile) == 2000
    ratio = 2000 / 285
    assert big.expected_per_day() == pytest.approx(ratio * default.expected_per_day(), rel=0.01)
    small_jobs, big_jobs = _jobs_per_office(default, 7), _jobs_per_office(big, 7)
    assert sum(big_jobs.values()) / 7 == pytest.approx(ratio * sum(small_jobs.values()) / 7, rel=0.05)
    assert set(big_jobs) == set(small_jobs)


def test_each_office_keeps_its_hourly_shape() -> None:
    """Every office's expected jobs per hour are the default's times one constant: same daily curve, weekday
    pattern and peak hours, only more of them."""
    default, big = Workload.load(PROFILE), Workload.load(PROFILE, company_size=2000)
    first = window_of(START)
    for office in default.profile.offices:
        ratios = []
        for w in range(first, first + 7 * 24):
            a = default.window_expected(SEED, w)[office.name].base
            b = big.window_expected(SEED, w)[office.name].base
            if a > 0:
                ratios.append(b / a)
        assert max(ratios) == pytest.approx(min(ratios), rel=1e-9), office.name
        assert ratios[0] == pytest.approx(2000 / 285, rel=0.05), office.name


@settings(max_examples=50, deadline=None)
@given(size=st.integers(min_value=29, max_value=100_000))  # from 29 no team is held at its minimum of 1
def test_resized_profile_has_exactly_that_many_engineers(size: int) -> None:
    """Largest-remainder rounding: the total is exact and no team moves more than one from its exact share."""
    profile = load_profile(PROFILE)
    scaled = resized(profile, size)
    assert headcount(scaled) == size
    for office, new_office in zip(profile.offices, scaled.offices, strict=True):
        for team, new_team in zip(office.teams, new_office.teams, strict=True):
            assert abs(new_team.headcount - team.headcount * size / 285) < 1 + 1e-9


def test_company_size_setting_is_checked() -> None:
    """COMPANY_SIZE is a whole number of engineers from 1; anything else exits 78 naming it."""
    assert load_settings(company_size="2000").company_size == 2000
    for bad in ("0", "-5", "lots", "1.5"):
        with pytest.raises(ConfigError, match="COMPANY_SIZE"):
            load_settings(company_size=bad)
