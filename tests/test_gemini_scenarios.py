"""The real google-genai SDK against a fake Gemini: every intent becomes exactly one payload, whatever happens."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from pipeline.queues import open_store
from pipeline.state_report import collect
from tests.gemini_harness import Outcome, run_scenario

COUNT = 16  # two batches of 8


def _exactly_once(out: Outcome, count: int = COUNT) -> None:
    ids = [p["id"] for p in out.payloads]
    assert len(ids) == count and len(set(ids)) == count, "an intent was dropped or delivered twice"
    assert out.intents_left == 0
    for p in out.payloads:  # an offline payload is marked as such, a Gemini one carries Gemini's extraction
        assert p["generator"]["model"] == ("gemini-2.5-flash-lite" if p["generator"]["enricher"] == "gemini"
                                           else "offline-templates-2")
        assert p["request"]["text"]
        if p["generator"]["enricher"] == "gemini":  # the text written for this very intent
            assert p["request"]["text"].startswith(f"{p['truth']['team']} team here: need {p['truth']['gpu_count']}x")
            assert (p["job"]["gpu_count"], p["job"]["team"]) == (p["truth"]["gpu_count"], p["truth"]["team"])


# (modes the fake answers with in turn, requests expected, Gemini-written, offline-written)
SCENARIOS = {
    "valid": ([], 2, 16, 0),
    "429_retry_info": (["429"], 3, 16, 0),
    "500_then_503": (["500", "503"], 4, 16, 0),
    "html_502": (["502_html"], 3, 16, 0),
    "truncated_json_once": (["truncated"], 3, 16, 0),
    "truncated_json_twice": (["truncated", "truncated"], 3, 8, 8),
    "broken_json_twice": (["badjson", "badjson"], 3, 8, 8),
    "wrong_ids_twice": (["wrong_ids", "wrong_ids"], 3, 14, 2),
    "missing_item_twice": (["missing", "missing"], 3, 15, 1),
    "extra_item": (["extra"], 2, 16, 0),
    "shuffled_items": (["shuffled"], 2, 16, 0),
    "duplicated_item": (["duplicate"], 3, 16, 0),
    "inconsistent_item_twice": (["inconsistent", "inconsistent"], 3, 15, 1),
    "invalid_item": (["invalid"], 3, 16, 0),
    "blocked_safety_twice": (["safety", "safety"], 3, 8, 8),
    "slow_past_timeout": (["slow"], 3, 16, 0),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(tmp_path: Path, name: str) -> None:
    """Each fault ends with one payload per intent, split between Gemini and offline as the policy says."""
    modes, requests, gemini, offline = SCENARIOS[name]
    out = run_scenario(tmp_path, modes)
    _exactly_once(out)
    assert len(out.fake.seen) == requests
    assert (out.written_by("gemini"), out.written_by("offline")) == (gemini, offline)
    assert out.stats.fallbacks == offline
    assert out.stats.requests_today == out.stats.requests_total == sum(
        s.mode not in ("429", "500", "503", "502_html", "slow") for s in out.fake.seen)


def test_requests_use_v1beta_the_model_and_the_key(tmp_path: Path) -> None:
    """The SDK calls v1beta (not 3.x's default v1) with the configured model, key and a JSON response schema."""
    out = run_scenario(tmp_path, [], count=3)
    seen = out.fake.seen[0]
    assert seen.path == "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    assert seen.api_key == "test-key"
    config = seen.body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseSchema"]["type"] == "ARRAY"
    assert "intent_id" in config["responseSchema"]["items"]["required"]


def test_429_waits_for_its_retry_info_delay(tmp_path: Path) -> None:
    """The retry after a 429 is scheduled at the server's RetryInfo delay, not the SDK's back-off."""
    with capture_logs() as logs:
        run_scenario(tmp_path, ["429"], count=4)
    failed = [e for e in logs if e["event"] == "enrich.request_failed"]
    assert [(e["reason"], e["retry_in_s"]) for e in failed] == [("http_429", 0.05)]


def test_retried_items_only_are_asked_again(tmp_path: Path) -> None:
    """The second request of a batch carries only the refused intents."""
    out = run_scenario(tmp_path, ["wrong_ids"], count=8)
    first, second = (s.body["contents"][0]["parts"][0]["text"] for s in out.fake.seen[:2])
    assert first.count('"intent_id"') == 8 and second.count('"intent_id"') == 4
    assert out.written_by("gemini") == 8


def test_gemini_down_past_max_wait_falls_back_offline(tmp_path: Path) -> None:
    """With Gemini answering 503 for longer than GEMINI_MAX_WAIT, the stream flows on offline."""
    out = run_scenario(tmp_path, [], default="503", gemini_max_wait=0.1)
    _exactly_once(out)
    assert out.written_by("offline") == COUNT and out.stats.fallbacks == COUNT
    # The second batch does not probe a Gemini known to be down (it waits GEMINI_MAX_WAIT before trying).
    assert out.stats.requests_total == 0 and len(out.fake.seen) >= 2


def test_permanent_error_falls_back_at_once(tmp_path: Path) -> None:
    """A 403 (bad key) is not retried for minutes: the batch is written offline straight away."""
    out = run_scenario(tmp_path, [], default="403")
    _exactly_once(out)
    assert len(out.fake.seen) == 1 and out.written_by("offline") == COUNT


def test_daily_quota_spent_falls_back_offline(tmp_path: Path) -> None:
    """GEMINI_RPD=1: the first batch is Gemini's, the rest offline, and no request exceeds the quota."""
    out = run_scenario(tmp_path, [], count=24, gemini_rpd=1)
    _exactly_once(out, 24)
    assert len(out.fake.seen) == 1
    assert (out.written_by("gemini"), out.written_by("offline")) == (8, 16)
    assert out.stats.requests_today == 1


def test_daily_429_counts_as_quota_spent(tmp_path: Path) -> None:
    """A 429 naming a per-day quota is not retried that day: the rest goes offline."""
    out = run_scenario(tmp_path, ["429_day"])
    _exactly_once(out)
    assert len(out.fake.seen) == 1 and out.written_by("offline") == COUNT


def test_wait_policy_keeps_intents_queued_and_stop_ends_the_wait(tmp_path: Path) -> None:
    """ENRICH_FALLBACK=wait with the day's quota spent: nothing goes offline; a stop leaves the rest queued."""
    out = run_scenario(tmp_path, [], count=24, gemini_rpd=1, enrich_fallback="wait", stop_after_payloads=8)
    assert out.written_by("gemini") == 8 and out.written_by("offline") == 0
    assert out.intents_left == 16 and out.stats.fallbacks == 0


def test_wait_policy_outlasts_an_outage_without_going_offline(tmp_path: Path) -> None:
    """FALLBACK=wait, Gemini down past GEMINI_MAX_WAIT: it keeps retrying, says so once, writes nothing offline."""
    with capture_logs() as logs:
        out = run_scenario(tmp_path, [], default="503", enrich_fallback="wait", gemini_max_wait=0.05,
                           stop_after_requests=6)
    assert out.payloads == [] and out.intents_left == COUNT and out.stats.fallbacks == 0
    assert [e["fallback"] for e in logs if e["event"] == "enrich.gemini_unavailable"] == ["wait"]


def test_stats_are_persisted_with_the_payloads(tmp_path: Path) -> None:
    """Tokens and the dollar estimate are counted from usageMetadata at the configured prices."""
    out = run_scenario(tmp_path, [], gemini_price_in=1.0, gemini_price_out=2.0)
    s = out.stats
    assert s.requests_total == 2 and s.tokens_in > 0 and s.tokens_out > 0
    assert s.est_cost_usd == pytest.approx((s.tokens_in * 1.0 + s.tokens_out * 2.0) / 1e6)
    assert s.gemini_written == COUNT
    shown = collect(open_store(tmp_path), 720.0)["enricher"]  # what bin/queue-stats --json prints
    assert (shown["requests_today"], shown["tokens_in"], shown["fallbacks"]) == (2, s.tokens_in, 0)
