"""The rendered systemd units: their directives, `systemd-analyze verify`, and each ExecStart= run for real
against a notify socket, as systemd would run it."""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pipeline.commands.install_systemd import (
    LEGACY,
    ROLES,
    TARGET,
    TIME_WAIT_SYNC,
    UNITS,
    check_env_file,
    render_units,
    time_wait_sync_unit,
    unit_values,
)
from pipeline.errors import ConfigError
from tests.conftest import BIN, ROOT

Unit = dict[str, list[str]]
SERVICES = [f"finops-{role}.service" for role in ROLES]
# Only a guard against a hung test; nothing asserts how fast anything is.
GUARD_S = 60.0


def parse_unit(text: str) -> Unit:
    """Directive name -> every value it was given (sections merged; the names do not clash here)."""
    unit: Unit = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            unit.setdefault(key, []).append(value)
    return unit


@pytest.fixture
def rendered(tmp_path: Path) -> dict[str, str]:
    """The units rendered for this checkout, the current user and a temporary state folder (the optional
    dashboard's included)."""
    return render_units(unit_values(ROOT, getpass.getuser(), tmp_path / "state"), with_dashboard=True)


def test_services_carry_the_required_directives(rendered: dict[str, str], tmp_path: Path) -> None:
    """Every service is a sandboxed notify unit with watchdog, restart limits and the exit codes not to loop on."""
    for name in SERVICES:
        unit = parse_unit(rendered[name])
        one = {key: values[-1] for key, values in unit.items()}
        assert one["Type"] == "notify" and one["NotifyAccess"] in ("main", "all"), name
        assert {65, 78} <= {int(code) for code in one["RestartPreventExitStatus"].split()}, name
        assert one["Restart"] == "on-failure" and one["RestartSec"] and one["StartLimitBurst"], name
        assert one["WatchdogSec"] and one["TimeoutStopSec"] and one["KillSignal"] == "SIGTERM", name
        assert {"network-online.target", "time-sync.target"} <= set(" ".join(unit["After"]).split()), name
        assert "network-online.target" in one["Wants"].split(), name
        assert one["WorkingDirectory"] == str(ROOT) and one["User"] == getpass.getuser(), name
        assert shlex.split(one["ExecStart"]) == [str(BIN / name.removeprefix("finops-").removesuffix(".service"))]
        # The sandbox lets the program write exactly the folder it is told to use.
        state = str(tmp_path / "state")
        assert one["ReadWritePaths"] == one["RequiresMountsFor"] == state, name
        assert one["Environment"] == f"STATE_DIR={state}", name
        assert (one["ProtectSystem"], one["ProtectHome"]) == ("strict", "read-only"), name
        assert one["NoNewPrivileges"] == "yes" and one["PrivateTmp"] == "yes" and one["MemoryMax"], name
        assert "EnvironmentFile" not in unit and one["PartOf"] == TARGET, name
        assert not re.search(r"@[A-Z_]+@", rendered[name]), f"{name} has an unfilled placeholder"
    target = parse_unit(rendered[TARGET])
    assert set(target["Wants"][0].split()) == set(SERVICES) and target["WantedBy"] == ["multi-user.target"]


def test_paths_a_unit_cannot_carry_are_refused() -> None:
    """A checkout path with a space would split ExecStart= in two; the installer refuses it (exit 78)."""
    with pytest.raises(ConfigError) as caught:
        unit_values(Path("/home/pi/my code"), "pi", Path("/home/pi/my code/data/state"))
    assert caught.value.variable == "checkout"


@pytest.mark.process
def test_systemd_analyze_verify_accepts_the_rendered_units(rendered: dict[str, str], tmp_path: Path) -> None:
    """`systemd-analyze verify` passes with no warning (it warns and goes on for an unknown or bad directive)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("REQUIRE_SYSTEMD_ANALYZE") == "1":
            pytest.fail("systemd-analyze is missing but REQUIRE_SYSTEMD_ANALYZE=1 (CI installs Debian's systemd)")
        pytest.skip("systemd-analyze not installed (apt-get install systemd); CI requires it")
    folder = tmp_path / "units"
    folder.mkdir()
    for name, text in rendered.items():
        (folder / name).write_text(text)
    result = subprocess.run([analyze, "verify", "--man=no", *(str(folder / n) for n in rendered)],
                            capture_output=True, text=True, check=False, timeout=GUARD_S)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound unix datagram socket that receives its senders' credentials, like systemd's."""
    folder = Path(f"/tmp/finops-notify-{os.getpid()}")  # sun_path holds 108 bytes: keep it short
    folder.mkdir(exist_ok=True)
    path = str(folder / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.bind(path)
        sock.settimeout(0.5)
        yield sock, path
    shutil.rmtree(folder, ignore_errors=True)


def receive(sock: socket.socket) -> tuple[int, list[str]] | None:
    """One datagram as (sender pid, its assignments), or None when nothing came for a moment."""
    ucred = struct.calcsize("3i")
    try:
        data, ancillary, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(ucred))
    except TimeoutError:
        return None
    pids = [struct.unpack("3i", cdata[:ucred])[0] for level, kind, cdata in ancillary
            if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)]
    return pids[0], data.decode().splitlines()


# A mount namespace in which the checkout is read-only, as ProtectHome=read-only makes it. `unshare`
# without --fork and the `exec` keep the pid, so the process that notifies is still the one started.
READ_ONLY_CHECKOUT = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                      'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(ROOT)]


def start_exec(unit_text: str, env: dict[str, str], wrap: Sequence[str] = (), **extra: str) -> subprocess.Popen[bytes]:
    """Start the unit's ExecStart= verbatim, in its WorkingDirectory= with its Environment=, as systemd does."""
    unit = parse_unit(unit_text)
    env = {**env, **dict(item.split("=", 1) for item in unit["Environment"]), **extra}
    log = Path(env["STATE_DIR"]).parent / "stderr.log"
    with log.open("ab") as stderr:
        return subprocess.Popen([*wrap, *shlex.split(unit["ExecStart"][-1])], cwd=unit["WorkingDirectory"][-1],
                                env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def collect_until(sock: socket.socket, proc: subprocess.Popen[bytes], done: str, count: int = 1) -> list[str]:
    """Messages from `proc` until `done` arrived `count` times; fails if another pid speaks or `proc` dies."""
    seen: list[str] = []
    deadline = time.monotonic() + GUARD_S
    while seen.count(done) < count:
        assert time.monotonic() < deadline, f"no {done} x{count} from pid {proc.pid}; got {seen}"
        got = receive(sock)
        if got is None:
            assert proc.poll() is None, f"exited {proc.returncode} before {done}; got {seen}"
            continue
        pid, lines = got
        assert pid == proc.pid, f"{lines} came from pid {pid}, not the main process {proc.pid}"
        seen += lines
    return seen


def notify_cycle(sock: socket.socket, proc: subprocess.Popen[bytes], state: Path) -> None:
    """READY=1 once the queues exist, repeated WATCHDOG=1, then STOPPING=1 and exit 0 on SIGTERM."""
    try:
        first = collect_until(sock, proc, "READY=1")
        assert (state / "queues.db").is_file(), "READY=1 came before the queues were open"
        assert "WATCHDOG=1" not in first, "pinged before READY=1"
        collect_until(sock, proc, "WATCHDOG=1", count=3)
        proc.send_signal(signal.SIGTERM)
        collect_until(sock, proc, "STOPPING=1")
        assert proc.wait(timeout=GUARD_S) == 0
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.process
@pytest.mark.parametrize("role", ROLES)
def test_exec_start_notifies_ready_watchdog_and_stopping(role: str, rendered: dict[str, str],
                                                         env: dict[str, str],
                                                         notify_socket: tuple[socket.socket, str]) -> None:
    """The process systemd starts sends READY=1 once its queues exist, keeps pinging, and stops cleanly."""
    sock, path = notify_socket
    unit_text = rendered[f"finops-{role}.service"]
    # A 0.3 s watchdog makes the worker ping every 0.1 s, so several pings arrive while it idles.
    proc = start_exec(unit_text, env, NOTIFY_SOCKET=path, WATCHDOG_USEC="300000", SCALE_FACTOR="720")
    notify_cycle(sock, proc, Path(parse_unit(unit_text)["ReadWritePaths"][0]))


@pytest.mark.process
@pytest.mark.parametrize("role", ROLES)
def test_exec_start_runs_with_the_checkout_read_only(role: str, rendered: dict[str, str], env: dict[str, str],
                                                     notify_socket: tuple[socket.socket, str]) -> None:
    """The sandbox makes the checkout (and .venv) read-only; every worker must still run and stop cleanly."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or subprocess.run(
            [*READ_ONLY_CHECKOUT, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("mounting the checkout read-only needs root and unshare")
    sock, path = notify_socket
    unit_text = rendered[f"finops-{role}.service"]
    proc = start_exec(unit_text, env, READ_ONLY_CHECKOUT, NOTIFY_SOCKET=path, WATCHDOG_USEC="300000")
    notify_cycle(sock, proc, Path(parse_unit(unit_text)["ReadWritePaths"][0]))


@pytest.mark.process
@pytest.mark.parametrize("role", ROLES)
def test_a_bad_setting_exits_78_before_touching_anything(role: str, rendered: dict[str, str],
                                                        env: dict[str, str],
                                                        notify_socket: tuple[socket.socket, str]) -> None:
    """SCALE_FACTOR=abc stops ExecStart with 78 (listed in RestartPreventExitStatus=), no READY, no state."""
    sock, path = notify_socket
    unit_text = rendered[f"finops-{role}.service"]
    proc = start_exec(unit_text, env, NOTIFY_SOCKET=path, SCALE_FACTOR="abc")
    assert proc.wait(timeout=GUARD_S) == 78
    assert "78" in parse_unit(unit_text)["RestartPreventExitStatus"][0].split()
    assert "SCALE_FACTOR" in (Path(env["STATE_DIR"]).parent / "stderr.log").read_text()
    assert receive(sock) is None and not Path(parse_unit(unit_text)["ReadWritePaths"][0]).exists()


def fake_systemctl(folder: Path) -> Path:
    """A `systemctl` that records its arguments and knows no unit (is-enabled fails), first on PATH."""
    folder.mkdir()
    script = folder / "systemctl"
    script.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls"\n[ "$1" != is-enabled ]\n')
    script.chmod(0o755)
    return folder / "calls"


@pytest.mark.process
@pytest.mark.parametrize("legacy", [False, True])
def test_installer_installs_renders_and_enables(legacy: bool, tmp_path: Path, env: dict[str, str]) -> None:
    """bin/install-systemd writes what --dry-run prints, makes the state folder, retires the old unit, enables."""
    unit_dir, state = tmp_path / "units", Path(env["STATE_DIR"])
    unit_dir.mkdir()
    if legacy:
        (unit_dir / LEGACY).write_text("[Service]\nExecStart=/home/pi/old/run.sh\n")
    calls = fake_systemctl(tmp_path / "fakebin")
    env = {**env, "PATH": f"{tmp_path / 'fakebin'}{os.pathsep}{env['PATH']}"}
    argv = [str(BIN / "install-systemd"), "--user", getpass.getuser(), "--unit-dir", str(unit_dir)]

    dry = subprocess.run([*argv, "--dry-run"], env=env, capture_output=True, text=True, check=False,
                         timeout=GUARD_S)
    assert dry.returncode == 0, dry.stderr
    assert sorted(p.name for p in unit_dir.iterdir()) == ([LEGACY] if legacy else []) and not calls.exists()
    assert not state.exists(), "--dry-run must install nothing"

    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=GUARD_S)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = render_units(unit_values(ROOT, getpass.getuser(), state))
    assert {name: (unit_dir / name).read_text() for name in UNITS} == expected
    assert all(text in dry.stdout for text in expected.values())
    assert state.is_dir()
    retire = [f"disable --now {LEGACY}"] if legacy else [f"is-enabled --quiet {LEGACY}"]
    wait_sync = [f"enable {TIME_WAIT_SYNC}"] if time_wait_sync_unit() else []
    assert calls.read_text().splitlines() == [*retire, "daemon-reload", f"enable {TARGET}", *wait_sync]


@pytest.mark.process
def test_units_carry_the_hardening_systemd_analyze_security_lists(rendered: dict[str, str], tmp_path: Path) -> None:
    """System-call filter, proc protection and private users are set, and `systemd-analyze security` marks
    them as met (offline, on the rendered files, where this systemd can do that)."""
    checks = ("SystemCallFilter=", "ProtectProc=", "PrivateUsers=", "ProcSubset=", "PrivateMounts=")
    for name in SERVICES:
        unit = parse_unit(rendered[name])
        assert unit["SystemCallFilter"][0] == "@system-service" and unit["ProtectProc"] == ["invisible"], name
        assert unit["PrivateUsers"] == ["yes"] and unit["UMask"] == ["0077"], name
        assert "time-sync.target" in unit["Wants"][0].split(), name
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    (tmp_path / SERVICES[0]).write_text(rendered[SERVICES[0]])
    result = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(tmp_path / SERVICES[0])],
                            capture_output=True, text=True, check=False, timeout=GUARD_S)
    if "--offline" in result.stderr or "unrecognized option" in result.stderr:
        pytest.skip("this systemd-analyze has no offline security check")
    marked = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("✓")}
    assert all(any(m.startswith(check) for m in marked) for check in checks), result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("✗") and "SystemCallFilter" in line]


@pytest.mark.parametrize("state_dir", ["/", "/etc/finops", "/usr/local/finops", "/var", "/var/lib/../lib/finops",
                                       "/run/finops", "/home"])
def test_the_installer_refuses_system_folders_and_unnormalised_paths(state_dir: str) -> None:
    """STATE_DIR becomes ReadWritePaths=: a system folder would open the system to the workers."""
    with pytest.raises(ConfigError) as caught:
        unit_values(ROOT, "pi", Path(state_dir))
    assert caught.value.variable == "STATE_DIR"


def test_the_installer_refuses_a_folder_holding_the_checkout_or_a_symlink(tmp_path: Path) -> None:
    """A STATE_DIR around the checkout would make the code writable; a symlink hides what is opened."""
    with pytest.raises(ConfigError):
        unit_values(ROOT, "pi", ROOT.parent)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigError) as caught:
        unit_values(ROOT, "pi", tmp_path / "link")
    assert "real path" in caught.value.expected
    assert unit_values(ROOT, "pi", Path("/var/lib/finops"))["STATE_DIR"] == "/var/lib/finops"


def test_the_installer_refuses_an_env_file_others_can_read(tmp_path: Path) -> None:
    """.env holds GEMINI_API_KEY and WEBHOOK_SECRET: group- or world-readable, the installer names the chmod."""
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_SECRET=whsec_x\n")
    env_file.chmod(0o644)
    problem = check_env_file(env_file)
    assert problem is not None and f"chmod 600 {env_file}" in problem
    env_file.chmod(0o600)
    assert check_env_file(env_file) is None and check_env_file(tmp_path / "absent") is None
