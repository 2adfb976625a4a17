"""Fan-out bookkeeping: which destinations owe a payload, and when it may leave the payloads queue.

Pure: the deliverer keeps the same facts durably (one row per payload and destination still owed, deleted
in the transaction that records that destination's delivery or dead letter, the payload acked in that same
transaction when it was the last one), and rebuilds a `Ledger` from them on start.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.events import event_type


@dataclass(frozen=True, slots=True)
class Route:
    """A destination's name and the event types it takes."""

    name: str
    events: tuple[str, ...]


def destinations_for(body: bytes, routes: Sequence[Route]) -> tuple[str, ...]:
    """The destinations that want this body. An unreadable body goes to every destination, so that each
    buries it as a dead letter of its own and a person sees it wherever they look."""
    kind = event_type(body)
    return tuple(r.name for r in routes if kind is None or kind in r.events)


@dataclass
class Ledger:
    """For each payload in flight, the destinations that have neither delivered nor dead-lettered it."""

    owed: dict[int, set[str]] = field(default_factory=dict)

    @classmethod
    def rebuild(cls, rows: Iterable[tuple[int, str]]) -> Ledger:
        """From the durable (pqid, destination) rows."""
        ledger = cls()
        for pqid, name in rows:
            ledger.owed.setdefault(pqid, set()).add(name)
        return ledger

    def open(self, pqid: int, names: Iterable[str]) -> bool:
        """Record who owes a fresh payload; True when nobody does (ack it at once, unsent)."""
        wanted = set(names)
        if wanted:
            self.owed[pqid] = wanted
        return not wanted

    def finish(self, pqid: int, name: str) -> bool:
        """One destination has the payload or buried it; True when it was the last (ack it now)."""
        left = self.owed.get(pqid)
        if left is None or name not in left:
            raise KeyError(f"payload {pqid} is not owed by {name}")
        left.discard(name)
        if left:
            return False
        del self.owed[pqid]
        return True

    def pending(self) -> dict[str, int]:
        """How many payloads each destination still owes."""
        return dict(Counter(name for names in self.owed.values() for name in names))


def removed_with_backlog(pending: Mapping[str, int], configured: Iterable[str],
                         forget: Iterable[str] = ()) -> str | None:
    """The one line refusing a start when a destination left the file with payloads still owed to it
    (None when there is none, or every such destination is named in --forget)."""
    left = {name: n for name, n in pending.items() if n and name not in set(configured) and name not in set(forget)}
    if not left:
        return None
    listed = ", ".join(f"{name} ({n} payloads pending)" for name, n in sorted(left.items()))
    names = " ".join(f"--forget {name}" for name in sorted(left))
    return f"destinations removed from the file still have a backlog: {listed}; put them back, or start with {names}"
