"""Enrichers turn intents into a request text and its structured extraction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pipeline.models import Intent, JobFields, Request


@dataclass(frozen=True, slots=True)
class Enriched:
    """One intent's text and extraction, and which enricher wrote them."""

    intent: Intent
    request: Request
    job: JobFields
    enricher: Literal["gemini", "offline"]
    model: str


class Enricher(Protocol):
    """Writes texts for a batch: one `Enriched` per intent, in the same order."""

    async def enrich(self, intents: Sequence[Intent]) -> list[Enriched]: ...

    async def aclose(self) -> None: ...
