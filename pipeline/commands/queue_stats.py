"""bin/queue-stats: the backlog of each queue, dead letters, the simulated clock, delivery figures."""

from __future__ import annotations

import json
import sys
import time

from pipeline.commands import _cli
from pipeline.queues import open_readonly
from pipeline.stats import collect, render_table


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("queue-stats", "Show the backlog of each queue, dead letters and the simulated clock.")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--watch", nargs="?", const=2.0, type=float, metavar="SECONDS",
                   help="refresh every SECONDS (default 2) until Ctrl-C")
    args = p.parse_args()
    cfg = _cli.settings(args)
    while True:
        store = open_readonly(cfg.state_dir)
        try:
            stats = collect(store, cfg.scale_factor)
        finally:
            if store is not None:
                store.close()
        if args.json:
            sys.stdout.write(json.dumps(stats) + "\n")
        else:
            if args.watch:
                sys.stdout.write("\x1b[H\x1b[2J")
            sys.stdout.write(render_table(stats) + "\n")
        sys.stdout.flush()
        if not args.watch:
            return 0
        time.sleep(args.watch)


if __name__ == "__main__":
    main()
