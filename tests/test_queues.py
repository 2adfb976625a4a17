"""The queue store: persist-queue's layout, hand-over atomicity, resume rules, counts from SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import persistqueue
import persistqueue.serializers.json as pq_json
import pytest

from pipeline.errors import QueueWriteError, StateError, UsageError
from pipeline.queues import EXPECTED_COLUMNS, QUEUE_FILE, Store, open_readonly


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
    store = Store(tmp_path)
    with store.transaction() as tx:
        tx.put("intents", [b'{"n": 1}', b'{"n": 2}'])
    store.close()
    q = persistqueue.SQLiteAckQueue(str(tmp_path), name="intents", db_file_name=QUEUE_FILE,
                                    serializer=pq_json, auto_resume=False)
    assert q.get(block=False) == {"n": 1}


def test_take_is_fifo_and_marks_rows_in_flight(tmp_path: Path) -> None:
    """take returns the oldest ready rows and hides them from the next take."""
    store = Store(tmp_path)
    with store.transaction() as tx:
        tx.put("payloads", [str(i).encode() for i in range(5)])
    first = store.take("payloads", 3)
    assert [r.data for r in first] == [b"0", b"1", b"2"]
    assert [r.data for r in store.take("payloads", 10)] == [b"3", b"4"]
    assert store.counts("payloads")["unacked"] == 5
    assert store.counts("payloads")["ready"] == 0


def test_hand_over_is_one_transaction(tmp_path: Path) -> None:
    """A failure between the downstream put and the upstream ack leaves neither."""
    store = Store(tmp_path)
    with store.transaction() as tx:
        tx.put("intents", [b"{}"])
    row = store.take("intents", 1)[0]
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put("payloads", [b"{}"])
        raise RuntimeError("killed between put and ack")
    assert store.counts("payloads")["ready"] == 0
    with store.transaction() as tx:
        tx.put("payloads", [b"{}"])
        assert tx.ack("intents", [row.pqid]) == 1
    assert store.counts("intents") == {"ready": 0, "unacked": 0, "oldest_ready_age_s": None}
    assert store.counts("payloads")["ready"] == 1


def test_only_the_consumer_resumes_in_flight_rows(tmp_path: Path) -> None:
    """A producer opening the file leaves the consumer's in-flight rows alone; a consumer restart resumes them."""
    consumer = Store(tmp_path, consumer_of=("intents",))
    with consumer.transaction() as tx:
        tx.put("intents", [b"a", b"b"])
    consumer.take("intents", 2)
    Store(tmp_path).close()  # the scheduler, queue-stats, replay-dead...
    assert consumer.counts("intents")["unacked"] == 2
    consumer.close()  # as if killed: nothing acked
    restarted = Store(tmp_path, consumer_of=("intents",))
    assert [r.data for r in restarted.take("intents", 5)] == [b"a", b"b"]


def test_acked_rows_are_gone_from_the_file(tmp_path: Path) -> None:
    """Ack deletes the row, so no later take has to skip it."""
    store = Store(tmp_path)
    with store.transaction() as tx:
        tx.put("payloads", [b"x"] * 100)
    rows = store.take("payloads", 100)
    with store.transaction() as tx:
        tx.ack("payloads", [r.pqid for r in rows])
    assert store.query("SELECT COUNT(*) FROM ack_queue_payloads") == [(0,)]


def test_synchronous_setting_is_applied(tmp_path: Path) -> None:
    """SYNCHRONOUS reaches the connection that does the writes."""
    assert Store(tmp_path, synchronous="NORMAL").query("PRAGMA synchronous") == [(1,)]
    assert Store(tmp_path, synchronous="FULL").query("PRAGMA synchronous") == [(2,)]


def test_not_a_database_is_refused_and_kept(tmp_path: Path) -> None:
    """A garbage queue file raises StateError naming it, and is left byte for byte."""
    path = tmp_path / QUEUE_FILE
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as info:
        Store(tmp_path)
    assert info.value.path == path and info.value.exit_code == 65
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    """A file written by an incompatible version stops the opener with StateError."""
    store = Store(tmp_path)
    with store.transaction() as tx:
        tx.set_meta("format_version", "99")
    store.close()
    with pytest.raises(StateError, match="format version 99"):
        Store(tmp_path)


def test_write_failure_becomes_queue_write_error(tmp_path: Path) -> None:
    """A write the database refuses surfaces as a retryable QueueWriteError."""
    store = Store(tmp_path)
    other = sqlite3.connect(tmp_path / QUEUE_FILE)
    other.execute("BEGIN IMMEDIATE")  # hold the write lock
    slow = Store(tmp_path, busy_timeout=0.05)
    with pytest.raises(QueueWriteError), slow.transaction() as tx:
        tx.put("intents", [b"x"])
    other.rollback()
    store.close()


def test_read_only_open_creates_nothing(tmp_path: Path) -> None:
    """queue-stats on a missing folder is refused; on an empty folder it creates no file."""
    with pytest.raises(UsageError):
        open_readonly(tmp_path / "missing")
    assert open_readonly(tmp_path) is None
    assert not (tmp_path / QUEUE_FILE).exists()


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_take_leaves_the_configured_durability_for_later_commits(tmp_path: Path, synchronous: str) -> None:
    """take commits its in-flight marks without an fsync, but every hand-over after it is synced as configured."""
    store = Store(tmp_path, synchronous=synchronous)
    level = store.query("PRAGMA synchronous")[0][0]
    assert store.take("intents", 8) == []  # an idle poll
    with store.transaction() as tx:
        tx.put("intents", [b"{}"])
    assert len(store.take("intents", 8)) == 1
    assert store.query("PRAGMA synchronous")[0][0] == level == {"FULL": 2, "NORMAL": 1}[synchronous]
