"""A week of the default profile's bill, generated once per test session and shared by the FOCUS tests."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.focus.bill import Bill, Jobs
from pipeline.focus.export import Span, export
from pipeline.focus.spec import COLUMN_NAMES, Row
from pipeline.workload import Workload, window_of

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "data" / "profiles" / "default.toml"
SEED = 7
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
FIRST = window_of(START)
WEEK = 7 * 24


def cached_source(workload: Workload) -> Callable[[int, int], Jobs]:
    """window_jobs, remembered: the overlapping lookbacks of several exports generate each window once."""
    seen: dict[tuple[int, int], Jobs] = {}

    def source(seed: int, window: int) -> Jobs:
        if (seed, window) not in seen:
            seen[(seed, window)] = workload.window_jobs(seed, window)
        return seen[(seed, window)]

    return source


@dataclass
class Week:
    """The exports of one week (CSV, Parquet, JSONL) and of its first 3 and last 4 days (CSV)."""

    folder: Path
    bill: Bill

    def path(self, name: str) -> Path:
        return self.folder / name

    def export(self, first: int, end: int, fmt: str, name: str, origin: int | None = None) -> Path:
        out = self.path(name)
        if not out.exists():
            export(self.bill, Span(SEED, first, end, origin), fmt, out)  # type: ignore[arg-type]
        return out

    def csv(self) -> Path:
        return self.export(FIRST, FIRST + WEEK, "csv", "week.csv")

    def rows(self) -> list[Row]:
        with self.csv().open(newline="") as handle:
            reader = csv.reader(handle)
            assert tuple(next(reader)) == COLUMN_NAMES
            return [tuple(v if v != "" else None for v in line) for line in reader]


def make_week(folder: Path) -> Week:
    workload = Workload.load(PROFILE)
    return Week(folder, Bill(workload, source=cached_source(workload)))
