"""bin/demo: the whole pipeline on a throw-away state folder with its own receiver, at a pace one can read.

Each delivered payload becomes one line that fits the terminal. A worker that stops on its own (a bad
setting, a held role) ends the demo with that worker's one-line error and its exit code. Ctrl-C (or
SIGTERM) stops everything and prints a summary: payloads, duration, spend per team, dead letters, logs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pipeline.commands import _cli
from pipeline.config import SCALE_PRESETS, Settings
from pipeline.errors import PipelineError
from pipeline.queues import open_existing
from pipeline.receiver import free_port

DEMO_SCALE = SCALE_PRESETS["demo"]
WORKERS = ("scheduler", "enricher", "deliverer")
STOP_GRACE = 10.0  # seconds the workers get to stop after SIGTERM before they are killed


@dataclass
class Seen:
    """What the receiver stored so far, read incrementally from its JSON Lines file."""

    offset: int = 0
    payloads: int = 0
    first_sim: str = ""
    last_sim: str = ""
    spend: dict[str, float] = field(default_factory=dict)


def _parse() -> argparse.Namespace:
    p = _cli.parser("demo", "Run receiver, scheduler, enricher and deliverer on a throw-away state folder and "
                    "show each payload as it is delivered; Ctrl-C stops all four and prints a summary.",
                    examples=["bin/demo                          # the demo pace: 1 simulated hour a real minute",
                              "bin/demo --scale-factor realtime  # as slow as the real company",
                              "bin/demo --company-size 50        # a small company"])
    p.add_argument("--scale-factor", type=_cli.scale_factor, default=DEMO_SCALE, metavar="SCALE_FACTOR",
                   help="simulated seconds per real second, or realtime, demo, default (default: demo = "
                        f"{DEMO_SCALE:g}, whatever SCALE_FACTOR says)")
    p.add_argument("--company-size", type=_cli.positive_int, metavar="COMPANY_SIZE",
                   help="engineers in the simulated company (default: COMPANY_SIZE, else the profile's)")
    return p.parse_args()


def _line(body: dict[str, Any], width: int) -> str:
    """One payload in one terminal line: simulated time, team, GPUs, cost, as much of the text as fits."""
    truth, cost = body.get("truth") or {}, body.get("cost") or {}
    team = (body.get("job") or {}).get("team") or truth.get("team", "?")
    gpus = f"{truth.get('gpu_count', '?')}x{truth.get('gpu_type', '?')}"
    when = str(body.get("occurred_at", ""))[5:16].replace("T", " ")
    head = f"{when}  {team:<16.16} {gpus:<12.12} ${cost.get('estimated_cost', 0):>9,.2f}  "
    text = " ".join(str((body.get("request") or {}).get("text", "")).split())
    room = width - len(head)
    if room < 10:
        return head[:width]
    return head + _fit(text, room)


def _columns(char: str) -> int:
    """Terminal columns of one character: East Asian wide and full-width characters take two."""
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fit(text: str, room: int) -> str:
    """`text` cut to `room` terminal columns, with … where it was cut."""
    if sum(map(_columns, text)) <= room:
        return text
    used, kept = 1, []  # one column for the ellipsis
    for char in text:
        used += _columns(char)
        if used > room:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _span(seconds: float) -> str:
    """A simulated span in the largest unit that keeps it readable: 45 s, 1 h, 12 h, 30 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _read_new(path: Path, seen: Seen, out: IO[str], width: int) -> None:
    """Print and count the payloads the receiver stored since the last call (whole lines only)."""
    try:
        with path.open("rb") as fh:
            fh.seek(seen.offset)
            chunk = fh.read()
    except FileNotFoundError:
        return
    complete = chunk[: chunk.rfind(b"\n") + 1]
    seen.offset += len(complete)
    for raw in complete.splitlines():
        record = json.loads(raw)
        if record.get("duplicate"):
            continue
        body = record["body"]
        seen.payloads += 1
        sim = str(body.get("occurred_at", ""))
        seen.first_sim = seen.first_sim or sim
        seen.last_sim = max(seen.last_sim, sim)
        team = (body.get("job") or {}).get("team") or (body.get("truth") or {}).get("team", "?")
        seen.spend[team] = seen.spend.get(team, 0.0) + float((body.get("cost") or {}).get("estimated_cost", 0.0))
        out.write(_line(body, width) + "\n")
    out.flush()


def _last_line(log: Path) -> str:
    """The worker's own one-line message: the last non-empty line of its log."""
    try:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no output)"
    return lines[-1] if lines else "(no output)"


def _dead_letters(state_dir: Path) -> int:
    try:
        store = open_existing(state_dir)
    except PipelineError:
        return 0
    if store is None:
        return 0
    try:
        counts = store.counts("dead")
        return counts.ready + counts.in_flight
    finally:
        store.close()


def _printer(out: IO[str], width: int) -> Callable[[str], None]:
    """Print a message wrapped to the terminal width (payload lines are cut instead: one line each)."""

    def say(text: str) -> None:
        out.write("\n".join(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)) + "\n")
        out.flush()

    return say


def _summary(seen: Seen, started: float, state_dir: Path, work: Path, say: Callable[[str], None]) -> None:
    took = time.monotonic() - started
    span = (f", simulated {seen.first_sim[:16].replace('T', ' ')} to {seen.last_sim[:16].replace('T', ' ')} UTC"
            if seen.payloads else "")
    say("")
    say(f"demo stopped after {took:.0f} s: {seen.payloads} payload(s) delivered{span}")
    if seen.spend:
        say(f"spend per team (estimated, USD), {sum(seen.spend.values()):,.2f} in all:")
        for team, usd in sorted(seen.spend.items(), key=lambda kv: -kv[1]):
            say(f"  {team:<20} {usd:>14,.2f}")
    say(f"dead letters: {_dead_letters(state_dir)}")
    say(f"State, worker logs and received payloads: {work}")


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(port: int, receiver: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and receiver.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _settings(args: argparse.Namespace, state_dir: Path, url: str) -> Settings:
    """The demo's settings, checked before anything starts: a bad one is the usual one line and exit 78."""
    args.state_dir = state_dir
    return _cli.settings(args, webhook_url=url, scale_factor=args.scale_factor, company_size=args.company_size)


def _spawn(procs: dict[str, subprocess.Popen[bytes]], name: str, work: Path, env: dict[str, str],
           *args: str) -> None:
    """Start one command of the pipeline with its output in `work/NAME.log`."""
    with (work / f"{name}.log").open("ab") as log:
        procs[name] = subprocess.Popen([sys.executable, "-m", f"pipeline.commands.{name}", *args], env=env,
                                       stdout=log, stderr=subprocess.STDOUT)


def run() -> int:
    """The demo; returns its exit code."""
    args = _parse()
    given_state = args.state_dir
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhook"
    # Checked before the throw-away folder exists, so a bad setting leaves nothing behind.
    cfg = _settings(args, given_state or Path(tempfile.gettempdir()) / "finops-demo.check", url)
    workload = _cli.load_workload(cfg.profile, cfg.company_size)
    work = Path(tempfile.mkdtemp(prefix="finops-demo."))
    state_dir = given_state or work / "state"
    per_minute = _cli.jobs_per_real_minute(workload, cfg.scale_factor)
    env = {**os.environ, "STATE_DIR": str(state_dir), "WEBHOOK_URL": url, "PYTHONUNBUFFERED": "1",
           "SCALE_FACTOR": f"{cfg.scale_factor:g}"}
    if args.company_size is not None:
        env["COMPANY_SIZE"] = str(args.company_size)
    out = sys.stdout
    width = shutil.get_terminal_size((120, 24)).columns if out.isatty() else 120
    preset = next((f" ({name})" for name, value in SCALE_PRESETS.items() if value == cfg.scale_factor), "")
    say = _printer(out, width)
    say(f"demo pace: SCALE_FACTOR={cfg.scale_factor:g}{preset}: a real minute is {_span(cfg.scale_factor * 60)} "
        f"simulated, about {per_minute:,.1f} jobs a real minute on average (--scale-factor to change)")
    store = work / "received.jsonl"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    started = time.monotonic()
    seen = Seen()
    code = 0
    try:
        _spawn(procs, "receiver", work, env, "--port", str(port), "--store", str(store), "--quiet")
        if not _wait_listening(port, procs["receiver"]):
            say(f"demo: the receiver did not start: {_last_line(work / 'receiver.log')}")
            return 1
        for worker in WORKERS:
            _spawn(procs, worker, work, env)
        say(f"receiver: {url}")
        say(f"watch it in a browser: http://127.0.0.1:{port}/ (bin/dashboard --state-dir {state_dir} shows the "
            "state folder)")
        say(f"logs: {work}/*.log; Ctrl-C stops everything")
        out.write(f"{'simulated':<13}{'team':<17}{'GPUs':<13}{'cost':>10}  request"[:width] + "\n")
        out.flush()
        while True:
            _read_new(store, seen, out, width)
            failed = next(((name, p.returncode) for name, p in procs.items() if p.poll() is not None), None)
            if failed is not None:
                name, code = failed
                say(f"demo: {name} exited with {code}: {_last_line(work / f'{name}.log')}")
                code = code or 1
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        code = 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the summary short
        _stop(procs)
        _read_new(store, seen, out, width)
        _summary(seen, started, state_dir, work, say)
    return code


def _on_term(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@_cli.guarded
def main() -> int:
    """Entry point of bin/demo."""
    signal.signal(signal.SIGTERM, _on_term)
    return run()


if __name__ == "__main__":
    main()
