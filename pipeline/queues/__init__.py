"""The queues of the pipeline: the interface (`interface`) and how a process opens its storage.

Workers, delivery, stats, the harness and the tests import from here only; the storage behind it is
chosen in `open_store`, the one place that knows an implementation (today the SQLite file of
`pipeline.queues.sqlite`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.queues.interface import QUEUES, Counts, Hold, Queue, Row, Store, Tx, View
from pipeline.queues.sqlite import QUEUE_FILE, SqliteStore, SqliteView, check_file, integrity_ok

__all__ = ["QUEUES", "QUEUE_FILE", "Counts", "Hold", "Queue", "Row", "Store", "Tx", "View", "integrity_ok",
           "open_existing", "open_reader", "open_store", "open_view"]


def open_store(state_dir: Path, *, synchronous: str = "FULL", consumer_of: Sequence[Queue] = (),
               busy_timeout: float = 30.0) -> Store:
    """Open (creating, checking and migrating as needed) the state of `state_dir` for one process.

    `consumer_of`: the queues this process consumes, whose in-flight rows it resumes (only after taking
    the role's lock). `synchronous`: SQLite's durability level for every commit except `take`'s.
    """
    return SqliteStore(state_dir, synchronous=synchronous, consumer_of=consumer_of, busy_timeout=busy_timeout)


def open_existing(state_dir: Path) -> Store | None:
    """The state of a folder some worker already made, or None when it holds no queue file yet.

    Never creates the folder or the file (a typo in --state-dir must not start a new pipeline), but it
    is a full store: replay-dead and `deliverer --resume` write through it, and opening brings an
    older file up to this version.
    """
    if not state_dir.is_dir():
        raise UsageError(f"{state_dir}: no such state folder (this command never creates one)")
    path = state_dir / QUEUE_FILE
    check_file(path)
    return open_store(state_dir) if path.exists() else None


def open_view(state_dir: Path) -> View:
    """A read-only look at a state folder's queues, for the harness and the tests while workers run.

    Never writes (it works on a full disk and beside a worker mid-commit); a folder without a queue file
    reads as empty.
    """
    return SqliteView(state_dir)


def open_reader(state_dir: Path) -> View | None:
    """A read-only look at the state of a folder some worker already made, or None when it holds no queue
    file yet (the dashboard). Like `open_existing` it refuses a missing folder; unlike it, it never writes.
    """
    if not state_dir.is_dir():
        raise UsageError(f"{state_dir}: no such state folder (this command never creates one)")
    return SqliteView(state_dir, busy_timeout=5.0) if (state_dir / QUEUE_FILE).exists() else None
