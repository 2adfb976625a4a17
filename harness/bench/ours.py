"""(b) and (c): the project's own workers, run as their commands, concurrently and one stage at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.bench.rig import Rig, log_events, queue_rows, wait_for
from harness.procs import REAP_EVERY, BenchError, Child, Exit, cleanup, fsyncs
from pipeline.queues import Queue

ROLES = ("scheduler", "enricher", "deliverer")
INPUT: dict[str, Queue] = {"enricher": "intents", "deliverer": "payloads"}
TIMEOUT = 900.0


@dataclass
class Stage:
    """One role's processes in a run (a drain that ran dry before its upstream finished is started again)."""

    role: str
    children: list[Child] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """Whether the current process is alive."""
        return bool(self.children) and self.children[-1].poll() is None

    def span(self) -> float:
        """Seconds from the first start to the last exit."""
        last = self.children[-1]
        exit_ = last.poll()
        assert exit_ is not None
        return last.started + exit_.seconds - self.children[0].started

    def exits(self) -> list[Exit]:
        """Every process's exit (all must have ended)."""
        return [c.ok(0) for c in self.children]


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """One end-to-end run: N intents from backfill to receiver."""

    emitted: int
    received: int
    unique: int
    duplicates: int
    e2e_rate: float  # payloads/s from the scheduler's spawn to the deliverer's exit
    stage_rates: dict[str, float]  # each stage's items/s over its own lifetime
    restarts: dict[str, int]
    peak_rss_mb: dict[str, float]
    cpu_ms: dict[str, float]  # CPU milliseconds per payload, per process (and the receiver's)
    fsyncs: dict[str, int] | None


def emitted_by(scheduler: Exit) -> int:
    """How many rows (requests and lifecycle events: each becomes a payload) a backfill wrote, from its log."""
    done = log_events(scheduler.stderr, "scheduler.fast_forward_done")
    if not done:
        raise BenchError(f"the scheduler logged no scheduler.fast_forward_done: {scheduler.stderr[-600:]}")
    return int(done[-1].get("events", done[-1]["emitted"]))


def concurrent(rig: Rig, span_s: int, *, count_fsyncs: bool = False) -> PipelineRun:
    """Backfill, enricher --drain and deliverer --drain running at the same time, as a user would."""
    d = rig.fresh_dir("pipeline")
    state = d / "state"
    stages = {role: Stage(role) for role in ROLES}
    traces: list[tuple[str, Path]] = []

    def start(role: str, env: dict[str, str], *args: str) -> None:
        trace = d / f"{role}.{len(stages[role].children)}.strace" if count_fsyncs else None
        if trace is not None:
            traces.append((role, trace))
        stages[role].children.append(rig.worker(role, env, *args, strace_to=trace))

    with rig.receiver() as rec:
        env = rig.env(state, rec.url)
        try:
            t0 = time.perf_counter()
            start("scheduler", env, "--backfill", str(span_s))
            # A --drain stage exits when its queue is empty, so each starts once its upstream has written.
            wait_for(lambda: queue_rows(state, "intents") > 0 or not stages["scheduler"].running, 120,
                     "the first intents")
            start("enricher", env, "--drain")
            wait_for(lambda: queue_rows(state, "payloads") > 0 or not stages["enricher"].running, 120,
                     "the first payloads")
            start("deliverer", env, "--drain")
            _supervise(stages, state, lambda role: start(role, env, "--drain"))
        except BaseException:
            cleanup([c for s in stages.values() for c in s.children])
            raise
        stats = rec.stats()
    received_cpu = rec.child.kill().cpu_seconds
    sched = stages["scheduler"].exits()[0]
    emitted = emitted_by(sched)
    deliverer = stages["deliverer"].children[-1]
    end = deliverer.started + deliverer.ok(0).seconds
    counted = None
    if count_fsyncs:
        counted = dict.fromkeys(ROLES, 0)
        for role, trace in traces:
            counted[role] += fsyncs(trace)
    return PipelineRun(
        emitted=emitted, received=stats["received"], unique=stats["unique"], duplicates=stats["duplicates"],
        e2e_rate=emitted / (end - t0),
        stage_rates={role: emitted / s.span() for role, s in stages.items()},
        restarts={role: len(s.children) - 1 for role, s in stages.items()},
        peak_rss_mb={role: max(e.peak_rss_mb for e in s.exits()) for role, s in stages.items()},
        cpu_ms={**{role: 1000 * sum(e.cpu_seconds for e in s.exits()) / emitted for role, s in stages.items()},
                "receiver": 1000 * received_cpu / emitted},
        fsyncs=counted,
    )


def _supervise(stages: dict[str, Stage], state: Path, restart: Callable[[str], None]) -> None:
    """Until the deliverer has drained everything: restart a drain that ran dry while work was still coming."""
    deadline = time.monotonic() + TIMEOUT
    final: set[str] = set()
    while len(final) < len(ROLES) - 1:
        for index, role in enumerate(ROLES[1:], 1):
            if role in final or stages[role].running:
                continue
            stages[role].exits()  # raises on a failed exit
            if any(stages[up].running for up in ROLES[:index]) or queue_rows(state, INPUT[role]) > 0:
                restart(role)
            else:  # nothing upstream runs (stages are checked in order) and its queue is empty
                final.add(role)
        if time.monotonic() > deadline:
            raise BenchError(f"the pipeline did not drain within {TIMEOUT:.0f} s")
        time.sleep(REAP_EVERY)
    stages["scheduler"].exits()


@dataclass(frozen=True, slots=True)
class AloneRun:
    """Each stage on its own, one after the other, on the same N."""

    emitted: int
    rates: dict[str, float]
    backfill_seconds: float
    peak_rss_mb: dict[str, float]


def one_at_a_time(rig: Rig, span_s: int) -> AloneRun:
    """Backfill, then enricher --drain, then deliverer --drain: each stage's own capacity."""
    d = rig.fresh_dir("stages")
    with rig.receiver() as rec:
        env = rig.env(d / "state", rec.url)
        exits = {"scheduler": rig.worker("scheduler", env, "--backfill", str(span_s)).ok(TIMEOUT)}
        for role in ROLES[1:]:
            exits[role] = rig.worker(role, env, "--drain").ok(TIMEOUT)
        if rec.stats()["unique"] != emitted_by(exits["scheduler"]):
            raise BenchError(f"stage-by-stage run delivered {rec.stats()} of {emitted_by(exits['scheduler'])}")
    emitted = emitted_by(exits["scheduler"])
    return AloneRun(emitted, {role: emitted / e.seconds for role, e in exits.items()},
                    exits["scheduler"].seconds, {role: e.peak_rss_mb for role, e in exits.items()})


def backfill(rig: Rig, span_s: int) -> tuple[int, float]:
    """(intents written, seconds) of a backfill on its own, command start to exit."""
    d = rig.fresh_dir("backfill")
    done = rig.worker("scheduler", rig.env(d / "state"), "--backfill", str(span_s)).ok(TIMEOUT)
    return emitted_by(done), done.seconds
