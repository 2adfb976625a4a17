"""bin/export: the FOCUS 1.2 cost and usage rows of any simulated span, written to a file."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.commands import _cli
from pipeline.commands.workload_preview import _running_stream
from pipeline.errors import EX_USAGE
from pipeline.focus.bill import Bill
from pipeline.focus.export import Span, export
from pipeline.focus.writers import FORMATS
from pipeline.workload import Workload, window_of

_INSTALL_HINT = "--format parquet needs pyarrow: .venv/bin/pip install -e '.[export]'"


def _instant(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time such as 2026-01-05T00:00Z, got {text!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _cli.parser("export", "Write the FOCUS 1.2 CostAndUsage rows of a simulated span (charge hours "
                    "from --from up to --to) to a file, straight from the workload model. The seed and "
                    "SIM_START come from the flags, the environment or the state folder's stream (jobs "
                    "requested before SIM_START do not exist), so the file equals the stream's cost.usage "
                    "events of the same hours.")
    p.add_argument("--from", dest="start", type=_instant, required=True,
                   help="first simulated instant, ISO 8601 (UTC unless it names a zone); rounded down to the hour")
    p.add_argument("--to", dest="end", type=_instant, required=True,
                   help="end of the span (exclusive), ISO 8601; rounded down to the hour")
    p.add_argument("--format", choices=FORMATS, default="csv", help="file format (default csv)")
    p.add_argument("--out", type=Path, required=True, help="file to write (replaced when complete)")
    p.add_argument("--profile", help="workload profile (default: PROFILE or data/profiles/default.toml)")
    p.add_argument("--prices", type=Path, help="price catalog (default: data/prices.toml beside the profile)")
    p.add_argument("--seed", type=int, help="seed (default: SEED, else the state folder's stream, else 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    args = p.parse_args(argv)
    if window_of(args.end) <= window_of(args.start):
        p.error("--to must be at least one hour after --from")
    if not args.out.parent.is_dir():
        p.error(f"--out: folder {args.out.parent} does not exist")
    return args


class _Bar:
    """A one-line progress bar on a terminal, redrawn at most ten times a second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, done: int, total: int, rows: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        filled = done * 30 // total
        sys.stderr.write(f"\rexport [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} h, {rows:,} rows")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(argv: Sequence[str] | None = None) -> int:
    """The command, with its arguments given (tests) or taken from sys.argv."""
    args = _parse(argv)
    if args.format == "parquet" and importlib.util.find_spec("pyarrow") is None:
        sys.stderr.write(f"export: {_INSTALL_HINT}\n")
        return EX_USAGE
    cfg = _cli.settings(args, profile=args.profile, seed=args.seed)
    try:
        workload = Workload.load(cfg.profile, args.prices)
    except (ValueError, OSError) as exc:
        _cli.config_exit(f"PROFILE={cfg.profile}: {exc}")
    stream, _ = _running_stream(cfg.state_dir)
    seed = (cfg.seed if args.seed is not None else stream.seed if stream else cfg.seed) or 0
    # A stream has no jobs requested before its SIM_START, so neither has its bill.
    sim_start = stream.sim_start if stream else cfg.sim_start
    first, end = window_of(args.start), window_of(args.end)
    origin = window_of(sim_start) if sim_start else None
    bar = _Bar() if sys.stderr.isatty() and not args.quiet else None
    started = time.monotonic()
    try:
        rows = export(Bill(workload), Span(seed, first, end, origin), args.format, args.out, progress=bar)
    except OSError as exc:  # a full disk or a folder we may not write: one line, nothing half-written left
        sys.stderr.write(f"\nexport: cannot write {args.out}: {exc.strerror or exc}\n")
        return 1
    if not args.quiet:
        sys.stderr.write(f"export: {rows:,} rows of {end - first} hours to {args.out} "
                         f"({args.format}, seed {seed}) in {time.monotonic() - started:.1f} s\n")
    return 0


@_cli.guarded
def main() -> int:
    """Entry point of bin/export."""
    return run()


if __name__ == "__main__":
    main()
