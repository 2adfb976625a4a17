"""Variety of the three writers over the same intents (for the report and docs/gemini.md): distinct texts
after masking numbers, distinct word 4-grams per 1,000 words, the most frequent opening; and the plan's
requests and dollars per real day with and without the phrasebank. Run: python -m tests.variety [N]."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pipeline import ROOT
from pipeline.enrich.model_table import load_table
from pipeline.enrich.parse import extract
from pipeline.enrich.phrasebank import Phrasebank
from pipeline.enrich.plan import plan
from pipeline.enrich.prompt import build_prompt
from pipeline.enrich.render import render
from pipeline.enrich.template import Template, derive
from pipeline.models import Intent
from pipeline.workload import Workload
from tests.fake_gemini import _facts, _item
from tests.gemini_backfill import seven_days

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def variety(texts: Sequence[str]) -> dict[str, object]:
    """The three figures of one writer's texts."""
    masked = {_NUMBER.sub("#", t) for t in texts}
    words_total = 0
    grams: set[tuple[str, ...]] = set()
    for text in texts:
        words = text.lower().split()
        words_total += len(words)
        grams.update(tuple(words[k:k + 4]) for k in range(len(words) - 3))
    optional = ("team", "project", "cost_center", "office", "cloud_region", "model_family", "priority", "spot_ok")
    stated = sum(sum(getattr(job, f) is not None for f in optional) for job in map(extract, texts))
    openings = Counter(" ".join(_NUMBER.sub("#", t).split()[:3]) for t in texts)
    opening, count = openings.most_common(1)[0]
    return {"texts": len(texts), "distinct_texts_masked": len(masked),
            "distinct_4grams_per_1000_words": round(len(grams) / words_total * 1000, 1),
            "top_opening": opening, "top_opening_share": round(count / len(texts), 4),
            "optional_facts_read_per_text": round(stated / len(texts), 2)}


def gemini_text(intent: Intent) -> str:
    body = {"contents": [{"parts": [{"text": build_prompt([intent])}]}]}
    return str(_item(_facts(body)[0])["request_text"])


def measure(count: int, warmup: int, state_dir: str) -> dict[str, object]:
    intents = seven_days(1, days=9)
    warm, target = intents[:warmup], intents[warmup:warmup + count]
    bank = Phrasebank(Path(state_dir))
    bank.add(t for i in warm if isinstance(t := derive(i, gemini_text(i), "gemini-2.5-flash-lite", "d"), Template))
    written = [bank.write(i, seed=1) for i in target]
    out: dict[str, object] = {"offline": variety([render(i).request.text for i in target]),
           "gemini_fake_direct": variety([gemini_text(i) for i in target]),
           "phrasebank": {**variety([w.request.text for w in written if w]), "templates": len(bank),
                          "no_template_fits": sum(w is None for w in written)}}
    bank.close()
    return out


def plans(scale: float = 720.0, batch: int = 8, rpd: int = 250) -> dict[str, object]:
    """Requests and dollars per real day: Gemini for every intent, or Gemini within the quota and the
    phrasebank for the rest."""
    table = load_table()
    sim_per_day = Workload.load(ROOT / "data/profiles/default.toml").expected_per_day()
    out: dict[str, object] = {}
    for model in ("gemini-2.5-flash-lite", "gemini-3.1-flash-lite", "gemini-3.5-flash-lite"):
        row = table[model]
        full = plan(sim_per_day, scale, batch, rpm=10**6, rpd=10**9, tpm=10**12, price_in=row.price_in,
                    price_out=row.price_out)
        quota_share = min(1.0, rpd * batch / full.intents_per_day)
        bank = plan(sim_per_day * quota_share, scale, batch, rpm=10**6, rpd=10**9, tpm=10**12,
                    price_in=row.price_in, price_out=row.price_out)
        out[model] = {"without_phrasebank": {"requests": round(full.requests_per_day),
                                             "usd": round(full.usd_per_day, 2)},
                      "with_phrasebank_at_rpd": {"requests": round(bank.requests_per_day),
                                                 "usd": round(bank.usd_per_day, 2),
                                                 "gemini_direct_share": round(quota_share, 5)}}
    return out


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        result = {"variety": measure(n, 720, tmp), "plan_per_real_day_at_720x": plans()}
    sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
