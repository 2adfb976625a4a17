"""The file sink's storage: JSON Lines in a folder, fsynced before a payload counts as delivered.

One file is open at a time (`stream-000001.jsonl` when rotating by size, `stream-2026-03-02.jsonl` by
simulated day). A rotated file is compressed to `.jsonl.gz` (written to a temporary name, fsynced, renamed,
then the plain file removed), so a kill at any point leaves either the plain file or the whole
compressed one; the next start finishes any rotation a kill interrupted. Delivery to a file is
at least once, like a webhook: a kill between the fsync and the queue's acknowledgement writes those
lines again on the next start (a reader dedupes on `id`, as a webhook receiver does on webhook-id).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Literal

_PLAIN = re.compile(r"^stream-(\d{6}|\d{4}-\d{2}-\d{2})\.jsonl$")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def line_of(body: bytes) -> bytes:
    """One JSON Lines record for a body (re-serialised only if it spans lines)."""
    if b"\n" in body or b"\r" in body:
        body = json.dumps(json.loads(body), separators=(",", ":")).encode()
    return body + b"\n"


def day_of(body: bytes) -> str:
    """The simulated day (UTC date of `occurred_at`) of a body; '0000-00-00' when it has none."""
    try:
        moment = json.loads(body).get("occurred_at")
    except (ValueError, AttributeError):
        moment = None
    return moment[:10] if isinstance(moment, str) and re.match(r"^\d{4}-\d{2}-\d{2}", moment) else "0000-00-00"


class JsonlFiles:
    """Appends batches of bodies durably; rotates and compresses."""

    def __init__(self, directory: Path, *, rotate: Literal["size", "day"] = "size",
                 rotate_bytes: int = 64 * 1024 * 1024, fsync: Callable[[int], None] = os.fsync) -> None:
        self.directory, self.rotate, self.rotate_bytes = directory, rotate, rotate_bytes
        self._fsync = fsync  # injectable: a test records that every write is followed by one
        directory.mkdir(parents=True, exist_ok=True)
        plain = sorted(p for p in directory.iterdir() if _PLAIN.match(p.name))
        for leftover in directory.glob("*.gz.tmp"):  # a compression a kill interrupted: redo it
            leftover.unlink()
        for older in plain[:-1]:  # rotated but not yet compressed when the last run ended
            self._compress(older)
        self._path: Path | None = plain[-1] if plain else None
        self._file: IO[bytes] | None = None

    @property
    def current(self) -> Path | None:
        """The file lines are appended to now."""
        return self._path

    def write(self, bodies: Sequence[bytes]) -> None:
        """Append every body as one line; returns only once they are on disk (fsynced)."""
        dirty = False
        for body in bodies:
            line = line_of(body)
            target = self._target(body, len(line))
            if target != self._path or self._file is None:
                if dirty:
                    self._sync()
                    dirty = False
                self._switch(target)
            assert self._file is not None
            self._file.write(line)
            dirty = True
        if dirty:
            self._sync()

    def close(self) -> None:
        """Close the open file (its lines are already on disk)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _target(self, body: bytes, size: int) -> Path:
        if self.rotate == "day":
            day = day_of(body)
            current = self._path.name[len("stream-"):-len(".jsonl")] if self._path else ""
            # Days only move forward: a late line of an earlier day joins the open file (it carries its
            # own time), so a compressed day is never reopened.
            return self._path if self._path is not None and day <= current else self.directory / f"stream-{day}.jsonl"
        if self._path is None:
            return self.directory / "stream-000001.jsonl"
        used = self._path.stat().st_size if self._path.exists() else 0
        if used and used + size > self.rotate_bytes:
            number = int(self._path.name[len("stream-"):-len(".jsonl")])
            return self.directory / f"stream-{number + 1:06d}.jsonl"
        return self._path

    def _switch(self, target: Path) -> None:
        previous = self._path
        self.close()
        self._file = open(target, "ab")  # noqa: SIM115 - held open across writes, closed in close()
        self._path = target
        _fsync_dir(self.directory)  # the new name survives a power cut before the first line's fsync
        if previous is not None and previous != target and previous.exists():
            self._compress(previous)

    def _sync(self) -> None:
        assert self._file is not None
        self._file.flush()
        self._fsync(self._file.fileno())

    def _compress(self, plain: Path) -> None:
        final = plain.with_name(plain.name + ".gz")
        temporary = plain.with_name(plain.name + ".gz.tmp")
        with open(plain, "rb") as source, open(temporary, "wb") as raw:
            with gzip.GzipFile(filename=plain.name, mode="wb", fileobj=raw, mtime=0) as packed:
                shutil.copyfileobj(source, packed)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, final)
        _fsync_dir(self.directory)
        plain.unlink()
        _fsync_dir(self.directory)


def read_all(directory: Path) -> list[bytes]:
    """Every line in the folder, compressed files first in name order, then the open one (tests, tools)."""
    lines: list[bytes] = []
    for path in sorted(directory.glob("stream-*.jsonl*")):
        if path.name.endswith(".gz"):
            lines.extend(gzip.decompress(path.read_bytes()).splitlines())
        elif path.name.endswith(".jsonl"):
            lines.extend(path.read_bytes().splitlines())
    return lines
