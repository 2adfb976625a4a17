"""From settings to the one destination this deliverer sends to, and its sender.

`DESTINATIONS` names a destinations file; without it `WEBHOOK_URL`/`WEBHOOK_SECRET`/`WEBHOOK_EVENT_TYPES`
stand for one endpoint named `default`. This version of the deliverer sends to ONE destination of any
kind (webhook endpoint, JSON Lines files, NATS JetStream); a file listing several is refused with exit 78
until the fan-out lands (see docs/destinations.md).
"""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.delivery.sender import HttpSender
from pipeline.destinations import Destination, DestinationsError, Endpoint, FileSink, load, shorthand
from pipeline.sinks.nats import NatsPublisher
from pipeline.sinks.senders import FileSender, NatsSender, RateLimited

Sender = HttpSender | FileSender | NatsSender | RateLimited


def destination(cfg: Settings) -> Destination:
    """The destination of this run; DestinationsError (exit 78) for a bad file or one listing several."""
    if cfg.destinations is None:
        secret = cfg.webhook_secret
        return shorthand(str(cfg.webhook_url), secret, cfg.webhook_event_types)[0]
    found = load(cfg.destinations)
    if len(found) > 1:
        names = ", ".join(d.name for d in found)
        raise DestinationsError(cfg.destinations, "file", f"lists {len(found)} destinations ({names}); this "
                                "deliverer sends to one (the fan-out to several is not built yet)")
    return found[0]


def sender_for(dest: Destination, cfg: Settings) -> Sender:
    """The sender of a destination, rate-limited when the entry asks for it. Call inside the event loop."""
    if isinstance(dest, Endpoint):
        secret = dest.secret.get_secret_value() if dest.secret else None
        http = HttpSender(dest.url, secret=secret, connect_timeout=cfg.delivery_connect_timeout,
                          timeout=cfg.delivery_timeout, concurrency=dest.concurrency or cfg.delivery_concurrency)
        return RateLimited(http, dest.rate_limit) if dest.rate_limit else http
    if isinstance(dest, FileSink):
        return FileSender(dest.directory, rotate=dest.rotate, rotate_bytes=dest.rotate_bytes)
    return NatsSender(NatsPublisher(dest, timeout=cfg.delivery_timeout))
