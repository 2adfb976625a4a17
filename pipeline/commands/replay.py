"""bin/replay: regenerate a span of simulated time and send it again, without touching the stream's state.

The span's events come from the scheduler's own span function (pipeline/workers/span.py), from the stream's
persisted seed, SIM_START, profile and company size: job requests, the job.started/job.finished whose
simulated time falls in the span (also of jobs requested before it) and the cost.usage of each charge hour
ending in it, of the types WEBHOOK_EVENT_TYPES selects, in stream order, each with the id (and webhook-id)
it had when first delivered. Request texts are written by the offline writer (a Gemini text cannot be
regenerated); `emitted_at` is the replay's time.
The state folder is only read: no lock, no queue, no clock is touched, so it may run beside the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from pipeline.clock import load_checkpoint, rfc3339, utc_now
from pipeline.commands import _cli
from pipeline.config import Settings
from pipeline.delivery.policy import Kind, classify
from pipeline.delivery.sender import HttpSender
from pipeline.enrich.offline import enrich_offline
from pipeline.errors import EX_USAGE
from pipeline.events import is_lifecycle
from pipeline.models import Intent
from pipeline.queues import open_existing
from pipeline.stream import Stream, check_stream
from pipeline.workers.enricher import build_payload
from pipeline.workers.span import span_events
from pipeline.workload import Workload

# A replay is run by a person, who waits for it: a few quick retries of a transient failure, then it counts
# as failed and the exit code says so.
RETRY_WAITS = (1.0, 2.0, 4.0, 8.0)


@dataclass
class Tally:
    """What the replay did so far."""

    sent: int = 0
    failed: int = 0
    unreachable: str | None = None  # set when the endpoint answered nothing through all retries: stop


def _parse() -> argparse.Namespace:
    p = _cli.parser("replay", "Regenerate the payloads of a span of simulated time from the stream's seed and "
                    "profile (requests, job starts and finishes, hourly bills, of the WEBHOOK_EVENT_TYPES), and "
                    "send them again with the same webhook-id (or write them to a file). "
                    "The state folder is only read.", examples=[
                        "bin/replay --from 2026-03-02T00:00:00Z --to 2026-03-04T00:00:00Z",
                        "bin/replay --from 2026-03-02T00:00:00Z --to 2026-03-02T06:00:00Z --to-file six-hours.jsonl",
                        "bin/replay --from 2026-03-02 --to 2026-03-03 --url http://127.0.0.1:9000/webhook",
                    ])
    p.add_argument("--from", dest="start", type=_cli.instant, required=True, metavar="T1",
                   help="start of the simulated span, ISO 8601 (UTC if no zone); exclusive, like the scheduler")
    p.add_argument("--to", dest="end", type=_cli.instant, required=True, metavar="T2",
                   help="end of the simulated span, ISO 8601 (UTC if no zone); inclusive")
    p.add_argument("--to-file", type=Path, metavar="PATH",
                   help="write the payloads as JSON Lines (one body a line) instead of sending them")
    p.add_argument("--url", metavar="WEBHOOK_URL", help="send here (default: WEBHOOK_URL)")
    p.add_argument("--seed", type=int, metavar="SEED",
                   help="seed, when the state folder has no stream (default: the stream's, else SEED)")
    p.add_argument("--profile", metavar="PROFILE",
                   help="profile, when the state folder has no stream (default: the stream's, else PROFILE)")
    p.add_argument("--company-size", type=_cli.positive_int, metavar="COMPANY_SIZE",
                   help="engineers, when the state folder has no stream (default: the stream's, else COMPANY_SIZE)")
    args = p.parse_args()
    if args.end <= args.start:
        p.error("--to must be later than --from")
    return args


def _stream(cfg: Settings) -> tuple[Stream, datetime | None]:
    """The state folder's stream identity and clock, or one made of the settings when it has none."""
    store = open_existing(cfg.state_dir) if cfg.state_dir.is_dir() else None
    if store is not None:
        try:
            stream, checkpoint = check_stream(store, cfg), load_checkpoint(store)
        finally:
            store.close()
        if stream is not None:
            return stream, checkpoint.sim_now if checkpoint else stream.sim_start
    if cfg.seed is None:
        raise _Usage(f"{cfg.state_dir} holds no stream yet: give --seed (or SEED), and --profile if not the default")
    profile = str(cfg.profile)
    return Stream(cfg.seed, cfg.sim_start or utc_now(), profile, cfg.company_size), None


class _Usage(Exception):
    """A replay that cannot start: one line, exit 2."""


class Progress:
    """A one-line bar on a terminal; nothing otherwise (the summary line says it all)."""

    def __init__(self, start: datetime, end: datetime, out: IO[str]) -> None:
        self.start, self.span, self.out = start, (end - start).total_seconds(), out
        self.on = out.isatty()

    def show(self, sim_now: datetime, tally: Tally) -> None:
        if not self.on:
            return
        import shutil

        done = (sim_now - self.start).total_seconds() / self.span
        text = f" {done:4.0%} sim {sim_now:%Y-%m-%d %H:%M}Z, {tally.sent:,} payloads, {tally.failed:,} failed"
        width = max(10, min(40, shutil.get_terminal_size().columns - len(text) - 3))
        filled = round(done * width)
        self.out.write("\r[" + "#" * filled + "-" * (width - filled) + "]" + text)
        self.out.flush()

    def end(self) -> None:
        if self.on:
            self.out.write("\n")


def _payload(stream: Stream, row: bytes, emitted_at: datetime) -> bytes:
    """A span's row as it is delivered: lifecycle and usage bodies as the scheduler made them, a request
    enriched offline."""
    if is_lifecycle(row):
        return row
    return build_payload(enrich_offline(Intent.model_validate_json(row)), stream.seed, emitted_at)


async def _send_all(sender: HttpSender, bodies: list[tuple[str, bytes]], concurrency: int, tally: Tally) -> None:
    queue = list(reversed(bodies))

    async def one(payload_id: str, body: bytes) -> None:
        for wait in (*RETRY_WAITS, None):
            attempt = await sender.send(payload_id, body)
            kind = classify(attempt.status)
            if kind is Kind.DELIVERED:
                tally.sent += 1
                return
            if kind is not Kind.TRANSIENT or wait is None:
                tally.failed += 1
                sys.stderr.write(f"replay: {payload_id}: {attempt.status or attempt.error}\n")
                if attempt.status is None:
                    tally.unreachable = attempt.error
                return
            await asyncio.sleep(wait)

    async def lane() -> None:
        while queue and tally.unreachable is None:
            payload_id, body = queue.pop()
            await one(payload_id, body)

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def _replay(args: argparse.Namespace, cfg: Settings, workload: Workload, stream: Stream) -> Tally:
    tally = Tally()
    progress = Progress(args.start, args.end, sys.stderr)
    sender = None if args.to_file else HttpSender(
        str(args.url or cfg.webhook_url), secret=cfg.webhook_secret.get_secret_value() if cfg.webhook_secret else None,
        connect_timeout=cfg.delivery_connect_timeout, timeout=cfg.delivery_timeout,
        concurrency=cfg.delivery_concurrency)
    out = args.to_file.open("w", encoding="utf-8") if args.to_file else None
    try:
        emitted_at = utc_now()
        types = cfg.webhook_event_types
        for stop, chunk in span_events(workload, stream, args.start, args.end, emitted_at, types=types):
            bodies = [_payload(stream, row, emitted_at) for _key, row in chunk]
            if out is not None:
                out.writelines(body.decode() + "\n" for body in bodies)
                tally.sent += len(bodies)
            elif sender is not None:
                pairs = [(_payload_id(body), body) for body in bodies]
                await _send_all(sender, pairs, cfg.delivery_concurrency, tally)
            progress.show(stop, tally)
            if tally.unreachable is not None:
                break
    finally:
        progress.end()
        if out is not None:
            out.close()
        if sender is not None:
            await sender.aclose()
    return tally


def _payload_id(body: bytes) -> str:
    import json

    return str(json.loads(body)["id"])


@_cli.guarded
def main() -> int:
    """Entry point."""
    args = _parse()
    cfg = _cli.settings(args, webhook_url=args.url, seed=args.seed, profile=args.profile,
                        company_size=args.company_size)
    try:
        stream, position = _stream(cfg)
    except _Usage as exc:
        sys.stderr.write(f"replay: {exc}\n")
        return EX_USAGE
    workload = _cli.load_workload(_cli.checkout_path(stream.profile), stream.company_size)
    target = str(args.to_file) if args.to_file else _cli.bare_url(str(args.url or cfg.webhook_url))
    sys.stderr.write(f"replay: seed {stream.seed}, profile {stream.profile}, simulated {rfc3339(args.start)} to "
                     f"{rfc3339(args.end)} -> {target}\n")
    if position is not None and args.end > position:
        sys.stderr.write(f"replay: note: the stream's clock is at {rfc3339(position)}; the span after it has "
                         "not been delivered by the stream yet\n")
    if args.to_file is not None and not args.to_file.parent.is_dir():
        sys.stderr.write(f"replay: --to-file {args.to_file}: no such folder {args.to_file.parent}\n")
        return EX_USAGE
    started = utc_now()
    tally = asyncio.run(_replay(args, cfg, workload, stream))
    if tally.unreachable is not None:
        sys.stderr.write(f"replay: stopped: {target} answered nothing ({tally.unreachable}); nothing in the "
                         "state folder changed, run the same command again once it is up\n")
    took = (utc_now() - started) / timedelta(seconds=1)
    verb = "wrote" if args.to_file else "sent"
    sys.stdout.write(f"{verb} {tally.sent} payload(s) in {took:.1f} s; {tally.failed} failed\n")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    main()
