"""bin/workload-preview: what a profile will produce over the next N simulated days, before running it."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.clock import load_checkpoint, rfc3339
from pipeline.commands import _cli
from pipeline.config import SCALE_PRESETS
from pipeline.errors import EX_USAGE
from pipeline.focus.bill import Bill
from pipeline.focus.summary import billed_by_team_day, render_bill
from pipeline.queues import open_existing
from pipeline.stream import Stream, read_stream
from pipeline.workload import window_of
from pipeline.workload.preview import Preview, build_preview, day_label, render_text
from pipeline.workload.preview_usage import build_usage, render_usage
from pipeline.workload.profile import headcount

_INSTALL_HINT = "--png needs matplotlib: .venv/bin/pip install -e '.[preview]'"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = _cli.parser("workload-preview", "Show the expected and sampled hourly job rate per office, bursts "
                    "marked, and daily totals of jobs, GPU-hours and dollars, per calendar day.", examples=[
                        "bin/workload-preview --days 7",
                        "bin/workload-preview --days 2 --tz Europe/Berlin --company-size 2000",
                        "bin/workload-preview --days 7 --png week.png   # needs pip install -e '.[preview]'",
                    ])
    p.add_argument("--days", type=int, default=7, metavar="N", help="simulated days (of 24 hours) to show, 1 to 366")
    p.add_argument("--profile", metavar="PROFILE",
                   help="workload profile (default: the state folder's stream, else PROFILE, else "
                        "data/profiles/default.toml)")
    p.add_argument("--prices", type=Path, metavar="FILE",
                   help="price catalog (default: data/prices.toml beside the profile)")
    p.add_argument("--seed", type=int, metavar="SEED",
                   help="seed (default: the state folder's stream, else SEED, else 0)")
    p.add_argument("--start", metavar="SIM_START",
                   help="first simulated instant, ISO 8601, rounded down to the hour (default: where the state "
                        "folder's simulated clock stands, else SIM_START, else 00:00 UTC today)")
    p.add_argument("--company-size", type=_cli.positive_int, metavar="COMPANY_SIZE",
                   help="engineers (default: the state folder's stream, else COMPANY_SIZE, else the profile's)")
    p.add_argument("--tz", type=_zone, default=UTC, metavar="ZONE",
                   help="time zone of the day rows and labels, e.g. Europe/Berlin (default: UTC)")
    p.add_argument("--png", type=Path, metavar="FILE", help="also write the chart as a PNG (needs matplotlib)")
    p.add_argument("--bill", action="store_true", help="also show the bill per team and UTC day (FOCUS "
                   "BilledCost, equal to bin/export's rows of the same days)")
    args = p.parse_args(argv)
    if not 1 <= args.days <= 366:
        p.error("--days must be between 1 and 366")
    return args


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _zone(text: str) -> tzinfo:
    if text.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an IANA time zone such as Europe/Berlin, got {text!r}") from None


def run(argv: Sequence[str] | None = None) -> int:
    """The command, with its arguments given (tests) or taken from sys.argv."""
    args = _parse(argv)
    if args.png is not None and importlib.util.find_spec("matplotlib") is None:
        sys.stderr.write(f"workload-preview: {_INSTALL_HINT}\n")
        return EX_USAGE
    cfg = _cli.settings(args, profile=args.profile, seed=args.seed, sim_start=args.start,
                        company_size=args.company_size)
    stream, position = _running_stream(cfg.state_dir)
    # Flags first; else the running stream of the state folder (its seed, profile and size, and its clock's
    # position, so the chart shows its next N days); else the settings; else seed 0 from today.
    profile = cfg.profile if args.profile or stream is None else _cli.checkout_path(stream.profile)
    size = cfg.company_size if args.company_size or stream is None else stream.company_size
    workload = _cli.load_workload(profile, size, args.prices)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (cfg.sim_start if args.start else position or cfg.sim_start) or today
    seed = (cfg.seed if args.seed is not None else stream.seed if stream else cfg.seed) or 0
    preview = build_preview(workload, seed, window_of(start), args.days, args.tz)
    per_day, first_hour = workload.expected_per_day(), start.replace(minute=0, second=0, microsecond=0)
    sys.stdout.write(f"profile {profile.name} ({workload.profile.description}), {headcount(workload.profile)} "
                     f"engineers, seed {seed}, {args.days} day(s) from {rfc3339(first_hour)}; "
                     f"model mean {per_day:,.0f} jobs/day\n")
    paces = ", ".join(f"{name} ({value:g}) {_rate(_cli.jobs_per_real_minute(workload, value))}"
                      for name, value in SCALE_PRESETS.items())
    sys.stdout.write(f"jobs per real minute at SCALE_FACTOR={cfg.scale_factor:g}: "
                     f"{_rate(_cli.jobs_per_real_minute(workload, cfg.scale_factor))}; presets: {paces}\n\n")
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
        write_png(preview, args.png, f"{profile.name}, seed {seed}: jobs per hour by office, {args.days} day(s) "
                  f"from {rfc3339(start)}")
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


def write_png(preview: Preview, path: Path, title: str) -> None:
    """The chart as an image: a title, one panel per office on one shared y-scale, ticks at each midnight
    of the preview's time zone, and a last panel with GPU-hours and spend per day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(preview.offices)
    fig, axes = plt.subplots(n + 1, 1, sharex=True, squeeze=False, figsize=(12, 2.0 * (n + 1) + 0.6))
    hours = len(preview.offices[0].expected)
    office_axes = axes[:n, 0]
    for ax, series in zip(office_axes, preview.offices, strict=True):
        ax.plot(range(hours), series.expected, label="expected", color="tab:blue")
        ax.step(range(hours), series.sampled, where="post", label="sampled", color="tab:orange", alpha=0.8)
        for h, active in enumerate(series.burst_active):
            if active:
                ax.axvspan(h, h + 1, color="tab:red", alpha=0.15, lw=0)
        ax.set_ylabel("jobs/h")
        ax.set_title(f"{series.name} ({series.timezone}); shaded: burst", fontsize=9, loc="left")
    top = max(max(*s.expected, *s.sampled) for s in preview.offices) * 1.05 or 1.0
    for ax in office_axes:
        ax.set_ylim(0, top)  # one scale for every office, so their sizes compare at a glance
    office_axes[0].legend(loc="upper right", fontsize=8)
    money = axes[n, 0]
    mids = [day.first_hour + day.hours / 2 for day in preview.days]
    widths = [day.hours * 0.8 for day in preview.days]
    money.bar(mids, [day.gpu_hours for day in preview.days], width=widths, color="tab:green", label="GPU-hours")
    money.set_ylabel("GPU-hours/day")
    spend = money.twinx()
    spend.plot(mids, [day.cost for day in preview.days], "o-", color="black", label="spend $")
    spend.set_ylabel("spend $/day")
    money.set_title("per day: GPU-hours (bars) and spend at the price run (dots)", fontsize=9, loc="left")
    ticks = [day.first_hour for day in preview.days]
    # A stub of a day (the preview starting at 22:00) keeps its midnight line but no label to collide with.
    money.set_xticks(ticks, [day_label(day).strip() if day.hours >= 6 else "" for day in preview.days])
    for ax in axes[:, 0]:
        for tick in ticks:
            ax.axvline(tick, color="grey", lw=0.5, alpha=0.5)
    money.set_xlabel(f"days in {preview.tz_name}")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@_cli.guarded
def main() -> int:
    """Entry point of bin/workload-preview."""
    return run()


if __name__ == "__main__":
    main()
