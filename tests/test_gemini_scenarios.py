"""The real google-genai SDK against a fake Gemini: every intent becomes exactly one payload, whatever happens."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from pipeline.enrich.check import contradiction
from pipeline.enrich.parse import extract
from pipeline.models import Intent, JobFields
from pipeline.queues import open_store
from pipeline.state_report import collect
from tests.gemini_harness import Outcome, run_scenario

COUNT = 16  # two batches of 8


def _exactly_once(out: Outcome, count: int = COUNT) -> None:
    ids = [p["id"] for p in out.payloads]
    assert len(ids) == count and len(set(ids)) == count, "an intent was dropped or delivered twice"
    assert out.intents_left == 0
    for p in out.payloads:  # an offline payload is marked as such, a Gemini one carries Gemini's extraction
        assert p["generator"]["model"] == ("offline-templates-2" if p["generator"]["enricher"] == "offline"
                                           else "gemini-2.5-flash-lite")
        assert p["request"]["text"]
        truth, job = Intent.model_validate(p["truth"]), JobFields.model_validate(p["job"])
        assert contradiction(truth, job) is None and contradiction(truth, extract(p["request"]["text"])) is None
        if p["generator"]["enricher"] == "gemini":  # the text written for this very intent
            assert truth.gpu_type in p["request"]["text"] and job.gpu_count == truth.gpu_count


# (modes the fake answers with in turn, requests expected, Gemini-written, offline-written)
SCENARIOS = {
    "valid": ([], 2, 16, 0),
    "429_retry_info": (["429"], 3, 16, 0),
    "500_then_503": (["500", "503"], 4, 16, 0),
    "html_502": (["502_html"], 3, 16, 0),
    # MAX_TOKENS: the rest of the batch is asked again in two halves
    "truncated_json_once": (["truncated"], 4, 16, 0),
    "truncated_json_twice": (["truncated", "truncated"], 4, 12, 4),
    "truncated_keeps_complete_items": (["truncated_half"], 4, 16, 0),
    "broken_json_twice": (["badjson", "badjson"], 3, 8, 8),
    "wrong_ids_twice": (["wrong_ids", "wrong_ids"], 3, 14, 2),
    "missing_item_twice": (["missing", "missing"], 3, 15, 1),
    "extra_item": (["extra"], 2, 16, 0),
    "shuffled_items": (["shuffled"], 2, 16, 0),
    "duplicated_item": (["duplicate"], 3, 16, 0),
    "inconsistent_item_twice": (["inconsistent", "inconsistent"], 3, 15, 1),
    "invalid_item": (["invalid"], 3, 16, 0),
    "blocked_safety_twice": (["safety", "safety"], 3, 8, 8),
    "blocked_prompt_twice": (["blocked", "blocked"], 3, 8, 8),
    "empty_candidate_twice": (["empty", "empty"], 3, 8, 8),
    "paraphrased": (["paraphrase"], 2, 16, 0),
    "contradicting_item_twice": (["contradict", "contradict"], 3, 15, 1),
    "hallucinated_fact_twice": (["hallucinate", "hallucinate"], 3, 15, 1),
    "429_minute_and_day": (["429_both"], 1, 0, 16),
    "slow_past_timeout": (["slow"], 3, 16, 0),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(tmp_path: Path, name: str) -> None:
    """Each fault ends with one payload per intent, split between Gemini and offline as the policy says."""
    modes, requests, gemini, offline = SCENARIOS[name]
    out = run_scenario(tmp_path, modes)
    _exactly_once(out)
    assert len(out.generated) == requests
    assert (out.written_by("gemini"), out.written_by("offline")) == (gemini, offline)
    assert out.stats.fallbacks == offline
    answered = sum(s.mode not in ("429", "429_both", "500", "503", "502_html", "slow") for s in out.generated)
    if "429_both" not in modes:  # a spent day counts as the whole quota used
        assert out.stats.requests_today == out.stats.requests_total == answered


def test_requests_use_v1beta_the_model_and_the_key(tmp_path: Path) -> None:
    """The SDK calls v1beta (not 3.x's default v1) with the configured model, key and a JSON response schema."""
    out = run_scenario(tmp_path, [], count=3)
    seen = out.generated[0]
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
    first, second = (s.body["contents"][0]["parts"][0]["text"] for s in out.generated[:2])
    assert first.count('"intent_id"') == 8 and second.count('"intent_id"') == 4
    assert out.written_by("gemini") == 8


def test_gemini_down_past_max_wait_falls_back_offline(tmp_path: Path) -> None:
    """With Gemini answering 503 for longer than GEMINI_MAX_WAIT, the stream flows on offline."""
    out = run_scenario(tmp_path, [], default="503", gemini_max_wait=0.1)
    _exactly_once(out)
    assert out.written_by("offline") == COUNT and out.stats.fallbacks == COUNT
    # The second batch does not probe a Gemini known to be down (it waits GEMINI_MAX_WAIT before trying).
    assert out.stats.requests_total == 0 and len(out.generated) >= 2


def test_permanent_error_falls_back_at_once(tmp_path: Path) -> None:
    """A 403 (bad key) is not retried for minutes: the batch is written offline straight away."""
    out = run_scenario(tmp_path, [], default="403")
    _exactly_once(out)
    assert len(out.generated) == 1 and out.written_by("offline") == COUNT


def test_daily_quota_spent_falls_back_offline(tmp_path: Path) -> None:
    """GEMINI_RPD=1: the first batch is Gemini's, the rest offline, and no request exceeds the quota."""
    out = run_scenario(tmp_path, [], count=24, gemini_rpd=1)
    _exactly_once(out, 24)
    assert len(out.generated) == 1
    assert (out.written_by("gemini"), out.written_by("offline")) == (8, 16)
    assert out.stats.requests_today == 1


def test_daily_429_counts_as_quota_spent(tmp_path: Path) -> None:
    """A 429 naming a per-day quota is not retried that day: the rest goes offline."""
    out = run_scenario(tmp_path, ["429_day"])
    _exactly_once(out)
    assert len(out.generated) == 1 and out.written_by("offline") == COUNT


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


def test_max_tokens_keeps_complete_items_and_asks_the_rest_in_halves(tmp_path: Path) -> None:
    """A MAX_TOKENS answer with 4 complete items: only the other 4 are asked again, as 2 + 2 (not 4 + 4)."""
    out = run_scenario(tmp_path, ["truncated_half"], count=8)
    asked = [s.body["contents"][0]["parts"][0]["text"].count('"intent_id"') for s in out.generated]
    assert asked == [8, 2, 2] and out.written_by("gemini") == 8


def test_blocked_prompt_is_logged_with_its_reason(tmp_path: Path) -> None:
    """A prompt blocked before any candidate: the log names the block reason; the intents still flow."""
    with capture_logs() as logs:
        out = run_scenario(tmp_path, ["blocked"], count=8)
    assert [e["block_reason"] for e in logs if e["event"] == "enrich.prompt_blocked"] == ["PROHIBITED_CONTENT"]
    _exactly_once(out, 8)


def test_3x_model_gets_thinking_level_and_costs_its_own_price(tmp_path: Path) -> None:
    """gemini-3.1-flash-lite: thinking_level (the fake refuses thinking_budget for 3.x); thinking tokens are
    billed as output at the 3.1 price of the model table, not the configured 2.5 default."""
    out = run_scenario(tmp_path, [], count=8, gemini_model="gemini-3.1-flash-lite")
    config = out.generated[0].body["generationConfig"]
    assert "thinking_level" in config["thinkingConfig"] and "temperature" not in config
    s = out.stats
    assert out.written_by("gemini") == 8 and s.tokens_out == out.fake.billed_out  # thinking tokens included
    assert s.est_cost_usd == pytest.approx((s.tokens_in * 0.25 + s.tokens_out * 1.50) / 1e6)


def test_retired_model_moves_to_its_successor(tmp_path: Path) -> None:
    """The fake no longer serves gemini-2.5-flash-lite: the check moves to gemini-3.1-flash-lite, logged
    once with both models and prices, and every request goes to the successor."""
    with capture_logs() as logs:
        out = run_scenario(tmp_path, [], count=8, retired=("gemini-2.5-flash-lite",))
    (moved,) = [e for e in logs if e["event"] == "enrich.model_replaced"]
    assert (moved["old_model"], moved["new_model"]) == ("gemini-2.5-flash-lite", "gemini-3.1-flash-lite")
    assert (moved["old_price_out"], moved["new_price_out"]) == (0.40, 1.50)
    assert all(s.path.endswith("gemini-3.1-flash-lite:generateContent") for s in out.generated)
    assert out.written_by("gemini") == 8
