"""The NATS sink's publisher against a real nats-server with JetStream (started on a free loopback port).

What a killed deliverer does on its next start is publish again what it had not recorded as delivered;
these tests publish overlapping batches the same way and check the stream holds every event once.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from harness.nats import running
from pipeline.destinations import NatsSink
from pipeline.sinks.nats import NatsPublisher, stream_subjects, subject_of

TYPES = ("job.requested", "job.started", "job.finished")

# Real nats-server and worker processes on loopback: not in bin/test --fast.
pytestmark = pytest.mark.process


def event(n: int) -> bytes:
    """An event body of one of the three types."""
    return json.dumps({"id": f"ev-{n}", "type": TYPES[n % 3], "job_id": f"job-{n // 3}"}).encode()


async def stored(url: str, stream: str) -> list[tuple[str, str, str]]:
    """Every message of the stream as (subject, Nats-Msg-Id header, body id), in stream order."""
    import nats

    nc = await nats.connect(servers=[url])
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg: Any = await js.get_msg(stream, seq)
            out.append((msg.subject, (msg.headers or {}).get("Nats-Msg-Id", ""), json.loads(msg.data)["id"]))
        return out
    finally:
        await nc.close()


def test_every_event_lands_once_on_its_type_subject_even_when_published_again(tmp_path: Path) -> None:
    """Overlapping republished batches (a restart after a kill) leave each event exactly once, by its id."""
    bodies = [event(n) for n in range(90)]

    async def scenario(url: str) -> list[tuple[str, str, str]]:
        sink = NatsSink(name="bus", url=url)
        first = NatsPublisher(sink)
        await first.connect()
        results = await first.publish(bodies[:60])
        assert all(r.ok and not r.duplicate for r in results)
        await first.close()  # "killed" here: the last 20 of those 60 were never recorded as delivered
        again = NatsPublisher(sink)
        await again.connect()  # the stream exists now: used as it is
        results = await again.publish(bodies[40:])
        await again.close()
        assert all(r.ok for r in results)
        assert [r.duplicate for r in results] == [True] * 20 + [False] * 30
        return await stored(url, sink.stream)

    with running(tmp_path, 1) as cluster:
        messages = asyncio.run(scenario(cluster.urls[0]))
    assert [m[2] for m in messages] == [f"ev-{n}" for n in range(90)]
    assert all(header == body_id for _, header, body_id in messages)
    assert [subject for subject, _, _ in messages] == [f"finops.{TYPES[n % 3]}" for n in range(90)]


def test_a_server_that_is_gone_gives_failures_to_retry_and_nothing_counts_as_delivered(tmp_path: Path) -> None:
    """A publish to a stopped server returns failures (never an ack), and succeeds once it is back."""

    async def publish_once(url: str, bodies: list[bytes]) -> list[bool]:
        publisher = NatsPublisher(NatsSink(name="bus", url=url), timeout=1.0)
        await publisher.connect()
        try:
            return [r.ok for r in await publisher.publish(bodies)]
        finally:
            await publisher.close()

    async def while_down(url: str) -> list[bool]:
        publisher = NatsPublisher(NatsSink(name="bus", url=url), timeout=1.0)
        await publisher.connect()
        try:
            cluster.kill(0)
            return [r.ok for r in await publisher.publish([event(7), event(8)])]
        finally:
            await publisher.close()

    with running(tmp_path, 1) as cluster:
        url = cluster.urls[0]
        assert asyncio.run(publish_once(url, [event(1)])) == [True]
        assert asyncio.run(while_down(url)) == [False, False]
        cluster.restart(0)
        cluster.wait_ready()
        assert asyncio.run(publish_once(url, [event(7), event(8)])) == [True, True]
        messages = asyncio.run(stored(url, "FINOPS"))
    assert [m[2] for m in messages] == ["ev-1", "ev-7", "ev-8"]


def test_subjects_follow_the_template() -> None:
    """`{type}` takes the event's type; a body without a type is a job.requested; a non-event has none."""
    assert subject_of("finops.{type}", event(2)) == "finops.job.finished"
    assert subject_of("acme.costs.{type}", b'{"id": "x"}') == "acme.costs.job.requested"
    assert subject_of("finops.{type}", b"[1]") is None and subject_of("finops.{type}", b"nope") is None
    assert stream_subjects("finops.{type}") == ["finops.>"]
    assert stream_subjects("all-events") == ["all-events"]
