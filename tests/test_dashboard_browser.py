"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) with the pipeline running.

Skipped where no chromium or Playwright is installed, unless REQUIRE_BROWSER=1 (CI) makes that a failure.
With DASHBOARD_SHOTS=DIR it also writes the README's screenshots (desktop and phone width) into DIR.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from pipeline import ROOT
from pipeline.receiver import free_port
from pipeline.workload import Workload, window_of
from pipeline.workload.preview import build_preview
from tests.conftest import command
from tests.dashboard_support import TOKEN, Dashboard, queue_stats

CHROMIUM = shutil.which("chromium")
if (CHROMIUM is None or importlib.util.find_spec("playwright") is None) and not os.environ.get("REQUIRE_BROWSER"):
    pytest.skip("needs Debian's chromium and Playwright (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.process]
# Chromium as root in a container, quiet: no sandbox (needs user namespaces), no GPU, no calls home.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-default-apps"]
SEED, SIM_START = 42, "2026-03-02T00:00:00Z"
# About one job every six seconds: deliveries keep coming, and the state is often still for a second or two,
# so that a page snapshot can be compared with queue-stats readings taken before and after it.
SCALE_FACTOR = "15"


@dataclass
class Rig:
    """The pipeline (receiver + three workers) and a dashboard on its state folder."""

    state: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path
    receiver_url: str
    dashboard: Dashboard

    def output(self) -> str:
        """Every process's log, for a failed wait."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("*.log")))

    def received(self) -> int:
        """Payloads the receiver has stored (one JSON line each)."""
        store = self.logs.parent / "received.jsonl"
        return len(store.read_bytes().splitlines()) if store.exists() else 0

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float) -> float:
        """Poll `predicate` until true; the seconds it took. Fails with every log on timeout."""
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{what}: not within {timeout} s\n{self.output()}")
            time.sleep(0.05)
        return time.monotonic() - start


@pytest.fixture
def rig(tmp_path: Path, env: dict[str, str]) -> Iterator[Rig]:
    """Receiver, scheduler, enricher and deliverer on one state folder, and bin/dashboard (refresh 1 s)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    port = free_port()
    env = {**env, "SCALE_FACTOR": SCALE_FACTOR, "SEED": str(SEED), "SIM_START": SIM_START,
           "WEBHOOK_URL": f"http://127.0.0.1:{port}/webhook"}
    env.pop("DASHBOARD_TOKEN", None)
    state = Path(env["STATE_DIR"])
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, argv: list[str]) -> None:
        with (logs / f"{name}.log").open("w") as out:
            procs[name] = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)

    # A little latency keeps a few payloads in flight, so the list of pending payloads is not always empty.
    start("receiver", command("receiver", "--port", str(port), "--store", str(tmp_path / "received.jsonl"),
                              "--quiet", "--latency", "0.5"))
    for role in ("scheduler", "enricher", "deliverer"):
        start(role, command(role))
    rig = Rig(state, env, procs, logs, f"http://127.0.0.1:{port}", None)  # type: ignore[arg-type]
    try:
        rig.wait("the first delivery", lambda: (tmp_path / "received.jsonl").exists()
                 and (tmp_path / "received.jsonl").stat().st_size > 0, 120)
        rig.dashboard = Dashboard(state, env, logs / "dashboard.log", "--refresh", "1")
        yield rig
    finally:
        if rig.dashboard is not None:
            rig.dashboard.stop()
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, through Playwright (never a downloaded browser build)."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM or "/usr/bin/chromium", args=LAUNCH_ARGS)
        yield b
        b.close()


def _open(browser: Browser, url: str, problems: list[str], width: int = 1280,
          scheme: Literal["light", "dark"] = "light") -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    return page


def _dom_stats(page: Page) -> tuple[float, dict[str, Any]]:
    """The page's last snapshot time and every figure it shows from queue-stats, by its key path."""
    generated, stats = page.evaluate("""() => [
        Number(document.querySelector('#updated').dataset.generatedAt),
        Object.fromEntries([...document.querySelectorAll('[data-stat]')].map(
            (el) => [el.dataset.stat, JSON.parse(el.dataset.value)]))]""")
    return float(generated), dict(stats)


def _at(stats: dict[str, Any], path: str) -> Any:
    value: Any = stats
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


MOVING = ("sim_clock.now", "queues.intents.oldest_ready_age_s", "queues.payloads.oldest_ready_age_s")


def test_the_page_follows_the_running_pipeline(rig: Rig, browser: Browser) -> None:
    """No console errors; every queue-stats figure on the page equals queue-stats --json --check read around
    the same snapshot; the stream panel has workload-preview's numbers; a new delivery shows within 3 s (and
    on the receiver's page); a stopped deliverer shows as stopped within 10 s; phone width fits."""
    problems: list[str] = []
    started = time.monotonic()
    page = _open(browser, rig.dashboard.url + "/", problems)
    loaded_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    print(f"\ndashboard page: load event {loaded_ms:.0f} ms, first snapshot shown "
          f"{page.evaluate('document.body.dataset.readyMs')} ms after navigation start "
          f"({time.monotonic() - started:.2f} s with opening the tab)")
    _equals_queue_stats(rig, page)
    _stream_is_workload_preview(rig, page)
    _new_delivery_shows(rig, page, browser)

    # Stop the deliverer: the health panel says so within 10 s of its exit.
    deliverer = rig.procs["deliverer"]
    deliverer.send_signal(signal.SIGTERM)
    deliverer.wait(timeout=30)
    took = rig.wait("the stopped deliverer on the page", lambda: page.locator(
        '#workers li[data-worker="deliverer"][data-running="false"]').count() == 1, 10)
    print(f"stopped deliverer on the page after {took:.2f} s")
    assert page.locator('#workers li[data-worker="scheduler"][data-running="true"]').count() == 1
    assert not problems, problems

    # A phone-width screen: one column, nothing wider than the screen, no console error either.
    phone = _open(browser, rig.dashboard.url + "/", problems, width=390, scheme="dark")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert not problems, problems

    shots = os.environ.get("DASHBOARD_SHOTS")
    if shots:
        _screenshots(browser, rig, Path(shots))


def _equals_queue_stats(rig: Rig, page: Page) -> None:
    """A reading before and after the page's snapshot; when the two agree the state stood still across the
    snapshot, and the page must show exactly that (three times)."""
    deadline, compared = time.monotonic() + 120, 0
    while compared < 3:
        assert time.monotonic() < deadline, f"the state never stood still for a comparison\n{rig.output()}"
        before, t0 = queue_stats(rig.state, rig.env), time.time()
        rig.wait("a page refresh", lambda t0=t0: _dom_stats(page)[0] > t0, 10)  # type: ignore[misc]
        shown = _dom_stats(page)[1]
        after = queue_stats(rig.state, rig.env)
        keys = [k for k in shown if k not in MOVING]
        assert len(keys) >= 20, keys
        if any(_at(before, k) != _at(after, k) for k in keys):
            continue
        assert {k: shown[k] for k in keys} == {k: _at(before, k) for k in keys}
        assert before["sim_clock"]["now"] <= shown["sim_clock.now"] <= after["sim_clock"]["now"]
        compared += 1


def _stream_is_workload_preview(rig: Rig, page: Page) -> None:
    """This simulated day's hourly expected rate per office, as workload-preview computes it."""
    snapshot = rig.dashboard.get("/api/snapshot")
    assert snapshot is not None
    day = datetime.fromisoformat(snapshot["stream"]["hours"][0])
    preview = build_preview(Workload.load(ROOT / "data/profiles/default.toml"), SEED, window_of(day), 1)
    for office in preview.offices:
        shown = page.evaluate(f"JSON.parse(document.querySelector('[data-office=\"{office.name}\"]').dataset.expected)")
        assert shown == [round(x, 3) for x in office.expected], office.name


def _new_delivery_shows(rig: Rig, page: Page, browser: Browser) -> None:
    """The page's delivered count reaches what queue-stats reports within 3 s; the receiver's page lists
    a new payload as it arrives."""
    total = queue_stats(rig.state, rig.env)["delivery"]["delivered_total"]
    rig.wait("a new delivery", lambda: queue_stats(rig.state, rig.env)["delivery"]["delivered_total"] > total, 60)
    now_total = queue_stats(rig.state, rig.env)["delivery"]["delivered_total"]
    took = rig.wait("the new delivery on the page",
                    lambda: _dom_stats(page)[1]["delivery.delivered_total"] >= now_total, 3)
    print(f"new delivery on the page after {took:.2f} s")

    problems: list[str] = []
    rpage = _open(browser, rig.receiver_url + "/", problems)

    def listed() -> list[str]:
        ids: list[str] = rpage.eval_on_selector_all("#payloads > details", "els => els.map(e => e.dataset.id)")
        return ids

    shown_before, count = set(listed()), rig.received()
    rig.wait("a new payload received", lambda: rig.received() > count, 60)
    took = rig.wait("the new payload on the receiver's page",
                    lambda: any(i not in shown_before for i in listed()), 3)
    print(f"new payload on the receiver's page after {took:.2f} s")
    assert not problems, problems
    rpage.close()


def _screenshots(browser: Browser, rig: Rig, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rig.procs["deliverer"] = subprocess.Popen(command("deliverer"), env=rig.env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
    time.sleep(8)
    sizes: tuple[tuple[str, int, Literal["light", "dark"]], ...] = (
        ("dashboard-desktop.png", 1280, "light"), ("dashboard-phone.png", 390, "dark"))
    for name, width, scheme in sizes:
        problems: list[str] = []
        page = _open(browser, rig.dashboard.url + "/", problems, width, scheme)
        page.wait_for_timeout(2500)
        page.screenshot(path=str(folder / name), full_page=True)
        page.close()
    problems = []
    page = _open(browser, rig.receiver_url + "/", problems, 1280, "dark")
    page.locator("#payloads > details > summary").first.click()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(folder / "receiver-desktop.png"), full_page=True)


def test_a_non_loopback_dashboard_refuses_the_browser_without_its_token(
        tmp_path: Path, env: dict[str, str], browser: Browser) -> None:
    """Bound to 0.0.0.0 with DASHBOARD_TOKEN: without the token the page is 401; /?token= opens it (the
    token becomes a cookie and leaves the address) and live updates flow."""
    state = tmp_path / "state"
    state.mkdir()
    dash = Dashboard(state, {**env, "DASHBOARD_TOKEN": TOKEN}, tmp_path / "dash.log", "--refresh", "1",
                     host="0.0.0.0")
    try:
        page = browser.new_page()
        response = page.goto(dash.url + "/")
        assert response is not None and response.status == 401
        problems: list[str] = []
        page = _open(browser, f"{dash.url}/?token={TOKEN}", problems)
        assert page.url == dash.url + "/"
        first, deadline = _dom_stats(page)[0], time.monotonic() + 10
        while _dom_stats(page)[0] <= first:  # the page's strict CSP forbids Playwright's wait_for_function
            assert time.monotonic() < deadline, f"no live update within 10 s\n{dash.output()}"
            time.sleep(0.1)
        assert not problems, problems
    finally:
        assert dash.stop() == 0
