"""The sd_notify(3) client on its own: addresses, the watchdog's owner, one-line statuses, best effort."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.workers.sdnotify import Notifier


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket in the abstract namespace, named as systemd writes it in NOTIFY_SOCKET (@…)."""
    name = f"finops-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        yield sock, "@" + name


def test_abstract_socket_receives_ready_with_status(abstract_socket: tuple[socket.socket, str]) -> None:
    """An @name address reaches the abstract socket, and READY=1 carries the first status in one datagram."""
    sock, address = abstract_socket
    Notifier.from_environ({"NOTIFY_SOCKET": address}).ready("3 waiting")
    assert sock.recv(4096) == b"READY=1\nSTATUS=3 waiting"


def test_status_stays_one_assignment(abstract_socket: tuple[socket.socket, str]) -> None:
    """A newline in a status cannot smuggle in another assignment such as READY=1."""
    sock, address = abstract_socket
    Notifier(address).status("queue a\nREADY=1")
    assert sock.recv(4096) == b"STATUS=queue a READY=1"


@pytest.mark.parametrize(("usec", "owner", "interval"), [
    ("3000000", None, 1.0),           # WatchdogSec=3 -> ping every second
    ("3000000", "4242", 1.0),         # the watchdog names this process
    ("3000000", "1", None),           # it names another process: this one inherited the variables
    (None, None, None),               # no WatchdogSec=
    ("soon", None, None),             # garbage is no watchdog, not a crash
])
def test_watchdog_interval_follows_usec_and_pid(usec: str | None, owner: str | None, interval: float | None) -> None:
    """Pings are due at a third of WATCHDOG_USEC, and only in the process WATCHDOG_PID names."""
    environ = {k: v for k, v in {"WATCHDOG_USEC": usec, "WATCHDOG_PID": owner}.items() if v is not None}
    assert Notifier.from_environ(environ, pid=4242).watchdog_interval == interval


@pytest.mark.parametrize("address", [None, "", "vsock:2:1234"])
def test_unset_or_unknown_address_is_a_no_op(address: str | None) -> None:
    """No NOTIFY_SOCKET (or a kind sd_notify(3) does not define) sends nothing and raises nothing."""
    notifier = Notifier(address, "3000000")
    notifier.ready()
    notifier.watchdog()
    notifier.stopping()


def test_relative_address_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sd_notify(3) takes only absolute or @abstract addresses; a relative one is not guessed at."""
    monkeypatch.chdir(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("notify")
        sock.settimeout(0.2)
        Notifier("notify").ready()
        with pytest.raises(TimeoutError):
            sock.recv(4096)


def test_missing_socket_is_not_an_error(tmp_path: Path) -> None:
    """systemd gone (the socket file vanished): notifications are dropped, the worker carries on."""
    notifier = Notifier(str(tmp_path / "gone"))
    notifier.ready("x")
    notifier.watchdog()
    notifier.stopping()
