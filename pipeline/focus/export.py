"""Export the bill of a simulated span to a file: rows straight from the model, no queues, no delivery."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from pipeline.focus.bill import Bill
from pipeline.focus.writers import CsvWriter, Format, JsonlWriter, ParquetWriter, RowWriter

Progress = Callable[[int, int, int], None]
"""(hours done, hours in all, rows so far)"""


@dataclass(frozen=True)
class Span:
    """Charge hours [first, end) of the stream of `seed`; no job is requested before window `origin`."""

    seed: int
    first: int
    end: int
    origin: int | None = None


def export(bill: Bill, span: Span, fmt: Format, out: Path, progress: Progress | None = None) -> int:
    """Write the rows of `span` to `out` and return how many; a partial file never takes its place."""
    tmp = out.with_name(f".{out.name}.partial")
    rows = 0
    try:
        with ExitStack() as stack:
            writer: RowWriter
            if fmt == "parquet":
                writer = ParquetWriter(tmp)
            else:
                text = stack.enter_context(tmp.open("w", encoding="utf-8", newline=""))
                writer = CsvWriter(text) if fmt == "csv" else JsonlWriter(text)
            for hour, hour_rows in bill.hours(span.seed, span.first, span.end, span.origin):
                writer.write(hour_rows)
                rows += len(hour_rows)
                if progress is not None:
                    progress(hour - span.first + 1, span.end - span.first, rows)
            writer.close()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return rows
