"""The offline enricher: the local writer (render.py) and the parser (parse.py), no account, no network."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.enrich import Enriched
from pipeline.enrich.parse import extract
from pipeline.enrich.render import render
from pipeline.enrich.stats import EnricherStats
from pipeline.models import Intent

MODEL_NAME = "offline-templates-2"


def enrich_offline(intent: Intent) -> Enriched:
    """One intent written and read back locally."""
    request = render(intent).request
    return Enriched(intent, request, extract(request.text), "offline", MODEL_NAME)


class OfflineEnricher:
    """Writes every text locally."""

    def __init__(self, stats: EnricherStats | None = None) -> None:
        self.stats = stats or EnricherStats()

    async def enrich(self, intents: Sequence[Intent]) -> list[Enriched]:
        """One text and extraction per intent."""
        return [enrich_offline(intent) for intent in intents]

    async def aclose(self) -> None:
        """Nothing to release."""
