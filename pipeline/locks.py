"""One process per role: an flock in the state folder, released by the kernel when the holder dies."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from pipeline.errors import QueueWriteError, RoleLockedError


class RoleLock:
    """Holds `<state_dir>/<role>.lock` for the life of the process (or until `release`)."""

    def __init__(self, state_dir: Path, role: str) -> None:
        self.role = role
        self.path = state_dir / f"{role}.lock"
        self._fd: int | None = None

    def acquire(self) -> RoleLock:
        """Take the lock or raise RoleLockedError naming the holder's pid.

        QueueWriteError when the state folder cannot be written (read-only or full): the caller waits.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
                raise
            raise QueueWriteError(self.path, exc.strerror or str(exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise RoleLockedError(self.role, int(holder) if holder.isdigit() else None, self.path) from None
        os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):  # a full disk: the flock is the lock, the pid only names the holder
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the role up (also happens implicitly when the process exits)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
