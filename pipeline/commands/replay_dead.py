"""bin/replay-dead: move dead letters back to the payloads queue (or purge them), oldest first."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from pipeline.clock import rfc3339
from pipeline.commands import _cli
from pipeline.config import parse_duration
from pipeline.delivery import dead
from pipeline.delivery.policy import DeadReason
from pipeline.errors import EX_USAGE
from pipeline.locks import RoleLock
from pipeline.queues import open_existing


def _since(text: str) -> datetime:
    """An ISO 8601 time (UTC if no zone), or a duration meaning that long ago: `2h`, `2h ago`, `3 d ago`."""
    ago = text.strip().lower().removesuffix("ago").strip()
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(ago))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-03-02T06:00:00Z or a duration such as 2h ago, got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("replay-dead", "Move dead letters back to the payloads queue, oldest first, "
                                   "with the same webhook-id and attempts reset.", examples=[
                                       "bin/replay-dead --all --dry-run         # what would move",
                                       "bin/replay-dead --status 400 --since '2h ago'",
                                       "bin/replay-dead --id job_ad47b7b006bc1cbafbe6",
                                       "bin/replay-dead --reason max_age --purge --yes",
                                   ])
    p.add_argument("--id", action="append", default=[], metavar="ID",
                   help="a payload id (repeatable); an id that is not a dead letter is an error")
    p.add_argument("--status", type=int, metavar="CODE", help="dead letters whose last status was CODE")
    p.add_argument("--reason", choices=[r.value for r in DeadReason], metavar="REASON",
                   help="dead letters with this reason: " + ", ".join(r.value for r in DeadReason))
    p.add_argument("--since", type=_since, metavar="TIME",
                   help="dead since TIME: ISO 8601 (UTC if no zone), or a duration ago such as 2h, '2h ago', 3d")
    p.add_argument("--all", action="store_true", help="select every dead letter (needed without a filter)")
    p.add_argument("--limit", type=_cli.positive_int, metavar="N", help="act on at most N dead letters")
    p.add_argument("--dry-run", action="store_true", help="show what would move, change nothing")
    p.add_argument("--purge", action="store_true", help="delete the selected dead letters instead (needs --yes)")
    p.add_argument("--yes", action="store_true", help="confirm --purge")
    args = p.parse_args()
    selection = dead.Selection(frozenset(args.id), args.status, args.reason, args.since)
    if selection == dead.Selection() and not args.all:
        p.print_usage(sys.stderr)
        sys.stderr.write("replay-dead: give a filter (--id, --status, --reason, --since) or --all\n")
        return EX_USAGE
    if args.purge and not args.yes and not args.dry_run:
        sys.stderr.write("replay-dead: --purge deletes dead letters for good; add --yes to confirm\n")
        return EX_USAGE
    cfg = _cli.settings(args)
    store = open_existing(cfg.state_dir)
    if store is None:
        if args.id:
            sys.stderr.write(f"replay-dead: not a dead letter: {', '.join(sorted(args.id))} (no queue file yet)\n")
            return EX_USAGE
        sys.stdout.write("no dead letters\n")
        return 0
    lock = RoleLock(cfg.state_dir, "replay-dead").acquire()
    try:
        unknown = sorted(set(args.id) - {item.letter.payload_id for item in dead.read_all(store)})
        if unknown:
            sys.stderr.write(f"replay-dead: not a dead letter: {', '.join(unknown)} (see bin/queue-stats --dead)\n")
            return EX_USAGE
        letters = dead.select(store, selection, args.limit)
        verb = "purge" if args.purge else "replay"
        prefix = f"would {verb}" if args.dry_run else ("purged" if args.purge else "replayed")
        for item in letters:
            d = item.letter
            sys.stdout.write(f"{prefix} {d.payload_id} reason={d.reason} status={d.last_status} "
                             f"attempts={d.attempts} dead_at={rfc3339(d.dead_at)}\n")
        if not args.dry_run and letters:
            (dead.purge if args.purge else dead.replay)(store, letters)
        sys.stdout.write(f"{prefix} {len(letters)} dead letter(s)\n")
    finally:
        store.close()
        lock.release()
    return 0


if __name__ == "__main__":
    main()
