"""bin/queue-stats: the backlog of each queue, dead letters, the simulated clock, delivery figures."""

from __future__ import annotations

import argparse
import json
import sys
import time

from pipeline.clock import rfc3339, utc_now
from pipeline.commands import _cli
from pipeline.config import Settings
from pipeline.queues import open_existing
from pipeline.state_report import render_dead, render_table, report

DEFAULT_MAX_AGE = 3600.0


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("queue-stats", "Show the backlog of each queue, dead letters and the simulated clock.", examples=[
        "bin/queue-stats                  # one table",
        "bin/queue-stats --watch 5        # refresh every 5 s; a timestamped plain block per refresh in a pipe",
        "bin/queue-stats --json | jq .dead",
        "bin/queue-stats --check --max-age 30m || echo unhealthy",
    ])
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--watch", nargs="?", const=2.0, type=_cli.duration, metavar="SECONDS",
                   help="refresh every SECONDS until Ctrl-C (default: 2 when given without a value)")
    p.add_argument("--dead", action="store_true", help="list the dead letters, oldest first")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when unhealthy: dead letters, delivery paused, or a backlog older than --max-age")
    p.add_argument("--max-age", type=_cli.duration, default=DEFAULT_MAX_AGE, metavar="DURATION",
                   help="with --check: the oldest an intent or payload may be (default: 1h)")
    args = p.parse_args()
    cfg = _cli.settings(args)
    if not args.watch:
        return _show(args, cfg)
    try:
        while True:
            _show(args, cfg)
            time.sleep(args.watch)
    except KeyboardInterrupt:  # Ctrl-C is how one leaves --watch: not a failure
        return 0


def _show(args: argparse.Namespace, cfg: Settings) -> int:
    """Print the stats once; 1 when --check finds the pipeline unhealthy."""
    store = open_existing(cfg.state_dir)
    try:
        stats = report(store, cfg.scale_factor, max_age=args.max_age if args.check else None,
                       with_dead=args.dead)
    finally:
        if store is not None:
            store.close()
    problems = stats["check"]["problems"] if args.check else []
    if args.json:
        sys.stdout.write(json.dumps(stats) + "\n")
    else:
        if args.watch:
            # Clear the screen only on a terminal; into a pipe or file each refresh is a plain block.
            sys.stdout.write("\x1b[H\x1b[2J" if sys.stdout.isatty() else "\n")
            sys.stdout.write(f"{rfc3339(utc_now().replace(microsecond=0))}\n")
        sys.stdout.write((render_dead(stats["dead"].get("letters", [])) if args.dead else render_table(stats)) + "\n")
        if args.check:
            sys.stdout.write("\n".join(f"UNHEALTHY: {p}" for p in problems) if problems else "healthy")
            sys.stdout.write("\n")
    sys.stdout.flush()
    return 1 if problems else 0


if __name__ == "__main__":
    main()
