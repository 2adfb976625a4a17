"""The queue store: persist-queue's layout, hand-over atomicity, resume and hold rules, counts, migration."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import persistqueue
import persistqueue.serializers.json as pq_json
import pytest

from pipeline.errors import QueueWriteError, StateError, UsageError
from pipeline.queues import QUEUE_FILE, Counts, open_existing, open_store, open_view
from pipeline.queues.sqlite import EXPECTED_COLUMNS, FORMAT_VERSION, SqliteStore
from tests.conftest import sql

V1_RETRY_SCHEMA = """CREATE TABLE delivery_retry (pqid INTEGER PRIMARY KEY, payload_id TEXT NOT NULL,
    attempts INTEGER NOT NULL, failing_since REAL NOT NULL, due REAL NOT NULL, last_status INTEGER,
    last_error TEXT NOT NULL, snippet TEXT NOT NULL, first_attempt_at TEXT NOT NULL, last_attempt_at TEXT NOT NULL)"""


def digest(state_dir: Path) -> dict[str, str]:
    """The queue file and its WAL, by content (readers may touch the shared-memory index, -shm)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in state_dir.glob(QUEUE_FILE + "*")
            if not p.name.endswith("-shm")}


def test_persist_queue_table_layout_is_what_the_batch_layer_expects(tmp_path: Path) -> None:
    """Fails when a persist-queue release changes the table the batch SQL writes to."""
    q = persistqueue.SQLiteAckQueue(str(tmp_path), name="probe", serializer=pq_json, auto_resume=False)
    q.put({"a": 1})
    conn = sqlite3.connect(tmp_path / "data.db")
    columns = tuple((name, kind) for _, name, kind, *_ in conn.execute("PRAGMA table_info(ack_queue_probe)"))
    assert columns == EXPECTED_COLUMNS
    assert conn.execute("SELECT status FROM ack_queue_probe").fetchone() == (0,)


def test_library_reads_rows_the_batch_layer_wrote(tmp_path: Path) -> None:
    """Rows put by the store are ordinary persist-queue items (json serializer)."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.put("intents", [b'{"n": 1}', b'{"n": 2}'])
    store.close()
    q = persistqueue.SQLiteAckQueue(str(tmp_path), name="intents", db_file_name=QUEUE_FILE,
                                    serializer=pq_json, auto_resume=False)
    assert q.get(block=False) == {"n": 1}


def test_a_queue_table_of_another_layout_is_refused(tmp_path: Path) -> None:
    """Same version stamp but a queue table without the status column: StateError naming the table."""
    open_store(tmp_path).close()
    sql(tmp_path / QUEUE_FILE, "DROP TABLE ack_queue_payloads",
        "CREATE TABLE ack_queue_payloads (_id INTEGER PRIMARY KEY, data BLOB)")
    with pytest.raises(StateError, match="ack_queue_payloads has an unknown layout"):
        open_store(tmp_path)


def test_a_newer_format_version_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """A file stamped by a later version, whose layout lacks a queue, is refused and not given the table."""
    open_store(tmp_path).close()
    sql(tmp_path / QUEUE_FILE, "UPDATE pipeline_meta SET value = '99' WHERE key = 'format_version'",
        "DROP TABLE ack_queue_dead")
    before = digest(tmp_path)
    with pytest.raises(StateError, match=f"written by format version 99, this program reads {FORMAT_VERSION}"):
        open_store(tmp_path)
    assert digest(tmp_path) == before


def test_a_version_1_file_keeps_its_waiting_retries(tmp_path: Path) -> None:
    """Opening a file of format 1 moves the deliverer's retry rows into holds, in the open step, and a
    restarted consumer keeps those payloads in flight while the others become ready."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.put("payloads", [b'{"id": "a"}', b'{"id": "b"}'])
    store.take("payloads", 2)
    store.close()
    sql(tmp_path / QUEUE_FILE, "UPDATE pipeline_meta SET value = '1' WHERE key = 'format_version'",
        "DROP TABLE queue_holds", V1_RETRY_SCHEMA,
        "INSERT INTO delivery_retry VALUES (1, 'a', 3, 0.5, 7.25, 503, 'HTTP 503', 'busy', 't0', 't1')")
    store = open_store(tmp_path, consumer_of=("payloads",))
    (hold,) = store.holds("payloads")
    assert hold.pqid == 1
    assert json.loads(hold.note) == {"pqid": 1, "payload_id": "a", "attempts": 3, "failing_since": 0.5,
                                     "due": 7.25, "last_status": 503, "last_error": "HTTP 503",
                                     "snippet": "busy", "first_attempt_at": "t0", "last_attempt_at": "t1"}
    assert store.get_meta("format_version") == str(FORMAT_VERSION)
    counts = store.counts("payloads")
    assert (counts.ready, counts.in_flight) == (1, 1)
    assert [row.data for row in store.take("payloads", 5)] == [b'{"id": "b"}']
    with closing(sqlite3.connect(tmp_path / QUEUE_FILE)) as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'delivery_retry'").fetchall()


def test_take_is_fifo_and_marks_rows_in_flight(tmp_path: Path) -> None:
    """take returns the oldest ready rows and hides them from the next take."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.put("payloads", [str(i).encode() for i in range(5)])
    first = store.take("payloads", 3)
    assert [r.data for r in first] == [b"0", b"1", b"2"]
    assert [r.data for r in store.take("payloads", 10)] == [b"3", b"4"]
    assert store.counts("payloads").in_flight == 5
    assert store.counts("payloads").ready == 0


def test_hand_over_is_one_transaction(tmp_path: Path) -> None:
    """A failure between the downstream put and the upstream ack leaves neither."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.put("intents", [b"{}"])
    row = store.take("intents", 1)[0]
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put("payloads", [b"{}"])
        raise RuntimeError("killed between put and ack")
    assert store.counts("payloads").ready == 0
    with store.transaction() as tx:
        tx.hand_over("intents", [row.pqid], "payloads", [b"{}"])
    assert store.counts("intents") == Counts(0, 0, None)
    assert store.counts("payloads").ready == 1


def test_only_the_consumer_resumes_in_flight_rows(tmp_path: Path) -> None:
    """A producer opening the file leaves the consumer's in-flight rows alone; a consumer restart resumes them."""
    consumer = open_store(tmp_path, consumer_of=("intents",))
    with consumer.transaction() as tx:
        tx.put("intents", [b"a", b"b"])
    consumer.take("intents", 2)
    open_store(tmp_path).close()  # the scheduler, queue-stats, replay-dead...
    assert consumer.counts("intents").in_flight == 2
    consumer.close()  # as if killed: nothing acked
    restarted = open_store(tmp_path, consumer_of=("intents",))
    assert [r.data for r in restarted.take("intents", 5)] == [b"a", b"b"]


def test_a_held_row_stays_in_flight_across_restarts_until_acked(tmp_path: Path) -> None:
    """hold keeps a taken row out of take with its note, also after the consumer restarts; ack drops both."""
    store = open_store(tmp_path, consumer_of=("payloads",))
    with store.transaction() as tx:
        tx.put("payloads", [b"x", b"y"])
    x, y = store.take("payloads", 2)
    with store.transaction() as tx:
        tx.hold("payloads", x.pqid, "first note")
        tx.hold("payloads", x.pqid, "second note")
    store.close()
    store = open_store(tmp_path, consumer_of=("payloads",))
    assert [(h.pqid, h.note) for h in store.holds("payloads")] == [(x.pqid, "second note")]
    assert [r.pqid for r in store.take("payloads", 5)] == [y.pqid]
    assert store.read("payloads", x.pqid) == b"x"
    with store.transaction() as tx:
        tx.hand_over("payloads", [x.pqid], "dead", [b"x died"])
    assert store.hold_count("payloads") == 0 and store.read("payloads", x.pqid) is None
    assert [r.data for r in store.rows("dead")] == [b"x died"]


def test_release_returns_a_row_and_drops_its_hold(tmp_path: Path) -> None:
    """A released row is taken again, and no longer held."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.put("intents", [b"a"])
    (row,) = store.take("intents", 1)
    with store.transaction() as tx:
        tx.hold("intents", row.pqid, "{}")
    with store.transaction() as tx:
        tx.release("intents", [row.pqid])
    assert store.hold_count("intents") == 0
    assert [r.pqid for r in store.take("intents", 1)] == [row.pqid]


def test_acked_rows_are_gone_from_the_file(tmp_path: Path) -> None:
    """Ack deletes the row, so no later take has to skip it."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.put("payloads", [b"x"] * 100)
    rows = store.take("payloads", 100)
    with store.transaction() as tx:
        assert tx.ack("payloads", [r.pqid for r in rows]) == 100
    store.close()
    with closing(sqlite3.connect(tmp_path / QUEUE_FILE)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM ack_queue_payloads").fetchone() == (0,)


def test_ages_count_held_rows_but_ready_ages_do_not(tmp_path: Path) -> None:
    """oldest_age covers every row still queued; counts' age only the ready ones."""
    store = open_store(tmp_path)
    assert store.oldest_age("payloads") is None
    with store.transaction() as tx:
        tx.put("payloads", [b"x"])
    store.take("payloads", 1)
    age = store.oldest_age("payloads")
    assert age is not None and age >= 0
    assert store.counts("payloads") == Counts(0, 1, None)


def test_synchronous_setting_is_applied(tmp_path: Path) -> None:
    """SYNCHRONOUS reaches the connection that does the writes."""
    assert SqliteStore(tmp_path, synchronous="NORMAL").pragma("synchronous") == 1
    assert SqliteStore(tmp_path, synchronous="FULL").pragma("synchronous") == 2


def test_not_a_database_is_refused_and_kept(tmp_path: Path) -> None:
    """A garbage queue file raises StateError naming it, and is left byte for byte."""
    path = tmp_path / QUEUE_FILE
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as info:
        open_store(tmp_path)
    assert info.value.path == path and info.value.exit_code == 65
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    """A file written by an incompatible version stops the opener with StateError."""
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.set_meta("format_version", "99")
    store.close()
    with pytest.raises(StateError, match="format version 99"):
        open_store(tmp_path)


def test_write_failure_becomes_queue_write_error(tmp_path: Path) -> None:
    """A write the database refuses surfaces as a retryable QueueWriteError."""
    store = open_store(tmp_path)
    other = sqlite3.connect(tmp_path / QUEUE_FILE)
    other.execute("BEGIN IMMEDIATE")  # hold the write lock
    with pytest.raises(QueueWriteError):
        open_store(tmp_path, busy_timeout=0.05)
    other.rollback()
    slow = open_store(tmp_path, busy_timeout=0.05)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(QueueWriteError), slow.transaction() as tx:
        tx.put("intents", [b"x"])
    other.rollback()
    store.close()


def test_open_existing_creates_nothing(tmp_path: Path) -> None:
    """queue-stats on a missing folder is refused; on an empty folder it creates no file."""
    with pytest.raises(UsageError):
        open_existing(tmp_path / "missing")
    assert open_existing(tmp_path) is None
    assert not (tmp_path / QUEUE_FILE).exists()


def test_a_view_reads_without_writing(tmp_path: Path) -> None:
    """open_view reads an empty folder as empty, creates nothing, and sees what a store committed."""
    with closing(open_view(tmp_path)) as view:
        assert view.rows("intents") == [] and view.get_meta("clock") is None
        assert view.counts("intents") == Counts(0, 0, None)
    assert not (tmp_path / QUEUE_FILE).exists()
    store = open_store(tmp_path)
    with store.transaction() as tx:
        tx.put("intents", [b"a"])
        tx.set_meta("clock", "now")
    before = digest(tmp_path)
    with closing(open_view(tmp_path)) as view:
        assert [r.data for r in view.rows("intents")] == [b"a"] and view.get_meta("clock") == "now"
    assert digest(tmp_path) == before
    store.close()


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_take_leaves_the_configured_durability_for_later_commits(tmp_path: Path, synchronous: str) -> None:
    """take commits its in-flight marks without an fsync, but every hand-over after it is synced as configured."""
    store = SqliteStore(tmp_path, synchronous=synchronous)
    level = store.pragma("synchronous")
    assert store.take("intents", 8) == []  # an idle poll
    with store.transaction() as tx:
        tx.put("intents", [b"{}"])
    assert len(store.take("intents", 8)) == 1
    assert store.pragma("synchronous") == level == {"FULL": 2, "NORMAL": 1}[synchronous]
