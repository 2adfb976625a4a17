"""(f) The dashboard's footprint: its RSS and CPU beside a running pipeline, with one browser tab open.

A tab costs the server what this measures: the page and its static files once, then one server-sent event
stream that it reads for as long as it is open (the page makes no other request). A thread plays that tab.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from harness.bench.ours import ROLES
from harness.bench.rig import Rig, wait_for
from harness.procs import BenchError, Child, cleanup, module_argv
from pipeline.receiver import free_port

PAGE_FILES = ("/", "/static/app.js", "/static/app.css", "/static/uPlot.iife.min.js", "/static/uPlot.min.css")


@dataclass(frozen=True, slots=True)
class DashboardFootprint:
    """CPU share of one core and peak RSS of bin/dashboard, and what the tab received."""

    cpu_percent: float
    peak_rss_mb: float
    events: int
    event_kb: float
    seconds: float


class _Tab(threading.Thread):
    """Loads the page, then reads the event stream until told to stop."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base, self.events, self.bytes, self.error = base, 0, 0, ""
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            for path in PAGE_FILES:
                with urllib.request.urlopen(self.base + path, timeout=30) as resp:
                    resp.read()
            with urllib.request.urlopen(self.base + "/api/events", timeout=30) as stream:
                while not self._stop.is_set():
                    line = stream.readline()
                    if not line:
                        return
                    if line.startswith(b"data: "):
                        self.events += 1
                        self.bytes += len(line)
        except OSError as exc:
            self.error = str(exc)

    def close(self) -> None:
        """Stop reading (the connection closes with the dashboard)."""
        self._stop.set()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/api/snapshot", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def footprint(rig: Rig, seconds: float, scale: float) -> DashboardFootprint:
    """The pipeline at `scale` with bin/dashboard on its state folder and one tab: CPU over `seconds`."""
    d = rig.fresh_dir("dashboard")
    with rig.receiver() as rec:
        env = rig.env(d / "state", rec.url, SCALE_FACTOR=f"{scale:g}")
        children = [rig.worker(role, env) for role in ROLES]
        try:
            wait_for((d / "state" / "queues.db").exists, 60, "the state folder", 0.05)
            port = free_port()
            dash = Child("dashboard", module_argv("pipeline.commands.dashboard", "--port", str(port)), env, rig.logs)
            children.append(dash)
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: _answers(url), 60, "the dashboard to answer", 0.05)
            tab = _Tab(url)
            tab.start()
            time.sleep(3.0)  # past the first snapshots (they build the stream's cache of finished hours)
            before, t0, events0 = dash.cpu_seconds(), time.perf_counter(), tab.events
            end = t0 + seconds
            while time.perf_counter() < end:
                dash.sample()
                time.sleep(0.5)
            used, elapsed = dash.cpu_seconds() - before, time.perf_counter() - t0
            events, size = tab.events - events0, tab.bytes
            if tab.error or not events:
                raise BenchError(f"the dashboard's event stream failed: {tab.error or 'no event'}")
            tab.close()
            done = dash.stop()
            for child in children[:-1]:
                child.stop()
        finally:
            cleanup(children)
    return DashboardFootprint(round(100 * used / elapsed, 2), round(done.peak_rss_mb, 1), events,
                              round(size / max(1, tab.events) / 1024, 1), round(elapsed, 1))


def as_dict(result: DashboardFootprint) -> dict[str, Any]:
    """Plain data for the report."""
    return {"cpu_percent": result.cpu_percent, "peak_rss_mb": result.peak_rss_mb, "events": result.events,
            "event_kb": result.event_kb, "seconds": result.seconds}
