"""bin/receiver: a webhook endpoint for local runs and tests, with fault injection."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from pipeline import logs
from pipeline.commands import _cli
from pipeline.config import check_webhook_secret
from pipeline.errors import ConfigError, OsProblem
from pipeline.receiver import Faults, make_app, serve

_rate = _cli.bounded_float(0.0, 1.0)
_seconds = _cli.bounded_float(0.0, 86400.0)
MAX_OUTAGE_S = 30 * 86400.0


def _outage(text: str) -> tuple[float, float]:
    try:
        start, length = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("START,DURATION in seconds, e.g. 5,60") from None
    if not (0 <= start <= MAX_OUTAGE_S and 0 < length <= MAX_OUTAGE_S):  # also refuses nan and inf
        raise argparse.ArgumentTypeError("START >= 0 and DURATION > 0, each at most 30 days in seconds")
    return start, length


def _status(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 400 <= value <= 599:
        raise argparse.ArgumentTypeError(f"expected an HTTP error status from 400 to 599, got {text!r}")
    return value


def _secret(text: str, origin: str) -> str:
    """The webhook secret, checked like WEBHOOK_SECRET (exit 78 with one line when malformed)."""
    try:
        return check_webhook_secret(text.strip())
    except ValueError as exc:
        raise ConfigError(origin, "***", str(exc)) from None


def _secret_file(path: Path) -> str:
    """The secret from a file (so it never shows in `ps`, unlike --secret)."""
    try:
        return _secret(path.read_text(encoding="utf-8"), f"--secret-file {path}")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--secret-file", str(path), f"a readable UTF-8 file holding the secret ({exc})") from None


def _ids(path: Path) -> frozenset[str]:
    try:
        return frozenset(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("receiver", "Receive webhooks: store each as a JSON line, dedupe on webhook-id.", examples=[
        "bin/receiver --store received.jsonl                    # on http://127.0.0.1:8080/webhook",
        "bin/receiver --secret \"$WEBHOOK_SECRET\"                 # answer 401 to a bad signature",
        "bin/receiver --fail-status 503 --retry-after 30         # every request: 503, Retry-After: 30",
        "bin/receiver --fail-rate 0.2 --fail-status 429 --fail-status 503",
        "bin/receiver --outage 60,120                            # refuse connections from 1 to 3 min",
    ])
    p.add_argument("--host", default="127.0.0.1", metavar="HOST", help="address to listen on")
    p.add_argument("--port", type=_cli.bounded_int(0, 65535), default=8080, metavar="PORT", help="port to listen on")
    p.add_argument("--store", type=Path, metavar="FILE.jsonl", help="append each delivery to this file")
    p.add_argument("--secret", help="whsec_… secret: verify signatures, answer 401 to a bad, missing or stale one "
                                    "(visible in `ps`: prefer --secret-file)")
    p.add_argument("--secret-file", type=Path, metavar="FILE",
                   help="read the secret from FILE instead, out of sight of `ps` (default: none)")
    p.add_argument("--quiet", action="store_true", help="no readable line per payload")
    p.add_argument("--echo", action="store_true", help="a readable line per payload even when not on a terminal")
    faults = p.add_argument_group("fault injection")
    faults.add_argument("--fail-rate", type=_rate, metavar="P",
                        help="fail a request with probability P, 0 to 1 (default: 1 with --fail-status, else 0)")
    faults.add_argument("--fail-status", type=_status, action="append", metavar="CODE",
                        help="the failure status, 400 to 599 (default: 503); repeat to pick one at random per "
                             "failure; given alone, every request fails with it")
    faults.add_argument("--retry-after", type=_seconds, metavar="SECONDS",
                        help="Retry-After on the failures answered 429 or 503 (needs one of them to fail)")
    faults.add_argument("--latency", type=_seconds, default=0.0, metavar="SECONDS", help="delay every answer")
    faults.add_argument("--reject-ids", type=Path, metavar="FILE", help="answer 400 to these ids (one a line)")
    faults.add_argument("--drop-rate", type=_rate, default=0.0, metavar="P",
                        help="close the connection without answering, with probability P")
    faults.add_argument("--outage", type=_outage, action="append", default=[], metavar="START,DURATION",
                        help="refuse connections from START for DURATION seconds after start (repeatable)")
    faults.add_argument("--seed", type=int, help="seed of the random faults")
    args = p.parse_args()
    statuses = tuple(args.fail_status or [503])
    fail_rate = args.fail_rate if args.fail_rate is not None else (1.0 if args.fail_status else 0.0)
    if args.retry_after is not None and not (fail_rate > 0 and {429, 503} & set(statuses)):
        p.error("--retry-after is sent only with failures answered 429 or 503: add --fail-status 503 "
                "(every request) or --fail-rate P")
    try:
        reject = _ids(args.reject_ids) if args.reject_ids else frozenset()
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    if args.secret and args.secret_file:
        p.error("give --secret or --secret-file, not both")
    secret = (_secret_file(args.secret_file) if args.secret_file
              else _secret(args.secret, "--secret") if args.secret else None)
    logs.configure()
    echo = args.echo or (sys.stdout.isatty() and not args.quiet)
    app = make_app(store=args.store, secret=secret, echo=echo, faults=Faults(
        fail_rate=fail_rate, fail_statuses=statuses,
        retry_after=args.retry_after,
        latency=args.latency, reject_ids=reject, drop_rate=args.drop_rate, outages=tuple(args.outage),
        seed=args.seed))

    faults_on = [name for name, on in (("fail-rate", fail_rate), ("latency", args.latency), ("reject-ids", reject),
                                       ("drop-rate", args.drop_rate), ("outage", args.outage)) if on]
    listening = (f"receiver: listening on http://{args.host}:{args.port}/webhook (GET /stats for counts)"
                 + (f"; faults: {', '.join(faults_on)}" if faults_on else "")
                 + (f"; storing to {args.store}" if args.store else ""))

    async def run() -> None:
        task = asyncio.create_task(serve(app, args.host, args.port, args.outage, listening))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(run())
    except OSError as exc:  # a busy port, an address not on this host, a port below 1024
        raise OsProblem(f"cannot listen on {args.host}:{args.port}", exc) from None
    return 0


if __name__ == "__main__":
    main()
