"""The offline enricher: the local writer (render.py) and the parser (parse.py), no account, no network."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.enrich import Enriched
from pipeline.enrich.parse import extract
from pipeline.enrich.phrasebank import Phrasebank
from pipeline.enrich.render import render
from pipeline.enrich.stats import EnricherStats
from pipeline.models import Intent

MODEL_NAME = "offline-templates-2"


def enrich_offline(intent: Intent) -> Enriched:
    """One intent written and read back locally."""
    request = render(intent).request
    return Enriched(intent, request, extract(request.text), "offline", MODEL_NAME)


class OfflineEnricher:
    """Writes every text locally: from the phrasebank when a template fits (an imported bank works without
    a key), else with the offline writer."""

    def __init__(self, stats: EnricherStats | None = None, bank: Phrasebank | None = None) -> None:
        self.stats = stats or EnricherStats()
        self.bank = bank

    async def enrich(self, intents: Sequence[Intent], seed: int = 0) -> list[Enriched]:
        """One text and extraction per intent."""
        if self.bank is not None:
            self.bank.refresh()
        out = []
        for intent in intents:
            item = self.bank.write(intent, seed) if self.bank is not None else None
            out.append(item or enrich_offline(intent))
        return out

    async def aclose(self) -> None:
        """Close the phrasebank."""
        if self.bank is not None:
            self.bank.close()
