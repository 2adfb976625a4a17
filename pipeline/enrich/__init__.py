"""Enrichers turn intents into a request text and its structured extraction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pipeline.models import Intent, JobFields, Request

if TYPE_CHECKING:
    from pipeline.enrich.stats import EnricherStats


@dataclass(frozen=True, slots=True)
class Enriched:
    """One intent's text and extraction, and which enricher wrote them."""

    intent: Intent
    request: Request
    job: JobFields
    enricher: Literal["gemini", "phrasebank", "offline"]
    model: str
    template: str | None = None  # the phrasebank template's id, for enricher "phrasebank"


class Interrupted(Exception):
    """A stop request ended a wait; the batch's intents stay unacknowledged."""


class Enricher(Protocol):
    """Writes texts for a batch: one `Enriched` per intent, in the same order; keeps its running stats.

    `seed` is the stream's: with the intent id it makes the phrasebank's choice of template reproducible."""

    stats: EnricherStats

    async def enrich(self, intents: Sequence[Intent], seed: int = 0) -> list[Enriched]: ...

    async def aclose(self) -> None: ...
