"""Idle workers wake on a write to the state folder (inotify) instead of polling it fast."""

from __future__ import annotations

import asyncio
import select
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.queues import open_store
from pipeline.workers.runner import Lifecycle
from pipeline.workers.sdnotify import Notifier
from pipeline.workers.wake import FolderChanges


def watched(folder: Path) -> FolderChanges:
    """A watch on `folder` (this suite runs on Linux, where inotify exists)."""
    changes = FolderChanges.open(folder)
    assert changes is not None, "inotify unavailable"
    return changes


def readable(changes: FolderChanges, timeout: float) -> bool:
    """Whether the watch reports something within `timeout` seconds."""
    return bool(select.select([changes.fd], [], [], timeout)[0])


@pytest.mark.process
def test_a_commit_by_another_process_is_reported_and_drained(tmp_path: Path) -> None:
    """A queue commit from a separate process makes the watch readable; draining clears it."""
    open_store(tmp_path).close()
    changes = watched(tmp_path)
    try:
        assert not readable(changes, 0)
        code = "\n".join([
            "import sys", "from pathlib import Path", "from pipeline.queues import open_store",
            "store = open_store(Path(sys.argv[1]))",
            "with store.transaction() as tx:", "    tx.put('intents', [b'{}'])",
        ])
        subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
        assert readable(changes, 10)
        changes.drain()
        assert not readable(changes, 0)
    finally:
        changes.close()


def test_idle_wait_ends_on_a_write_and_on_a_write_made_while_busy(tmp_path: Path) -> None:
    """An hour-long idle wait ends when a file in the folder is written, during the wait or before it."""

    async def main() -> tuple[bool, bool]:
        life = Lifecycle(Notifier.from_environ({}))
        changes = watched(tmp_path)
        life.watch(changes)
        try:
            asyncio.get_running_loop().call_later(0.05, (tmp_path / "queues.db-wal").write_bytes, b"x")
            during = await asyncio.wait_for(life.idle(3600), timeout=30)
            (tmp_path / "queues.db-wal").write_bytes(b"y")  # the worker was busy when this was written
            before = await asyncio.wait_for(life.idle(3600), timeout=30)
            return during, before
        finally:
            life.watch(None)
            changes.close()

    assert asyncio.run(main()) == (True, True)


@pytest.mark.parametrize("watch", [True, False])
def test_stop_still_ends_an_idle_wait(tmp_path: Path, watch: bool) -> None:
    """A stop request ends an idle wait with False, whether the folder is watched or not."""

    async def main() -> bool:
        life = Lifecycle(Notifier.from_environ({}))
        changes = watched(tmp_path) if watch else None
        life.watch(changes)
        asyncio.get_running_loop().call_later(0.05, life.request_stop)
        try:
            return await asyncio.wait_for(life.idle(3600), timeout=30)
        finally:
            if changes is not None:
                changes.close()

    assert asyncio.run(main()) is False
