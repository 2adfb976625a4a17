"""What every command shares: --version/--state-dir, settings at the edge, errors to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pipeline import __version__, logs
from pipeline.config import Settings, load_settings, parse_duration
from pipeline.errors import EX_CONFIG, PipelineError, QueueWriteError
from pipeline.locks import RoleLock
from pipeline.queues import Queue, Store, open_store
from pipeline.stream import check_stream
from pipeline.workers.runner import Lifecycle, Worker, WriteBackoff, run
from pipeline.workers.sdnotify import Notifier

T = TypeVar("T")


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the flags every command has."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--state-dir", type=Path, help="queue folder (default: STATE_DIR or data/state)")
    return p


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
        raise SystemExit(code)

    return wrapper


def start_worker(cfg: Settings, role: str, consumer_of: tuple[Queue, ...]) -> tuple[RoleLock, Store]:
    """Logs, the role lock, the store (resuming this role's own in-flight rows), the stream check."""
    logs.configure()
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

