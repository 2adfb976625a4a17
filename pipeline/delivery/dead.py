"""Dead letters: the `dead` queue of the same file, moved in and out in single transactions.

They never sit in the payloads queue (persist-queue's `get` scans from the first row, so parked rows
would slow every poll) and are never deleted automatically: only `bin/replay-dead` moves them back
(same webhook-id, attempts reset) or purges them when a person says so.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from pipeline.models import DeadLetter
from pipeline.queues import Store, Tx, View


@dataclass(frozen=True, slots=True)
class Letter:
    """A dead letter and its row in the dead queue."""

    pqid: int
    letter: DeadLetter


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters a command acts on; empty fields match everything."""

    ids: frozenset[str] = frozenset()
    status: int | None = None
    reason: str | None = None
    since: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        """Whether one dead letter is selected."""
        return ((not self.ids or letter.payload_id in self.ids)
                and (self.status is None or letter.last_status == self.status)
                and (self.reason is None or letter.reason == self.reason)
                and (self.since is None or letter.dead_at >= self.since))


def bury(tx: Tx, pqid: int, letter: DeadLetter) -> None:
    """Move one payload to the dead letters (its retry hold goes with it) in the caller's transaction."""
    tx.hand_over("payloads", [pqid], "dead", [letter.model_dump_json().encode()])


def read_all(store: View) -> list[Letter]:
    """Every dead letter, oldest payload first (by first attempt: concurrency and jitter shuffle the
    order in which they died)."""
    letters = [Letter(row.pqid, DeadLetter.model_validate_json(row.data)) for row in store.rows("dead")]
    return sorted(letters, key=lambda item: (item.letter.first_attempt_at, item.pqid))


def select(store: View, selection: Selection, limit: int | None = None) -> list[Letter]:
    """The selected dead letters, oldest first, at most `limit`."""
    chosen = [item for item in read_all(store) if selection.matches(item.letter)]
    return chosen if limit is None else chosen[:limit]


def replay(store: Store, letters: list[Letter]) -> None:
    """Move dead letters back to the payloads queue in one transaction, in the given order.

    The body is the exact bytes first stored, so the webhook-id is the same; the new payloads rows have
    no retry state, so attempts start again from zero.
    """
    with store.transaction() as tx:
        tx.hand_over("dead", [item.pqid for item in letters],
                     "payloads", [item.letter.body.encode() for item in letters])


def purge(store: Store, letters: list[Letter]) -> None:
    """Delete dead letters for good (a person asked, with --purge --yes)."""
    with store.transaction() as tx:
        tx.ack("dead", [item.pqid for item in letters])


def summary(store: View) -> dict[str, object]:
    """Count, by reason and by last status (the `dead` key of queue-stats)."""
    rows = [_reason_and_status(row.data) for row in store.rows("dead")]
    return {"count": len(rows),
            "by_reason": dict(Counter(str(reason) for reason, _ in rows)),
            "by_status": dict(Counter("none" if status is None else str(status) for _, status in rows))}


def _reason_and_status(data: bytes) -> tuple[object, object]:
    """Two fields of a stored dead letter, read leniently (a summary must not fail on one odd row)."""
    try:
        value = json.loads(data)
    except ValueError:
        return None, None
    return (value.get("reason"), value.get("last_status")) if isinstance(value, dict) else (None, None)
