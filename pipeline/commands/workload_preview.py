"""bin/workload-preview: what a profile will produce over the next N simulated days, before running it."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.clock import load_checkpoint
from pipeline.commands import _cli
from pipeline.errors import EX_USAGE
from pipeline.focus.bill import Bill
from pipeline.focus.summary import billed_by_team_day, render_bill
from pipeline.queues import open_existing
from pipeline.stream import Stream, read_stream
from pipeline.workload import Workload, window_of
from pipeline.workload.preview import Preview, build_preview, render_text
from pipeline.workload.preview_usage import build_usage, render_usage

_INSTALL_HINT = "--png needs matplotlib: .venv/bin/pip install -e '.[preview]'"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _cli.parser("workload-preview", "Show the expected and sampled hourly job rate per office, bursts "
                    "marked, and daily totals of jobs, GPU-hours and dollars.")
    p.add_argument("--days", type=int, default=7, help="simulated days to show (default 7)")
    p.add_argument("--profile", help="workload profile (default: PROFILE or data/profiles/default.toml)")
    p.add_argument("--prices", type=Path, help="price catalog (default: data/prices.toml beside the profile)")
    p.add_argument("--seed", type=int, help="seed (default: SEED, else 0)")
    p.add_argument("--start", help="first simulated instant, ISO 8601 UTC (default: SIM_START, else "
                   "the start of the current UTC day); rounded down to the hour")
    p.add_argument("--png", type=Path, metavar="FILE", help="also write the chart as a PNG (needs matplotlib)")
    p.add_argument("--bill", action="store_true", help="also show the bill per team and UTC day (FOCUS "
                   "BilledCost, equal to bin/export's rows of the same days)")
    args = p.parse_args(argv)
    if not 1 <= args.days <= 366:
        p.error("--days must be between 1 and 366")
    return args


def run(argv: Sequence[str] | None = None) -> int:
    """The command, with its arguments given (tests) or taken from sys.argv."""
    args = _parse(argv)
    if args.png is not None and importlib.util.find_spec("matplotlib") is None:
        sys.stderr.write(f"workload-preview: {_INSTALL_HINT}\n")
        return EX_USAGE
    cfg = _cli.settings(args, profile=args.profile, seed=args.seed, sim_start=args.start)
    try:
        workload = Workload.load(cfg.profile, args.prices)
    except (ValueError, OSError) as exc:
        _cli.config_exit(f"PROFILE={cfg.profile}: {exc}")
    stream, position = _running_stream(cfg.state_dir)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    # Flags first; else the running stream of the state folder (its seed, and its clock's position, so
    # the chart shows its next N days); else SEED/SIM_START; else seed 0 from today.
    start = (cfg.sim_start if args.start else position or cfg.sim_start) or today
    seed = (cfg.seed if args.seed is not None else stream.seed if stream else cfg.seed) or 0
    preview = build_preview(workload, seed, window_of(start), args.days)
    sys.stdout.write(f"profile {cfg.profile.name} ({workload.profile.description}), seed {seed}, "
                     f"{args.days} day(s) from {start:%Y-%m-%d %H:00} UTC; "
                     f"model mean {workload.expected_per_day():,.0f} jobs/day\n\n")
    sys.stdout.write(render_text(preview))
    sys.stdout.write(render_usage(build_usage(workload, seed, window_of(start), args.days)))
    if args.bill:
        # As bin/export: no job is requested before the stream's SIM_START (the setting, not --start).
        sim_start = stream.sim_start if stream else _cli.settings(args).sim_start
        origin = window_of(sim_start) if sim_start else None
        first = window_of(start)
        sys.stdout.write(render_bill(billed_by_team_day(Bill(workload), seed, first, first + 24 * args.days,
                                                        origin)))
    if args.png is not None:
        _write_png(preview, args.png)
        sys.stdout.write(f"\nwrote {args.png}\n")
    return 0


def _running_stream(state_dir: Path) -> tuple[Stream | None, datetime | None]:
    """The stream and clock position of an existing state folder (nothing is created)."""
    if not state_dir.is_dir():
        return None, None
    store = open_existing(state_dir)
    if store is None:
        return None, None
    try:
        stream, checkpoint = read_stream(store), load_checkpoint(store)
    finally:
        store.close()
    position = checkpoint.sim_now if checkpoint else (stream.sim_start if stream else None)
    return stream, position


def _write_png(preview: Preview, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(preview.offices), 1, sharex=True, squeeze=False,
                             figsize=(12, 2.2 * len(preview.offices)))
    for ax, series in zip(axes[:, 0], preview.offices, strict=True):
        hours = range(len(series.expected))
        ax.plot(hours, series.expected, label="expected", color="tab:blue")
        ax.step(hours, series.sampled, where="post", label="sampled", color="tab:orange", alpha=0.8)
        for h, active in enumerate(series.burst_active):
            if active:
                ax.axvspan(h, h + 1, color="tab:red", alpha=0.15, lw=0)
        ax.set_ylabel("jobs/h")
        ax.set_title(f"{series.name} ({series.timezone}); shaded: burst", fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel(f"hours from {preview.days[0].day:%Y-%m-%d %H:00} UTC")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@_cli.guarded
def main() -> int:
    """Entry point of bin/workload-preview."""
    return run()


if __name__ == "__main__":
    main()
