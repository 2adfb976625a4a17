"""Profiles and price catalogs: a bad file stops with file, key and problem; the shipped ones load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import ROOT
from pipeline.workload import Workload

DEFAULT = (ROOT / "data/profiles/default.toml").read_text()
PRICES = ROOT / "data/prices.toml"


def _load_edited(tmp_path: Path, old: str, new: str, *, prices_old: str = "", prices_new: str = "") -> None:
    assert old in DEFAULT
    profile = tmp_path / "profiles" / "edited.toml"
    profile.parent.mkdir()
    profile.write_text(DEFAULT.replace(old, new, 1))
    text = PRICES.read_text()
    assert prices_old in text
    (tmp_path / "prices.toml").write_text(text.replace(prices_old, prices_new, 1) if prices_old else text)
    Workload.load(profile)


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ('timezone = "America/Los_Angeles"', 'timezone = "Mars/Olympus"', ["offices[0].timezone", "IANA"]),
        ("weekday_factors = [1.00, 1.04, 1.04, 1.02, 0.90, 0.45, 0.38]", "weekday_factors = [1.0, 1.0]",
         ["calendar.weekday_factors", "at least 7"]),
        ("[classes.pretraining]", "[classes.pretrain]", ["classes.pretrain"]),
        ("priority = { normal = 0.25, high = 0.50, urgent = 0.25 }", "priority = { normal = 1, critical = 1 }",
         ["bursts.priority", "critical"]),
        ("headcount = 30", "headcount = 0", ["offices[0].teams[0].headcount", "greater than or equal to 1"]),
        ('curve = "workday"', 'curve = "night"', ["us-west", "'night'"]),
        ('gpus = { "1" = 0.90', 'gpus = { "one" = 0.90', ["classes.evaluation.gpus", "'one'"]),
        ('spot_share = 0.5', 'spot_share = -0.5', ["classes.evaluation.spot_share"]),
        ('projects = { "ranker-v7" = 0.6, "query-understanding" = 0.4 }', "projects = { x = 0, y = 0 }",
         ["offices[0].teams[1].projects", "must not all be 0"]),
        ('name = "default"', 'name = "default', ["not valid TOML"]),
        ("jobs_per_head_per_day = 5.0", "jobs_per_head_per_day = 5.0\ncolour = 3", ["colour", "Extra inputs"]),
    ],
)
def test_bad_profile_names_file_key_and_problem(tmp_path: Path, old: str, new: str, fragments: list[str]) -> None:
    """Each broken key raises ValueError whose message starts with the file and names the key."""
    with pytest.raises(ValueError, match=r"edited\.toml") as info:
        _load_edited(tmp_path, old, new)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_profile_gpu_without_a_price_is_refused(tmp_path: Path) -> None:
    """A GPU type the catalog cannot price stops the load, naming the type and the catalog."""
    with pytest.raises(ValueError, match=r"prices.toml: no price for GPU type 'B200'"):
        _load_edited(tmp_path, 'gpu_types = { "H100" = 1.0 }', 'gpu_types = { "B200" = 1.0 }')


def test_bad_price_catalog_names_the_key(tmp_path: Path) -> None:
    """A spot multiplier above 1 is refused with its dotted key."""
    with pytest.raises(ValueError, match=r"gpus\.H100\.spot_multiplier"):
        _load_edited(tmp_path, "name", "name", prices_old="spot_multiplier = 0.45", prices_new="spot_multiplier = 1.5")


def test_missing_price_catalog_is_a_clear_error(tmp_path: Path) -> None:
    """A profile with no prices.toml beside its folder fails naming the missing file."""
    (tmp_path / "profiles").mkdir()
    shutil.copy(ROOT / "data/profiles/default.toml", tmp_path / "profiles/default.toml")
    with pytest.raises(ValueError, match=r"prices\.toml: file not found"):
        Workload.load(tmp_path / "profiles/default.toml")


def test_startup_profile_is_one_office_in_one_time_zone() -> None:
    """The second shipped profile loads and yields a small stream from its single office."""
    workload = Workload.load(ROOT / "data/profiles/startup.toml")
    assert 30 <= workload.expected_per_day() <= 100
    first = 492336  # 2026-03-02 00:00 UTC
    intents = [i for w in range(first, first + 24) for i in workload.window_intents(1, w)]
    assert intents
    assert {i.office for i in intents} == {"berlin"}
    assert {i.cloud_region for i in intents} == {"eu-central-1"}
    assert "pretraining" not in {i.job_type for i in intents}
