"""The sinks behind the deliverer's Sender protocol: 200 only once the destination has the event."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from harness.nats import running
from pipeline.destinations import NatsSink
from pipeline.sinks.jsonl import read_all
from pipeline.sinks.nats import NatsPublisher
from pipeline.sinks.senders import FileSender, NatsSender, RateLimited, TokenBucket


def body(n: int) -> bytes:
    """A small event body."""
    return json.dumps({"id": f"p{n}", "type": "job.requested", "occurred_at": "2026-03-02T00:00:00Z"}).encode()


def test_concurrent_file_sends_share_one_fsync_and_each_answers_only_after_it(tmp_path: Path) -> None:
    """Sends started together are written and fsynced once; no send answers before that fsync."""
    synced: list[int] = []

    def fsync(fd: int) -> None:
        os.fsync(fd)
        synced.append(os.fstat(fd).st_size)

    async def scenario() -> list[int | None]:
        sender = FileSender(tmp_path, rotate="size", rotate_bytes=1 << 20, fsync=fsync)
        answers: list[int | None] = []

        async def one(n: int) -> None:
            attempt = await sender.send(f"p{n}", body(n))
            # By the time a send answers, an fsync covered every line written so far.
            assert synced and synced[-1] == sum(len(line) + 1 for line in read_all(tmp_path))
            answers.append(attempt.status)

        await asyncio.gather(*(one(n) for n in range(20)))
        await one(20)
        assert sender.writes == 2
        await sender.aclose()
        return answers

    assert asyncio.run(scenario()) == [200] * 21
    assert sorted(json.loads(line)["id"] for line in read_all(tmp_path)) == sorted(f"p{n}" for n in range(21))


def test_a_file_write_that_fails_is_an_unanswered_attempt(tmp_path: Path) -> None:
    """A disk error becomes status None with the error, for the lane's retries; nothing counts as sent."""

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    async def scenario() -> tuple[int | None, str | None]:
        sender = FileSender(tmp_path, rotate="size", rotate_bytes=1 << 20, fsync=broken)
        attempt = await sender.send("p1", body(1))
        await sender.aclose()
        return attempt.status, attempt.error

    status, error = asyncio.run(scenario())
    assert status is None and error is not None and "No space left" in error


@pytest.mark.process
def test_the_nats_sender_answers_200_after_the_ack_and_none_while_the_server_is_down(tmp_path: Path) -> None:
    """A send to a server that is not there fails (to be retried), and goes through once it is up."""

    async def send(url: str, n: int) -> int | None:
        sender = NatsSender(NatsPublisher(NatsSink(name="bus", url=url), timeout=1.0))
        try:
            return (await sender.send(f"p{n}", body(n))).status
        finally:
            await sender.aclose()

    with running(tmp_path, 1) as cluster:
        url = cluster.urls[0]
        assert asyncio.run(send(url, 1)) == 200
        cluster.kill(0)
        assert asyncio.run(send(url, 2)) is None
        cluster.restart(0)
        cluster.wait_ready()
        assert asyncio.run(send(url, 2)) == 200


def test_a_token_bucket_spaces_requests_at_the_rate_after_a_burst_of_one_second() -> None:
    """rate=4: four at once, then one every quarter second of the injected clock."""
    now = [0.0]
    bucket = TokenBucket(4.0, clock=lambda: now[0])
    assert [bucket.delay() for _ in range(4)] == [0.0] * 4
    assert bucket.delay() == 0.25
    now[0] = 1.0
    assert bucket.delay() == 0.0


def test_a_rate_limited_sender_sleeps_for_its_token() -> None:
    """The waits asked for add up to what the rate allows (a fake sleep, no real time passes)."""
    slept: list[float] = []

    class Fake:
        async def send(self, payload_id: str, body: bytes) -> object:
            from pipeline.delivery.sender import Attempt

            return Attempt(200)

        async def aclose(self) -> None:
            return None

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def scenario() -> None:
        limited = RateLimited(Fake(), 2.0, clock=lambda: 0.0, sleep=fake_sleep)  # type: ignore[arg-type]
        for n in range(4):
            await limited.send(f"p{n}", b"{}")

    asyncio.run(scenario())
    assert slept == [0.5, 1.0]
