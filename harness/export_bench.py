"""bin/bench export: rows per second and peak memory of bin/export for a long span, beside pyarrow alone.

Each measurement is its own process, so its peak RSS is its own. "pyarrow alone" writes the same number
of rows, of the same columns and types, built by cycling through real rows of the bill (so it pays only
for turning Python values into Arrow columns and writing them): the ceiling for any Python exporter.
Usage: bin/bench export [--days 90] [--formats parquet,csv] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, tzinfo=UTC)
SEED = 11
TEMPLATE_HOURS = 24


def _child(argv: list[str]) -> tuple[dict[str, float], float]:
    """Run a child to completion: (its JSON line, its peak RSS in MB)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.communicate()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench export: {' '.join(argv)} failed:\n{err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024


def ours(fmt: str, days: int, out: Path) -> dict[str, float]:
    """bin/export itself (the command's own code path), timed inside the child around the export."""
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from pipeline.commands.export import run\n"
        "t = time.perf_counter()\n"
        f"run(['--from', '{START.isoformat()}', '--to', '{(START + timedelta(days=days)).isoformat()}', "
        f"'--format', '{fmt}', '--out', '{out}', '--seed', '{SEED}', '--quiet'])\n"
        "print(json.dumps({'seconds': time.perf_counter() - t}))\n"
    )
    result, rss = _child([sys.executable, "-c", code])
    rows = _count(fmt, out)
    return {"rows": rows, "seconds": result["seconds"], "rows_per_s": rows / result["seconds"], "rss_mb": rss}


def model_alone(days: int) -> float:
    """Seconds the workload model takes to generate every job (and life) the export reads: the span and
    its lookback. No exporter of this model can be faster than this."""
    code = (
        "import json, time\n"
        "from pipeline import ROOT\n"
        "from pipeline.focus.bill import lookback_hours\n"
        "from pipeline.workload import Workload, window_of\n"
        "from datetime import datetime\n"
        "w = Workload.load(ROOT / 'data' / 'profiles' / 'default.toml')\n"
        f"first = window_of(datetime.fromisoformat('{START.isoformat()}'))\n"
        "t = time.perf_counter()\n"
        "for window in range(first - lookback_hours(w), first):\n"
        f"    w.window_jobs({SEED}, window, running_after=first * 3600)\n"
        f"for window in range(first, first + {days} * 24):\n"
        f"    w.window_jobs({SEED}, window)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t}))\n"
    )
    return _child([sys.executable, "-c", code])[0]["seconds"]


def _count(fmt: str, path: Path) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(str(path)).metadata.num_rows)
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def baseline(fmt: str, rows: int, out: Path) -> dict[str, float]:
    result, rss = _child([sys.executable, "-m", "harness.export_bench", "--baseline", fmt, "--rows", str(rows),
                          "--out", str(out)])
    return {"rows": rows, "seconds": result["seconds"], "rows_per_s": rows / result["seconds"], "rss_mb": rss}


def _baseline_child(fmt: str, rows: int, out: Path) -> None:
    """In a child: write `rows` rows with pyarrow alone, in row groups, and print the time it took."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from pipeline.focus.bill import Bill
    from pipeline.focus.spec import COLUMNS
    from pipeline.focus.writers import ROW_GROUP
    from pipeline.workload import Workload, window_of

    first = window_of(START)
    bill = Bill(Workload.load(ROOT / "data" / "profiles" / "default.toml"), lookback=0)
    templates = [r for _, hour in bill.hours(SEED, first, first + TEMPLATE_HOURS) for r in hour]
    types = {"string": pa.string(), "json": pa.string(), "decimal": pa.float64(),
             "datetime": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([pa.field(c.name, types[c.type]) for c in COLUMNS])
    started = time.perf_counter()
    writer = (pq.ParquetWriter(str(out), schema, compression="zstd") if fmt == "parquet"
              else pcsv.CSVWriter(str(out), pa.schema([pa.field(c.name, pa.string()) for c in COLUMNS])))
    done = 0
    while done < rows:
        n = min(ROW_GROUP, rows - done)
        batch = [templates[(done + i) % len(templates)] for i in range(n)]
        columns = list(zip(*batch, strict=True))
        if fmt == "parquet":
            arrays = []
            for col, values in zip(COLUMNS, columns, strict=True):
                text = pa.array(values, type=pa.string())
                if col.type == "decimal":
                    text = text.cast(pa.float64())
                elif col.type == "datetime":
                    text = pc.strptime(text, format="%Y-%m-%dT%H:%M:%SZ", unit="us").cast(schema.field(col.name).type)
                arrays.append(text)
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        else:
            writer.write_table(pa.Table.from_arrays([pa.array(list(v), type=pa.string()) for v in columns],
                                                    names=[c.name for c in COLUMNS]))
        done += n
    writer.close()
    print(json.dumps({"seconds": time.perf_counter() - started}))


def main() -> int:
    p = argparse.ArgumentParser(prog="bench export", description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--days", type=int, default=90, help="simulated days to export (default 90)")
    p.add_argument("--formats", default="parquet,csv")
    p.add_argument("--runs", type=int, default=1, help="runs per measurement; medians are shown (default 1)")
    p.add_argument("--baseline", choices=("parquet", "csv"), help=argparse.SUPPRESS)
    p.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.baseline:
        _baseline_child(args.baseline, args.rows, args.out)
        return 0
    lines = [f"bin/export of {args.days} simulated days of the default profile (seed {SEED}, from "
             f"{START:%Y-%m-%d}), beside pyarrow alone writing as many rows; medians of {args.runs} run(s)",
             "", "| format | rows | ours rows/s | pyarrow alone rows/s | ratio | ours without the model | "
             "ours peak RSS | pyarrow peak RSS |", "|---|---|---|---|---|---|---|---|"]
    model = statistics.median(model_alone(args.days) for _ in range(args.runs))
    sys.stderr.write(f"the model alone (jobs and lives of the span and its lookback): {model:.1f} s\n")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
        for fmt in args.formats.split(","):
            mine = [ours(fmt, args.days, Path(scratch) / f"ours.{fmt}") for _ in range(args.runs)]
            rows = int(mine[0]["rows"])
            base = [baseline(fmt, rows, Path(scratch) / f"base.{fmt}") for _ in range(args.runs)]
            o, b = (statistics.median(r["rows_per_s"] for r in m) for m in (mine, base))
            orss, brss = (statistics.median(r["rss_mb"] for r in m) for m in (mine, base))
            rest = rows / max(statistics.median(r["seconds"] for r in mine) - model, 1e-9)
            lines.append(f"| {fmt} | {rows:,} | {o:,.0f} | {b:,.0f} | {o / b:.3f}x | {rest:,.0f} rows/s "
                         f"({rest / b:.2f}x) | {orss:.0f} MB | {brss:.0f} MB |")
            sys.stderr.write(lines[-1] + "\n")
    lines.append("\nThe workload model alone (every job and life of the span, and of its lookback those that can "
                 "still be running in it) "
                 f"took {model:.1f} s of it; 'ours without the model' is the rows/s of the rest (rows, "
                 "formatting, writing).")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
