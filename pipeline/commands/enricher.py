"""bin/enricher: turn intents into payloads (Gemini when configured, else the offline writer)."""

from __future__ import annotations

from pipeline.commands import _cli
from pipeline.enrich.offline import OfflineEnricher
from pipeline.workers.enricher import EnricherWorker
from pipeline.workers.runner import Lifecycle


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("enricher", "Turn job intents into payloads with a request text and its extraction.")
    p.add_argument("--drain", action="store_true", help="exit 0 once the intents queue is empty")
    p.add_argument("--batch-size", type=int, help="intents per batch (ENRICH_BATCH_SIZE)")
    args = p.parse_args()
    cfg = _cli.settings(args, enrich_batch_size=args.batch_size)
    _lock, store = _cli.start_worker(cfg, "enricher", consumer_of=("intents",))

    async def make(life: Lifecycle) -> EnricherWorker:
        return EnricherWorker(store, OfflineEnricher(), batch_size=cfg.enrich_batch_size)

    return _cli.run_worker(make, drain=args.drain)


if __name__ == "__main__":
    main()
