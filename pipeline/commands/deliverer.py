"""bin/deliverer: send payloads to WEBHOOK_URL or the DESTINATIONS file's destination; `--resume` lifts a 410 pause."""

from __future__ import annotations

import sys

from pipeline.commands import _cli
from pipeline.delivery.pause import lift_pause
from pipeline.errors import PipelineError
from pipeline.queues import open_existing
from pipeline.sinks.factory import destination, sender_for
from pipeline.workers.deliverer import Deliverer, Tuning
from pipeline.workers.runner import Lifecycle

DEFAULT_DRAIN_TIMEOUT = 300.0


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("deliverer", "Deliver payloads to the webhook, with retries, a breaker and dead letters.",
                    examples=["bin/deliverer                       # deliver to WEBHOOK_URL until stopped",
                              "bin/deliverer --drain               # deliver what is queued, then exit",
                              "bin/deliverer --resume              # lift a pause caused by a 410 Gone"])
    p.add_argument("--drain", action="store_true",
                   help="exit 0 once the payloads queue is empty and nothing waits for a retry; exit 1 if "
                        "delivery is paused (410) or the endpoint stays unreachable past --drain-timeout")
    p.add_argument("--drain-timeout", type=_cli.duration, default=DEFAULT_DRAIN_TIMEOUT, metavar="DURATION",
                   help="with --drain: how long the breaker may stay open (default: 5m)")
    p.add_argument("--resume", action="store_true",
                   help="lift a pause caused by a 410 Gone answer (a running deliverer picks it up) and exit")
    p.add_argument("--webhook-url", metavar="WEBHOOK_URL",
                   help="where payloads go (default: WEBHOOK_URL, else http://127.0.0.1:8080/webhook)")
    args = p.parse_args()
    cfg = _cli.settings(args, webhook_url=args.webhook_url)
    if args.resume:
        store = open_existing(cfg.state_dir)
        lifted = None
        if store is not None:
            try:
                lifted = lift_pause(store)
            finally:
                store.close()
        sys.stdout.write(f"delivery resumed (was paused since {lifted.since})\n" if lifted
                         else "delivery was not paused\n")
        return 0
    try:
        dest = destination(cfg)  # a bad destinations file stops here, before the state folder is touched
    except PipelineError as exc:
        _cli.config_exit(str(exc))
    _lock, store = _cli.start_worker(cfg, "deliverer", consumer_of=("payloads",))
    concurrency = getattr(dest, "concurrency", None) or cfg.delivery_concurrency
    tuning = Tuning(schedule=cfg.delivery_retry_schedule, max_age=cfg.delivery_max_age,
                    retry_after_max=cfg.delivery_retry_after_max, concurrency=concurrency,
                    event_types=dest.events)

    async def make(life: Lifecycle) -> Deliverer:
        return Deliverer(store, sender_for(dest, cfg), tuning,
                         drain_timeout=args.drain_timeout if args.drain else None)

    return _cli.run_worker(make, drain=args.drain)


if __name__ == "__main__":
    main()
