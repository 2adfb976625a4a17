"""bin/receiver: a webhook endpoint for local runs and tests."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from pipeline.commands import _cli
from pipeline.receiver import make_app


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("receiver", "Receive webhooks: store each as a JSON line, dedupe on webhook-id.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--store", type=Path, metavar="FILE.jsonl", help="append each delivery to this file")
    p.add_argument("--secret", help="whsec_… secret: verify signatures, answer 401 to a bad one")
    p.add_argument("--quiet", action="store_true", help="no readable line per payload")
    p.add_argument("--echo", action="store_true", help="a readable line per payload even when not on a terminal")
    args = p.parse_args()
    echo = args.echo or (sys.stdout.isatty() and not args.quiet)
    app = make_app(store=args.store, secret=args.secret, echo=echo)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    main()
