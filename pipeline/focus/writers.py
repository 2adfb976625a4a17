"""Writing FOCUS rows to a file as they come: CSV, JSON Lines or Parquet, in bounded memory.

CSV and JSONL write row by row. Parquet buffers one row group (ROW_GROUP rows) as Python lists,
converts it to typed Arrow columns (decimals as float64, date/times as UTC timestamps, the rest as
strings) and appends it to the file, so memory never grows with the span.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Literal, Protocol

from pipeline.focus.spec import COLUMN_NAMES, COLUMNS, Row

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "jsonl")
ROW_GROUP = 8_192  # rows held before a Parquet row group is written: keeps peak memory well under 200 MB


class RowWriter(Protocol):
    def write(self, rows: Iterable[Row]) -> None: ...

    def close(self) -> None: ...


class CsvWriter:
    """RFC 4180 CSV with a header; null is an empty field (FOCUS: null, never an empty string)."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._csv = csv.writer(out, lineterminator="\n")
        self._csv.writerow(COLUMN_NAMES)

    def write(self, rows: Iterable[Row]) -> None:
        self._csv.writerows(rows)

    def close(self) -> None:
        self._out.flush()


_DECIMAL = tuple(c.type == "decimal" for c in COLUMNS)


def row_object(row: Row) -> dict[str, str | int | float | None]:
    """A row as a JSON object: columns in FOCUS order, decimals as numbers, null as null (JSONL and the
    cost.usage events)."""
    return {name: _number(value) if is_decimal and value is not None else value
            for name, value, is_decimal in zip(COLUMN_NAMES, row, _DECIMAL, strict=True)}


class JsonlWriter:
    """One JSON object per line (row_object)."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self._out.write(json.dumps(row_object(row), separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._out.flush()


def _number(text: str) -> int | float:
    return int(text) if text.isdigit() else float(text)


class ParquetWriter:
    """Typed Parquet through pyarrow: float64 decimals, timestamp[us, UTC] date/times, strings."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        types = {"string": pa.string(), "json": pa.string(), "decimal": pa.float64(),
                 "datetime": pa.timestamp("us", tz="UTC")}
        self._pa, self._pc = pa, pc
        self.schema = pa.schema([pa.field(c.name, types[c.type], nullable=True) for c in COLUMNS])
        self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        self._buffer: list[Row] = []

    def write(self, rows: Iterable[Row]) -> None:
        self._buffer.extend(rows)
        if len(self._buffer) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        pa, pc = self._pa, self._pc
        columns = list(zip(*self._buffer, strict=True))
        arrays = []
        for col, values in zip(COLUMNS, columns, strict=True):
            text = pa.array(values, type=pa.string())  # Arrow parses the text columns in C, not per value
            if col.type == "decimal":
                text = text.cast(pa.float64())
            elif col.type == "datetime":
                text = pc.strptime(text, format="%Y-%m-%dT%H:%M:%SZ", unit="us").cast(self.schema.field(col.name).type)
            arrays.append(text)
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self._buffer.clear()

    def close(self) -> None:
        self._flush()
        self._writer.close()


def open_writer(fmt: Format, path: Path, text: IO[str]) -> RowWriter:
    """A writer of `fmt`: Parquet to `path`, CSV and JSONL into the open text file `text`."""
    if fmt == "parquet":
        return ParquetWriter(path)
    return CsvWriter(text) if fmt == "csv" else JsonlWriter(text)
