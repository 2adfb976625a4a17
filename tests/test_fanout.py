"""Fan-out bookkeeping: a payload leaves the queue once, after every destination that wants it is done."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pipeline.delivery.fanout import Ledger, Route, destinations_for, removed_with_backlog

NAMES = ["ledger", "alerts", "archive", "bus"]


@given(st.lists(st.tuples(st.integers(0, 30), st.sets(st.sampled_from(NAMES))), unique_by=lambda t: t[0]),
       st.randoms(use_true_random=False))
def test_each_payload_is_acked_exactly_once_after_its_last_destination(
        payloads: list[tuple[int, set[str]]], rng: object) -> None:
    """Whatever the destinations and the order they finish in, the ack comes once, after the last of them."""
    import random

    assert isinstance(rng, random.Random)
    ledger = Ledger()
    acked = [pqid for pqid, names in payloads if ledger.open(pqid, names)]
    assert acked == [pqid for pqid, names in payloads if not names]  # nobody wants it: acked unsent
    finishes = [(pqid, name) for pqid, names in payloads for name in names]
    rng.shuffle(finishes)
    done: set[tuple[int, str]] = set()
    for pqid, name in finishes:
        expected_pending = sum(1 for p, n in finishes if n == name and (p, n) not in done)
        assert ledger.pending().get(name, 0) == expected_pending
        done.add((pqid, name))
        last = ledger.finish(pqid, name)
        assert last == all((pqid, other) in done for other in dict(payloads)[pqid])
        if last:
            acked.append(pqid)
    assert sorted(acked) == sorted(pqid for pqid, _ in payloads)
    assert ledger.owed == {} and ledger.pending() == {}


def test_a_rebuilt_ledger_continues_where_the_durable_rows_left_off() -> None:
    """After a restart the rows still owed are all that matters; finishing twice is a bug, not a no-op."""
    ledger = Ledger.rebuild([(1, "ledger"), (1, "bus"), (2, "bus")])
    assert ledger.pending() == {"ledger": 1, "bus": 2}
    assert not ledger.finish(1, "bus") and ledger.finish(1, "ledger") and ledger.finish(2, "bus")
    try:
        ledger.finish(2, "bus")
    except KeyError:
        pass
    else:
        raise AssertionError("a second finish of the same destination must not pass silently")


def test_routes_follow_each_destinations_event_types() -> None:
    """By type; a body from before types is a job.requested; an unreadable one goes everywhere (to be buried)."""
    routes = [Route("all", ("job.requested", "job.started", "job.finished")), Route("ends", ("job.finished",))]
    assert destinations_for(json.dumps({"id": "a", "type": "job.finished"}).encode(), routes) == ("all", "ends")
    assert destinations_for(json.dumps({"id": "a"}).encode(), routes) == ("all",)
    assert destinations_for(b"\xff not json", routes) == ("all", "ends")


def test_removing_a_destination_with_a_backlog_is_refused_unless_forgotten() -> None:
    """One line naming what is pending and the flag that accepts losing it."""
    pending = {"ledger": 3, "old": 12, "gone": 0}
    line = removed_with_backlog(pending, ["ledger"])
    assert line == ("destinations removed from the file still have a backlog: old (12 payloads pending); "
                    "put them back, or start with --forget old")
    assert removed_with_backlog(pending, ["ledger"], forget=["old"]) is None
    assert removed_with_backlog(pending, ["ledger", "old"]) is None
