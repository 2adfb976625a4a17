"""The dashboard's web server: the page, its static files, one JSON snapshot and a server-sent event stream.

Shared by bin/dashboard (a state folder) and bin/receiver (what it received): each gives a `Feed`, a
function returning the current snapshot. One snapshot per refresh serves every open tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger()

STATIC = Path(__file__).with_name("static")
COOKIE = "dashboard_token"
MAX_REFRESH_S = 2.0
MIN_GAP_S = 0.2
Feed = Callable[[], Awaitable[dict[str, Any]]]
_FILES = {"app.js": "text/javascript", "app.css": "text/css", "uPlot.iife.min.js": "text/javascript",
          "uPlot.min.css": "text/css", "uPlot.LICENSE": "text/plain"}
# The page loads nothing from elsewhere; a strict policy makes that a rule the browser enforces.
_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine (a name other than localhost counts as not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Hub:
    """Builds a snapshot every `refresh` seconds while a tab listens, and hands it to every listener."""

    def __init__(self, feed: Feed, refresh: float) -> None:
        self.feed, self.refresh = feed, refresh
        self._listeners: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def listening(self) -> bool:
        """Whether a tab is open."""
        return bool(self._listeners)

    def poke(self) -> None:
        """Send a snapshot now (the receiver, when a payload arrives)."""
        self._wake.set()

    async def listen(self) -> asyncio.Queue[bytes]:
        """A new listener's queue, which gets the next snapshot at once."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=2)
        self._listeners.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        self._wake.set()
        return queue

    def leave(self, queue: asyncio.Queue[bytes]) -> None:
        """Forget a listener (its tab closed)."""
        self._listeners.discard(queue)

    async def _run(self) -> None:
        while self._listeners:
            self._wake.clear()
            try:
                data = json.dumps(await self.feed(), separators=(",", ":")).encode()
                message = b"data: " + data + b"\n\n"
            except Exception as exc:  # a snapshot that fails (state folder gone) is shown, not fatal
                log.warning("dashboard.snapshot_failed", error=str(exc))
                message = b"event: problem\ndata: " + json.dumps(str(exc)).encode() + b"\n\n"
            for queue in list(self._listeners):
                if queue.full():  # a slow tab skips a snapshot instead of piling them up
                    queue.get_nowait()
                queue.put_nowait(message)
            # A burst of pokes (the receiver at full speed) still builds at most a few snapshots a second.
            await asyncio.sleep(MIN_GAP_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, self.refresh - MIN_GAP_S))

    async def stop(self) -> None:
        """Cancel the snapshot loop and end every open event stream (so a stop is not held by a tab)."""
        for queue in list(self._listeners):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(b"")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _authorized(request: web.Request, token: str) -> bool:
    given = request.cookies.get(COOKIE) or request.query.get("token") or ""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        given = auth.removeprefix("Bearer ")
    return hmac.compare_digest(given.encode(), token.encode())


def _guard(token: str | None) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if token is not None and not _authorized(request, token):
            return web.Response(status=401, text="this dashboard needs its token: open it as /?token=…\n",
                                headers={"WWW-Authenticate": "Bearer"})
        if token is not None and request.path == "/" and "token" in request.query:
            # Trade the token in the address for a cookie, so it leaves the address bar and history.
            moved = web.HTTPSeeOther("/")
            moved.set_cookie(COOKIE, request.query["token"], httponly=True, samesite="Strict", path="/")
            return moved
        response = await handler(request)
        response.headers.update(_HEADERS)
        return response

    return guard


async def _page(_: web.Request) -> web.Response:
    return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html", charset="utf-8")


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _FILES:
        raise web.HTTPNotFound()
    return web.Response(body=(STATIC / name).read_bytes(), content_type=_FILES[name], charset="utf-8")


async def _snapshot(request: web.Request) -> web.Response:
    hub: Hub = request.app["hub"]
    return web.json_response(await hub.feed())


async def _events(request: web.Request) -> web.StreamResponse:
    hub: Hub = request.app["hub"]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **_HEADERS})
    await response.prepare(request)
    queue = await hub.listen()
    try:
        await response.write(f"retry: {int(hub.refresh * 1000)}\n\n".encode())
        while message := await queue.get():
            await response.write(message)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.leave(queue)
    return response


def add_routes(app: web.Application, feed: Feed, *, refresh: float, token: str | None = None) -> Hub:
    """Serve the page at `/` with its snapshots (`/api/snapshot`, `/api/events`) on an application."""
    hub = Hub(feed, refresh)
    app["hub"] = hub
    app.middlewares.append(_guard(token))
    app.router.add_get("/", _page)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/snapshot", _snapshot)
    app.router.add_get("/api/events", _events)

    async def _stop(_: web.Application) -> None:
        await hub.stop()

    app.on_shutdown.append(_stop)
    return hub
