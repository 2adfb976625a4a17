"""The deliverer worker in-process, with an injected sender and clock: exact attempts, ages and letters."""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.delivery import dead, retry_state
from pipeline.delivery.breaker import State
from pipeline.delivery.pause import read_pause
from pipeline.delivery.sender import Attempt
from pipeline.queues import Counts, open_store
from pipeline.workers.deliverer import Deliverer, Tuning
from tests.delivery_support import put_payloads


class FakeClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedSender:
    """Answers each payload id with its scripted statuses in turn (then the default), counting sends."""

    def __init__(self, default: int | None = 204, script: dict[str, list[int | None]] | None = None) -> None:
        self.default, self.script, self.sent = default, script or {}, Counter[str]()
        self.bodies: list[bytes] = []
        self.answers: list[tuple[str, int | None]] = []

    async def send(self, payload_id: str, body: bytes) -> Attempt:
        self.sent[payload_id] += 1
        self.bodies.append(body)
        queue = self.script.get(payload_id)
        status = queue.pop(0) if queue else self.default
        self.answers.append((payload_id, status))
        return Attempt(status, error="ClientConnectorError: refused" if status is None else None,
                       snippet="" if status == 204 else "nope")

    async def aclose(self) -> None:
        return None


def _deliverer(state: Path, sender: ScriptedSender, clock: FakeClock, *, schedule: tuple[float, ...] = (1.0, 2.0),
               max_age: float = 100.0) -> Deliverer:
    store = open_store(state, consumer_of=("payloads",))
    return Deliverer(store, sender, Tuning(schedule, max_age, 3600.0, 4), rng=random.Random(1), clock=clock,
                     wall=lambda: datetime(2026, 3, 2, tzinfo=UTC))


async def _run(d: Deliverer, clock: FakeClock, seconds: float, tick: float = 0.1) -> None:
    end = clock.now + seconds
    while clock.now < end:
        await d.step()
        await asyncio.sleep(0)
        clock.now += tick


def test_a_refused_payload_becomes_a_complete_dead_letter(tmp_path: Path) -> None:
    """400 through the schedule: len(schedule)+1 attempts, then a dead letter carrying everything."""
    put_payloads(tmp_path, ["job_ok", "job_bad"])
    sender, clock = ScriptedSender(script={"job_bad": [400] * 10}), FakeClock()
    d = _deliverer(tmp_path, sender, clock)
    asyncio.run(_run(d, clock, 10))
    assert sender.sent == {"job_ok": 1, "job_bad": 3}
    letters = dead.read_all(d.store)
    assert [x.letter.payload_id for x in letters] == ["job_bad"]
    letter = letters[0].letter
    assert (letter.reason, letter.last_status, letter.attempts, letter.response_snippet) == ("rejected", 400, 3, "nope")
    assert letter.body.encode() in sender.bodies  # the exact bytes, kept for replay
    assert d.store.counts("payloads") == Counts(0, 0, None)
    assert d.drained()
    asyncio.run(d.close())


def test_an_outage_far_longer_than_max_age_dead_letters_nothing(tmp_path: Path) -> None:
    """Refused for 1000 s with DELIVERY_MAX_AGE=5 s: the breaker opens, attempts stop, all arrive after."""
    ids = [f"job_{i}" for i in range(30)]
    put_payloads(tmp_path, ids)
    sender, clock = ScriptedSender(default=None), FakeClock()
    d = _deliverer(tmp_path, sender, clock, schedule=(0.2, 0.2), max_age=5.0)

    async def scenario() -> None:
        await _run(d, clock, 1000, tick=1.0)
        assert d.breaker.state is not State.CLOSED
        sender.default = 204
        await _run(d, clock, 30, tick=0.1)

    asyncio.run(scenario())
    assert dead.read_all(d.store) == []
    assert d.drained() and d.delivered_total == 30
    # Probes cost no attempt: nobody was charged for the ~hundreds of failed probes.
    assert retry_state.waiting_count(d.store) == 0
    assert sum(sender.sent.values()) - 30 > 100  # the endpoint was probed all along
    asyncio.run(d.close())


def test_failing_age_counts_only_answering_time(tmp_path: Path) -> None:
    """A payload answered 503 ages only while the breaker is closed, so an outage cannot expire it."""
    put_payloads(tmp_path, ["job_a"])
    sender, clock = ScriptedSender(default=503), FakeClock()
    d = _deliverer(tmp_path, sender, clock, schedule=(1.0,), max_age=1e9)

    async def scenario() -> None:
        await _run(d, clock, 60, tick=0.5)  # the breaker opens after 5 failures (~5 s)

    asyncio.run(scenario())
    assert d.breaker.state is not State.CLOSED
    record = retry_state.open_state(d.store)[1][0]
    assert record.attempts == 5
    assert d.clocks.run >= 59
    assert d.clocks.answering - record.failing_since < 10  # about 5 intervals of 1 s, not the 60 s that passed
    asyncio.run(d.close())


def test_attempt_counts_and_remaining_waits_survive_a_restart(tmp_path: Path) -> None:
    """Two failures, close, reopen: the third attempt is numbered 3 and the dead letter says 3."""
    put_payloads(tmp_path, ["job_r"])
    clock = FakeClock()
    first = ScriptedSender(default=400)
    d = _deliverer(tmp_path, first, clock, schedule=(1.0, 1.0))
    asyncio.run(_run(d, clock, 1.5))
    assert first.sent["job_r"] == 2
    asyncio.run(d.close())
    clock.now += 1e6  # a reboot: monotonic time is meaningless across it
    second = ScriptedSender(default=400)
    d = _deliverer(tmp_path, second, clock, schedule=(1.0, 1.0))
    asyncio.run(_run(d, clock, 5))
    assert second.sent["job_r"] == 1
    assert [x.letter.attempts for x in dead.read_all(d.store)] == [3]
    asyncio.run(d.close())


def test_413_dead_letters_at_once_and_410_pauses_persistently(tmp_path: Path) -> None:
    """413 is buried on the first attempt; 410 pauses, the payload stays queued, and the pause persists."""
    put_payloads(tmp_path, ["job_big", "job_gone", "job_later"])
    sender, clock = ScriptedSender(default=204, script={"job_big": [413], "job_gone": [410]}), FakeClock()
    d = _deliverer(tmp_path, sender, clock)
    d.tuning = Tuning((1.0,), 100.0, 3600.0, 1)  # one at a time so job_later comes after the 410
    asyncio.run(_run(d, clock, 5))
    assert [(x.letter.payload_id, x.letter.reason, x.letter.attempts) for x in dead.read_all(d.store)] == [
        ("job_big", "too_large", 1)]
    assert read_pause(d.store) is not None and not d.drained()
    assert "job_later" not in sender.sent
    asyncio.run(d.close())


answers = st.lists(st.sampled_from([204, 200, 503, 429, 408, None, 400, 404, 302, 413]), max_size=8)


@pytest.mark.slow  # many generated cases; the full run covers it
@settings(max_examples=40, deadline=None)
@given(scripts=st.lists(answers, min_size=1, max_size=12))
def test_every_payload_ends_delivered_or_dead_never_both_never_lost(scripts: list[list[int | None]]) -> None:
    """Whatever the endpoint answers, each payload is acked once after a 2xx or kept as a dead letter."""
    ids = [f"job_{i}" for i in range(len(scripts))]
    script = {i: list(s) for i, s in zip(ids, scripts, strict=True)}
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        put_payloads(state, ids)
        sender, clock = ScriptedSender(default=204, script={k: list(v) for k, v in script.items()}), FakeClock()
        d = _deliverer(state, sender, clock, schedule=(0.5, 0.5), max_age=1e9)

        async def until_drained() -> None:
            for _ in range(5000):
                await d.step()
                await asyncio.sleep(0)
                clock.now += 0.1
                if d.drained():
                    return
            raise AssertionError("never drained")

        asyncio.run(until_drained())
        letters = {x.letter.payload_id: x.letter for x in dead.read_all(d.store)}
        delivered_total = d.delivered_total
        asyncio.run(d.close())
    ok = Counter(payload_id for payload_id, status in sender.answers if status is not None and status < 300)
    assert set(ok.values()) <= {1}  # acked after its first 2xx, never sent again
    assert set(ok).isdisjoint(letters) and set(ok) | set(letters) == set(ids)
    assert delivered_total == len(ok)
    for payload_id, letter in letters.items():
        # With an endless max age only a refusal (3xx, 4xx other than 408/429) can kill a payload.
        assert any(a is not None and 300 <= a < 500 and a not in (408, 429) for a in script[payload_id])
        assert letter.reason in ("rejected", "too_large")
