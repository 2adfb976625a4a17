"""docs/settings.md and .env.example are what the settings model generates, and describe every setting."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from pipeline import ROOT
from pipeline.config import Settings, load_settings
from pipeline.settings_doc import missing_meanings, render, render_env_example

REGENERATE = "python -m pipeline.settings_doc > docs/settings.md; " \
             "python -m pipeline.settings_doc --env-example > .env.example"


def test_settings_md_equals_the_generated_text() -> None:
    """A setting added, renamed or given a new default or range without regenerating the doc fails here."""
    assert (ROOT / "docs/settings.md").read_text(encoding="utf-8") == render(), f"regenerate: {REGENERATE}"


def test_env_example_equals_the_generated_text() -> None:
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == render_env_example(), f"regenerate: {REGENERATE}"


def test_every_setting_has_a_meaning_and_a_row() -> None:
    """A new setting needs a meaning (a Field description, or an entry in pipeline/settings_doc.py)."""
    assert missing_meanings() == []
    table = render()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in table


def test_env_example_loads_as_the_defaults() -> None:
    """Every line of .env.example is a comment: copying it to .env changes nothing until a line is uncommented,
    and each commented value is accepted as it stands."""
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    assert all(not line or line.startswith("#") for line in lines)
    values = dict(line[2:].split("=", 1) for line in lines if line.startswith("# ") and "=" in line.split()[1]
                  and line[2:].split("=", 1)[0].isupper())
    given = {k.lower(): v for k, v in values.items() if v}
    assert load_settings(**given) == load_settings()


@pytest.mark.process
def test_the_documented_secret_recipe_makes_a_valid_secret() -> None:
    """The whsec_ command in the docs produces a secret WEBHOOK_SECRET accepts."""
    doc = (ROOT / "docs/settings.md").read_text(encoding="utf-8")
    command = doc.split("Make one with `", 1)[1].split("`", 1)[0]
    assert command.startswith("python3 -c ")
    code = command.removeprefix("python3 -c ").strip("'")
    made = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert load_settings(webhook_secret=made).webhook_secret is not None
    assert len(base64.b64decode(made.removeprefix("whsec_"))) == 32
