"""(d) and (e): idle cost, pickup latency between processes, and steady-state delivery latency."""

from __future__ import annotations

import json
import random
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

from harness.bench.ours import ROLES
from harness.bench.rig import SEED, SIM_START, Rig, log_events, queue_rows, wait_for
from harness.procs import BenchError, Child, Exit, cleanup
from pipeline.clock import Checkpoint
from pipeline.queues import open_store, open_view
from pipeline.receiver import free_port
from pipeline.workload import Workload, window_of


def _started(child: Child) -> bool:
    if child.poll() is not None:
        raise BenchError(f"{child.name} exited {child.exit.code if child.exit else '?'} while starting")
    return '"worker.started"' in child.log.read_text(errors="replace")


def _live(rig: Rig, env: dict[str, str]) -> dict[str, Child]:
    """The three workers in live mode, once each has logged worker.started."""
    children = {role: rig.worker(role, env) for role in ROLES}
    try:
        wait_for(lambda: all(_started(c) for c in children.values()), 60, "the workers to start", 0.05)
    except BaseException:
        cleanup(list(children.values()))
        raise
    return children


@dataclass(frozen=True, slots=True)
class Idle:
    """Per role: CPU % while idle, and peak RSS over the idle run."""

    cpu_percent: dict[str, float]
    peak_rss_mb: dict[str, float]
    startup_s: dict[str, float]  # from spawn to the worker.started log line


GEMINI = "enricher+gemini"  # an idle enricher with ENRICHER=gemini: the SDK loaded, no request made


def idle(rig: Rig, seconds: float) -> Idle:
    """All three workers live at SCALE_FACTOR=1 (about one job a minute): CPU used over `seconds`.

    Beside them, on a state folder of its own, an enricher configured for Gemini with a dummy key and an
    endpoint on a closed loopback port: nothing reaches it (no intents), but the SDK is loaded.
    """
    d = rig.fresh_dir("idle")
    gemini_env = rig.env(d / "state-gemini", SCALE_FACTOR="1", ENRICHER="gemini", GEMINI_API_KEY="bench-dummy-key",
                         GEMINI_BASE_URL=f"http://127.0.0.1:{free_port()}")
    with rig.receiver() as rec:
        children = _live(rig, rig.env(d / "state", rec.url, SCALE_FACTOR="1"))
        children[GEMINI] = gemini = rig.worker("enricher", gemini_env)
        try:
            wait_for(lambda: _started(gemini), 60, "the Gemini-configured enricher to start", 0.05)
            time.sleep(1.0)  # past start-up work (resuming, first tick)
            before = {role: c.cpu_seconds() for role, c in children.items()}
            t0 = time.perf_counter()
            time.sleep(seconds)
            elapsed = time.perf_counter() - t0
            used = {role: c.cpu_seconds() - before[role] for role, c in children.items()}
            exits = {role: c.stop() for role, c in children.items()}
        finally:
            cleanup(list(children.values()))
    return Idle({role: 100 * cpu / elapsed for role, cpu in used.items()},
                {role: e.peak_rss_mb for role, e in exits.items()},
                {role: _startup(children[role], e) for role, e in exits.items()})


def _startup(child: Child, done: Exit) -> float:
    started = log_events(done.stderr, "worker.started")[0]["timestamp"]
    return datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() - child.spawned_at


def _intents(workload: Workload, count: int) -> list[bytes]:
    """`count` real intents of the fixed stream, serialised as the scheduler writes them."""
    found: list[bytes] = []
    window = window_of(SIM_START)
    while len(found) < count:
        found += [i.model_dump_json().encode() for i in workload.window_intents(SEED, window)]
        window += 1
    return found[:count]


def pickup(rig: Rig, workload: Workload, count: int, rate: float) -> list[float]:
    """Put->get seconds: intents put one per commit at Poisson-paced `rate`/s while the real enricher runs.

    Each payload's emitted_at (stamped right after the enricher read and wrote its batch) minus the commit
    time of its intent's put; the offline writer takes microseconds, so this is the pickup delay.
    """
    d = rig.fresh_dir("pickup")
    env = rig.env(d / "state")
    rig.worker("scheduler", env, "--backfill", "0").ok(120)  # establishes the stream identity
    bodies = _intents(workload, count)
    put_at: dict[str, float] = {}
    pace = random.Random(SEED)
    enricher = rig.worker("enricher", env)
    store = open_store(d / "state")
    try:
        wait_for(lambda: _started(enricher), 60, "the enricher to start", 0.05)
        time.sleep(0.5)
        for body in bodies:
            time.sleep(pace.expovariate(rate))
            with store.transaction() as tx:
                tx.put("intents", [body])
            put_at[json.loads(body)["id"]] = time.time()
        wait_for(lambda: queue_rows(d / "state", "payloads") >= count, 60, "the enricher to catch up", 0.05)
        enricher.stop()
        rows = store.rows("payloads")
    finally:
        store.close()
        enricher.kill()
    latencies = []
    for row in rows:
        payload = json.loads(row.data)
        latencies.append(datetime.fromisoformat(payload["emitted_at"]).timestamp() - put_at[payload["id"]])
    return latencies


@dataclass(frozen=True, slots=True)
class Steady:
    """Per delivered payload, seconds from its job's occurrence and from its enrichment to its arrival."""

    from_occurrence: list[float]
    from_emitted: list[float]


def steady(rig: Rig, seconds: float, scale: float) -> Steady:
    """Seconds from each job's simulated occurrence (mapped to real time) to its arrival at the receiver.

    The live scheduler advances the simulated clock by exactly (monotonic elapsed) x scale per tick, so its
    last checkpoint (sim_now, wall_at) maps any simulated time to the wall-clock moment the clock passed it.
    """
    d = rig.fresh_dir("steady")
    store_file = d / "received.jsonl"
    with rig.receiver(store_file) as rec:
        children = _live(rig, rig.env(d / "state", rec.url, SCALE_FACTOR=str(scale)))
        try:
            time.sleep(seconds)
            children["scheduler"].stop()
            wait_for(lambda: queue_rows(d / "state", "intents") == 0 == queue_rows(d / "state", "payloads"), 60,
                     "the pipeline to deliver the last payloads", 0.05)
            for role in ROLES[1:]:
                children[role].stop()
        finally:
            cleanup(list(children.values()))
    with closing(open_view(d / "state")) as view:
        checkpoint = Checkpoint.from_json(view.get_meta("clock") or "")
    result = Steady([], [])
    for line in store_file.read_text().splitlines():
        record = json.loads(line)
        occurred = datetime.fromisoformat(record["body"]["occurred_at"])
        real = checkpoint.wall_at - (checkpoint.sim_now - occurred).total_seconds() / checkpoint.scale_factor
        emitted = datetime.fromisoformat(record["body"]["emitted_at"]).timestamp()
        result.from_occurrence.append(record["received_at"] - real)
        result.from_emitted.append(record["received_at"] - emitted)
    return result

