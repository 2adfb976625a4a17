"""bin/replay-dead: move dead letters back to the payloads queue (or purge them), oldest first."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from pipeline.commands import _cli
from pipeline.config import parse_duration
from pipeline.delivery import dead
from pipeline.errors import EX_USAGE
from pipeline.locks import RoleLock
from pipeline.queues import open_existing


def _since(text: str) -> datetime:
    """An ISO 8601 time (UTC if no zone), or a duration meaning that long ago (`2h`, `3d`)."""
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("an ISO 8601 time or a duration such as 2h") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("replay-dead", "Move dead letters back to the payloads queue, oldest first, "
                                   "with the same webhook-id and attempts reset.")
    p.add_argument("--id", action="append", default=[], metavar="ID", help="a payload id (repeatable)")
    p.add_argument("--status", type=int, metavar="CODE", help="dead letters whose last status was CODE")
    p.add_argument("--reason", help="dead letters with this reason (rejected, too_large, max_age, unreadable)")
    p.add_argument("--since", type=_since, metavar="TIME", help="dead since TIME (ISO 8601, or e.g. 2h ago)")
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
        sys.stdout.write("no dead letters\n")
        return 0
    lock = RoleLock(cfg.state_dir, "replay-dead").acquire()
    try:
        letters = dead.select(store, selection, args.limit)
        verb = "purge" if args.purge else "replay"
        prefix = f"would {verb}" if args.dry_run else ("purged" if args.purge else "replayed")
        for item in letters:
            d = item.letter
            sys.stdout.write(f"{prefix} {d.payload_id} reason={d.reason} status={d.last_status} "
                             f"attempts={d.attempts} dead_at={d.dead_at.isoformat()}\n")
        if not args.dry_run and letters:
            (dead.purge if args.purge else dead.replay)(store, letters)
        sys.stdout.write(f"{prefix} {len(letters)} dead letter(s)\n")
    finally:
        store.close()
        lock.release()
    return 0


if __name__ == "__main__":
    main()
