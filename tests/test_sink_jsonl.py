"""The file sink's storage: every line fsynced before write returns, rotation by size or day, gzip on rotation."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sinks.jsonl import JsonlFiles, day_of, line_of, read_all


def body(n: int, day: int = 2, pad: int = 0) -> bytes:
    """A small event body on a simulated day of March 2026."""
    return json.dumps({"id": f"p{n}", "occurred_at": f"2026-03-{day:02d}T10:00:00Z", "pad": "x" * pad}).encode()


class RecordingFsync:
    """Stands in for os.fsync: syncs for real and records how many bytes each file held at the time."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, fd: int) -> None:
        os.fsync(fd)
        self.sizes.append(os.fstat(fd).st_size)


def test_write_returns_only_after_an_fsync_covering_every_line(tmp_path: Path) -> None:
    """The fsync that ends a write covers the whole file as it then is: no line is acknowledged unsynced."""
    sync = RecordingFsync()
    files = JsonlFiles(tmp_path, fsync=sync)
    files.write([body(1), body(2)])
    assert files.current is not None
    assert sync.sizes == [files.current.stat().st_size]
    files.write([body(3)])
    assert sync.sizes[-1] == files.current.stat().st_size and len(sync.sizes) == 2
    assert [json.loads(line)["id"] for line in read_all(tmp_path)] == ["p1", "p2", "p3"]


def test_rotation_by_size_compresses_the_full_file(tmp_path: Path) -> None:
    """A file never grows past rotate_bytes (unless one line alone does); rotated files are gzip."""
    files = JsonlFiles(tmp_path, rotate_bytes=1024)
    for n in range(40):
        files.write([body(n, pad=100)])
    files.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[-1] == "stream-000007.jsonl" and all(n.endswith(".jsonl.gz") for n in names[:-1])
    for packed in names[:-1]:
        assert len(gzip.decompress((tmp_path / packed).read_bytes())) <= 1024
    assert [json.loads(line)["id"] for line in read_all(tmp_path)] == [f"p{n}" for n in range(40)]


def test_rotation_by_simulated_day_names_files_by_day(tmp_path: Path) -> None:
    """Each simulated day gets its own file; a late line of an earlier day joins the open one."""
    files = JsonlFiles(tmp_path, rotate="day")
    files.write([body(1, day=2), body(2, day=2), body(3, day=3)])
    files.write([body(4, day=2), body(5, day=4)])
    files.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stream-2026-03-02.jsonl.gz", "stream-2026-03-03.jsonl.gz", "stream-2026-03-04.jsonl"]
    day3 = gzip.decompress((tmp_path / "stream-2026-03-03.jsonl.gz").read_bytes()).splitlines()
    assert [json.loads(line)["id"] for line in day3] == ["p3", "p4"]


def test_a_rotation_cut_short_is_finished_on_the_next_start(tmp_path: Path) -> None:
    """A kill after the new file opened but before the old one was compressed (or mid-compression)."""
    (tmp_path / "stream-000001.jsonl").write_bytes(line_of(body(1)))
    (tmp_path / "stream-000001.jsonl.gz.tmp").write_bytes(b"half a gzip")
    (tmp_path / "stream-000002.jsonl").write_bytes(line_of(body(2)))
    files = JsonlFiles(tmp_path, rotate_bytes=1024)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream-000001.jsonl.gz", "stream-000002.jsonl"]
    files.write([body(3)])
    assert files.current == tmp_path / "stream-000002.jsonl"
    assert [json.loads(line)["id"] for line in read_all(tmp_path)] == ["p1", "p2", "p3"]


def test_a_body_spanning_lines_becomes_one_line() -> None:
    """JSON Lines needs one record per line whatever the body's formatting."""
    assert line_of(b'{\n "id": "a"\n}') == b'{"id":"a"}\n'
    assert day_of(b"not json") == "0000-00-00" and day_of(body(1, day=9)) == "2026-03-09"


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=30),
       batch=st.integers(min_value=1, max_value=5))
def test_every_line_is_kept_once_in_order_whatever_the_rotation(tmp_path_factory: object, sizes: list[int],
                                                                  batch: int) -> None:
    """Whatever the line sizes and batch sizes, reading the folder back gives every body once, in order."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        files = JsonlFiles(directory, rotate_bytes=1024)
        bodies = [body(n, pad=pad) for n, pad in enumerate(sizes)]
        for start in range(0, len(bodies), batch):
            files.write(bodies[start:start + batch])
        files.close()
        assert read_all(directory) == [line_of(b).rstrip(b"\n") for b in bodies]
