"""bin/bench: measure the pipeline against its raw baselines and write docs/PERFORMANCE.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.bench.measure import BenchPlan, run_all
from harness.bench.report import render, write
from harness.bench.rig import Rig
from harness.procs import BenchError
from pipeline import ROOT, __version__
from pipeline.commands import _cli


@_cli.guarded
def main() -> int:
    """Entry point."""
    p = argparse.ArgumentParser(prog="bench", description=(
        "Run the benchmark (baselines, end to end, backfill, footprint, latency) and write its table."),
        allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
            "examples:\n  bin/bench --quick                 # a smoke run, table on standard output\n"
            "  bin/bench --runs 3                # the full table into docs/PERFORMANCE.md\n"
            "  bin/bench export --days 90        # bin/export's rows/s beside pyarrow alone"))
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--quick", action="store_true", help="one small run of everything (a smoke check, ~1 min)")
    p.add_argument("-n", type=int, help="intents per end-to-end run (default 20000)")
    p.add_argument("--runs", type=int, help="runs per measurement; the table shows medians (default 3)")
    p.add_argument("--out", type=Path, help="the report to (re)write (default: docs/PERFORMANCE.md; with --quick, "
                   "standard output, so a smoke check never replaces the real table)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the raw results as JSON")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (state files, worker logs)")
    args = p.parse_args()
    plan = BenchPlan.quick() if args.quick else BenchPlan()
    if args.n is not None:
        plan = dataclasses.replace(plan, n=args.n)
    if args.runs is not None:
        plan = dataclasses.replace(plan, runs=args.runs)
    settings = _cli.settings(argparse.Namespace(state_dir=None))
    scratch = Path(tempfile.mkdtemp(prefix="finops-bench-"))
    started = time.monotonic()

    def progress(what: str) -> None:
        sys.stderr.write(f"[{time.monotonic() - started:6.1f} s] {what}\n")

    try:
        results = run_all(Rig(scratch, os.environ, settings), settings, plan, progress)
    except BenchError as exc:
        sys.stderr.write(f"bench: {exc}\n(scratch kept in {scratch})\n")
        return 1
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    command = shlex.join(["bin/bench", *sys.argv[1:]])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    block = render(results, command, when)
    out = args.out or (None if args.quick else ROOT / "docs" / "PERFORMANCE.md")
    if out is None:
        sys.stdout.write(block)
    else:
        write(out, block)
    progress(f"done; wrote {out or 'the report to standard output'}" + (f" (scratch: {scratch})" if args.keep else ""))
    return 0


if __name__ == "__main__":
    main()
