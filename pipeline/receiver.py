"""The webhook receiver for local runs and tests: stores each delivery, dedupes on webhook-id.

With a secret it verifies Standard Webhooks signatures (401 to a bad, missing or stale one). Fault
injection, for tests and soak runs: random failures with a chosen status (plus Retry-After on 429/503),
latency, 400 for chosen ids, dropped connections, and outages during which the listening socket is
closed (connection refused) and open connections are cut.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import structlog
from aiohttp import web

from pipeline.dashboard.received import Received
from pipeline.dashboard.server import Hub, add_routes
from pipeline.delivery.signing import secret_key, verify

log = structlog.get_logger()
PAGE_REFRESH_S = 2.0


@dataclass(frozen=True, slots=True)
class Faults:
    """What the receiver does wrong on purpose."""

    fail_rate: float = 0.0
    fail_statuses: tuple[int, ...] = (503,)  # one is picked at random per failure
    retry_after: float | None = None  # added to 429 and 503 answers
    latency: float = 0.0
    reject_ids: frozenset[str] = frozenset()
    drop_rate: float = 0.0
    outages: tuple[tuple[float, float], ...] = ()  # (start, duration) seconds after the receiver starts
    seed: int | None = None


@dataclass
class ReceiverState:
    """What the receiver has seen."""

    store: IO[str] | None = None
    key: bytes | None = None
    echo: IO[str] | None = None
    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(default_factory=random.Random)
    seen: set[str] = field(default_factory=set)
    received: int = 0
    duplicates: int = 0
    answered: Counter[int] = field(default_factory=Counter)
    dropped: int = 0
    view: Received = field(default_factory=Received)  # what the page at / shows
    hub: Hub | None = None


def free_port() -> int:
    """A loopback port nobody listens on right now, for a local receiver (tests, soak, bench)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readable_line(body: dict[str, Any]) -> str:
    """One line per payload: simulated time, team, GPUs, request text (or what happened to the job), cost."""
    if body.get("type") in ("job.started", "job.finished"):
        return _lifecycle_line(body)
    if body.get("type") == "cost.usage":  # an hour of the bill, not a job
        rows = body.get("rows") or []
        billed = sum(float(r.get("BilledCost") or 0) for r in rows if isinstance(r, dict))
        return (f"{str(body.get('occurred_at', ''))[:16].replace('T', ' ')}  {'cost.usage':<14} "
                f"{f'{len(rows)} rows':<14} ${billed:>9,.2f}  FOCUS 1.2 bill of the hour")
    job, truth, cost = body.get("job") or {}, body.get("truth") or {}, body.get("cost") or {}
    team = job.get("team") or truth.get("team", "?")
    gpus = f"{truth.get('gpu_count', '?')}x{truth.get('gpu_type', '?')}"
    text = " ".join(str((body.get("request") or {}).get("text", "")).split())
    return (f"{str(body.get('occurred_at', ''))[:16].replace('T', ' ')}  {team:<14.14} {gpus:<14.14} "
            f"${cost.get('estimated_cost', 0):>9,.2f}  {text[:110]}")


def _lifecycle_line(body: dict[str, Any]) -> str:
    gpus = f"{body.get('gpu_count', '?')}x{body.get('gpu_type', '?')}"
    if body.get("type") == "job.started":
        wait = float(body.get("queue_wait_seconds", 0.0))
        what = f"started {body.get('job_id', '?')} on {body.get('pricing', '?')} after {wait:,.0f} s in the queue"
        cost = 0.0
    else:
        attempts = body.get("attempts") or [{}]
        gpus = f"{attempts[-1].get('gpu_count', '?')}x{attempts[-1].get('gpu_type', '?')}"
        what = (f"finished {body.get('job_id', '?')} {body.get('outcome', '?')} after "
                f"{float(body.get('actual_hours', 0.0)):.2f} h, {float(body.get('gpu_hours', 0.0)):,.1f} GPU-h, "
                f"{len(attempts)} attempt(s)")
        cost = float(body.get("billed_cost", 0.0))
    return (f"{str(body.get('occurred_at', ''))[:16].replace('T', ' ')}  {body.get('team', '?'):<14.14} "
            f"{gpus:<14.14} ${cost:>9,.2f}  {what[:110]}")


def _signed(state: ReceiverState, request: web.Request, body: bytes) -> bool:
    if state.key is None:
        return True
    headers = request.headers
    return verify(state.key, headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""),
                  headers.get("webhook-signature", ""), body, now=time.time())


def _fault(state: ReceiverState, webhook_id: str) -> web.Response | None:
    """The injected failure answer for this request, if any."""
    faults = state.faults
    if webhook_id in faults.reject_ids:
        return web.Response(status=400, text=f"rejected id {webhook_id}")
    if faults.fail_rate and state.rng.random() < faults.fail_rate:
        status = state.rng.choice(faults.fail_statuses)
        headers = {}
        if faults.retry_after is not None and status in (429, 503):
            headers["retry-after"] = f"{faults.retry_after:g}"
        return web.Response(status=status, headers=headers, text="injected failure")
    return None


def _accept(state: ReceiverState, request: web.Request, body: bytes) -> None:
    webhook_id = request.headers.get("webhook-id", "")
    state.received += 1
    duplicate = webhook_id in state.seen
    state.seen.add(webhook_id)
    state.duplicates += duplicate
    parsed = json.loads(body)
    if state.store is not None:
        record = {"webhook_id": webhook_id, "webhook_timestamp": request.headers.get("webhook-timestamp"),
                  "received_at": time.time(), "duplicate": duplicate, "body": parsed}
        state.store.write(json.dumps(record) + "\n")
        state.store.flush()
    state.view.add(parsed, duplicate=duplicate)
    if state.hub is not None:
        state.hub.poke()  # an open page shows the payload now, not at its next refresh
    if state.echo is not None and not duplicate:
        state.echo.write(readable_line(parsed) + "\n")
        state.echo.flush()


async def _webhook(request: web.Request) -> web.StreamResponse:
    state: ReceiverState = request.app["state"]
    body = await request.read()
    if state.faults.latency:
        await asyncio.sleep(state.faults.latency)
    if state.faults.drop_rate and state.rng.random() < state.faults.drop_rate:
        state.dropped += 1
        assert request.transport is not None
        request.transport.abort()  # no answer at all: the sender sees the connection reset
        return web.Response(status=204)  # never written: the transport is gone
    response = (web.Response(status=401, text="bad, missing or stale signature")
                if not _signed(state, request, body) else _fault(state, request.headers.get("webhook-id", "")))
    if response is None:
        _accept(state, request, body)
        response = web.Response(status=204)
    state.answered[response.status] += 1
    return response


async def _stats(request: web.Request) -> web.Response:
    state: ReceiverState = request.app["state"]
    return web.json_response({"received": state.received, "unique": len(state.seen),
                              "duplicates": state.duplicates})


async def _answers(request: web.Request) -> web.Response:
    """What the receiver answered, by status, and how many connections it dropped (fault injection)."""
    state: ReceiverState = request.app["state"]
    return web.json_response({"answered": {str(k): v for k, v in sorted(state.answered.items())},
                              "dropped": state.dropped})


def _reload(state: ReceiverState, path: Path) -> None:
    """Carry the dedupe set and counts over a restart of the receiver on the same store file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                state.received += 1
                webhook_id = json.loads(line)["webhook_id"]
                state.duplicates += webhook_id in state.seen
                state.seen.add(webhook_id)


def make_app(*, store: Path | None = None, secret: str | None = None, echo: bool = False,
             faults: Faults | None = None) -> web.Application:
    """The receiver application (`echo` prints one readable line per new payload on stdout)."""
    faults = faults or Faults()
    state = ReceiverState(key=secret_key(secret) if secret else None, echo=sys.stdout if echo else None,
                          faults=faults, rng=random.Random(faults.seed))
    if store is not None:
        if store.exists():
            _reload(state, store)
        state.store = store.open("a", encoding="utf-8")
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app["state"] = state
    app.router.add_post("/webhook", _webhook)
    app.router.add_get("/stats", _stats)
    app.router.add_get("/answers", _answers)

    async def page() -> dict[str, Any]:
        return {"mode": "receiver", "generated_at": time.time(), "url": "/webhook",
                "receiver": {"received": state.received, "unique": len(state.seen), "duplicates": state.duplicates,
                             "answered": {str(k): v for k, v in sorted(state.answered.items())},
                             "dropped": state.dropped},
                "money": state.view.money(), "payloads": state.view.latest()}

    state.hub = add_routes(app, page, refresh=PAGE_REFRESH_S)
    return app


async def serve(app: web.Application, host: str, port: int, outages: Sequence[tuple[float, float]] = (),
                announce: str | None = None) -> None:
    """Serve until cancelled; during each outage the port refuses connections and open ones are cut.
    `announce` is printed on stderr once the port is open."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    if announce:
        sys.stderr.write(announce + "\n")
        sys.stderr.flush()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        for begin, length in sorted(outages):
            await asyncio.sleep(max(0.0, started + begin - loop.time()))
            await site.stop()
            assert runner.server is not None
            for handler in runner.server.connections:
                handler.force_close()
                if handler.transport is not None:
                    handler.transport.abort()
            log.info("receiver.outage_started", seconds=length)
            await asyncio.sleep(max(0.0, started + begin + length - loop.time()))
            site = web.TCPSite(runner, host, port)
            await site.start()
            log.info("receiver.outage_ended")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
