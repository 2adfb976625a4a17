"""bin/enricher: turn intents into payloads (Gemini when configured, else the offline writer)."""

from __future__ import annotations

import structlog

from pipeline.commands import _cli
from pipeline.config import Settings
from pipeline.enrich import Enricher
from pipeline.enrich.offline import OfflineEnricher
from pipeline.enrich.phrasebank import Phrasebank, PhrasebankUnavailable
from pipeline.enrich.plan import plan
from pipeline.enrich.stats import ENRICHER_KEY, EnricherStats
from pipeline.workers.enricher import EnricherWorker
from pipeline.workers.runner import Lifecycle
from pipeline.workload import Workload

log = structlog.get_logger()


def log_plan(cfg: Settings, prices: tuple[float, float] | None = None) -> None:
    """What the stream will ask of Gemini per real day (at the prices of the model in use); a warning naming
    what would fit when it exceeds the quota."""
    price_in, price_out = prices or (cfg.gemini_price_in, cfg.gemini_price_out)
    p = plan(Workload.load(cfg.profile).expected_per_day(), cfg.scale_factor, cfg.enrich_batch_size,
             rpm=cfg.gemini_rpm, rpd=cfg.gemini_rpd, tpm=cfg.gemini_tpm, price_in=price_in, price_out=price_out)
    fields = {"intents_per_day": round(p.intents_per_day), "requests_per_day": round(p.requests_per_day),
              "requests_per_minute": round(p.requests_per_minute, 2), "usd_per_day": round(p.usd_per_day, 4),
              "batch_size": cfg.enrich_batch_size, "price_in": price_in, "price_out": price_out,
              "scale_factor": cfg.scale_factor,
              "rpm": cfg.gemini_rpm, "rpd": cfg.gemini_rpd, "tpm": cfg.gemini_tpm,
              # What Gemini itself can write within the daily quota; the phrasebank writes the rest.
              "gemini_direct_share": round(min(1.0, cfg.gemini_rpd * cfg.enrich_batch_size
                                               / max(p.intents_per_day, 1.0)), 5),
              "phrasebank": cfg.phrasebank}
    if p.fits:
        log.info("enrich.plan", **fields)
        return
    batch_hint = (f"ENRICH_BATCH_SIZE={p.fitting_batch_size}" if p.fitting_batch_size
                  else "no batch size up to 64")
    log.warning("enrich.plan_exceeds_quota", **fields, fallback=cfg.enrich_fallback,
                fits_with=f"SCALE_FACTOR<={p.fitting_scale_factor:.3g} or {batch_hint}")


# With the phrasebank, the worker takes this many batches at once so that Gemini's batch can be the
# intents whose buckets are thinnest (the rest are written from templates).
LOOKAHEAD = 4


async def make_enricher(cfg: Settings, life: Lifecycle, stats: EnricherStats) -> Enricher:
    """Gemini when configured (imported only then: the SDK is heavy), else the offline writer; both with
    the phrasebank unless PHRASEBANK=off. Gemini's model is checked first (a rejected key exits 78)."""
    bank = None
    if cfg.phrasebank == "on":
        try:
            bank = Phrasebank(cfg.state_dir)
        except PhrasebankUnavailable as exc:  # a full or read-only disk must not stop the stream
            log.error("phrasebank.unavailable", error=str(exc))
    if not cfg.use_gemini:
        return OfflineEnricher(stats, bank)
    from pipeline.enrich.gemini import GeminiEnricher

    enricher = GeminiEnricher(cfg, life, stats, bank=bank)
    try:
        await enricher.start()
    except BaseException:
        await enricher.aclose()
        raise
    log_plan(cfg, (enricher.call.price_in, enricher.call.price_out))
    return enricher


def take_size(cfg: Settings) -> int:
    """Intents the worker takes per step."""
    return cfg.enrich_batch_size * (LOOKAHEAD if cfg.phrasebank == "on" and cfg.use_gemini else 1)


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("enricher", "Turn job intents into payloads with a request text and its extraction.",
                    examples=["bin/enricher                  # Gemini if GEMINI_API_KEY is set, else offline",
                              "ENRICHER=offline bin/enricher --drain   # write what is queued offline, then exit"])
    p.add_argument("--drain", action="store_true", help="exit 0 once the intents queue is empty")
    p.add_argument("--batch-size", type=int, metavar="ENRICH_BATCH_SIZE",
                   help="intents per batch, 1 to 64 (default: ENRICH_BATCH_SIZE, else 8)")
    args = p.parse_args()
    cfg = _cli.settings(args, enrich_batch_size=args.batch_size)
    _lock, store = _cli.start_worker(cfg, "enricher", consumer_of=("intents",))
    stats = EnricherStats.from_json(store.get_meta(ENRICHER_KEY))

    async def make(life: Lifecycle) -> EnricherWorker:
        return EnricherWorker(store, await make_enricher(cfg, life, stats), batch_size=take_size(cfg))

    return _cli.run_worker(make, drain=args.drain)


if __name__ == "__main__":
    main()
