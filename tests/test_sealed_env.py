"""The one environment scrubber: tests and every child they start are sealed off from the caller's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.env import sealed
from pipeline.config import ENV_FILE_VARIABLE, load_settings


def test_sealed_drops_every_setting_and_keeps_the_rest() -> None:
    """Settings by field name or prefix and systemd's variables go; PATH and friends stay; no .env."""
    caller = {"ENRICHER": "offline", "ENRICH_FALLBACK": "wait", "WEBHOOK_URL": "http://x", "SEED": "3",
              "STATE_DIR": "/srv/state", "DELIVERY_CONCURRENCY": "9", "GEMINI_API_KEY": "k", "NOTIFY_SOCKET": "@s",
              ENV_FILE_VARIABLE: "/home/me/.env", "PATH": "/usr/bin", "HOME": "/home/me", "LANG": "C.UTF-8"}
    assert sealed(caller, SEED="42") == {"PATH": "/usr/bin", "HOME": "/home/me", "LANG": "C.UTF-8",
                                         ENV_FILE_VARIABLE: "", "SEED": "42"}


def test_the_test_process_itself_is_sealed() -> None:
    """conftest sealed pytest before any test read a setting."""
    assert os.environ.get(ENV_FILE_VARIABLE) == "" and "ENRICHER" not in os.environ


def test_an_env_file_variable_chooses_or_disables_the_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FINOPS_ENV_FILE names the .env to read; empty reads none (what the tests and the bench use)."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("ENRICH_FALLBACK=wait\n")
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(dotenv))
    assert load_settings().enrich_fallback == "wait"
    monkeypatch.setenv(ENV_FILE_VARIABLE, "")
    assert load_settings().enrich_fallback == "offline"


@pytest.mark.process
def test_a_child_started_by_a_test_does_not_see_the_callers_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a setting exported after sealing is gone from a sealed child's environment."""
    monkeypatch.setenv("ENRICHER", "gemini")
    code = "import os; print(os.environ.get('ENRICHER'), repr(os.environ.get('FINOPS_ENV_FILE')))"
    out = subprocess.run([sys.executable, "-c", code], env=sealed(), capture_output=True, text=True, check=True,
                         timeout=60)
    assert out.stdout.split() == ["None", "''"]
