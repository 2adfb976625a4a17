"""What every command shares: --version/--state-dir, settings at the edge, errors to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import structlog
from pydantic import SecretStr

from pipeline import ROOT, __version__, logs
from pipeline.config import SCALE_PRESETS, Settings, load_settings, parse_duration
from pipeline.errors import EX_CONFIG, PipelineError, QueueWriteError
from pipeline.locks import RoleLock
from pipeline.queues import Queue, Store, open_store
from pipeline.stream import check_stream
from pipeline.workers.runner import Lifecycle, Worker, WriteBackoff, run
from pipeline.workers.sdnotify import Notifier
from pipeline.workload import Workload

T = TypeVar("T")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks, and appends each flag's default where its help does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default in ([], argparse.SUPPRESS)
        if "default" in text or unset or not action.option_strings:
            return text
        return f"{text} (default: {default:g})" if isinstance(default, float) else f"{text} (default: {default})"


def parser(prog: str, description: str, examples: Sequence[str] = ()) -> argparse.ArgumentParser:
    """An argument parser with the flags every command has; `examples` are shown at the end of --help.

    Abbreviations are off: `--scale 10` must not silently mean `--scale-factor 10`.
    """
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog, allow_abbrev=False,
                                formatter_class=_HelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--state-dir", type=Path, metavar="DIR",
                   help="state folder: STATE_DIR (default: data/state in the checkout)")
    return p


def scale_factor(text: str) -> float:
    """argparse type for --scale-factor: a number > 0, or a preset name (realtime, demo, default)."""
    preset = SCALE_PRESETS.get(text.strip().lower())
    if preset is not None:
        return preset
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0 or one of {', '.join(SCALE_PRESETS)}, got {text!r}")
    return value


def instant(text: str) -> datetime:
    """argparse type for a moment: ISO 8601 such as 2026-03-02T06:00:00Z or 2026-03-02 (UTC if no zone)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-03-02T06:00:00Z, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def checkout_path(name: str) -> Path:
    """A path stored relative to the checkout (a stream's profile), made absolute."""
    path = Path(name)
    return path if path.is_absolute() else ROOT / path


def load_workload(profile: Path, company_size: int | None, prices: Path | None = None) -> Workload:
    """The workload model of a profile (resized to COMPANY_SIZE); a bad profile exits 78 with one line."""
    try:
        return Workload.load(profile, prices, company_size=company_size)
    except (ValueError, OSError) as exc:
        config_exit(f"PROFILE={profile}: {exc}")


def jobs_per_real_minute(workload: Workload, scale: float) -> float:
    """The mean job rate the scheduler produces in real time at this scale factor."""
    return workload.expected_per_day() * scale / 1440


def log_effective_settings(cfg: Settings, role: str) -> None:
    """One log event with every setting the worker runs with; secrets only as set/unset, URLs without
    credentials or query."""
    values: dict[str, Any] = {}
    for name, value in cfg.model_dump().items():
        if isinstance(value, SecretStr) or "secret" in name or "key" in name:
            values[name] = "set" if value is not None else "unset"
        elif name.endswith("_url") and value is not None:
            values[name] = bare_url(str(value))
        elif isinstance(value, Path | datetime):
            values[name] = str(value)
        else:
            values[name] = value
    structlog.get_logger().info("worker.settings", role=role, **values)


def bare_url(url: str) -> str:
    """A URL without credentials, query or fragment: safe to print and log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def duration(text: str) -> float:
    """argparse type for `90`, `15m`, `12h`, `3d`."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """argparse type for a count of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def settings(args: argparse.Namespace, **flags: Any) -> Settings:
    """Settings from flags > environment > .env > defaults; exit 78 with one line on a bad value."""
    try:
        return load_settings(state_dir=args.state_dir, **flags)
    except PipelineError as exc:
        config_exit(str(exc))


def config_exit(message: str) -> NoReturn:
    """Stop with one line and exit 78, before anything was touched."""
    sys.stderr.write(f"{prog_name()}: configuration error: {message}\n")
    raise SystemExit(EX_CONFIG)


def prog_name() -> str:
    """The command's name as users type it (`queue-stats`), also when run as `python -m …queue_stats`
    or as a package's `__main__` (`python -m harness.bench`)."""
    path = Path(sys.argv[0])
    return (path.parent.name if path.stem == "__main__" else path.stem).replace("_", "-")


def guarded(main: Callable[[], int]) -> Callable[[], None]:
    """Run a command's main, turning the pipeline's own errors into one line and their exit code."""

    def wrapper() -> None:
        try:
            code = main()
        except PipelineError as exc:
            sys.stderr.write(f"{prog_name()}: {exc}\n")
            code = exc.exit_code
        except KeyboardInterrupt:
            code = 130
        except BrokenPipeError:  # `| head` closed the pipe: the reader has what it wanted, no traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 0
        raise SystemExit(code)

    return wrapper


def start_worker(cfg: Settings, role: str, consumer_of: tuple[Queue, ...]) -> tuple[RoleLock, Store]:
    """Logs, the role lock, the store (resuming this role's own in-flight rows), the stream check."""
    logs.configure()
    log_effective_settings(cfg, role)
    lock = retry_writes(role, RoleLock(cfg.state_dir, role).acquire)
    store = retry_writes(role, lambda: open_store(cfg.state_dir, synchronous=cfg.synchronous, consumer_of=consumer_of))
    check_stream(store, cfg)
    return lock, store


def retry_writes(role: str, attempt: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """`attempt()`, repeated with back-off while the state folder cannot be written (a reboot onto a full
    or read-only disk): one log line per cause, instead of an exit that systemd may never retry."""
    writes = WriteBackoff(role)
    while True:
        try:
            result = attempt()
        except QueueWriteError as exc:
            sleep(writes.failed(exc))
            continue
        writes.succeeded()
        return result


def run_worker(make: Callable[[Lifecycle], Coroutine[Any, Any, Worker]], *, drain: bool) -> int:
    """Build the worker inside the event loop, then drive it until stopped or drained."""

    async def main() -> int:
        life = Lifecycle(Notifier.from_environ(os.environ))
        worker = await make(life)
        return await run(worker, life, drain=drain)

    return asyncio.run(main())

