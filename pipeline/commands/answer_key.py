"""bin/answer-key: the anomalies planted in a simulated span, computed from the model without running it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.commands import _cli
from pipeline.queues import open_existing
from pipeline.stream import read_stream
from pipeline.workload import Workload
from pipeline.workload.answer_key import answer_key, counts


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2026-03-02T00:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _cli.parser("answer-key", "List the anomalies planted in jobs requested in [--from, --to) of simulated "
                    "time: kind, team, jobs, GPU-hours, billed cost and the evidence a detector should find.")
    p.add_argument("--from", dest="start", type=_instant, required=True, help="first simulated instant (ISO 8601)")
    p.add_argument("--to", dest="end", type=_instant, required=True, help="end of the span, exclusive (ISO 8601)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.add_argument("--profile", help="workload profile (default: PROFILE or data/profiles/default.toml)")
    p.add_argument("--prices", type=Path, help="price catalog (default: data/prices.toml beside the profile)")
    p.add_argument("--seed", type=int, help="seed (default: SEED, else the state folder's stream, else 0)")
    args = p.parse_args(argv)
    if args.end <= args.start:
        p.error("--to must be later than --from")
    if (args.end - args.start).days > 366:
        p.error("the span is at most 366 days")
    return args


def _stream_seed(state_dir: Path) -> int | None:
    if not state_dir.is_dir():
        return None
    store = open_existing(state_dir)
    if store is None:
        return None
    try:
        stream = read_stream(store)
    finally:
        store.close()
    return stream.seed if stream else None


def run(argv: Sequence[str] | None = None) -> int:
    """The command, with its arguments given (tests) or taken from sys.argv."""
    args = _parse(argv)
    cfg = _cli.settings(args, profile=args.profile, seed=args.seed)
    try:
        workload = Workload.load(cfg.profile, args.prices)
    except (ValueError, OSError) as exc:
        _cli.config_exit(f"PROFILE={cfg.profile}: {exc}")
    seed = cfg.seed if cfg.seed is not None else _stream_seed(cfg.state_dir) or 0
    entries = answer_key(workload, seed, args.start, args.end)
    if args.json:
        doc = {"seed": seed, "profile": cfg.profile.name, "from": args.start.isoformat().replace("+00:00", "Z"),
               "to": args.end.isoformat().replace("+00:00", "Z"), "counts": counts(entries),
               "anomalies": [entry.to_json() for entry in entries]}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return 0
    sys.stdout.write(f"answer key: profile {cfg.profile.name}, seed {seed}, jobs requested "
                     f"{args.start:%Y-%m-%d %H:%M} .. {args.end:%Y-%m-%d %H:%M} UTC: {len(entries)} anomalies "
                     f"({', '.join(f'{k} {n}' for k, n in counts(entries).items()) or 'none'})\n")
    for entry in entries:
        sys.stdout.write(entry.line() + "\n")
    return 0


@_cli.guarded
def main() -> int:
    """Entry point of bin/answer-key."""
    return run()


if __name__ == "__main__":
    main()
