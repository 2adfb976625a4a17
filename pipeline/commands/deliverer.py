"""bin/deliverer: send payloads to WEBHOOK_URL."""

from __future__ import annotations

from pipeline.commands import _cli
from pipeline.delivery.sender import HttpSender
from pipeline.workers.deliverer import Deliverer
from pipeline.workers.runner import Lifecycle


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("deliverer", "Deliver payloads to the webhook, with retries.")
    p.add_argument("--drain", action="store_true",
                   help="exit 0 once the payloads queue is empty and nothing waits for a retry")
    p.add_argument("--webhook-url", help="where payloads go (WEBHOOK_URL)")
    args = p.parse_args()
    cfg = _cli.settings(args, webhook_url=args.webhook_url)
    _lock, store = _cli.start_worker(cfg, "deliverer", consumer_of=("payloads",))

    async def make(life: Lifecycle) -> Deliverer:
        secret = cfg.webhook_secret.get_secret_value() if cfg.webhook_secret else None
        sender = HttpSender(str(cfg.webhook_url), secret=secret, connect_timeout=cfg.delivery_connect_timeout,
                            timeout=cfg.delivery_timeout, concurrency=cfg.delivery_concurrency)
        return Deliverer(store, sender, concurrency=cfg.delivery_concurrency,
                         schedule=cfg.delivery_retry_schedule)

    return _cli.run_worker(make, drain=args.drain)


if __name__ == "__main__":
    main()
