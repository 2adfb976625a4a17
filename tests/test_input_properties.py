"""Random values at every setting and every profile field: valid, or one line and a documented exit code.

In-process for breadth (hundreds of values a second); a sample through the real command for what a
process adds (exit codes, stderr, no traceback, a deadline).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import tempfile
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError
from pipeline.workload import Workload, window_of
from tests.conftest import ROOT, command

DOCUMENTED = {0, 1, 2, 65, 75, 78}
FIELDS = sorted(Settings.model_fields)
NASTY = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["inf", "-inf", "nan", "1e308", "1e309", "-1", "0", " ", "9" * 50, "9999-12-31T23:59:59Z",
                     "0001-01-01", "1970-01-01T00:00:00Z", "/dev/null", "/proc/1", "..", "http://u:p@h:1/x", "whsec_",
                     "3651d", "1e400s", "0,0", "5,", "1EiB", "true", "gemini"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), NASTY)
def test_any_value_of_any_setting_is_taken_or_refused_in_one_line(field: str, value: str) -> None:
    """Never another exception, never a second line, never a secret or a URL password in the line."""
    try:
        load_settings(**{field: value})
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and len(text) < 400
        assert exc.variable == field.upper()
        if "secret" in field or "key" in field:
            assert text.startswith(f"{field.upper()}='***'"), text
        if value == "http://u:p@h:1/x":  # a URL's password is masked; any other value is echoed as given
            assert ":p@" not in text


@pytest.mark.process
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([f for f in FIELDS if f != "state_dir"]), NASTY.filter(lambda v: "\x00" not in v))
def test_any_setting_through_the_real_command(field: str, value: str) -> None:
    """A one-hour backfill with the value in its environment: a documented exit, one line if it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": "/usr/bin:/bin", "STATE_DIR": f"{tmp}/state", "SEED": "1", "ENRICHER": "offline",
               "SIM_START": "2026-03-02T00:00:00Z", field.upper(): value}
        result = subprocess.run(command("scheduler", "--backfill", "1h"), env=env, capture_output=True, text=True,
                                timeout=120, check=False)
    assert result.returncode in DOCUMENTED and "Traceback" not in result.stderr, result.stderr
    if result.returncode:
        lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]
        assert len(lines) == 1, result.stderr


# ---- profiles ---------------------------------------------------------------------------------------------

DEFAULT = tomllib.loads((ROOT / "data/profiles/default.toml").read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every table, array and value of the profile, as key/index paths."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(DEFAULT)
SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=12), st.booleans(), st.dates(min_value=date(1, 1, 1)),
    st.sampled_from([0, -1, 1e308, 2**63 - 1, 1e-308, "", "Mars/Olympus"]),
)
TOML_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4), max_leaves=12)


def _toml(value: Any) -> str:
    """A value as inline TOML (enough for any document of tables, arrays and scalars)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int | date):
        return str(value) if isinstance(value, int) else value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


FOLDER = Path(tempfile.mkdtemp(prefix="profile-props-"))
(FOLDER / "profiles").mkdir(exist_ok=True)
shutil.copy(ROOT / "data/prices.toml", FOLDER / "prices.toml")
NOON = window_of(datetime(2026, 3, 3, 12, tzinfo=UTC))


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), TOML_VALUES)
def test_any_value_at_any_profile_field_is_refused_or_generates_in_bounded_time(
        path: tuple[Any, ...], value: Any) -> None:
    """ValueError naming the file (one line per problem), or a workload that generates a window promptly."""
    doc = copy.deepcopy(DEFAULT)
    _set(doc, path, value)
    profile = FOLDER / "profiles" / "random.toml"
    profile.write_text("\n".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in doc.items()) + "\n", encoding="utf-8")
    try:
        workload = Workload.load(profile)
    except ValueError as exc:
        assert str(profile) in str(exc)
        return
    assert math.isfinite(workload.expected_per_day())
    for intent in workload.window_intents(7, NOON):
        assert math.isfinite(intent.cost.estimated_cost)
