"""The queue interface: what workers, delivery, stats, the harness and the tests may ask of the queue file.

Everything the pipeline keeps between processes goes through these two protocols: `Store` (the state of
one state folder, opened by one process in one role) and `Tx` (the operations of one atomic, durable
commit). They name operations, never tables, so another storage can stand behind them without a
worker changing; the SQLite file of `pipeline.queues.sqlite` is the one implementation today.

The queues: `intents` (scheduler -> enricher), `payloads` (enricher -> deliverer) and `dead` (dead
letters, moved out and back by delivery and `bin/replay-dead`). Each has ONE consumer process at a
time (its role lock proves it); any process may put.

Guarantees every implementation gives:

* A row is `ready` (may be taken), `in flight` (taken, not yet finished) or gone (acked). `take`
  returns ready rows oldest first and marks them in flight; nothing else hands a row out.
* A transaction is all or nothing, and durable once it returns: after a crash the state is that of a
  prefix of the committed transactions. A hand-over (put downstream + ack upstream in one transaction)
  is therefore exactly-once between stages.
* In-flight rows stay in flight until the consumer acks, releases or holds them. When the consumer of
  a queue opens the store (a restart), its in-flight rows become ready again, except held ones.
  Opening the store in any other role leaves in-flight rows alone.
* A held row (`Tx.hold`) stays in flight across restarts with a caller-owned note, until it is acked,
  released or handed over; that is how a payload waits for its retry without being taken twice.
* Counts and ages are read from the storage itself, never from a per-process counter, so any process
  sees the same figures.
* Deferred events (`Tx.defer`) wait, outside every queue, until a transaction pops them by time; the
  scheduler keeps a job's future started/finished events there.
* `meta` is a small key-value store committed in the same transactions (stream identity, clocks,
  worker figures).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

Queue = Literal["intents", "payloads", "dead"]
QUEUES: tuple[Queue, ...] = ("intents", "payloads", "dead")


@dataclass(frozen=True, slots=True)
class Row:
    """One queue row: its id within the queue, the stored bytes, the put time (wall clock, seconds), and
    whether a consumer has it in flight."""

    pqid: int
    data: bytes
    timestamp: float
    in_flight: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """A row held in flight for later, and the note its holder stored with it."""

    pqid: int
    note: str


@dataclass(frozen=True, slots=True)
class Counts:
    """How many rows of a queue are ready and in flight, and how long the oldest ready one has waited."""

    ready: int
    in_flight: int
    oldest_ready_age_s: float | None


class Tx(Protocol):
    """The operations of one transaction: all of them commit together or none does."""

    def put(self, queue: Queue, items: Iterable[bytes]) -> int:
        """Append items (JSON bytes) to a queue, in order, ready to be taken; returns how many."""
        ...

    def ack(self, queue: Queue, pqids: Sequence[int]) -> int:
        """Finish rows for good (and drop their holds); returns how many were there."""
        ...

    def hand_over(self, source: Queue, pqids: Sequence[int], target: Queue, items: Iterable[bytes]) -> None:
        """Put `items` into `target` and ack `pqids` of `source`: the exactly-once move between queues
        (enrich, bury a payload as a dead letter, resurrect a dead letter)."""
        ...

    def release(self, queue: Queue, pqids: Sequence[int]) -> None:
        """Give in-flight rows back (nack, dropping their holds): the next `take` returns them again."""
        ...

    def hold(self, queue: Queue, pqid: int, note: str) -> None:
        """Keep an in-flight row out of `take`, across restarts, with a note (replacing an earlier one)."""
        ...

    def defer(self, events: Iterable[tuple[str, str, bytes]]) -> None:
        """Keep (key, at, body) events until their time `at` (a sortable UTC text); `key` orders them and
        names them: an event already deferred under its key is kept as it was (a re-lived commit)."""
        ...

    def pop_due(self, until: str) -> list[tuple[str, bytes]]:
        """Remove and return the deferred (key, body) events with at <= `until`, in key order."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Store one value of the pipeline's own state."""
        ...

    def get_meta(self, key: str) -> str | None:
        """One value of the pipeline's own state as this transaction sees it, or None."""
        ...


class View(Protocol):
    """What may be read from a state folder, by any process, at any time (a consistent snapshot per call)."""

    @property
    def path(self) -> Path:
        """Where the state lives, for messages."""
        ...

    def read(self, queue: Queue, pqid: int) -> bytes | None:
        """The stored bytes of one row whatever its state, or None if it is gone."""
        ...

    def rows(self, queue: Queue, *, newest_first: bool = False, limit: int | None = None) -> list[Row]:
        """The rows of a queue whatever their state, oldest first (or newest first), at most `limit`."""
        ...

    def holds(self, queue: Queue) -> list[Hold]:
        """The held rows of a queue and their notes."""
        ...

    def hold_count(self, queue: Queue) -> int:
        """How many rows of a queue are held."""
        ...

    def counts(self, queue: Queue) -> Counts:
        """Ready and in-flight rows and the age of the oldest ready one."""
        ...

    def oldest_age(self, queue: Queue) -> float | None:
        """Seconds since the oldest row still in the queue (ready, in flight or held) was put."""
        ...

    def get_meta(self, key: str) -> str | None:
        """One value of the pipeline's own state, or None."""
        ...

    def next_deferred(self) -> str | None:
        """The earliest deferred event's time, or None when nothing waits."""
        ...

    def deferred_count(self) -> int:
        """How many deferred events wait for their time."""
        ...

    def deferred(self) -> list[bytes]:
        """The bodies of the deferred events, in key order."""
        ...

    def close(self) -> None:
        """Release the storage."""
        ...


class Store(View, Protocol):
    """The state of one state folder, opened by one process in one role (see `open_store`): the reads of
    `View` and the writes."""

    def transaction(self) -> AbstractContextManager[Tx]:
        """One atomic, durable commit. Failing storage raises QueueWriteError (worth a retry); storage
        that cannot be read raises StateError."""
        ...

    def take(self, queue: Queue, limit: int) -> list[Row]:
        """Mark up to `limit` ready rows in flight, oldest first, and return them. The consumer only.

        May commit without waiting for the disk: nothing leaves the queue here, and a restart makes
        the rows ready again."""
        ...
