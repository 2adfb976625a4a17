"""systemd's notify protocol (sd_notify(3)): a few datagrams to $NOTIFY_SOCKET; a no-op when it is unset.

The unit's main process must send them (Type=notify, default NotifyAccess=main): the bin/ wrappers `exec`
Python, so the pid systemd started is the pid that speaks.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping


class Notifier:
    """Sends READY=1, WATCHDOG=1, STATUS=… and STOPPING=1 to systemd."""

    def __init__(self, address: str | None, watchdog_usec: str | None = None,
                 watchdog_pid: str | None = None, *, pid: int = 0) -> None:
        # sd_notify(3) knows filesystem ("/…") and abstract ("@…") sockets; anything else (vsock:,
        # a relative path) is not ours to guess at, so it is ignored like an unset variable.
        self._address: str | None = None
        if address and address.startswith("/"):
            self._address = address
        elif address and address.startswith("@"):
            self._address = "\0" + address[1:]
        # As sd_watchdog_enabled(3): WATCHDOG_PID, when set, names the process the watchdog is meant
        # for; a child that inherited the environment must not ping on its parent's behalf.
        for_us = not watchdog_pid or watchdog_pid == str(pid)
        usec = int(watchdog_usec) if watchdog_usec and watchdog_usec.isdigit() else 0
        # systemd asks for a ping every WatchdogSec; send at a third of it so one late loop is fine.
        self.watchdog_interval = usec / 3e6 if for_us and usec > 0 else None
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int | None = None) -> Notifier:
        """The notifier systemd asked for through NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID."""
        return cls(environ.get("NOTIFY_SOCKET"), environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID"),
                   pid=os.getpid() if pid is None else pid)

    def _send(self, message: str) -> None:
        if not self._address:
            return
        # systemd gone, not listening or no sockets left: notification is best effort by design.
        with contextlib.suppress(OSError):
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self._address)

    def ready(self, status: str = "") -> None:
        """The worker's queues are open and it is taking work."""
        self._send("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def watchdog(self) -> None:
        """The main loop is alive."""
        self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """A one-line status shown by systemctl status."""
        self._send(f"STATUS={_one_line(text)}")

    def stopping(self) -> None:
        """Shutdown has begun."""
        self._send("STOPPING=1")


def _one_line(text: str) -> str:
    # A newline would start a new assignment: a status text could otherwise inject READY=1 or MAINPID=.
    return " ".join(text.splitlines())
