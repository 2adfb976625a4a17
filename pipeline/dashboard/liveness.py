"""Which workers run: the holder of each role's flock, seen without touching the lock.

Taking the lock to test it (even for a moment) could make a worker that starts at that instant exit
75, so the kernel's own table of locks (/proc/locks) is read instead; the pid written in the lock file
names the holder. Where /proc/locks is missing, a live pid in the file is taken as the holder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROLES = ("scheduler", "enricher", "deliverer")
PROC_LOCKS = Path("/proc/locks")


@dataclass(frozen=True, slots=True)
class Holder:
    """One role: whether a process holds its lock, and which pid the lock file names."""

    role: str
    running: bool
    pid: int | None


def locked_inodes(text: str) -> set[tuple[int, int, int]]:
    """(major, minor, inode) of every FLOCK in a /proc/locks listing."""
    found = set()
    for line in text.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a blocked waiter's line has "->" after the number.
        if len(fields) < 6 or fields[1] == "->" or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            found.add((int(major, 16), int(minor, 16), int(inode)))
        except ValueError:
            continue
    return found


def _pid_in(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def holders(state_dir: Path, roles: tuple[str, ...] = ROLES, proc_locks: Path = PROC_LOCKS) -> list[Holder]:
    """The lock holder of each role (read only: nothing is opened for writing or locked)."""
    try:
        locked: set[tuple[int, int, int]] | None = locked_inodes(proc_locks.read_text(encoding="ascii"))
    except OSError:
        locked = None
    out = []
    for role in roles:
        path = state_dir / f"{role}.lock"
        pid = _pid_in(path)
        try:
            st = path.stat()
        except OSError:
            out.append(Holder(role, False, None))
            continue
        if locked is not None:
            running = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) in locked
        else:
            running = pid is not None and _alive(pid)
        out.append(Holder(role, running, pid if running else None))
    return out
