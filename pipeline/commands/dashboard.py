"""bin/dashboard: a read-only web page over a state folder, updated live."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from aiohttp import web

from pipeline import logs
from pipeline.commands import _cli
from pipeline.dashboard.history import MIN_STEP_S
from pipeline.dashboard.server import MAX_REFRESH_S, add_routes, is_loopback
from pipeline.dashboard.snapshot import CHECK_MAX_AGE, Source
from pipeline.errors import EX_USAGE, PipelineError
from pipeline.queues import open_reader

SAMPLE_EVERY_S = MIN_STEP_S  # the backlog history goes on while no tab is open


def _refresh(text: str) -> float:
    value = _cli.duration(text)
    if not 0.2 <= value <= MAX_REFRESH_S:
        raise argparse.ArgumentTypeError(f"between 0.2 and {MAX_REFRESH_S:g} seconds, got {text!r}")
    return value


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = _cli.parser("dashboard", "Serve a live, read-only page about a state folder: health, backlog, "
                    "stream, money, texts, latest payloads and dead letters.", examples=[
                        "bin/dashboard                     # http://127.0.0.1:8090/ for STATE_DIR",
                        "bin/dashboard --state-dir /tmp/finops-demo.abc123/state --port 8091",
                        "DASHBOARD_TOKEN=$(openssl rand -hex 16) bin/dashboard --host 0.0.0.0"])
    p.add_argument("--host", default="127.0.0.1", metavar="HOST",
                   help="address to listen on (default 127.0.0.1; any other needs DASHBOARD_TOKEN)")
    p.add_argument("--port", type=int, default=8090, metavar="PORT", help="port (default 8090)")
    p.add_argument("--refresh", type=_refresh, default=MAX_REFRESH_S, metavar="SECONDS",
                   help=f"seconds between updates of the page, 0.2 to {MAX_REFRESH_S:g} (default {MAX_REFRESH_S:g})")
    p.add_argument("--max-age", type=_cli.duration, default=CHECK_MAX_AGE, metavar="DURATION",
                   help="the health check's --max-age, as in queue-stats --check (default 1h)")
    args = p.parse_args()
    cfg = _cli.settings(args)
    token = cfg.dashboard_token.get_secret_value() if cfg.dashboard_token else None
    if not is_loopback(args.host) and not token:
        _cli.config_exit(f"--host {args.host} is reachable from other machines: set DASHBOARD_TOKEN "
                         "(every request must then carry it), or listen on 127.0.0.1")
    if not 0 < args.port < 65536:
        p.error("--port must be between 1 and 65535")
    if not cfg.state_dir.is_dir():
        sys.stderr.write(f"dashboard: {cfg.state_dir}: no such state folder (the dashboard never creates one)\n")
        return EX_USAGE
    store = open_reader(cfg.state_dir)  # a state file this program cannot read stops it here (exit 65)
    if store is not None:
        store.close()
    logs.configure()
    return asyncio.run(_serve(Source(cfg, max_age=args.max_age), args.host, args.port, args.refresh, token))


async def _serve(source: Source, host: str, port: int, refresh: float, token: str | None) -> int:
    # One reader thread: snapshots and samples take turns (they share the history), and a single thread
    # keeps glibc from giving each of several threads its own malloc arena (megabytes of RSS each).
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1, thread_name_prefix="reader"))
    async def feed() -> dict[str, Any]:
        return await asyncio.to_thread(source.snapshot)

    app = web.Application()
    hub = add_routes(app, feed, refresh=refresh, token=token)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        sys.stderr.write(f"dashboard: cannot listen on {host}:{port}: {exc.strerror}\n")
        return EX_USAGE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    sys.stderr.write(f"dashboard of {source.state_dir} on http://{shown}:{port}/"
                     f"{'?token=…' if token else ''}\n")
    structlog.get_logger().info("dashboard.started", host=host, port=port, state_dir=str(source.state_dir))
    try:
        while not stop.is_set():
            if not hub.listening:  # an open tab's snapshots feed the history already
                with contextlib.suppress(PipelineError, OSError):  # shown on the page when a tab asks
                    await asyncio.to_thread(source.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
    finally:
        await runner.cleanup()
    return 0


if __name__ == "__main__":
    main()
