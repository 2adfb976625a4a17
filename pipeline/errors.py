"""Every exception the pipeline raises on purpose, each carrying the data a caller acts on."""

from __future__ import annotations

import errno
from pathlib import Path

# sysexits.h codes the units and users script against (README: exit codes).
EX_USAGE = 2
EX_DATAERR = 65
EX_TEMPFAIL = 75
EX_CONFIG = 78


class PipelineError(Exception):
    """Base of the pipeline's own errors; `exit_code` is what a command exits with."""

    exit_code = 1


class UsageError(PipelineError):
    """The command was asked for something that cannot be (a state folder that does not exist)."""

    exit_code = EX_USAGE


class ConfigError(PipelineError):
    """A setting is invalid: names the variable, the value and what is expected."""

    exit_code = EX_CONFIG

    def __init__(self, variable: str, value: object, expected: str) -> None:
        from pipeline.secrets import mask_url  # what is expected may quote the value: mask a URL's password

        self.variable, self.value, self.expected = variable, value, mask_url(expected)
        super().__init__(f"{variable}={value!r}: expected {self.expected}")


class StateError(PipelineError):
    """A queue or state file is corrupt or from an incompatible version; it is never replaced."""

    exit_code = EX_DATAERR

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem} (left untouched; move it away to start a new stream)")


class RoleLockedError(PipelineError):
    """Another process already holds this worker role in the state folder."""

    exit_code = EX_TEMPFAIL

    def __init__(self, role: str, holder_pid: int | None, lock_path: Path) -> None:
        self.role, self.holder_pid, self.lock_path = role, holder_pid, lock_path
        who = f"pid {holder_pid}" if holder_pid else "another process"
        super().__init__(f"{role} already running as {who} (lock {lock_path})")


class QueueWriteError(PipelineError):
    """A queue write failed (disk full, read-only file system); a worker retries later, a one-shot
    command (`--backfill`, `--drain`, `replay-dead`) stops with exit 75 (try again later)."""

    exit_code = EX_TEMPFAIL

    def __init__(self, path: Path, cause: str) -> None:
        self.path, self.cause = path, cause
        super().__init__(f"cannot write {path}: {cause}")


class OsProblem(PipelineError):
    """An operating-system error at the edge (a busy port, a path we may not write): one line, no traceback.

    A path or permission the user chose is a configuration problem (78); a busy port or a full or
    read-only disk may pass (75); anything else is unexpected (1).
    """

    def __init__(self, what: str, exc: OSError) -> None:
        self.errno = exc.errno
        self.exit_code = _os_exit_code(exc.errno)
        name = f" {exc.filename}" if exc.filename else ""
        super().__init__(f"{what}{name}: {exc.strerror or exc}")


def _os_exit_code(number: int | None) -> int:
    config = (errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.EADDRNOTAVAIL)
    temporary = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EADDRINUSE, errno.EAGAIN, errno.EBUSY)
    if number in config:
        return EX_CONFIG
    if number in temporary:
        return EX_TEMPFAIL
    return 1


class DeliveryPausedError(PipelineError):
    """The endpoint answered 410 Gone: delivery is paused until `bin/deliverer --resume`."""

    def __init__(self, since: str, payload_id: str) -> None:
        self.since, self.payload_id = since, payload_id
        super().__init__(f"delivery paused since {since}: the endpoint answered 410 Gone to {payload_id}; "
                         "payloads keep queueing; fix the endpoint, then run bin/deliverer --resume")


class EndpointDownError(PipelineError):
    """`--drain` gave up: the endpoint breaker stayed open longer than `--drain-timeout`."""

    def __init__(self, open_for: float, last_error: str | None) -> None:
        self.open_for, self.last_error = open_for, last_error
        super().__init__(f"endpoint unreachable or failing for {open_for:.0f} s (breaker open; "
                         f"last error: {last_error}); payloads stay queued")


class GeminiRefusedError(PipelineError):
    """The Gemini API refused the configuration for good (a rejected key, a model it does not serve)."""

    exit_code = EX_CONFIG

    def __init__(self, variable: str, reason: str) -> None:
        self.variable, self.reason = variable, reason
        super().__init__(f"configuration error: {variable}: {reason}")
