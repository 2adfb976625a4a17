"""bin/soak: the chaos scenario for any duration, with a live summary line and a final report."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from harness.soak import scenario as soak
from pipeline import __version__
from pipeline.commands import _cli


def _interval(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError("MIN,MAX seconds such as 1,5") from None
    if not 0 < bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError("MIN,MAX seconds with 0 < MIN <= MAX")
    return bounds


@_cli.guarded
def main() -> int:
    """Entry point: exit 0 when nothing was lost, 1 otherwise."""
    p = argparse.ArgumentParser(prog="soak", description="Run the pipeline under random kills, reboots and "
                                "outages, then prove nothing was lost. Ctrl-C ends the chaos early and still "
                                "drains and verifies.", allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
                                    "examples:\n  bin/soak --duration 8h              # a night on the Pi\n"
                                    "  bin/soak --duration 10m --outage 30s"))
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--state-dir", type=Path, help="an empty or new folder for this run's queues, receipts and "
                   "logs (default: a new temporary folder, kept afterwards)")
    p.add_argument("--duration", type=_cli.duration, default=3600.0, help="length of the chaos (default 1h)")
    p.add_argument("--scale-factor", type=float, default=2000.0, help="simulated seconds per real second")
    p.add_argument("--kill-interval", type=_interval, default=(1.0, 5.0), metavar="MIN,MAX",
                   help="seconds between kills, drawn uniformly (default 1,5)")
    p.add_argument("--cycle", type=_cli.duration, default=600.0,
                   help="one outage and one reboot per cycle (default 10m)")
    p.add_argument("--outage", type=_cli.duration, default=20.0, help="how long each outage lasts (default 20s)")
    p.add_argument("--receiver-faults", type=shlex.split, default=list(soak.TRANSIENT_FAULTS), metavar="FLAGS",
                   help="fault-injection flags for bin/receiver, quoted ('' for none; default: "
                        f"'{shlex.join(soak.TRANSIENT_FAULTS)}')")
    p.add_argument("--seed", type=int, default=20260302, help="seed of the simulated stream")
    args = p.parse_args()
    root = args.state_dir or Path(tempfile.mkdtemp(prefix="finops-soak-"))
    if root.exists() and any(root.iterdir()):
        p.error(f"--state-dir {root} is not empty: each soak starts a new stream in a folder of its own")
    scenario = soak.Scenario(kill_seconds=args.duration, scale_factor=args.scale_factor, seed=args.seed,
                             kill_interval=args.kill_interval, cycle=args.cycle, outage_seconds=args.outage,
                             receiver_faults=tuple(args.receiver_faults))
    print(f"soak: {args.duration:.0f} s of chaos in {root} (driver seed {scenario.driver_seed}); "
          "Ctrl-C ends it early", flush=True)
    stop = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_sigint)
    report = soak.run(scenario, root, soak.print_line(sys.stdout), stop)
    print("\n" + report.final())
    for label, ids in (("lost", report.lost), ("unexpected", report.unexpected), ("differing", report.differing)):
        if ids:
            print(f"{label}: {' '.join(ids[:20])}{' …' if len(ids) > 20 else ''}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    main()
