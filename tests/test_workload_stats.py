"""Statistical checks of the default profile over 14 simulated days (336 one-hour windows)."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline import ROOT
from pipeline.models import Intent
from pipeline.workload import Workload, window_of
from pipeline.workload.choice import Choice

DAYS = 14
SEED = 20260302
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


@dataclass
class Sample:
    workload: Workload
    windows: list[int]
    intents: dict[int, list[Intent]]
    expected: dict[int, float]
    expected_burst: dict[int, float]

    @property
    def all(self) -> list[Intent]:
        return [i for w in self.windows for i in self.intents[w]]


@pytest.fixture(scope="module")
def sample() -> Sample:
    workload = Workload.load(ROOT / "data/profiles/default.toml")
    first = window_of(START)
    windows = list(range(first, first + DAYS * 24))
    intents = {w: workload.window_intents(SEED, w) for w in windows}
    expected, burst = {}, {}
    for w in windows:
        per_office = workload.window_expected(SEED, w).values()
        expected[w] = sum(e.base + e.burst for e in per_office)
        burst[w] = sum(e.burst for e in per_office)
    return Sample(workload, windows, intents, expected, burst)


def test_window_counts_are_poisson_around_the_expected_count(sample: Sample) -> None:
    """Per-window counts scatter around the integrated rate like a Poisson variable: dispersion ~1."""
    n = len(sample.windows)
    dispersion = sum(
        (len(sample.intents[w]) - sample.expected[w]) ** 2 / sample.expected[w] for w in sample.windows
    ) / n
    assert abs(dispersion - 1) < 4 * math.sqrt(2 / n)
    total, expected = len(sample.all), sum(sample.expected.values())
    assert abs(total - expected) < 4 * math.sqrt(expected)


def test_burst_jobs_match_the_drawn_schedule(sample: Sample) -> None:
    """Jobs marked is_burst add up to the bursts' expected excess, and bursts happen a few times a day."""
    burst_jobs = sum(i.is_burst for i in sample.all)
    expected = sum(sample.expected_burst.values())
    assert expected > 0
    assert abs(burst_jobs - expected) < 4 * math.sqrt(expected)
    bursts = {b.id for w in sample.windows for b in sample.workload.bursts(SEED, w)}
    assert 1 <= len(bursts) / DAYS <= 6


def test_volume_is_the_issue_s_global_company(sample: Sample) -> None:
    """Weekdays bring 1,000-2,000 jobs; the model's mean per day matches the realised mean."""
    per_day = Counter(i.occurred_at.date() for i in sample.all)
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5]
    assert 1000 <= statistics.mean(weekdays) <= 2000
    realised = len(sample.all) / DAYS
    assert abs(realised - sample.workload.expected_per_day()) / realised < 0.1


def test_weekends_are_well_below_weekdays(sample: Sample) -> None:
    """The weekend/weekday ratio matches the model's and is well below 1."""
    realised: dict[bool, list[int]] = defaultdict(list)
    modelled: dict[bool, list[float]] = defaultdict(list)
    for d in range(DAYS):
        day = sample.windows[d * 24 : d * 24 + 24]
        weekend = (START.weekday() + d) % 7 >= 5
        realised[weekend].append(sum(len(sample.intents[w]) for w in day))
        modelled[weekend].append(sum(sample.expected[w] for w in day))
    ratio = statistics.mean(realised[True]) / statistics.mean(realised[False])
    model_ratio = statistics.mean(modelled[True]) / statistics.mean(modelled[False])
    assert ratio < 0.6
    assert abs(ratio - model_ratio) < 0.1 * model_ratio


def test_each_office_peaks_in_its_own_working_hours(sample: Sample) -> None:
    """Counted by the office's local hour, every office's busiest hour is 09-17 and its quietest 00-06."""
    by_office: dict[str, Counter[int]] = defaultdict(Counter)
    zones = {o.name: o.timezone for o in sample.workload.profile.offices}
    for intent in sample.all:
        by_office[intent.office][intent.occurred_at.astimezone(zones[intent.office]).hour] += 1
    assert set(by_office) == set(zones)
    for office, hours in by_office.items():
        peak = max(range(24), key=lambda h, c=hours: c[h])  # type: ignore[misc]
        trough = min(range(24), key=lambda h, c=hours: c[h])  # type: ignore[misc]
        assert 9 <= peak <= 17, office
        assert 0 <= trough <= 6, office


def _team_class_choice(workload: Workload) -> dict[str, Choice[str]]:
    classes = workload.profile.classes
    return {
        team.name: Choice.of({c: spec.share * team.class_bias.get(c, 1.0) for c, spec in classes.items()})
        for office in workload.profile.offices
        for team in office.teams
    }


def test_class_shares_follow_the_profile(sample: Sample) -> None:
    """Given each team's job count, the job-type counts are within 4 sigma of the profile's shares."""
    choices = _team_class_choice(sample.workload)
    per_team = Counter(i.team for i in sample.all)
    counts = Counter(i.job_type for i in sample.all)
    for job_type in sample.workload.profile.classes:
        mean = sum(n * choices[team].share(job_type) for team, n in per_team.items())
        var = sum(n * choices[team].share(job_type) * (1 - choices[team].share(job_type))
                  for team, n in per_team.items())
        assert abs(counts[job_type] - mean) <= 4 * math.sqrt(var) + 1, job_type


def test_gpus_per_job_follow_the_profile(sample: Sample) -> None:
    """Within each class the GPU-count shares match the profile, and most jobs use one GPU."""
    by_class: dict[str, Counter[int]] = defaultdict(Counter)
    for intent in sample.all:
        by_class[intent.job_type][intent.gpu_count] += 1
    for job_type, counts in by_class.items():
        spec = sample.workload.profile.classes[job_type]  # type: ignore[index]
        n = sum(counts.values())
        assert set(counts) <= set(spec.gpus.keys), job_type
        for gpus in spec.gpus.keys:
            p = spec.gpus.share(gpus)
            assert abs(counts[gpus] / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1 / n, (job_type, gpus)
    one_gpu = sum(i.gpu_count == 1 for i in sample.all) / len(sample.all)
    assert 0.55 <= one_gpu <= 0.86  # traces: 54-86% of GPU jobs use one GPU (Seren, Philly, Helios traces)


def test_duration_quantiles_follow_each_class_lognormal(sample: Sample) -> None:
    """For every class with 1,000+ jobs, the median and p90 of durations match the lognormal's."""
    by_class: dict[str, list[float]] = defaultdict(list)
    for intent in sample.all:
        by_class[intent.job_type].append(math.log(intent.est_duration_hours))
    checked = 0
    for job_type, logs in by_class.items():
        if len(logs) < 1000:
            continue
        checked += 1
        spec = sample.workload.profile.classes[job_type]  # type: ignore[index]
        mu, sigma, n = math.log(spec.duration_median_hours), spec.duration_sigma, len(logs)
        deciles = statistics.quantiles(logs, n=10)
        # Standard errors of a normal sample's median and p90; 0.03 allows for rounding to 0.001 h.
        assert abs(deciles[4] - mu) < 4 * 1.2533 * sigma / math.sqrt(n) + 0.03, job_type
        assert abs(deciles[8] - (mu + 1.2816 * sigma)) < 4 * 1.709 * sigma / math.sqrt(n) + 0.03, job_type
    assert checked >= 4


def test_overall_durations_are_heavy_tailed_like_the_traces(sample: Sample) -> None:
    """Overall median is minutes (traces: 2-15 min) and the mean is several times the median."""
    hours = [i.est_duration_hours for i in sample.all]
    median = statistics.median(hours)
    assert 2 / 60 <= median <= 15 / 60
    assert statistics.mean(hours) / median >= 4


def test_every_intent_is_priced_from_the_catalog(sample: Sample) -> None:
    """Cost = GPUs x hours x price, the spot price exactly when the job may use spot; urgent never spot."""
    prices = sample.workload.prices
    for intent in sample.intents[sample.windows[10]] + sample.intents[sample.windows[200]]:
        cost = intent.cost
        list_price = prices.list_price(intent.gpu_type, intent.cloud_region)
        assert cost.gpu_hour_list_price == list_price
        assert cost.pricing == ("spot" if intent.spot_ok else "on_demand")
        expected_price = prices.spot_price(intent.gpu_type, intent.cloud_region) if intent.spot_ok else list_price
        assert cost.gpu_hour_price == expected_price
        gpu_hours = intent.gpu_count * intent.est_duration_hours
        assert cost.estimated_list_cost == pytest.approx(gpu_hours * list_price, abs=0.006)
        assert cost.estimated_cost == pytest.approx(gpu_hours * expected_price, abs=0.006)
    assert not any(i.spot_ok for i in sample.all if i.priority == "urgent")


def test_burst_jobs_are_more_urgent(sample: Sample) -> None:
    """Burst jobs carry the burst priority mix: far more high/urgent than the rest."""
    def pressing(intents: list[Intent]) -> float:
        return sum(i.priority in ("high", "urgent") for i in intents) / len(intents)

    burst = [i for i in sample.all if i.is_burst]
    other = [i for i in sample.all if not i.is_burst]
    assert pressing(burst) > 2 * pressing(other)


def test_office_and_cloud_region_are_separate(sample: Sample) -> None:
    """An office's jobs run in the cloud regions its profile lists, in roughly those shares."""
    offices = {o.name: o for o in sample.workload.profile.offices}
    by_office: dict[str, Counter[str]] = defaultdict(Counter)
    for intent in sample.all:
        by_office[intent.office][intent.cloud_region] += 1
    for office, regions in by_office.items():
        choice = offices[office].cloud_regions
        n = sum(regions.values())
        assert set(regions) <= set(choice.keys)
        for region in choice.keys:
            p = choice.share(region)
            assert abs(regions[region] / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1 / n


def test_default_profile_path_is_the_shipped_one() -> None:
    """The data files the scheduler defaults to exist where Workload.load looks for them."""
    assert (ROOT / "data/profiles/default.toml").is_file()
    assert (Path(ROOT / "data/profiles/default.toml").parent.parent / "prices.toml").is_file()
