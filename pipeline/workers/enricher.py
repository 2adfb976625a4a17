"""The enricher worker: intents in, payloads out, one transaction per batch hand-over.

The enricher's running stats (requests, tokens, cost, fallbacks) are stored in that same transaction, so
they count exactly the payloads that exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from pydantic import ValidationError

from pipeline import __version__
from pipeline.clock import utc_now
from pipeline.enrich import Enriched, Enricher, Interrupted
from pipeline.enrich.offline import OfflineEnricher
from pipeline.enrich.stats import ENRICHER_KEY
from pipeline.events import in_row_order, is_lifecycle
from pipeline.models import DeadLetter, DeadReason, Generator, Intent, Payload
from pipeline.queues import Row, Store
from pipeline.stream import read_stream

log = structlog.get_logger()


def build_payload(item: Enriched, seed: int, emitted_at: datetime) -> bytes:
    """The delivery body: these exact bytes are stored, signed and sent."""
    payload = Payload(
        id=item.intent.id, job_id=item.intent.id, occurred_at=item.intent.occurred_at, emitted_at=emitted_at,
        request=item.request, job=item.job, cost=item.intent.cost, truth=item.intent,
        generator=Generator(enricher=item.enricher, model=item.model, template=item.template, seed=seed,
                            version=__version__),
    )
    return payload.model_dump_json().encode()


class EnricherWorker:
    """Takes a batch of intents, has them written, stores the payloads and acks the intents at once."""

    role = "enricher"

    def __init__(self, store: Store, enricher: Enricher, *, batch_size: int,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.store, self.enricher, self.batch_size, self._now = store, enricher, batch_size, now
        self.enriched = 0
        self._seed: int | None = None
        self._offline = OfflineEnricher()
        # A batch whose payloads could not be stored yet (disk full): retried before taking more.
        self._pending: tuple[list[Row], list[bytes], list[DeadLetter]] | None = None

    def _seed_of_stream(self) -> int:
        if self._seed is None:
            stream = read_stream(self.store)
            if stream is None:  # intents exist only after a scheduler established the stream
                raise RuntimeError(f"{self.store.path}: intents without a stream identity")
            self._seed = stream.seed
        return self._seed

    async def step(self) -> bool:
        """Enrich and hand over one batch; False when there was nothing to do."""
        if self._pending is None:
            rows = self.store.take("intents", self.batch_size)
            if not rows:
                return False
            # Lifecycle events (job.started/finished) are finished bodies: they pass through, in queue order.
            intents, unreadable = self._read([row for row in rows if not is_lifecycle(row.data)])
            seed = self._seed_of_stream() if intents else 0
            try:
                results = await self.enricher.enrich(intents, seed) if intents else []
            except Interrupted:
                # Stopping mid-wait: hand the batch back (a restart would resume it anyway) and keep
                # the requests and tokens already spent on it.
                with self.store.transaction() as tx:
                    tx.release("intents", [row.pqid for row in rows])
                    tx.set_meta(ENRICHER_KEY, self.enricher.stats.to_json())
                log.info("enrich.batch_released", count=len(rows))
                return False
            except Exception as exc:  # a defect in a writer must not stall the stream: write it offline
                log.exception("enrich.batch_failed", count=len(intents), error=str(exc))
                results = await self._offline.enrich(intents)
                self.enricher.stats.fallbacks += len(intents)
            emitted_at, seed = self._now(), self._seed_of_stream()
            stats = self.enricher.stats
            stats.gemini_written += sum(item.enricher == "gemini" for item in results)
            stats.offline_written += sum(item.enricher == "offline" for item in results)
            stats.phrasebank_written += sum(item.enricher == "phrasebank" for item in results)
            built = {item.intent.id: build_payload(item, seed, emitted_at) for item in results}
            self._pending = (rows, in_row_order([row.data for row in rows], built), unreadable)
        rows, bodies, dead = self._pending
        with self.store.transaction() as tx:
            tx.put("payloads", bodies)
            tx.put("dead", (letter.model_dump_json().encode() for letter in dead))
            tx.ack("intents", [row.pqid for row in rows])
            tx.set_meta(ENRICHER_KEY, self.enricher.stats.to_json())
        self._pending = None
        self.enriched += len(rows)
        log.debug("enrich.batch_stored", count=len(rows))
        return True

    def _read(self, rows: list[Row]) -> tuple[list[Intent], list[DeadLetter]]:
        """The batch's intents, and a dead letter for each row no version of Intent can read.

        Such a row (from an incompatible version, or damaged) would otherwise crash every restart on
        the same batch; as a dead letter it stays visible to a person and out of the stream.
        """
        intents: list[Intent] = []
        unreadable: list[DeadLetter] = []
        for row in rows:
            try:
                intents.append(Intent.model_validate_json(row.data))
            except ValidationError as exc:
                now = self._now()
                text = row.data.decode(errors="replace")
                log.error("enrich.intent_unreadable", pqid=row.pqid, error=str(exc).splitlines()[0])
                unreadable.append(DeadLetter(
                    payload_id=f"unreadable-intent-{row.pqid}", body=text, reason=DeadReason.UNREADABLE_INTENT,
                    last_status=None, response_snippet=str(exc)[:200], attempts=0, first_attempt_at=now,
                    last_attempt_at=now, dead_at=now))
        return intents, unreadable

    def drained(self) -> bool:
        """Nothing waiting in the intents queue and nothing held back."""
        return self._pending is None and self.store.counts("intents").ready == 0

    def status(self) -> str:
        """Backlog for systemd's status line."""
        return f"{self.store.counts('intents').ready} intents waiting, {self.enriched} enriched this run"

    async def close(self) -> None:
        """Release the enricher's connections and the store."""
        await self.enricher.aclose()
        self.store.close()
