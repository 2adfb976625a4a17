"""Child processes for the benchmark: spawn a command, reap it with its peak RSS, count its fsyncs, read its CPU.

Peak resident memory is the kernel's high-water mark VmHWM (/proc/PID/status), sampled while the child
runs: `wait4`'s ru_maxrss would be useless here, because a child forked from this (larger) process keeps
the parent's RSS as its floor across exec. CPU time comes from /proc/PID/stat, fsyncs from `strace -c`
wrapped around the command: all measured from outside, so the workers carry no benchmark code.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

STRACE = shutil.which("strace")
FSYNC_CALLS = ("fsync", "fdatasync")
_TICKS = os.sysconf("SC_CLK_TCK")
HWM_EVERY = 0.05  # seconds between VmHWM samples of a running child (a high-water mark: late is fine)
# How often the bench looks whether a child ended: the error it adds to a 20 s run is 0.05 %, and the
# bench stays a small load on a 2-core machine next to the processes it measures.
REAP_EVERY = 0.01


class BenchError(RuntimeError):
    """A measurement could not be made (a child failed or hung); the message says which and why."""


@dataclass(frozen=True, slots=True)
class Exit:
    """How a child ended."""

    name: str
    code: int
    seconds: float  # from spawn to exit, perf_counter
    peak_rss_mb: float
    cpu_seconds: float  # user + system, from wait4's rusage
    stderr: str


def module_argv(module: str, *args: str) -> list[str]:
    """argv running one of the project's modules with this interpreter."""
    return [sys.executable, "-m", module, *args]


@functools.cache
def _strace_flags() -> tuple[str, ...] | None:
    if STRACE is None:
        return None
    base = (STRACE, "-f", "-c", "-e", "trace=" + ",".join(FSYNC_CALLS))
    # seccomp-bpf stops the tracee only on the traced calls, so the rest runs at full speed (strace >= 5.3).
    for flags in ((*base, "--seccomp-bpf"), base):
        if subprocess.run([*flags, "-o", os.devnull, "true"], capture_output=True, check=False).returncode == 0:
            return flags
    return None


def strace_argv(output: Path) -> list[str] | None:
    """The strace prefix that counts a command's fsyncs into `output`, or None when strace cannot."""
    flags = _strace_flags()
    return None if flags is None else [*flags, "-o", str(output)]


def strace_usable() -> str | None:
    """None when fsyncs can be counted, else why not."""
    if STRACE is None:
        return "strace is not installed"
    if strace_argv(Path(os.devnull)) is None:
        probe = subprocess.run([STRACE, "-f", "-o", os.devnull, "true"], capture_output=True, check=False)
        return f"strace cannot trace here ({probe.stderr.decode(errors='replace').strip()[:120]})"
    return None


class Child:
    """One spawned command whose stderr goes to a file under `logs`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path,
                 *, strace_to: Path | None = None) -> None:
        self.name = name
        self.log = logs / f"{name}.{time.monotonic_ns()}.log"
        self.strace_to = strace_to
        if strace_to is not None:
            prefix = strace_argv(strace_to)
            if prefix is None:
                raise BenchError("strace cannot trace here (check strace_usable() first)")
            argv = [*prefix, *argv]
        self.started = time.perf_counter()
        self.spawned_at = time.time()  # wall clock, to compare with the child's log timestamps
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        self.exit: Exit | None = None
        self.hwm_kb = 0
        self._sampled = 0.0

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.proc.pid

    def poll(self) -> Exit | None:
        """Reap the child if it has ended (recording peak RSS); None while it runs."""
        if self.exit is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == 0:
                if time.perf_counter() - self._sampled >= HWM_EVERY:
                    self.sample()
                return None
            code = os.waitstatus_to_exitcode(status)
            self.proc.returncode = code  # reaped here, so Popen must not wait for it again
            self.exit = Exit(self.name, code, time.perf_counter() - self.started, self.hwm_kb / 1024,
                             usage.ru_utime + usage.ru_stime, self.log.read_text(errors="replace"))
        return self.exit

    def sample(self) -> None:
        """Read the child's peak RSS so far (gone once it has exited, hence sampled while it runs)."""
        self._sampled = time.perf_counter()
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))

    def wait(self, timeout: float) -> Exit:
        """Wait for the end; a hang past `timeout` kills the child and raises BenchError."""
        deadline = time.monotonic() + timeout
        while (done := self.poll()) is None:
            if time.monotonic() > deadline:
                self.kill()
                raise BenchError(f"{self.name} did not finish within {timeout:.0f} s (log: {self.log})")
            time.sleep(REAP_EVERY)
        return done

    def ok(self, timeout: float) -> Exit:
        """Wait, and raise BenchError unless the exit code is 0."""
        done = self.wait(timeout)
        if done.code != 0:
            raise BenchError(f"{self.name} exited {done.code}: {done.stderr.strip()[-600:]}")
        return done

    def stop(self, timeout: float = 15.0) -> Exit:
        """SIGTERM (a worker's clean stop), then wait."""
        if self.poll() is None:
            self.sample()
            self.proc.send_signal(signal.SIGTERM)
        return self.ok(timeout)

    def kill(self) -> Exit:
        """SIGKILL and reap (the receiver's end, and clean-up after a failure)."""
        if self.poll() is None:
            self.sample()
            self.proc.kill()
            while (done := self.poll()) is None:
                time.sleep(REAP_EVERY)
            return done
        assert self.exit is not None
        return self.exit

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, from /proc/PID/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS


def fsyncs(strace_file: Path) -> int:
    """fsync + fdatasync calls in an `strace -c` summary (0 if the process made none)."""
    total = 0
    for line in strace_file.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in FSYNC_CALLS:
            total += int(parts[3])
    return total


def cleanup(children: list[Child]) -> None:
    """Kill whatever is still running (after an error)."""
    for child in children:
        child.kill()
