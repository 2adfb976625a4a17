"""Wake an idle worker when another process writes to the state folder, instead of polling it fast.

persist-queue has no cross-process wake-up, so an idle consumer polls. Linux's inotify reports every
write to the folder's files (each commit appends to `queues.db-wal`), so the runner waits on it and
keeps only a slow poll as a safety net: idle CPU falls to almost nothing and pickup takes about a
millisecond. Where inotify is missing (another OS, a network filesystem that reports nothing, no watch
left) the safety net still finds the work, and `open` returning None makes the runner poll fast again.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

# <sys/inotify.h>
IN_MODIFY, IN_MOVED_TO, IN_CREATE = 0x2, 0x80, 0x100
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC


class FolderChanges:
    """A non-blocking inotify descriptor watching one folder; readable after any write in it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, folder: Path) -> FolderChanges | None:
        """Watch `folder`, or None where inotify is not available."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)  # the interpreter's own C library: no search
            init1, add_watch = libc.inotify_init1, libc.inotify_add_watch
        except (OSError, AttributeError):
            return None
        fd = init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            return None
        if add_watch(fd, os.fsencode(folder), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0:
            os.close(fd)
            return None
        return cls(fd)

    def drain(self) -> None:
        """Read away the pending events (only their arrival matters)."""
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Stop watching."""
        os.close(self.fd)
