"""The minimal pipeline the bench compares against: three processes over raw persist-queue, written the
way the library's README suggests: library defaults (one SQLiteAckQueue file per queue, WAL,
synchronous=FULL, json serializer), one item per commit, polling get with a 1 ms sleep, acked rows
cleared every 1000, trivial enrichment, a blocking httpx.Client POST per payload. Every hand-over is
committed, nothing is batched. Run as `python -m harness.bench.minimal ROLE DIR [N | URL]`; a stage
exits once its upstream wrote its done-file and its queue is empty, then writes its own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL = 0.001
PAD = "x" * 878  # makes a payload ~1 KB of JSON, like the reference


def _open(path: Path, *, resume: bool) -> Any:
    import persistqueue
    from persistqueue.serializers import json as pq_json

    return persistqueue.SQLiteAckQueue(str(path), serializer=pq_json, auto_resume=resume)


def _drain(q: Any, upstream_done: Callable[[], bool], handle: Callable[[Any], object]) -> int:
    import persistqueue

    n = 0
    while True:
        try:
            item = q.get(block=False, raw=True)
        except persistqueue.Empty:
            if not upstream_done():
                time.sleep(POLL)
                continue
            try:  # upstream finished: one last look, then stop
                item = q.get(block=False, raw=True)
            except persistqueue.Empty:
                return n
        handle(item["data"])
        q.ack(id=item["pqid"])
        n += 1
        if n % 1000 == 0:
            q.clear_acked_data(max_delete=None, keep_latest=None)


def scheduler(d: Path, n: int) -> None:
    """Put n small intents, one commit each."""
    q = _open(d / "intents", resume=False)
    for i in range(n):
        q.put({"seq": i, "created": time.time(), "device": "pi-0001", "kind": "reading"})
    (d / "scheduler.done").touch()


def enricher(d: Path) -> None:
    """Intent in, ~1 KB payload out (put before ack)."""
    src, dst = _open(d / "intents", resume=True), _open(d / "payloads", resume=False)

    def handle(intent: dict[str, Any]) -> None:
        dst.put({"seq": intent["seq"], "created": intent["created"], "device": "pi-0001", "kind": "reading",
                 "attrs": {"temp_c": 21.5, "rh": 40.2, "fw": "1.4.2"}, "pad": PAD})

    _drain(src, (d / "scheduler.done").exists, handle)
    (d / "enricher.done").touch()


def deliverer(d: Path, url: str) -> None:
    """One blocking POST per payload, ack after the 2xx."""
    import httpx

    q = _open(d / "payloads", resume=True)
    with httpx.Client() as client:
        _drain(q, (d / "enricher.done").exists, lambda p: client.post(url, json=p).raise_for_status())
    (d / "deliverer.done").touch()


def create_queues(d: Path) -> None:
    """Create both queue files up front, as the reference does."""
    for name in ("intents", "payloads"):
        _open(d / name, resume=False).close()


def main(argv: list[str]) -> None:
    """Dispatch one role."""
    role, d = argv[0], Path(argv[1])
    if role == "scheduler":
        scheduler(d, int(argv[2]))
    elif role == "enricher":
        enricher(d)
    elif role == "deliverer":
        deliverer(d, argv[2])
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
