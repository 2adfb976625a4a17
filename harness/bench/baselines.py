"""(a) The raw ceilings, measured in the same run as the pipeline: persist-queue alone, HTTP alone, and the
minimal three-process pipeline (harness/bench/minimal.py)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bench import minimal
from harness.bench.rig import Rig
from harness.procs import BenchError, Child, fsyncs, module_argv
from pipeline.config import Settings

CLEAR_EVERY = 1000  # the project's prune cadence in the raw loop (baselines.md, implication 5)


def item(i: int) -> dict[str, object]:
    """A ~1 KB JSON item, the size of a payload."""
    return {"id": f"bench_{i:08d}", "created": time.time(), "device": "pi-0001", "kind": "reading",
            "attrs": {"temp_c": 21.5, "rh": 40.2, "fw": "1.4.2"}, "pad": minimal.PAD}


@dataclass(frozen=True, slots=True)
class QueueRates:
    """Raw persist-queue items per second."""

    put: float
    get_ack: float


def raw_queue(n: int, synchronous: str) -> QueueRates:
    """n puts, then n get+ack (acked rows cleared every 1000), one commit each, on a fresh queue file."""
    import persistqueue
    from persistqueue.serializers import json as pq_json

    with tempfile.TemporaryDirectory(prefix="bench-pq-") as d:
        q = persistqueue.SQLiteAckQueue(d, serializer=pq_json, auto_resume=False)
        putter: Any = q._putter  # the library's one connection (multithreading=False)
        putter.execute(f"PRAGMA synchronous={synchronous}")
        items = [item(i) for i in range(n)]
        t0 = time.perf_counter()
        for it in items:
            q.put(it)
        put_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(n):
            row = q.get(block=False, raw=True)
            if q.ack(id=row["pqid"]) is None:
                raise RuntimeError("persist-queue refused an ack")
            if (i + 1) % CLEAR_EVERY == 0:
                q.clear_acked_data(max_delete=None, keep_latest=None)
        get_s = time.perf_counter() - t0
        q.close()
    return QueueRates(n / put_s, n / get_s)


def http_loop(settings: Settings, url: str, n: int) -> float:
    """POSTs per second through the deliverer's own sender, at the deliverer's concurrency."""
    from pipeline.delivery.sender import HttpSender

    bodies = [json.dumps(item(i)).encode() for i in range(n)]

    async def main() -> float:
        sender = HttpSender(url, secret=None, connect_timeout=settings.delivery_connect_timeout,
                            timeout=settings.delivery_timeout, concurrency=settings.delivery_concurrency)
        todo = iter(range(n))

        async def lane() -> None:
            for i in todo:
                _check(await sender.send(f"bench_{i:08d}", bodies[i]))

        try:
            _check(await sender.send("warm-up", bodies[0]))
            t0 = time.perf_counter()
            await asyncio.gather(*(lane() for _ in range(settings.delivery_concurrency)))
            return n / (time.perf_counter() - t0)
        finally:
            await sender.aclose()

    return asyncio.run(main())


def _check(result: object) -> None:
    """A failed POST stops the loop, whether the sender returns a status, an attempt record, or raises."""
    status = getattr(result, "status", result)
    if not isinstance(status, int) or not 200 <= status < 300:
        raise BenchError(f"the receiver answered {result!r}")


@dataclass(frozen=True, slots=True)
class MinimalRun:
    """One run of the minimal pipeline."""

    rate: float  # payloads per second, first put to the deliverer's exit
    received: int
    cpu_ms: dict[str, float]  # CPU milliseconds per payload, per process (and the receiver's)
    fsyncs: int | None  # all three processes, when counted


def minimal_pipeline(rig: Rig, n: int, *, count_fsyncs: bool = False) -> MinimalRun:
    """Three processes over raw persist-queue into the project's receiver."""
    d = rig.fresh_dir("minimal")
    minimal.create_queues(d)
    traces = {role: d / f"{role}.strace" if count_fsyncs else None for role in ("scheduler", "enricher", "deliverer")}

    def stage(role: str, *args: str) -> Child:
        argv = module_argv("harness.bench.minimal", role, str(d), *args)
        return Child(f"minimal-{role}", argv, rig.base_env, rig.logs, strace_to=traces[role])

    with rig.receiver() as rec:
        deliverer, enricher = stage("deliverer", rec.url), stage("enricher")
        try:
            time.sleep(0.5)  # as the reference: consumers import and open their queues first
            t0 = time.perf_counter()
            exits = {"scheduler": stage("scheduler", str(n)).ok(600), "enricher": enricher.ok(600),
                     "deliverer": deliverer.ok(600)}
            end = deliverer.started + exits["deliverer"].seconds
        finally:
            deliverer.kill()
            enricher.kill()
        received = rec.stats()["received"]
        cpu = {role: e.cpu_seconds for role, e in exits.items()} | {"receiver": rec.child.kill().cpu_seconds}
    total = sum(fsyncs(path) for path in traces.values() if path is not None) if count_fsyncs else None
    return MinimalRun(n / (end - t0), received, {role: 1000 * c / n for role, c in cpu.items()}, total)


def fsync_cost_ms(directory: Path, n: int = 200) -> float:
    """Median cost of one 1 KB write + fsync on the disk holding `directory` (what a commit waits for)."""
    import os
    import statistics

    path = directory / "fsync-probe"
    costs = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 1024)
            os.fsync(fd)
            costs.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(costs) * 1000
