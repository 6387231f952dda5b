"""Landing files: CSV, JSON Lines and Parquet, appended chunk by chunk under a
hidden temporary name and renamed into place only when the run completes, so
ingestion never sees a half-written file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def file_format(name: str) -> str:
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValueError(f"unsupported landing file type: {name}")


_duckdb: duckdb.DuckDBPyConnection | None = None


def _renderer() -> duckdb.DuckDBPyConnection:
    """One single-threaded DuckDB per process: its string functions render rows fast."""
    global _duckdb
    if _duckdb is None:
        _duckdb = duckdb.connect()
        _duckdb.execute("set threads = 1")
        _duckdb.execute("set arrow_large_buffer_size = true")
    return _duckdb


def _render(table: pa.Table, expression: str, as_text: frozenset[str] = frozenset()) -> pa.ChunkedArray:
    """Evaluate a per-row expression over the table, whose columns are first cast to text."""
    con = _renderer()
    con.register("block", table)
    columns = ", ".join(f"cast({_ident(c)} as {'json' if c in as_text else 'varchar'}) as {_ident(c)}"
                        for c in table.column_names)
    try:
        result = con.sql(f"select {expression} as line from (select {columns} from block)").to_arrow_table()
    finally:
        con.unregister("block")
    return result.column(0)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def csv_lines(table: pa.Table) -> pa.ChunkedArray:
    """RFC 4180 records (one string per row, with newline): nulls empty, quotes only where needed."""
    cells = []
    for name in table.column_names:
        c = _ident(name)
        cells.append(
            f"case when {c} is null then '' "
            f"when contains({c}, ',') or contains({c}, '\"') or contains({c}, chr(10)) or contains({c}, chr(13)) "
            f"or starts_with({c}, ' ') or ends_with({c}, ' ') "
            f"then '\"' || replace({c}, '\"', '\"\"') || '\"' else {c} end")
    return _render(table, f"concat_ws(',', {', '.join(cells)}) || chr(10)")


def jsonl_lines(table: pa.Table, raw_json_columns: frozenset[str]) -> pa.ChunkedArray:
    """One JSON object per row, keys in column order, nulls as null; json-typed columns embedded as objects."""
    fields = ", ".join(f"'{name}': {_ident(name)}" for name in table.column_names)
    return _render(table, "to_json({" + fields + "}) || chr(10)", as_text=raw_json_columns)


class RenderedLines:
    """Rendered records (a chunked string column) sliced by record number into zero-copy byte views."""

    def __init__(self, lines: pa.ChunkedArray | pa.Array) -> None:
        chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
        self._chunks = [c for c in chunks if len(c)]
        self._first_row = np.cumsum([0] + [len(c) for c in self._chunks])
        self._views = []
        for c in self._chunks:
            width = np.int64 if pa.types.is_large_string(c.type) else np.int32
            offsets = np.frombuffer(c.buffers()[1], dtype=width)[c.offset: c.offset + len(c) + 1]
            self._views.append((memoryview(c.buffers()[2]), offsets))

    def records(self, start: int, stop: int) -> list[memoryview]:
        out = []
        for k, (data, offsets) in enumerate(self._views):
            lo, hi = max(start, self._first_row[k]), min(stop, self._first_row[k + 1])
            if lo < hi:
                base = self._first_row[k]
                out.append(data[offsets[lo - base]: offsets[hi - base]])
        return out


def damage(line: bytes, edit: str) -> bytes:
    """Line-level defects: an extra CSV field, or a JSON object cut short."""
    body = line.rstrip(b"\n")
    if edit == "extra_field":
        return body + b',"unexpected"\n'
    return body[: max(10, len(body) * 3 // 5)] + b"\n"


@dataclass
class _OpenFile:
    final: Path
    tmp: Path
    fmt: str
    columns: list[str]
    rows: int = 0
    parquet: pq.ParquetWriter | None = None


class LandingWriter:
    """Appends blocks of rows to landing files and publishes them atomically at the end."""

    def __init__(self, root: Path, raw_json_columns: frozenset[str] = frozenset()) -> None:
        self.root = Path(root)
        self.raw_json_columns = raw_json_columns
        self._files: dict[str, _OpenFile] = {}

    def render(self, relpath: str, table: pa.Table) -> pa.ChunkedArray:
        if file_format(relpath) == "csv":
            return csv_lines(table)
        return jsonl_lines(table, self.raw_json_columns)

    def _open(self, relpath: str, columns: list[str]) -> _OpenFile:
        f = self._files.get(relpath)
        if f is None:
            final = self.root / relpath
            final.parent.mkdir(parents=True, exist_ok=True)
            f = _OpenFile(final, final.with_name(f".{final.name}.tmp"), file_format(final.name), columns)
            f.tmp.unlink(missing_ok=True)
            self._files[relpath] = f
        if columns != f.columns:
            raise ValueError(f"{relpath}: columns {columns} differ from {f.columns}")
        return f

    def append_text(self, relpath: str, columns: list[str], pieces: list, rows: int) -> int:
        """Append rendered CSV/JSONL records (byte pieces); returns how many records the file held before."""
        f = self._open(relpath, columns)
        with open(f.tmp, "ab") as fh:
            if f.fmt == "csv" and f.rows == 0:
                fh.write((",".join(columns) + "\n").encode())
            fh.writelines(pieces)
        before, f.rows = f.rows, f.rows + rows
        return before

    def append(self, relpath: str, table: pa.Table) -> int:
        """Append a table to a file of any format; returns how many records the file held before."""
        if file_format(relpath) in ("csv", "jsonl"):
            lines = RenderedLines(self.render(relpath, table))
            return self.append_text(relpath, table.column_names, lines.records(0, table.num_rows), table.num_rows)
        # Parquet: each append becomes a row group, written at once (nothing is held back in memory).
        f = self._open(relpath, table.column_names)
        table = table.cast(pa.schema([pa.field(x.name, pa.string() if x.type == pa.large_string() else x.type)
                                      for x in table.schema]))
        if f.parquet is None:
            f.parquet = pq.ParquetWriter(f.tmp, table.schema, compression="zstd")
        f.parquet.write_table(table)
        before, f.rows = f.rows, f.rows + table.num_rows
        return before

    def close(self) -> dict[str, int]:
        """Finish every file and rename it into place; returns rows per file (sorted by path)."""
        for relpath in sorted(self._files):
            f = self._files[relpath]
            if f.parquet is not None:
                f.parquet.close()
            os.replace(f.tmp, f.final)
        return {k: self._files[k].rows for k in sorted(self._files)}
