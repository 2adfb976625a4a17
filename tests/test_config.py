"""Settings: bad values stop every command before it touches a queue, with one line and exit 78."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import load_settings, parse_duration
from pipeline.errors import ConfigError
from tests.conftest import run


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SCALE_FACTOR", "abc", "a number"),
        ("SCALE_FACTOR", "-5", "greater than 0"),
        ("TICK_INTERVAL_SEC", "0", "greater than 0"),
        ("WEBHOOK_URL", "not-a-url", "http(s) URL"),
        ("PROFILE", "data/profiles/missing.toml", "existing profile file"),
        ("DELIVERY_MAX_AGE", "3 weeks", "duration"),
        ("DELIVERY_MAX_AGE", "0", "greater than 0"),
        ("DELIVERY_RETRY_SCHEDULE", "5,0,30", "longer than 0"),
        ("GEMINI_MAX_WAIT", "0s", "greater than 0"),
        ("ENRICHER", "gemini", "GEMINI_API_KEY"),
    ],
)
@pytest.mark.process
@pytest.mark.parametrize("cmd", ["scheduler", "enricher", "deliverer"])
def test_bad_setting_exits_78_before_touching_state(
    cmd: str, variable: str, value: str, expected: str, env: dict[str, str]
) -> None:
    """Each bad value names the variable, the value and what is expected, and creates no state."""
    env[variable] = value
    result = run(cmd, env=env)
    assert result.returncode == 78, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert variable in lines[0] and value in lines[0] and expected in lines[0]
    assert not Path(env["STATE_DIR"]).exists()


@pytest.mark.process
def test_secret_values_are_masked_in_config_errors(env: dict[str, str]) -> None:
    """A malformed WEBHOOK_SECRET is reported without echoing the secret."""
    env["WEBHOOK_SECRET"] = "not-a-secret-SENTINEL"
    result = run("deliverer", env=env)
    assert result.returncode == 78
    assert "WEBHOOK_SECRET" in result.stderr and "SENTINEL" not in result.stderr


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag given to load_settings wins over the environment."""
    monkeypatch.setenv("SCALE_FACTOR", "10")
    assert load_settings().scale_factor == 10
    assert load_settings(scale_factor=99).scale_factor == 99


def test_relative_paths_resolve_against_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """STATE_DIR=data/state means the checkout's folder whatever the current directory is."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STATE_DIR", raising=False)
    cfg = load_settings()
    assert cfg.state_dir == Path(__file__).resolve().parent.parent / "data" / "state"


def test_schedule_parses_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """DELIVERY_RETRY_SCHEDULE takes comma-separated seconds or durations."""
    monkeypatch.setenv("DELIVERY_RETRY_SCHEDULE", "0.2, 5m,1h")
    assert load_settings().delivery_retry_schedule == (0.2, 300.0, 3600.0)


def test_timeouts_accept_duration_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durations accept seconds or a unit, the delivery timeouts included."""
    monkeypatch.setenv("DELIVERY_TIMEOUT", "15s")
    monkeypatch.setenv("DELIVERY_CONNECT_TIMEOUT", "1m")
    cfg = load_settings()
    assert (cfg.delivery_timeout, cfg.delivery_connect_timeout) == (15.0, 60.0)


def test_config_error_carries_its_data() -> None:
    """ConfigError exposes variable, value and expectation for callers."""
    with pytest.raises(ConfigError) as info:
        load_settings(enrich_batch_size=0)
    assert (info.value.variable, info.value.value) == ("ENRICH_BATCH_SIZE", 0)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "s", "m", "h", "d"]))
def test_duration_units(amount: int, unit: str) -> None:
    """Every unit multiplies to seconds."""
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(f"{amount}{unit}") == amount * factor


@pytest.mark.parametrize("text", ["", "abc", "5y", "-3s", "1.2.3h"])
def test_duration_rejects_garbage(text: str) -> None:
    """Anything but a number with an optional unit is refused."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
