"""The webhook receiver for local runs and tests: stores each delivery, dedupes on webhook-id."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from pipeline.delivery.signing import secret_key, sign

# A signature older or newer than this is refused (the Standard Webhooks default tolerance).
TIMESTAMP_TOLERANCE = 300


@dataclass
class ReceiverState:
    """What the receiver has seen."""

    store: IO[str] | None = None
    key: bytes | None = None
    echo: IO[str] | None = None
    seen: set[str] = field(default_factory=set)
    received: int = 0
    duplicates: int = 0


def readable_line(body: dict[str, Any]) -> str:
    """One line per payload: simulated time, team, GPUs, request text, cost."""
    job, truth, cost = body.get("job") or {}, body.get("truth") or {}, body.get("cost") or {}
    team = job.get("team") or truth.get("team", "?")
    gpus = f"{truth.get('gpu_count', '?')}x{truth.get('gpu_type', '?')}"
    text = " ".join(str((body.get("request") or {}).get("text", "")).split())
    return (f"{str(body.get('occurred_at', ''))[:16].replace('T', ' ')}  {team:<14.14} {gpus:<10} "
            f"${cost.get('estimated_cost', 0):>9,.2f}  {text[:110]}")


def _verify(state: ReceiverState, request: web.Request, body: bytes) -> bool:
    if state.key is None:
        return True
    msg_id = request.headers.get("webhook-id", "")
    stamp = request.headers.get("webhook-timestamp", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_TOLERANCE:
        return False
    expected = sign(state.key, msg_id, int(stamp), body).split(",", 1)[1]
    offered = [s.split(",", 1)[1] for s in request.headers.get("webhook-signature", "").split() if "," in s]
    return expected in offered


async def _webhook(request: web.Request) -> web.Response:
    state: ReceiverState = request.app["state"]
    body = await request.read()
    if not _verify(state, request, body):
        return web.Response(status=401, text="bad or missing signature")
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
    if state.echo is not None and not duplicate:
        state.echo.write(readable_line(parsed) + "\n")
        state.echo.flush()
    return web.Response(status=204)


async def _stats(request: web.Request) -> web.Response:
    state: ReceiverState = request.app["state"]
    return web.json_response({"received": state.received, "unique": len(state.seen),
                              "duplicates": state.duplicates})


def _reload(state: ReceiverState, path: Path) -> None:
    """Carry the dedupe set and counts over a restart of the receiver on the same store file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                state.received += 1
                webhook_id = json.loads(line)["webhook_id"]
                state.duplicates += webhook_id in state.seen
                state.seen.add(webhook_id)


def make_app(*, store: Path | None = None, secret: str | None = None, echo: bool = False) -> web.Application:
    """The receiver application (`echo` prints one readable line per new payload on stdout)."""
    state = ReceiverState(key=secret_key(secret) if secret else None, echo=sys.stdout if echo else None)
    if store is not None:
        if store.exists():
            _reload(state, store)
        state.store = store.open("a", encoding="utf-8")
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app["state"] = state
    app.router.add_post("/webhook", _webhook)
    app.router.add_get("/stats", _stats)
    return app
