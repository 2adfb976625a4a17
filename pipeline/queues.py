"""The persist-queue discipline: every queue of the pipeline in one SQLite file, safe across processes.

persist-queue's `SQLiteAckQueue` creates and owns the table layout (`ack_queue_<name>`: `_id`, `data`,
`timestamp`, `status`); this module adds what the library lacks for a multi-process pipeline
(research/baselines.md):

* One file, several queues (intents, payloads, dead). A hand-over (put downstream + ack upstream) is
  then ONE transaction, so it is exactly-once and costs one fsync, and a power loss can never keep an
  ack while losing the put before it (a single WAL recovers to a prefix of its commits).
* Batches: `take` marks up to N rows in flight in one commit; puts and acks of a batch share one.
* Acked rows are deleted in the ack's own transaction, so `take` never skips over dead rows (get+ack
  fell from 3,761/s to 339/s with 20k acked rows left behind).
* Only the consumer resumes its in-flight rows, when it starts (the library's `auto_resume` on open
  would hand a running consumer's items out again); everyone else opens with `auto_resume=False`.
* Counts come from SQL, never from the library's per-process counters.
* Polling, not blocking: the library's blocking get sees another process's put only at its timeout.

Tables of our own sit beside the library's: `pipeline_meta` (stream identity, sim clock, counters) and
whatever a worker registers through `Store.ensure_table`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import persistqueue
import persistqueue.serializers.json as pq_json

from pipeline.errors import QueueWriteError, StateError, UsageError

QUEUE_FILE = "queues.db"
QUEUES = ("intents", "payloads", "dead")
FORMAT_VERSION = 1
Queue = Literal["intents", "payloads", "dead"]

# persist-queue's AckStatus values (sqlackqueue.py); pinned with the library's minor version.
INITED, READY, UNACK = 0, 1, 2
# The table layout this module writes against: checked on open, and by tests/test_queues.py.
EXPECTED_COLUMNS = (("_id", "INTEGER"), ("data", "BLOB"), ("timestamp", "FLOAT"), ("status", "INTEGER"))
_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class Row:
    """One queue row: persist-queue's id, the stored bytes, and the put time (wall clock)."""

    pqid: int
    data: bytes
    timestamp: float


def _table(queue: str) -> str:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    return f"ack_queue_{queue}"


def check_file(path: Path) -> None:
    """Raise StateError if `path` exists but is not an SQLite database (before anyone writes to it)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as fh:
        if fh.read(16) != _SQLITE_MAGIC:
            raise StateError(path, "not an SQLite database")


class Tx:
    """The operations allowed inside one transaction (see `Store.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def put(self, queue: Queue, items: Iterable[bytes]) -> int:
        """Append serialized items (JSON bytes) to a queue; returns how many."""
        now = time.time()
        cur = self._conn.executemany(
            f"INSERT INTO {_table(queue)} (data, timestamp, status) VALUES (?, ?, {INITED})",
            ((item, now) for item in items),
        )
        return cur.rowcount

    def ack(self, queue: Queue, pqids: Sequence[int]) -> int:
        """Remove finished rows (ack and prune in one step); returns how many were there."""
        cur = self._conn.executemany(f"DELETE FROM {_table(queue)} WHERE _id = ?", ((i,) for i in pqids))
        return cur.rowcount

    def release(self, queue: Queue, pqids: Sequence[int]) -> None:
        """Hand rows back to the queue (nack) so the next `take` returns them again."""
        self._conn.executemany(
            f"UPDATE {_table(queue)} SET status = {READY} WHERE _id = ?", ((i,) for i in pqids)
        )

    def set_meta(self, key: str, value: str) -> None:
        """Store one value of the pipeline's own state."""
        self._conn.execute(
            "INSERT INTO pipeline_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run a statement on a worker's own table within this transaction."""
        return self._conn.execute(sql, params)


class Store:
    """The state folder's queue file, opened by one process in one role.

    `consumer_of` names the queues this process consumes: their in-flight rows (left by a previous
    run of this same role, which the role lock proves is gone) are made ready again on open.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        synchronous: str = "FULL",
        consumer_of: Sequence[Queue] = (),
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = state_dir / QUEUE_FILE
        self.synchronous = synchronous
        check_file(self.path)
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise QueueWriteError(self.path, str(exc)) from exc
        try:
            self._open(state_dir, synchronous, busy_timeout)
            for queue in consumer_of:
                with self.transaction() as tx:
                    tx.execute(f"UPDATE {_table(queue)} SET status = {READY} WHERE status = {UNACK}")
        except BaseException:
            self._conn.close()  # a caller may retry the open (disk full): leave no handle behind
            raise

    def _open(self, state_dir: Path, synchronous: str, busy_timeout: float) -> None:
        try:
            self._check_owner()
            self._create_tables(state_dir, busy_timeout)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._check_layout(QUEUES)
            self._stamp()
        except sqlite3.DatabaseError as exc:
            # Operational errors come from around the file (locked, disk full or failing, read-only): worth
            # a retry. Only a file SQLite cannot make sense of is a state error (exit 65, no restart).
            if isinstance(exc, sqlite3.OperationalError):
                raise QueueWriteError(self.path, str(exc)) from exc
            raise StateError(self.path, f"unreadable ({exc})") from exc

    def _check_owner(self) -> None:
        """Refuse a file of another program or version before anything writes to it.

        Ours: no tables yet, or `pipeline_meta` with our format version, or only queue tables (a first
        start killed before it stamped the version).
        """
        tables = {name for (name,) in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if "pipeline_meta" in tables:
            row = self._conn.execute("SELECT value FROM pipeline_meta WHERE key = 'format_version'").fetchone()
            if row is not None and row[0] != str(FORMAT_VERSION):
                raise StateError(self.path, f"written by format version {row[0]}, this program reads {FORMAT_VERSION}")
        elif foreign := sorted(tables - {_table(queue) for queue in QUEUES}):
            raise StateError(self.path, f"not a queue file of this program (it holds tables {', '.join(foreign)})")
        self._check_layout(queue for queue in QUEUES if _table(queue) in tables)

    def _create_tables(self, state_dir: Path, busy_timeout: float) -> None:
        for queue in QUEUES:
            # The library creates its table (and switches the file to WAL); auto_resume=False so that
            # opening never re-issues another process's in-flight rows.
            q = persistqueue.SQLiteAckQueue(
                str(state_dir), name=queue, db_file_name=QUEUE_FILE, auto_resume=False,
                serializer=pq_json, timeout=busy_timeout,
            )
            q._conn.close()  # the library keeps no handle we need; all work goes through ours

    def _check_layout(self, queues: Iterable[str]) -> None:
        """The library's table layout, which every statement here is written against."""
        for queue in queues:
            columns = tuple(
                (name, kind) for _, name, kind, *_ in self._conn.execute(f"PRAGMA table_info({_table(queue)})")
            )
            if columns != EXPECTED_COLUMNS:
                raise StateError(self.path, f"queue table {_table(queue)} has an unknown layout {columns}")

    def _stamp(self) -> None:
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS pipeline_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        if self.get_meta("format_version") is None:
            with self.transaction() as tx:
                tx.set_meta("format_version", str(FORMAT_VERSION))

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One durable commit; any SQLite write failure becomes a QueueWriteError (retry later)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise QueueWriteError(self.path, str(exc)) from exc
        try:
            yield Tx(self._conn)
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise QueueWriteError(self.path, str(exc)) from exc
            if type(exc) is sqlite3.DatabaseError:  # corruption found mid-run (SQLITE_CORRUPT, NOTADB)
                raise StateError(self.path, f"unreadable ({exc})") from exc
            raise

    def take(self, queue: Queue, limit: int) -> list[Row]:
        """Mark up to `limit` ready rows as in flight (oldest first) and return them. Consumer only.

        An idle poll is one read, without the write lock a producer may be holding through its fsync.
        The in-flight mark is committed without an fsync of its own: nothing leaves the queue here, the
        consumer turns its in-flight rows back to ready when it restarts, and the next durable commit
        syncs the WAL up to and including this one (a power loss keeps a prefix of the commits).
        """
        table = _table(queue)
        if self._conn.execute(f"SELECT 1 FROM {table} WHERE status < {UNACK} LIMIT 1").fetchone() is None:
            return []
        self._conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.transaction() as tx:
                rows = tx.execute(
                    f"SELECT _id, data, timestamp FROM {table} WHERE status < {UNACK} ORDER BY _id LIMIT ?",
                    (limit,),
                ).fetchall()
                if rows:
                    tx.execute(
                        f"UPDATE {table} SET status = {UNACK} WHERE _id IN ({','.join('?' * len(rows))})",
                        [r[0] for r in rows],
                    )
        finally:
            self._conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return [Row(pqid, bytes(data), ts) for pqid, data, ts in rows]

    def get_meta(self, key: str) -> str | None:
        """One value of the pipeline's own state, or None."""
        row = self._conn.execute("SELECT value FROM pipeline_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read outside any transaction (a consistent snapshot of the file)."""
        return self._conn.execute(sql, params).fetchall()

    def counts(self, queue: Queue) -> dict[str, Any]:
        """ready, unacked and the age of the oldest ready row, straight from SQL."""
        ready, unacked, oldest = self._conn.execute(
            f"SELECT COALESCE(SUM(status < {UNACK}), 0), COALESCE(SUM(status = {UNACK}), 0), "
            f"MIN(CASE WHEN status < {UNACK} THEN timestamp END) FROM {_table(queue)}"
        ).fetchone()
        age = None if oldest is None else round(max(0.0, time.time() - oldest), 3)
        return {"ready": ready, "unacked": unacked, "oldest_ready_age_s": age}

    def close(self) -> None:
        """Close the connection (a checkpoint of the WAL happens on the last close)."""
        self._conn.close()


def open_readonly(state_dir: Path) -> Store | None:
    """The store for read-only commands, or None when no queue file exists yet (nothing is created)."""
    if not state_dir.is_dir():
        raise UsageError(f"{state_dir}: no such state folder (read-only commands never create one)")
    path = state_dir / QUEUE_FILE
    check_file(path)
    return Store(state_dir) if path.exists() else None


def open_reader(state_dir: Path, busy_timeout: float = 5.0) -> Store | None:
    """A store opened with SQLite's mode=ro, or None when no queue file exists yet (the dashboard).

    Unlike `open_readonly` it creates no table and stamps nothing: the connection cannot write, so it
    never takes the write lock the workers need (a WAL reader does not block them either). Without a
    `-wal` file no writer has the file open (the last one to close folds the WAL in and deletes it), and
    SQLite would create the `-wal` and `-shm` files to read it: the file is then read as immutable, so the
    folder stays untouched (and readable where the sandbox makes it read-only).
    """
    if not state_dir.is_dir():
        raise UsageError(f"{state_dir}: no such state folder (read-only commands never create one)")
    path = state_dir / QUEUE_FILE
    check_file(path)
    if not path.exists():
        return None
    store = Store.__new__(Store)
    store.path, store.synchronous = path, "FULL"
    try:
        quiet = "" if path.with_name(f"{QUEUE_FILE}-wal").exists() else "&immutable=1"
        store._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro{quiet}", uri=True, timeout=busy_timeout,
                                      isolation_level=None)
        store._check_layout(queue for queue in QUEUES if store.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_table(queue),)))
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):
            raise QueueWriteError(path, str(exc)) from exc
        raise StateError(path, f"unreadable ({exc})") from exc
    return store


def integrity_ok(path: Path) -> bool:
    """PRAGMA integrity_check of one queue file."""
    conn = sqlite3.connect(path)
    try:
        return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
    finally:
        conn.close()

