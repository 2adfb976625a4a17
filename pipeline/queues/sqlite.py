"""The queue interface on one SQLite file, over persist-queue's table layout, safe across processes.

persist-queue's `SQLiteAckQueue` creates and owns the table layout (`ack_queue_<name>`: `_id`, `data`,
`timestamp`, `status`); this module is the only one that writes SQL against it, and adds what the
library lacks for a multi-process pipeline:

* One file, several queues (intents, payloads, dead). A hand-over (put downstream + ack upstream) is
  then ONE transaction, so it is exactly-once and costs one fsync, and a power loss can never keep an
  ack while losing the put before it (a single WAL recovers to a prefix of its commits).
* Batches: `take` marks up to N rows in flight in one commit; puts and acks of a batch share one.
* Acked rows are deleted in the ack's own transaction, so `take` never skips over finished rows (the
  library's get slows down with every acked row left in the table).
* Only the consumer resumes its in-flight rows, when it opens the file (the library's `auto_resume`
  would hand a running consumer's items out again); everyone else opens with `auto_resume=False`.
* Counts come from SQL, never from the library's per-process counters.
* Polling, not blocking: the library's blocking get sees another process's put only at its timeout.

Tables of our own sit beside the library's: `pipeline_meta` (format version, stream identity, clocks,
figures) and `queue_holds` (rows held in flight, with their holder's note). Opening the file is the one
step that creates, checks and migrates all of them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import persistqueue
import persistqueue.serializers.json as pq_json

from pipeline.errors import QueueWriteError, StateError
from pipeline.queues.interface import QUEUES, Counts, Hold, Queue, Row

QUEUE_FILE = "queues.db"
# 1: queues and pipeline_meta (and delivery's own retry table); 2: holds in queue_holds.
FORMAT_VERSION = 2
_READS = {"1", "2"}  # versions this program opens (older ones are migrated on open)

# persist-queue's AckStatus values (sqlackqueue.py); pinned with the library's minor version.
INITED, READY, UNACK = 0, 1, 2
# The table layout this module writes against: checked on open, and by tests/test_queues.py.
EXPECTED_COLUMNS = (("_id", "INTEGER"), ("data", "BLOB"), ("timestamp", "FLOAT"), ("status", "INTEGER"))
_SQLITE_MAGIC = b"SQLite format 3\x00"
_OURS = {"pipeline_meta", "queue_holds", "deferred_events"}
_HOLDS_SCHEMA = ("CREATE TABLE IF NOT EXISTS queue_holds (queue TEXT NOT NULL, pqid INTEGER NOT NULL, "
                 "note TEXT NOT NULL, PRIMARY KEY (queue, pqid))")
_DEFERRED_SCHEMA = ("CREATE TABLE IF NOT EXISTS deferred_events (key TEXT PRIMARY KEY, at TEXT NOT NULL, "
                    "body BLOB NOT NULL)", "CREATE INDEX IF NOT EXISTS deferred_events_at ON deferred_events (at)")
_V1_RETRY_TABLE = "delivery_retry"  # format 1 kept the deliverer's held payloads here


def _table(queue: str) -> str:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    return f"ack_queue_{queue}"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def check_file(path: Path) -> None:
    """Raise StateError if `path` exists but is not an SQLite database (before anyone writes to it)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb") as fh:
        if fh.read(16) != _SQLITE_MAGIC:
            raise StateError(path, "not an SQLite database")


def integrity_ok(path: Path) -> bool:
    """PRAGMA integrity_check of one queue file."""
    conn = sqlite3.connect(path)
    try:
        return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
    finally:
        conn.close()


def _check_layout(conn: sqlite3.Connection, path: Path, queues: Iterable[str]) -> None:
    """The library's table layout, which every statement here is written against."""
    for queue in queues:
        columns = tuple((name, kind) for _, name, kind, *_ in conn.execute(f"PRAGMA table_info({_table(queue)})"))
        if columns != EXPECTED_COLUMNS:
            raise StateError(path, f"queue table {_table(queue)} has an unknown layout {columns}")


class SqliteTx:
    """`Tx` inside one SQLite transaction (see `SqliteStore.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def put(self, queue: Queue, items: Iterable[bytes]) -> int:
        now = time.time()
        cur = self._conn.executemany(
            f"INSERT INTO {_table(queue)} (data, timestamp, status) VALUES (?, ?, {INITED})",
            ((item, now) for item in items),
        )
        return cur.rowcount

    def ack(self, queue: Queue, pqids: Sequence[int]) -> int:
        cur = self._conn.executemany(f"DELETE FROM {_table(queue)} WHERE _id = ?", ((i,) for i in pqids))
        gone = cur.rowcount
        self._unhold(queue, pqids)
        return gone

    def hand_over(self, source: Queue, pqids: Sequence[int], target: Queue, items: Iterable[bytes]) -> None:
        self.put(target, items)
        self.ack(source, pqids)

    def release(self, queue: Queue, pqids: Sequence[int]) -> None:
        self._conn.executemany(f"UPDATE {_table(queue)} SET status = {READY} WHERE _id = ?", ((i,) for i in pqids))
        self._unhold(queue, pqids)

    def hold(self, queue: Queue, pqid: int, note: str) -> None:
        self._conn.execute(f"UPDATE {_table(queue)} SET status = {UNACK} WHERE _id = ?", (pqid,))
        self._conn.execute("INSERT OR REPLACE INTO queue_holds (queue, pqid, note) VALUES (?, ?, ?)",
                           (queue, pqid, note))

    def defer(self, events: Iterable[tuple[str, str, bytes]]) -> None:
        self._conn.executemany("INSERT OR IGNORE INTO deferred_events (key, at, body) VALUES (?, ?, ?)", events)

    def pop_due(self, until: str) -> list[tuple[str, bytes]]:
        rows = self._conn.execute("SELECT key, body FROM deferred_events WHERE at <= ? ORDER BY key",
                                  (until,)).fetchall()
        if rows:
            self._conn.execute("DELETE FROM deferred_events WHERE at <= ?", (until,))
        return [(str(key), bytes(body)) for key, body in rows]

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO pipeline_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM pipeline_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _unhold(self, queue: Queue, pqids: Sequence[int]) -> None:
        self._conn.executemany("DELETE FROM queue_holds WHERE queue = ? AND pqid = ?", ((queue, i) for i in pqids))


class _Reads:
    """The `View` operations over one connection (a consistent snapshot per statement)."""

    _conn: sqlite3.Connection
    _path: Path

    @property
    def path(self) -> Path:
        return self._path

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def read(self, queue: Queue, pqid: int) -> bytes | None:
        rows = self._query(f"SELECT data FROM {_table(queue)} WHERE _id = ?", (pqid,))
        return bytes(rows[0][0]) if rows else None

    def rows(self, queue: Queue, *, newest_first: bool = False, limit: int | None = None) -> list[Row]:
        order = "DESC" if newest_first else "ASC"
        return [Row(pqid, bytes(data), ts, status == UNACK) for pqid, data, ts, status in self._query(
            f"SELECT _id, data, timestamp, status FROM {_table(queue)} ORDER BY _id {order} LIMIT ?",
            (-1 if limit is None else limit,))]

    def holds(self, queue: Queue) -> list[Hold]:
        return [Hold(pqid, note) for pqid, note in
                self._query("SELECT pqid, note FROM queue_holds WHERE queue = ? ORDER BY pqid", (queue,))]

    def hold_count(self, queue: Queue) -> int:
        rows = self._query("SELECT COUNT(*) FROM queue_holds WHERE queue = ?", (queue,))
        return int(rows[0][0]) if rows else 0

    def counts(self, queue: Queue) -> Counts:
        rows = self._query(
            f"SELECT COALESCE(SUM(status < {UNACK}), 0), COALESCE(SUM(status = {UNACK}), 0), "
            f"MIN(CASE WHEN status < {UNACK} THEN timestamp END) FROM {_table(queue)}")
        ready, in_flight, oldest = rows[0] if rows else (0, 0, None)
        return Counts(int(ready), int(in_flight), None if oldest is None else round(max(0.0, time.time() - oldest), 3))

    def oldest_age(self, queue: Queue) -> float | None:
        rows = self._query(f"SELECT MIN(timestamp) FROM {_table(queue)}")
        oldest = rows[0][0] if rows else None
        return None if oldest is None else max(0.0, time.time() - oldest)

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM pipeline_meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def next_deferred(self) -> str | None:
        rows = self._deferred("SELECT MIN(at) FROM deferred_events")
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def deferred_count(self) -> int:
        rows = self._deferred("SELECT COUNT(*) FROM deferred_events")
        return int(rows[0][0]) if rows else 0

    def deferred(self) -> list[bytes]:
        return [bytes(body) for (body,) in self._deferred("SELECT body FROM deferred_events ORDER BY key")]

    def _deferred(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self._query(sql)
        except sqlite3.OperationalError as exc:  # a reader of a file no writer of this version opened yet
            if "no such table" in str(exc):
                return []
            raise

    def close(self) -> None:
        """Close the connection (a checkpoint of the WAL happens on the last close)."""
        self._conn.close()



class SqliteView(_Reads):
    """`View` on a queue file through a read-only connection: never writes, never creates or migrates.

    For the dashboard, the harness and the tests looking in while workers run (also on a full disk or a
    read-only folder). The connection cannot write, so it never takes the write lock the workers need (a
    WAL reader does not block them either). Without a `-wal` file no writer has the file open (the last
    one to close folds the WAL in and deletes it), and SQLite would create the `-wal` and `-shm` files to
    read it: the file is then read as immutable, so the folder stays untouched. A file or tables nobody
    has created yet read as empty.
    """

    def __init__(self, state_dir: Path, busy_timeout: float = 30.0) -> None:
        self._path = path = state_dir / QUEUE_FILE
        check_file(path)
        if not path.exists():
            self._conn = sqlite3.connect(":memory:")
            return
        try:
            quiet = "" if path.with_name(f"{QUEUE_FILE}-wal").exists() else "&immutable=1"
            self._conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro{quiet}", uri=True,
                                         timeout=busy_timeout, isolation_level=None)
            tables = {name for (name,) in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            _check_layout(self._conn, path, (queue for queue in QUEUES if _table(queue) in tables))
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise QueueWriteError(path, str(exc)) from exc
            raise StateError(path, f"unreadable ({exc})") from exc

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            return super()._query(sql, params)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise


class SqliteStore(_Reads):
    """`Store` on `STATE_DIR/queues.db`, opened by one process in one role.

    `consumer_of` names the queues this process consumes: their in-flight rows (left by a previous
    run of this same role, which the role lock proves is gone) are made ready again on open, except
    the held ones.
    """

    def __init__(self, state_dir: Path, *, synchronous: str = "FULL", consumer_of: Sequence[Queue] = (),
                 busy_timeout: float = 30.0) -> None:
        self._path = state_dir / QUEUE_FILE
        self.synchronous = synchronous
        check_file(self._path)
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self._path, timeout=busy_timeout, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise QueueWriteError(self._path, str(exc)) from exc
        try:
            self._open(state_dir, synchronous, busy_timeout, consumer_of)
        except BaseException:
            self._conn.close()  # a caller may retry the open (disk full): leave no handle behind
            raise

    # -- the open step: create, check, migrate, resume ------------------------------------------------

    def _open(self, state_dir: Path, synchronous: str, busy_timeout: float, consumer_of: Sequence[Queue]) -> None:
        try:
            self._check_owner()
            self._create_queue_tables(state_dir, busy_timeout)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._check_layout(QUEUES)
        except sqlite3.DatabaseError as exc:
            # Operational errors come from around the file (locked, disk full or failing, read-only): worth
            # a retry. Only a file SQLite cannot make sense of is a state error (exit 65, no restart).
            if isinstance(exc, sqlite3.OperationalError):
                raise QueueWriteError(self._path, str(exc)) from exc
            raise StateError(self._path, f"unreadable ({exc})") from exc
        with self.transaction() as tx:
            self._migrate(tx)
            for queue in consumer_of:
                self._resume(queue)

    def _check_owner(self) -> None:
        """Refuse a file of another program or version before anything writes to it.

        Ours: no tables yet, or `pipeline_meta` with a format version we read, or only queue tables (a
        first start killed before it stamped the version).
        """
        tables = {name for (name,) in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if "pipeline_meta" in tables:
            row = self._conn.execute("SELECT value FROM pipeline_meta WHERE key = 'format_version'").fetchone()
            if row is not None and row[0] not in _READS:
                raise StateError(self._path, f"written by format version {row[0]}, this program reads {FORMAT_VERSION}")
        elif foreign := sorted(tables - {_table(queue) for queue in QUEUES} - _OURS):
            raise StateError(self._path, f"not a queue file of this program (it holds tables {', '.join(foreign)})")
        self._check_layout(queue for queue in QUEUES if _table(queue) in tables)

    def _create_queue_tables(self, state_dir: Path, busy_timeout: float) -> None:
        for queue in QUEUES:
            # The library creates its table (and switches the file to WAL); auto_resume=False so that
            # opening never re-issues another process's in-flight rows.
            q = persistqueue.SQLiteAckQueue(
                str(state_dir), name=queue, db_file_name=QUEUE_FILE, auto_resume=False,
                serializer=pq_json, timeout=busy_timeout,
            )
            q._conn.close()  # the library keeps no handle we need; all work goes through ours

    def _check_layout(self, queues: Iterable[str]) -> None:
        _check_layout(self._conn, self._path, queues)

    def _migrate(self, tx: SqliteTx) -> None:
        """Our own tables up to FORMAT_VERSION, in the open's transaction (every step is idempotent)."""
        self._conn.execute("CREATE TABLE IF NOT EXISTS pipeline_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._conn.execute(_HOLDS_SCHEMA)
        for statement in _DEFERRED_SCHEMA:
            self._conn.execute(statement)
        if tx.get_meta("format_version") == str(FORMAT_VERSION):
            return
        retry_columns = [name for _, name, *_ in self._conn.execute(f"PRAGMA table_info({_V1_RETRY_TABLE})")]
        if retry_columns:  # 1 -> 2: each retry row becomes a hold whose note is the row as a JSON object
            fields = ", ".join(f"'{name}', {name}" for name in retry_columns)
            self._conn.execute(
                f"INSERT OR REPLACE INTO queue_holds (queue, pqid, note) "
                f"SELECT 'payloads', pqid, json_object({fields}) FROM {_V1_RETRY_TABLE}")
            self._conn.execute(f"DROP TABLE {_V1_RETRY_TABLE}")
        tx.set_meta("format_version", str(FORMAT_VERSION))

    def _resume(self, queue: Queue) -> None:
        """The consumer's restart: holds of rows that are gone are dropped, held rows stay in flight, the
        rest of its in-flight rows become ready again."""
        table = _table(queue)
        self._conn.execute(f"DELETE FROM queue_holds WHERE queue = ? AND pqid NOT IN (SELECT _id FROM {table})",
                           (queue,))
        self._conn.execute(f"UPDATE {table} SET status = {READY} WHERE status = {UNACK} "
                           f"AND _id NOT IN (SELECT pqid FROM queue_holds WHERE queue = ?)", (queue,))
        self._conn.execute(f"UPDATE {table} SET status = {UNACK} "
                           f"WHERE _id IN (SELECT pqid FROM queue_holds WHERE queue = ?)", (queue,))

    # -- the interface --------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[SqliteTx]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise QueueWriteError(self._path, str(exc)) from exc
        try:
            yield SqliteTx(self._conn)
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise QueueWriteError(self._path, str(exc)) from exc
            if type(exc) is sqlite3.DatabaseError:  # corruption found mid-run (SQLITE_CORRUPT, NOTADB)
                raise StateError(self._path, f"unreadable ({exc})") from exc
            raise

    def take(self, queue: Queue, limit: int) -> list[Row]:
        """An idle poll is one read, without the write lock a producer may be holding through its fsync.
        The in-flight mark is committed without an fsync of its own (synchronous=NORMAL): the next durable
        commit syncs the WAL up to and including this one, and a power loss keeps a prefix of the commits.
        """
        table = _table(queue)
        if self._conn.execute(f"SELECT 1 FROM {table} WHERE status < {UNACK} LIMIT 1").fetchone() is None:
            return []
        self._conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.transaction():
                rows = self._conn.execute(
                    f"SELECT _id, data, timestamp FROM {table} WHERE status < {UNACK} ORDER BY _id LIMIT ?", (limit,),
                ).fetchall()
                if rows:
                    self._conn.execute(f"UPDATE {table} SET status = {UNACK} WHERE _id IN ({_marks(len(rows))})",
                                       [r[0] for r in rows])
        finally:
            self._conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return [Row(pqid, bytes(data), ts, in_flight=True) for pqid, data, ts in rows]

    def pragma(self, name: str) -> object:
        """One PRAGMA of this connection (the tests check the durability setting reaches it)."""
        return self._conn.execute(f"PRAGMA {name}").fetchone()[0]
