"""The chaos scenario shared by tests/test_chaos.py and bin/soak: real processes, random kills, one proof.

Scheduler (live), enricher (offline), deliverer and receiver run as real subprocesses on one state
folder. A driver SIGKILLs a random worker every few seconds and starts it again, once kills all three at
the same moment (a reboot), and takes the receiver away for a while (an outage). At the end the
scheduler is stopped, enricher and deliverer drain, and the webhook-ids received are compared with the
intents a clean backfill of the same simulated span defines in a second state folder.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from harness.env import sealed
from pipeline.queues import QUEUE_FILE, Queue, integrity_ok, open_view
from pipeline.receiver import free_port

WORKERS = ("scheduler", "enricher", "deliverer")
# The queue whose in-flight rows (status 2) show that a worker is mid-item when it is killed.
CONSUMES: dict[str, Queue] = {"enricher": "intents", "deliverer": "payloads"}
STOP_TIMEOUT = 30.0
# How long a due kill may wait for its worker to be mid-item (a kill between items proves less).
AIM_SECONDS = 1.0


# The receiver's faults (bin/receiver flags): 503, 500 and 429 answers (503 and 429 with a Retry-After, which
# holds all sending), slow answers and dropped connections. All transient, so no dead letter is legitimate.
# Rates are kept low enough that the held deliverer still outruns the scheduler at the default scale.
TRANSIENT_FAULTS = ("--fail-rate", "0.02", "--fail-status", "503", "--fail-status", "500", "--fail-status", "429",
                    "--retry-after", "0.3", "--latency", "0.005", "--drop-rate", "0.01")


@dataclass(frozen=True, slots=True)
class Scenario:
    """What the driver does; `cycle` spaces the reboots and outages (one each per cycle)."""

    kill_seconds: float
    seed: int = 20260302
    sim_start: str = "2026-03-02T06:00:00+00:00"  # a Monday morning: the busy part of the week
    scale_factor: float = 8000.0
    tick: float = 0.2
    kill_interval: tuple[float, float] = (1.0, 5.0)
    min_kills: int = 0
    min_kills_in_flight: int = 0
    cycle: float | None = None  # None: one reboot and one outage in the whole kill phase
    outage_seconds: float = 20.0
    receiver_faults: tuple[str, ...] = TRANSIENT_FAULTS  # flags passed to bin/receiver (--seed is added)
    retry_schedule: str = "0.5,1,2"
    drain_timeout: float = 900.0
    driver_seed: int = field(default_factory=lambda: random.randrange(2**31))


@dataclass(slots=True)
class Report:
    """The figures of one run; `lost`/`unexpected` are filled by `verify`."""

    kills: Counter[str] = field(default_factory=Counter)
    kills_in_flight: int = 0
    reboots: int = 0
    outages: int = 0
    received: int = 0  # deliveries, repeats included
    payloads: int = 0  # distinct webhook-ids
    payloads_in_kill_phase: int = 0
    expected: int = 0
    lost: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)  # repeats that were not the same payload
    unexpected: list[str] = field(default_factory=list)
    dead_letters: int = 0
    integrity: dict[str, bool] = field(default_factory=dict)
    sim_span_s: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)  # the receiver's answers by status, and "dropped"

    @property
    def duplicates(self) -> int:
        """Deliveries of a webhook-id already received."""
        return self.received - self.payloads

    def summary(self) -> str:
        """One line for a person watching."""
        kills = " ".join(f"{role}={self.kills[role]}" for role in WORKERS)
        return (f"payloads {self.payloads}  duplicates {self.duplicates}  kills {sum(self.kills.values())} "
                f"({kills}; {self.kills_in_flight} in flight)  reboots {self.reboots}  outages {self.outages}")

    def final(self) -> str:
        """The closing report."""
        bad = [name for name, ok in self.integrity.items() if not ok]
        return "\n".join([
            self.summary(),
            f"expected {self.expected} intents over {self.sim_span_s:.0f} simulated seconds",
            "receiver answered " + "  ".join(f"{key} x{count}" for key, count in sorted(self.answers.items())),
            f"lost {len(self.lost)}  unexpected {len(self.unexpected)}  repeats that differ {len(self.differing)}  "
            f"dead letters {self.dead_letters}  integrity {'ok' if not bad else 'FAILED: ' + ', '.join(bad)}",
        ])

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing unexpected, no dead letters, every queue file intact."""
        return (not self.lost and not self.unexpected and not self.differing and not self.dead_letters
                and all(self.integrity.values()))


class Receipts:
    """Reads the receiver's JSON-lines store incrementally: every delivery, and the distinct ids."""

    def __init__(self, path: Path) -> None:
        self.path, self._offset = path, 0
        self.total = 0
        self.bodies: dict[str, int] = {}  # webhook-id -> hash of the first body received
        self.differing: set[str] = set()  # ids delivered twice with different bodies: a real duplicate

    def refresh(self) -> None:
        """Take in the complete lines written since the last call."""
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            if line.strip():
                record = json.loads(line)
                webhook_id, body = record["webhook_id"], hash(json.dumps(record["body"], sort_keys=True))
                if self.bodies.setdefault(webhook_id, body) != body:
                    self.differing.add(webhook_id)
                self.total += 1


class Cluster:
    """The four processes of one run, on one state folder; logs go to `<root>/logs/<role>.log`."""

    def __init__(self, root: Path, scenario: Scenario) -> None:
        self.root, self.scenario = root, scenario
        self.state_dir = root / "state"
        self.receipts_path = root / "received.jsonl"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.rng = random.Random(scenario.driver_seed + 1)
        # What the receiver answered over all its runs, by status, plus "dropped" connections.
        self.answers: Counter[str] = Counter()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.down: set[str] = set()  # killed on purpose and not started again yet
        self.env = child_env(scenario, self.state_dir)
        self.env["WEBHOOK_URL"] = f"http://127.0.0.1:{self.port}/webhook"

    def start(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        """Start one role (`args` are extra flags, e.g. --drain)."""
        extra: tuple[str, ...] = args
        if role == "receiver":
            faults = self.scenario.receiver_faults
            if faults:  # a new seed per start, or every restart would fail the same requests again
                faults = (*faults, "--seed", str(self.rng.randrange(2**31)))
            extra = ("--port", str(self.port), "--store", str(self.receipts_path), "--quiet", *faults, *args)
        with (self.logs / f"{role}.log").open("ab") as log:
            # Own session: a Ctrl-C at the terminal is for the driver (it ends the run early), not the workers.
            proc = subprocess.Popen([sys.executable, "-m", f"pipeline.commands.{role}", *extra],
                                    env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[role] = proc
        self.down.discard(role)
        if role == "receiver":
            self._wait_listening()
        return proc

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=1):
                    return
            except OSError:
                if self.procs["receiver"].poll() is not None:
                    raise RuntimeError(f"receiver exited {self.procs['receiver'].returncode}") from None
                time.sleep(0.05)
        raise RuntimeError("receiver did not start listening")

    def collect_answers(self) -> None:
        """Add up the running receiver's answers (it counts in memory only, so before every stop)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/answers", timeout=STOP_TIMEOUT) as response:
            answers = json.load(response)
        self.answers.update(answers["answered"])
        self.answers["dropped"] += answers["dropped"]

    def kill(self, *roles: str) -> None:
        """SIGKILL the roles at the same moment and reap them (their role locks die with them)."""
        if "receiver" in roles:
            self.collect_answers()
        for role in roles:
            self.procs[role].send_signal(signal.SIGKILL)
        for role in roles:
            self.procs[role].wait()
        self.down.update(roles)

    def stop(self, role: str) -> int:
        """SIGTERM one role and wait for its exit code."""
        proc = self.procs[role]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=STOP_TIMEOUT)

    def check_alive(self) -> None:
        """A worker that exits on its own during the chaos is a finding, not something to restart."""
        for role, proc in self.procs.items():
            if role not in self.down and proc.poll() is not None:
                raise RuntimeError(f"{role} exited {proc.returncode} by itself; see {self.logs / role}.log")

    def in_flight(self, role: str) -> int:
        """Rows the role holds in flight right now, from SQL (the scheduler holds none between ticks)."""
        queue = CONSUMES.get(role)
        path = self.state_dir / QUEUE_FILE
        if queue is None or not path.exists():
            return 0
        with closing(open_view(self.state_dir)) as view:
            return view.counts(queue).in_flight

    def stop_all(self) -> None:
        """Leave no process behind (used on the way out, also after a failure)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()


def child_env(scenario: Scenario, state_dir: Path) -> dict[str, str]:
    """The environment of every process: this run's stream, fast retries, offline texts, no secret."""
    return sealed(STATE_DIR=str(state_dir), SEED=str(scenario.seed), SIM_START=scenario.sim_start,
                  SCALE_FACTOR=str(scenario.scale_factor), TICK_INTERVAL_SEC=str(scenario.tick),
                  ENRICHER="offline", DELIVERY_RETRY_SCHEDULE=scenario.retry_schedule,
                  DELIVERY_MAX_AGE="30d", DELIVERY_CONCURRENCY="8")


def _events(scenario: Scenario, rng: random.Random) -> Iterator[tuple[float, str]]:
    """(seconds into the kill phase, what) in time order, endless: kills, and per cycle a reboot and an outage."""
    cycle = scenario.cycle or scenario.kill_seconds
    next_kill = rng.uniform(*scenario.kill_interval)
    n = 0
    while True:
        cycle_start = n * cycle
        planned = sorted([(cycle_start + 0.3 * cycle, "outage"), (cycle_start + 0.6 * cycle, "reboot")])
        for at, what in planned:
            while next_kill < at:
                yield next_kill, "kill"
                next_kill += rng.uniform(*scenario.kill_interval)
            yield at, what
        n += 1


def run(scenario: Scenario, root: Path, on_status: Callable[[Report], None] = lambda r: None,
        stop: threading.Event | None = None) -> Report:
    """Run the whole scenario under `root` and return its verified report (`stop` ends the kill phase early)."""
    report = Report()
    cluster = Cluster(root, scenario)
    receipts = Receipts(cluster.receipts_path)
    rng = random.Random(scenario.driver_seed)
    try:
        for role in ("receiver", *WORKERS):
            cluster.start(role)
        _Driver(cluster, scenario, report, receipts, on_status=on_status, stop=stop or threading.Event()).run(rng)
        receipts.refresh()
        report.payloads_in_kill_phase = len(receipts.bodies)
        _drain(cluster, scenario)
        receipts.refresh()
        report.received, report.payloads = receipts.total, len(receipts.bodies)
        cluster.collect_answers()
        report.answers = cluster.answers
        report.differing = sorted(receipts.differing)
        verify(cluster, scenario, set(receipts.bodies), report)
    finally:
        cluster.stop_all()
    return report


class _Driver:
    """The kill phase: waits between events keep the outage, the live summary and a liveness check going."""

    def __init__(self, cluster: Cluster, scenario: Scenario, report: Report, receipts: Receipts, *,
                 on_status: Callable[[Report], None], stop: threading.Event) -> None:
        self.cluster, self.scenario, self.report, self.receipts = cluster, scenario, report, receipts
        self.on_status, self.stop = on_status, stop
        self.outage_until: float | None = None
        self._last_status = 0.0

    def _targets_met(self) -> bool:
        return (sum(self.report.kills.values()) >= self.scenario.min_kills
                and self.report.kills_in_flight >= self.scenario.min_kills_in_flight)

    def _wait_until(self, deadline: float) -> None:
        while (now := time.monotonic()) < deadline and not self.stop.is_set():
            if self.outage_until is not None and now >= self.outage_until:
                self.cluster.start("receiver")
                self.outage_until = None
            if now - self._last_status >= 1.0:
                self._last_status = now
                self.receipts.refresh()
                self.report.received, self.report.payloads = self.receipts.total, len(self.receipts.bodies)
                self.on_status(self.report)
            self.cluster.check_alive()
            time.sleep(0.05)

    def run(self, rng: random.Random) -> None:
        """Kill, reboot and cut off until the phase is over and its targets are met (at most 3x as long)."""
        start, length = time.monotonic(), self.scenario.kill_seconds
        for at, what in _events(self.scenario, rng):
            if self.stop.is_set() or at >= 3 * length or (at >= length and self._targets_met()):
                self._wait_until(start + length)
                break
            self._wait_until(start + at)
            self._act(what, rng)
        if self.outage_until is not None:
            self.stop.clear()  # an early end still lets the outage run out: the drain needs the endpoint
            self._wait_until(self.outage_until)
            self.cluster.start("receiver")
            self.outage_until = None

    def _aim(self, role: str) -> bool:
        """Wait (briefly) for the worker to hold items in flight, so kills land mid-item; True if it does."""
        deadline = time.monotonic() + AIM_SECONDS
        while not (busy := self.cluster.in_flight(role) > 0) and role in CONSUMES and time.monotonic() < deadline:
            time.sleep(0.005)
        return busy

    def _act(self, what: str, rng: random.Random) -> None:
        cluster, report = self.cluster, self.report
        if what == "kill":
            role = rng.choice(WORKERS)
            report.kills_in_flight += self._aim(role)
            cluster.kill(role)
            report.kills[role] += 1
            cluster.start(role)
        elif what == "reboot":
            cluster.kill(*WORKERS)
            report.reboots += 1
            for role in WORKERS:
                cluster.start(role)
        elif self.outage_until is None:  # the endpoint is gone (connection refused) for a while
            cluster.kill("receiver")
            self.outage_until = time.monotonic() + self.scenario.outage_seconds
            report.outages += 1


def _drain(cluster: Cluster, scenario: Scenario) -> None:
    """Stop the scheduler; then the enricher and the deliverer each run once more with --drain."""
    for role in WORKERS:
        code = cluster.stop(role)
        # -SIGTERM: the signal came while the interpreter was still starting, before any handler existed.
        if code not in (0, -signal.SIGTERM):
            raise RuntimeError(f"{role} exited {code} on SIGTERM; see {cluster.logs / role}.log")
    for role in ("enricher", "deliverer"):
        code = cluster.start(role, "--drain").wait(timeout=scenario.drain_timeout)
        if code != 0:
            raise RuntimeError(f"{role} --drain exited {code}; see {cluster.logs / role}.log")


def expected_ids(scenario: Scenario, root: Path, span_s: float) -> set[str]:
    """The intent ids of (sim_start, sim_start + span], from a clean backfill in its own state folder."""
    state_dir = root / "backfill-state"
    env = child_env(scenario, state_dir)
    with (root / "logs" / "backfill.log").open("ab") as log:
        subprocess.run([sys.executable, "-m", "pipeline.commands.scheduler", "--backfill", f"{span_s:.6f}"],
                       env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=scenario.drain_timeout)
    with closing(open_view(state_dir)) as view:
        return {json.loads(row.data)["id"] for row in view.rows("intents")}


def verify(cluster: Cluster, scenario: Scenario, received: set[str], report: Report) -> None:
    """Compare what arrived with what the stream defines up to the scheduler's final clock position."""
    queue_file = cluster.state_dir / QUEUE_FILE
    with closing(open_view(cluster.state_dir)) as view:
        sim_now = datetime.fromisoformat(json.loads(view.get_meta("clock") or "{}")["sim_now"])
        report.dead_letters = len(view.rows("dead"))
    span = sim_now - datetime.fromisoformat(scenario.sim_start)
    # Exact to the microsecond, so the backfill ends where the live clock stopped.
    report.sim_span_s = span.days * 86400 + span.seconds + span.microseconds / 1e6
    expected = expected_ids(scenario, cluster.root, report.sim_span_s)
    report.expected = len(expected)
    report.lost = sorted(expected - received)
    report.unexpected = sorted(received - expected)
    for path in (queue_file, cluster.root / "backfill-state" / QUEUE_FILE):
        report.integrity[str(path)] = integrity_ok(path)


def print_line(stream: IO[str]) -> Callable[[Report], None]:
    """An `on_status` that rewrites one line on a terminal."""
    def show(report: Report) -> None:
        stream.write("\r" + report.summary() + " " * 4)
        stream.flush()
    return show
