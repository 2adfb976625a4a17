"""kill -9 of a real enricher while Gemini texts are being turned into templates: no template and no
intent is lost (each template is committed before the payloads of its batch; ids are content-derived)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.enrich.phrasebank import Phrasebank
from pipeline.enrich.template import Template, derive
from pipeline.models import Intent
from pipeline.queues import open_store
from tests.gemini_harness import seed_intents, settings_for
from tests.test_gemini_process import enricher, fake_server

pytestmark = [pytest.mark.slow, pytest.mark.process]
COUNT = 240


def _payload_count(state_dir: Path) -> int:
    store = open_store(state_dir)
    try:
        return store.counts("payloads").ready
    finally:
        store.close()


def _enricher(state_dir: Path, url: str, *, drain: bool = False) -> subprocess.Popen[bytes]:
    return enricher(state_dir, url, drain=drain, GEMINI_TIMEOUT="5", GEMINI_RPD="100000")


def test_kill_9_during_phrasebank_writes_loses_nothing(tmp_path: Path) -> None:
    with fake_server() as url:
        ids = seed_intents(tmp_path, settings_for(tmp_path, url), COUNT)
        for threshold in (24, 80, 150):
            proc = _enricher(tmp_path, url)
            deadline = time.monotonic() + 120
            while _payload_count(tmp_path) < threshold:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    pytest.fail(f"no progress to {threshold}: {proc.communicate()[0].decode()}")
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        proc = _enricher(tmp_path, url, drain=True)
        output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output.decode()
    store = open_store(tmp_path)
    payloads = [json.loads(row.data) for row in store.rows("payloads")]
    left = store.counts("intents")
    store.close()
    assert sorted(p["id"] for p in payloads) == sorted(ids) and left.ready + left.in_flight == 0
    bank = Phrasebank(tmp_path)
    stored = {t.id for t in bank.all()}
    bank.close()
    gemini = [p for p in payloads if p["generator"]["enricher"] == "gemini"]
    expected = [t for p in gemini if isinstance(t := derive(Intent.model_validate(p["truth"]), p["request"]["text"],
                                                             p["generator"]["model"], "any"), Template)]
    assert gemini and expected, "the run must have produced templates to lose"
    assert {t.id for t in expected} <= stored
    # Every phrasebank payload names a template that exists.
    assert {p["generator"]["template"] for p in payloads if p["generator"]["enricher"] == "phrasebank"} <= stored
