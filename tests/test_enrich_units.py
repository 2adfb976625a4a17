"""The enricher's pure parts: answer checking, the rate limiter, the start-up plan, the stats record."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from pipeline import ROOT
from pipeline.commands.enricher import log_plan
from pipeline.config import load_settings
from pipeline.enrich.check import check_answer
from pipeline.enrich.plan import plan
from pipeline.enrich.quota import RateLimiter, seconds_to_quota_reset
from pipeline.enrich.stats import EnricherStats, quota_day
from tests.enrich_fixtures import make_intent
from tests.fake_gemini import _item


def _answer(*items: dict[str, object]) -> str:
    return json.dumps(list(items))


def _fact(k: int, drop: tuple[str, ...] = (), **fields: object) -> dict[str, object]:
    """The prompt line of intent k (`fields` override, `drop`: facts the request does not state)."""
    intent = make_intent(k, **fields)
    return {"intent_id": intent.id, **intent.model_dump(exclude=set(drop))}


def test_check_accepts_consistent_items_and_keeps_gemini_extraction() -> None:
    """A valid item is accepted with the request text and the model's own extraction (nulls kept null)."""
    batch = [make_intent(0), make_intent(1)]
    out = check_answer(batch, _answer(_item(_fact(0, drop=("project",))), _item(_fact(1))), "STOP", "m")
    assert set(out.accepted) == {i.id for i in batch} and not out.refused
    enriched = out.accepted[batch[0].id]
    assert enriched.enricher == "gemini" and enriched.job.gpu_count == batch[0].gpu_count
    assert enriched.job.project is None  # the fake's text does not state the project


def test_check_accepts_another_spelling_of_the_gpu_and_stores_the_catalog_one() -> None:
    """"a100 80gb" is the intent's A100-80GB: accepted, and the payload carries the catalog spelling."""
    intent = make_intent(0, gpu_type="A100-80GB")
    item = dict(_item(_fact(0, gpu_type="A100-80GB")), gpu_type="a100 80gb")
    out = check_answer([intent], _answer(item), "STOP", "m")
    assert out.accepted[intent.id].job.gpu_type == "A100-80GB"


def test_check_refuses_each_kind_of_bad_item() -> None:
    """Inconsistent, duplicated and missing items are refused; unknown ids are reported as extra."""
    batch = [make_intent(k) for k in range(4)]
    wrong = dict(_item(_fact(0)), priority="urgent" if batch[0].priority != "urgent" else "low")
    dup = _item(_fact(1))
    out = check_answer(batch, _answer(wrong, dup, dup, _item(_fact(2)), dict(_item(_fact(3)), intent_id="x")),
                       "STOP", "m")
    assert out.refused == {batch[0].id: "inconsistent:priority", batch[1].id: "duplicated",
                           batch[3].id: "missing"}
    assert set(out.accepted) == {batch[2].id} and out.extra_ids == ["x"]


def test_check_tolerates_a_rounded_duration_but_not_another_one() -> None:
    """"About 6 hours" for 6.3 h is consistent; 9 hours for 6.3 h is not."""
    intent = make_intent(0, est_duration_hours=6.3)
    close = dict(_item(_fact(0, est_duration_hours=6.3)), est_duration_hours=6.0)
    far = dict(close, est_duration_hours=9.0)
    assert check_answer([intent], _answer(close), "STOP", "m").accepted
    assert check_answer([intent], _answer(far), "STOP", "m").refused == {intent.id: "inconsistent:est_duration_hours"}


@pytest.mark.parametrize(("text", "finish", "reason"), [
    ('[{"intent_id": "job_', "MAX_TOKENS", "finish_max_tokens"),
    (None, "SAFETY", "finish_safety"),
    ("not json", "STOP", "invalid_json"),
    ('{"no": "list"}', "STOP", "invalid_json"),
])
def test_check_refuses_the_whole_batch_on_a_broken_answer(text: str | None, finish: str, reason: str) -> None:
    """Truncated, blocked or unparseable answers refuse every intent of the batch."""
    batch = [make_intent(0), make_intent(1)]
    assert check_answer(batch, text, finish, "m").refused == dict.fromkeys((i.id for i in batch), reason)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_holds_rpm_tpm_and_rpd() -> None:
    """The RPM+1-th request waits for the oldest to leave the minute; TPM likewise; RPD spent gives None."""
    clock = Clock()
    limiter = RateLimiter(rpm=2, rpd=5, tpm=1000, monotonic=clock)
    assert limiter.wait_time(100, 0) == 0
    limiter.record(100)
    clock.now += 10
    limiter.record(100)
    assert limiter.wait_time(100, 2) == pytest.approx(50.0)  # the first leaves the window at t+60
    clock.now += 50
    assert limiter.wait_time(100, 2) == 0
    limiter.record(800)  # 900 tokens in the last minute now
    assert limiter.wait_time(200, 3) == pytest.approx(10.0)  # the second request's 100 leave at t+70
    assert limiter.wait_time(10, 5) is None


def test_a_request_larger_than_tpm_goes_alone() -> None:
    """An estimate above the whole TPM does not block forever: it goes once the minute is empty."""
    clock = Clock()
    limiter = RateLimiter(rpm=10, rpd=10, tpm=1000, monotonic=clock)
    assert limiter.wait_time(5000, 0) == 0


def test_quota_day_and_reset_follow_pacific_midnight() -> None:
    """07:59 UTC in winter is still the previous Pacific day, and the reset is one minute away."""
    now = datetime(2026, 1, 15, 7, 59, tzinfo=UTC)
    assert quota_day(now) == "2026-01-14"
    assert seconds_to_quota_reset(now) == pytest.approx(60.0)


def test_stats_roll_over_the_day_and_round_trip() -> None:
    """requests_today restarts on a new quota day; totals and cost keep adding; the JSON reads back."""
    stats = EnricherStats()
    stats.add_request("2026-01-14", 1000, 2000, 0.10, 0.40)
    stats.add_request("2026-01-15", 1000, 2000, 0.10, 0.40)
    assert (stats.requests_today, stats.requests_total, stats.tokens_in) == (1, 2, 2000)
    assert stats.est_cost_usd == pytest.approx(2 * (0.0001 + 0.0008))
    assert EnricherStats.from_json(stats.to_json()) == stats
    design_keys = {"requests_today", "tokens_in", "tokens_out", "est_cost_usd", "fallbacks"}
    assert design_keys <= set(json.loads(stats.to_json()))


def test_plan_names_what_fits_the_quota() -> None:
    """1,500 jobs a day at 720x cannot fit 250 requests a day; the plan names a scale factor that does."""
    p = plan(1500, 720, 8, rpm=10, rpd=250, tpm=250_000, price_in=0.10, price_out=0.40)
    assert not p.fits and p.requests_per_day == 135_000
    assert p.fitting_scale_factor == pytest.approx(250 * 8 / 1500)
    assert p.fitting_batch_size is None  # 4,320 intents per request: beyond any batch size
    fitting = plan(1500, p.fitting_scale_factor, 8, rpm=10, rpd=250, tpm=250_000, price_in=0.10, price_out=0.40)
    assert fitting.fits and fitting.usd_per_day > 0


def test_plan_log_warns_when_the_quota_is_exceeded() -> None:
    """The start-up line is a warning naming the scale factor that would fit."""
    cfg = load_settings(gemini_api_key="k", scale_factor=720.0, gemini_rpd=250)
    with capture_logs() as logs:
        log_plan(cfg)
    (event,) = logs
    assert event["event"] == "enrich.plan_exceeds_quota" and "SCALE_FACTOR<=" in event["fits_with"]


@pytest.mark.process
def test_offline_path_does_not_import_the_gemini_sdk() -> None:
    """Loading the enricher command and running offline never imports google-genai (it costs tens of MB)."""
    code = ("import asyncio, sys; import pipeline.commands.enricher as c; from pipeline.config import load_settings;"
            "e = c.make_enricher(load_settings(enricher='offline'), None, c.EnricherStats());"
            "print(any(m.startswith('google.genai') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_check_refuses_the_issues_example_and_an_omitted_fact() -> None:
    """The text says "no spot please" and names no project, the extraction claims spot and a project: refused.
    A fact the style hint left out must be null even when it happens to be true."""
    intent = make_intent(0, spot_ok=True)
    item = _item(_fact(0, drop=("project", "spot_ok"), spot_ok=True))
    lying = dict(item, request_text=item["request_text"] + " No spot please.", spot_ok=True, project="made-up-project")
    assert check_answer([intent], _answer(lying), "STOP", "m").refused == {intent.id: "inconsistent:project"}
    says_no_spot = dict(item, request_text=item["request_text"] + " No spot please.")
    assert check_answer([intent], _answer(says_no_spot), "STOP", "m").refused == {
        intent.id: "inconsistent:text:spot_ok"}
    volunteered = dict(item, spot_ok=True)
    out = check_answer([intent], _answer(volunteered), "STOP", "m", {intent.id: ("spot_ok",)})
    assert out.refused == {intent.id: "inconsistent:unstated:spot_ok"}
    named_elsewhere = dict(item, project=intent.project)  # true, but the text does not name it
    assert check_answer([intent], _answer(named_elsewhere), "STOP", "m").refused == {
        intent.id: "inconsistent:unstated:project"}


@pytest.mark.parametrize("name", ["team", "cost_center", "project", "office", "cloud_region", "model_family",
                                  "job_type", "spot_ok"])
def test_check_compares_every_field(name: str) -> None:
    """Each of the twelve fields is compared with the intent (names without case and separators)."""
    intent = make_intent(3)
    item = _item(_fact(3))
    wrong = {"spot_ok": not intent.spot_ok, "job_type": "pretraining" if intent.job_type != "pretraining"
             else "notebook"}.get(name, "something-else")
    assert check_answer([intent], _answer(dict(item, **{name: wrong})), "STOP", "m").refused[intent.id] \
        .startswith(f"inconsistent:{name}")
    if isinstance(getattr(intent, name), str) and name != "job_type":
        loud = str(getattr(intent, name)).upper().replace("-", "_")
        assert check_answer([intent], _answer(dict(item, **{name: loud})), "STOP", "m").accepted
