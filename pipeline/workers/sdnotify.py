"""systemd's notify protocol: a few datagrams to $NOTIFY_SOCKET; a no-op when it is unset."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping


class Notifier:
    """Sends READY=1, WATCHDOG=1, STATUS=… and STOPPING=1 to systemd (sd_notify(3))."""

    def __init__(self, address: str | None, watchdog_usec: str | None = None) -> None:
        self._address = address
        if address and address.startswith("@"):  # abstract namespace socket
            self._address = "\0" + address[1:]
        # systemd asks for a ping every WatchdogSec; send at a third of it so one late loop is fine.
        self.watchdog_interval = int(watchdog_usec) / 3e6 if watchdog_usec and watchdog_usec.isdigit() else None
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        """The notifier systemd asked for through NOTIFY_SOCKET and WATCHDOG_USEC."""
        return cls(environ.get("NOTIFY_SOCKET"), environ.get("WATCHDOG_USEC"))

    def _send(self, message: str) -> None:
        if not self._address:
            return
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # systemd gone or not listening: notification is best effort by design.
        with contextlib.suppress(OSError):
            self._sock.sendto(message.encode(), self._address)

    def ready(self, status: str = "") -> None:
        """The worker's queues are open and it is taking work."""
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        """The main loop is alive."""
        self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """A one-line status shown by systemctl status."""
        self._send(f"STATUS={text}")

    def stopping(self) -> None:
        """Shutdown has begun."""
        self._send("STOPPING=1")
