"""The deliverer's parts on their own: grouped commits of outcomes, the typed pause and its watch."""

from __future__ import annotations

from pathlib import Path

from pipeline.delivery.outcomes import Outcomes, delivered_total
from pipeline.delivery.pause import Pause, PauseWatch, lift_pause, read_pause
from pipeline.delivery.retry_state import Clocks
from pipeline.queues import open_store


def _taken(tmp_path: Path, n: int) -> tuple[Outcomes, list[int]]:
    store = open_store(tmp_path, consumer_of=("payloads",))
    with store.transaction() as tx:
        tx.put("payloads", [b'{"id": "p%d"}' % i for i in range(n)])
    return Outcomes(store, Clocks(), 0, window=0.005), [row.pqid for row in store.take("payloads", n)]


def test_results_wait_for_the_window_while_requests_are_in_flight(tmp_path: Path) -> None:
    """A group is due only when its first result is a window old, or when nothing else is in flight."""
    outcomes, pqids = _taken(tmp_path, 3)
    outcomes.add(10.000).acks.append(pqids[0])
    assert not outcomes.due(10.004, in_flight=2)
    outcomes.add(10.004).acks.append(pqids[1])
    assert outcomes.deadline() == 10.005
    assert outcomes.due(10.005, in_flight=2)
    assert outcomes.due(10.001, in_flight=0)


def test_a_group_commits_every_result_in_one_transaction(tmp_path: Path) -> None:
    """Committing acks the group's rows together and counts them in the persisted total."""
    outcomes, pqids = _taken(tmp_path, 3)
    for pqid in pqids:
        outcomes.add(1.0).acks.append(pqid)
    assert outcomes.commit().acks == pqids
    store = open_store(tmp_path)
    assert store.rows("payloads") == [] and delivered_total(store) == 3 == outcomes.delivered_total
    assert outcomes.deadline() is None and not outcomes.pending


def test_the_pause_round_trips_and_resume_lifts_it(tmp_path: Path) -> None:
    """A committed pause is read back typed; --resume lifts it and returns what it lifted; the watch sees it."""
    outcomes, _ = _taken(tmp_path, 0)
    store = open_store(tmp_path)
    watch = PauseWatch(store)
    pause = Pause(since="2026-03-02T00:00:00Z", status=410, payload_id="job_gone")
    assert watch.start(pause) and not watch.start(pause)
    outcomes.add(1.0).pause = pause
    outcomes.commit()
    assert read_pause(store) == pause
    assert not watch.lifted(0.0)  # still paused
    assert lift_pause(store) == pause and read_pause(store) is None
    assert not watch.lifted(0.5)  # polls at most once a second
    assert watch.lifted(1.0) and not watch.paused


def test_an_unreadable_pause_record_reads_as_no_pause() -> None:
    """Garbage under the meta key never stops delivery by accident."""
    assert Pause.from_json("null") is None and Pause.from_json("{") is None and Pause.from_json('{"a": 1}') is None
