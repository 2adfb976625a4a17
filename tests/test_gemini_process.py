"""The enricher as a real process against the fake Gemini: the key stays secret, SIGTERM ends a request."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.env import sealed
from pipeline import ROOT
from pipeline.queues import open_store
from tests.gemini_harness import seed_intents, settings_for

pytestmark = pytest.mark.process  # every test here starts real processes

SENTINEL = "AIzaSENTINEL-do-not-leak-4f1c9e"


@contextmanager
def fake_server(*modes: str) -> Iterator[str]:
    """The fake Gemini in its own process; yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_gemini", *modes], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().split()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def seen(url: str) -> list[dict[str, Any]]:
    """The requests the fake has received."""
    with urllib.request.urlopen(f"{url}/__seen") as response:
        return list(json.load(response))


def enricher(state_dir: Path, url: str, *, drain: bool = True, **env: str) -> subprocess.Popen[bytes]:
    """bin/enricher (--drain unless told) as a real process with the sentinel key."""
    environ = {**sealed(), "GEMINI_API_KEY": SENTINEL, "GEMINI_BASE_URL": url, "SEED": "1",
               "GEMINI_TIMEOUT": "2", "GEMINI_BACKOFF": "0.01", "GEMINI_RPM": "1000", **env}
    return subprocess.Popen([sys.executable, "-m", "pipeline.commands.enricher", *(["--drain"] if drain else []),
                             "--state-dir", str(state_dir)], cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def test_sentinel_key_is_nowhere_in_output_or_state(tmp_path: Path) -> None:
    """Through successes, retries, a refused key and fallbacks, the key is sent but never written anywhere."""
    with fake_server("429", "500", "badjson", "badjson", "403") as url:
        seed_intents(tmp_path, settings_for(tmp_path, url), 24)
        proc = enricher(tmp_path, url, GEMINI_MAX_WAIT="1")
        output, _ = proc.communicate(timeout=60)
        requests = seen(url)
    assert proc.returncode == 0, output.decode()
    assert requests and all(r["api_key"] == SENTINEL for r in requests)  # the key was really used
    assert b"enrich.plan" in output and b"enrich.request_failed" in output  # the logs had things to say
    assert SENTINEL.encode() not in output
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path
    store = open_store(tmp_path)
    assert store.counts("payloads").ready == 24 and store.counts("intents").ready == 0
    stats = json.loads(store.get_meta("enricher_stats") or "{}")
    store.close()
    assert stats["fallbacks"] > 0 and stats["requests_today"] > 0


def test_sigterm_ends_a_request_in_flight_and_leaves_its_intents(tmp_path: Path) -> None:
    """SIGTERM while Gemini is still answering: exit 0, no payload, the batch's intents still queued."""
    with fake_server("slow") as url:
        seed_intents(tmp_path, settings_for(tmp_path, url), 8)
        proc = enricher(tmp_path, url, GEMINI_TIMEOUT="30")
        deadline = time.monotonic() + 60
        while not [r for r in seen(url) if r["mode"] != "get"]:  # a generateContent request is in flight
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("the enricher sent no request: " + proc.communicate()[0].decode())
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output.decode()
    store = open_store(tmp_path)
    assert store.counts("payloads").ready == 0 and store.counts("intents").ready == 8
    store.close()
