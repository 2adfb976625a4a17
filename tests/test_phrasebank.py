"""The phrasebank: templates that round-trip, fills that never contradict their intent, a reproducible
choice, durable storage in its own file, JSON Lines export/import validated line by line."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import load_settings
from pipeline.enrich.check import contradiction
from pipeline.enrich.gemini import GeminiEnricher
from pipeline.enrich.offline import OfflineEnricher
from pipeline.enrich.parse import extract
from pipeline.enrich.phrasebank import FILE_NAME, Phrasebank, template_json
from pipeline.enrich.prompt import build_prompt
from pipeline.enrich.render import render
from pipeline.enrich.template import Template, bucket_of, derive, fill, reads_back
from pipeline.models import Intent
from pipeline.workers.runner import Lifecycle
from pipeline.workers.sdnotify import Notifier
from tests.conftest import command
from tests.enrich_fixtures import intents, make_intent
from tests.fake_gemini import _facts, _item


def _gemini_text(intent: Intent) -> str:
    """What the fake Gemini writes for this intent (from the prompt line the enricher sends)."""
    body = {"contents": [{"parts": [{"text": build_prompt([intent])}]}]}
    return str(_item(_facts(body)[0])["request_text"])


def _templates(count: int, start: int = 0) -> list[Template]:
    out = []
    for k in range(start, start + count):
        intent = make_intent(k)
        found = derive(intent, _gemini_text(intent), "gemini-2.5-flash-lite", "2026-11-30")
        if isinstance(found, Template):
            out.append(found)
    return out


def test_a_template_gives_back_its_text_and_states_the_same_facts() -> None:
    """The fake Gemini's texts become templates; filling one with its own intent's original spellings is
    the original text, and the parser reads the stated facts back for any intent of its bucket."""
    made = _templates(60)
    assert len(made) >= 50  # nearly all of a well-behaved writer's texts round-trip
    for template in made:
        assert "{gpus" in template.body or "{gpu_type}" in template.body
        assert {"gpu_type", "gpu_count", "est_duration_hours"} <= set(template.stated)


@settings(max_examples=150, deadline=None)
@given(source=intents, target=intents, style=st.integers(0, 10**6))
def test_fills_read_back_exactly_the_stated_facts(source: Intent, target: Intent, style: int) -> None:
    """Whatever text is templated (here the offline writer's), a fill for another intent of the bucket
    never contradicts it and states exactly the template's facts; the source's names never leak."""
    found = derive(source, render(source).request.text, "m", "2026-11-30")
    if isinstance(found, str):
        return  # refused: nothing to reuse
    target = target.model_copy(update={"channel": source.channel, "office": source.office,
                                       "job_type": source.job_type})
    text = fill(found, target, random.Random(style))
    assert reads_back(found, target, text) is None, (found.body, text)
    for name in ("team", "project", "cost_center"):
        if getattr(source, name) != getattr(target, name) and getattr(source, name) in found.body:
            raise AssertionError(f"{name} of the source left in the body")


def test_contradicting_or_unreadable_texts_are_not_templated() -> None:
    """A text whose facts the parser reads differently from the intent is refused."""
    intent = make_intent(5, spot_ok=True)
    text = _gemini_text(intent) + " No spot please."
    assert derive(intent, text, "m", "d") == "text_contradicts:spot_ok"


def test_choice_is_reproducible_from_seed_and_intent(tmp_path: Path) -> None:
    """The same (seed, intent id) picks the same template and the same spellings; the bank file is its own."""
    bank = Phrasebank(tmp_path)
    bank.add(_templates(200))
    fitting = [make_intent(k) for k in range(300, 340) if bank.thinness(make_intent(k))]
    assert fitting
    first = [bank.write(i, seed=7) for i in fitting]
    again = [bank.write(i, seed=7) for i in fitting]
    other = [bank.write(i, seed=8) for i in fitting]
    assert [(e.template, e.request.text) for e in first if e] == [(e.template, e.request.text) for e in again if e]
    assert [e.template for e in first if e] != [e.template for e in other if e]
    for item in first:
        assert item is not None and item.enricher == "phrasebank" and item.model == "gemini-2.5-flash-lite"
        assert contradiction(item.intent, extract(item.request.text)) is None and item.job == extract(
            item.request.text)
    bank.close()
    assert (tmp_path / FILE_NAME).exists() and not (tmp_path / "queues.db").exists()


def test_templates_survive_a_reopen_and_are_stored_once(tmp_path: Path) -> None:
    made = _templates(30)
    bank = Phrasebank(tmp_path)
    assert bank.add(made) == len(made) and bank.add(made) == 0
    bank.close()
    reopened = Phrasebank(tmp_path)
    assert sorted(t.id for t in reopened.all()) == sorted(t.id for t in made)
    reopened.close()


def test_an_imported_bank_writes_without_a_key(tmp_path: Path) -> None:
    """The offline enricher (no Gemini key) uses a seeded phrasebank where a template fits (no e-mail ones
    here, so e-mails are written offline)."""
    bank = Phrasebank(tmp_path)
    bank.add(t for t in _templates(200) if t.channel != "email")
    batch = [make_intent(k) for k in range(400, 440)]
    out = asyncio.run(OfflineEnricher(bank=bank).enrich(batch, seed=1))
    kinds = {e.enricher for e in out}
    assert kinds == {"phrasebank", "offline"}
    assert all((e.enricher == "phrasebank") == bool(bank.thinness(e.intent)) for e in out)


def test_quota_goes_to_the_thinnest_buckets_first(tmp_path: Path) -> None:
    """With a request allowed now, Gemini's batch is the intents with no template, then the fewest."""
    bank = Phrasebank(tmp_path)
    bank.add(_templates(300))
    cfg = load_settings(state_dir=tmp_path, gemini_api_key="k", gemini_base_url="http://127.0.0.1:9", seed=1)
    enricher = GeminiEnricher(cfg, Lifecycle(Notifier(None)), bank=bank)
    pending = [make_intent(k) for k in range(1000, 1032)]
    chosen = enricher._choose(pending, first=True)
    assert len(chosen) == cfg.enrich_batch_size
    left_out = [i for i in pending if i not in chosen]
    assert max(bank.thinness(i) for i in chosen) <= min(bank.thinness(i) for i in left_out)
    asyncio.run(enricher.aclose())


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command("phrasebank", *args), env=env, capture_output=True, text=True, input=stdin,
                          timeout=120, check=False)


@pytest.mark.process
def test_export_then_import_seeds_another_installation(tmp_path: Path, env: dict[str, str]) -> None:
    """bin/phrasebank export | import into a fresh state folder gives the same bank; list shows it."""
    source = tmp_path / "state"
    bank = Phrasebank(source)
    bank.add(_templates(80))
    bank.close()
    exported = _run(env, "export")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    other = {**env, "STATE_DIR": str(tmp_path / "other")}
    imported = _run(other, "import", "-", stdin=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith(f"imported {len(lines)} new templates")
    again = _run(other, "import", "-", stdin=exported.stdout)
    assert again.stdout.startswith("imported 0 new templates")
    listed = json.loads(_run(other, "list", "--json").stdout)
    assert listed["templates"] == len(lines) and sum(b["templates"] for b in listed["buckets"]) == len(lines)


@pytest.mark.process
def test_import_reports_and_skips_bad_lines_only(tmp_path: Path, env: dict[str, str]) -> None:
    """Broken JSON, a missing field, an unknown slot, a body edited without its id, and a template that
    states a fact it does not carry: each reported with its line number and skipped; the rest imported."""
    good = _templates(12)
    rows = [json.loads(template_json(t)) for t in good[:4]]
    edited = dict(rows[1], body=rows[1]["body"] + " Urgent!")
    unknown = dict(rows[2], body=rows[2]["body"] + " {salary}")
    lying = dict(rows[3], stated=[*rows[3]["stated"], "cost_center"] if "cost_center" not in rows[3]["stated"]
                 else [s for s in rows[3]["stated"] if s != "cost_center"])
    missing = {k: v for k, v in rows[0].items() if k != "model"}
    lines = [json.dumps(rows[0]), "{not json", json.dumps(missing), json.dumps(edited), json.dumps(unknown),
             json.dumps(lying), *(template_json(t) for t in good[4:])]
    path = tmp_path / "bank.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = _run(env, "import", str(path))
    assert result.returncode == 65, result.stderr
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert [line.split(":")[2] for line in skipped] == ["2", "3", "4", "5", "6"], result.stderr
    assert "model: missing" in skipped[1] and "id does not match" in skipped[2] and "{salary}" in skipped[3]
    assert "round-trip" in skipped[4]
    assert result.stdout.startswith(f"imported {1 + len(good) - 4} new templates")
    bank = Phrasebank(Path(env["STATE_DIR"]))
    assert sorted(t.id for t in bank.all()) == sorted([good[0].id, *(t.id for t in good[4:])])
    bank.close()


@pytest.mark.process
def test_list_refuses_a_folder_without_a_bank(tmp_path: Path, env: dict[str, str]) -> None:
    result = _run(env, "list")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert bucket_of(make_intent(0))  # the bucket of an intent is its channel, language habit and job class


def test_a_running_enricher_sees_templates_imported_by_another_process(tmp_path: Path) -> None:
    """Two handles on one file (the enricher's and bin/phrasebank import's): refresh() picks up the other's."""
    running, importer = Phrasebank(tmp_path), Phrasebank(tmp_path)
    made = _templates(20)
    importer.add(made)
    assert len(running) == 0
    running.refresh()
    assert len(running) == len(made) and running.buckets() == importer.buckets()
    running.close()
    importer.close()


# Texts as a real model writes them (hand-written in Gemini's manner): names the parser does not read
# ("search-ranking here") are replaced all the same, and reasons tied to a spot wish stay with that wish.
REALISTIC = [
    "Hey infra 👋 search-ranking here. We need 8x H100 for ~6 hours to fine-tune Llama 3.1 70B for ranker-v7. "
    "High priority please, and on-demand only - we can't risk preemption mid-run. Thanks!",
    "Hi! Could the search-ranking team get eight H100s for about 6h? It's a LoRA fine-tune of llama-3.1-70b "
    "(project ranker-v7). Fairly important. No spot please.",
    "Requesting 8 H100 GPUs for a 6 hour fine-tuning job on Llama 3.1 70B. Team: search-ranking. Priority: high. "
    "Please charge CC-1234.",
    "search-ranking needs 8xH100 for 6h — fine-tuning llama-3.1-70b, P1, on-demand only, us-east-1.",
]


def test_realistic_texts_template_and_keep_their_spot_wish(tmp_path: Path) -> None:
    source = make_intent(0, team="search-ranking", project="ranker-v7", gpu_type="H100", gpu_count=8,
                         est_duration_hours=6.0, priority="high", spot_ok=False, model_family="llama-3.1-70b",
                         job_type="fine_tuning", channel="slack", cost_center="CC-1234", cloud_region="us-east-1",
                         office="us-west")
    made = [derive(source, text, "gemini-2.5-flash-lite", "2026-11-30") for text in REALISTIC]
    assert all(isinstance(t, Template) for t in made), made
    bank = Phrasebank(tmp_path)
    bank.add(t for t in made if isinstance(t, Template))
    spot_ok = make_intent(77, channel="slack", office="us-east", job_type="fine_tuning", spot_ok=True)
    on_demand = spot_ok.model_copy(update={"spot_ok": False, "id": "job_on_demand"})
    assert {t.spot for t in bank.fitting(spot_ok)} == {None}  # only the template that states no spot wish
    assert len(bank.fitting(on_demand)) == len(made)
    for intent in (spot_ok, on_demand):
        item = bank.write(intent, seed=3)
        assert item is not None and "~about" not in item.request.text and "~~" not in item.request.text
        assert "search-ranking" not in item.request.text and "ranker-v7" not in item.request.text
    bank.close()
