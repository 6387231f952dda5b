"""The floor: how long DuckDB takes to read every landing file once and aggregate per customer.

    python -m benchmarks.pipeline.floor --landing DIR --out FILE.json

For each source folder and file format: one scan of all its files, read as the contract
reads them (CSV with the columns its header names and JSON lines with the contract's
columns, both as text, no type sniffing; Parquet as stored), grouped by the source's
customer key (its record key where it names no customer), counting the rows and the
non-empty values of every column, so that every column is read. No pipeline can load,
validate and model the same files in less time than this on the same machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

from cdp.contract import Contract, Source, load_contract
from cdp.ingest.load import discover_files
from cdp.ingest.readers import _read_header
from cdp.ingest.validate import quote_ident, quote_literal

# Sources naming a customer are grouped by it; the others by their primary key (contract).
CUSTOMER_KEYS = {
    "customers": ("source_system", "source_customer_id"),
    "orders": ("source_system", "source_customer_id"),
    "events": ("source_customer_id", "anonymous_id"),
    "email_events": ("email",),
    "consent": ("source_system", "source_customer_id", "email"),
}


def group_key(source: Source) -> tuple[str, ...]:
    return CUSTOMER_KEYS.get(source.name, source.primary_key)


def _paths(files: list[Path]) -> str:
    return "[" + ", ".join(quote_literal(str(p)) for p in files) + "]"


def _text_columns(names) -> str:
    return "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"


def csv_headers(files: list[Path]) -> dict[tuple[str, tuple[str, ...]], list[Path]]:
    """CSV files grouped by delimiter and header, read from each file's first line as ingestion
    does; a group is one scan with its columns given, so DuckDB sniffs nothing."""
    groups: dict[tuple[str, tuple[str, ...]], list[Path]] = {}
    for path in files:
        if (header := _read_header(path, "utf-8")) is not None:
            names, delimiter = header
            groups.setdefault((delimiter, tuple(n.strip().lower() for n in names)), []).append(path)
    return groups


def reader_sql(source: Source, fmt: str, files: list[Path]) -> str:
    """A relation reading ``files`` (one format) as the contract reads them; records that do not
    parse are skipped (ingestion quarantines them)."""
    if fmt == "csv":
        scans = [
            f"select * from read_csv({_paths(group)}, auto_detect = false, header = true, "
            f"columns = {_text_columns(names)}, delim = {quote_literal(delimiter)}, quote = '\"', escape = '\"', "
            f"max_line_size = 10000000, ignore_errors = true)"
            for (delimiter, names), group in csv_headers(files).items()
        ]
        return "(" + " union all by name ".join(scans) + ")"
    if fmt == "jsonl":
        return (f"read_json({_paths(files)}, format = 'newline_delimited', "
                f"columns = {_text_columns(source.column_names)}, ignore_errors = true)")
    if fmt == "parquet":
        return f"read_parquet({_paths(files)}, union_by_name = true)"
    raise ValueError(f"no floor reader for format {fmt!r}")


def floor_sql(source: Source, fmt: str, files: list[Path]) -> str:
    """One row per key with its row count and per-column value counts, kept in a temp table so that
    no aggregate is optimised away."""
    key = ", ".join(quote_ident(c) for c in group_key(source))
    return (
        f"create or replace temp table floor_result as "
        f"select {key}, count(*) as records, count(columns(*)) "
        f"from {reader_sql(source, fmt, files)} group by {key}"
    )


def files_by_format(landing_dir: Path, contract: Contract) -> list[tuple[Source, str, list[Path]]]:
    """The files ingestion would read, per source and format (files of no known format are skipped,
    as ingestion rejects them)."""
    groups = []
    for source in contract.sources.values():
        by_format: dict[str, list[Path]] = {}
        for path in discover_files(landing_dir, source, contract):
            if (fmt := contract.file_format(path)) is not None:
                by_format.setdefault(fmt, []).append(path)
        groups += [(source, fmt, paths) for fmt, paths in sorted(by_format.items())]
    return groups


def measure_floor(landing_dir: Path) -> dict:
    contract = load_contract()
    con = duckdb.connect()
    parts = []
    for source, fmt, files in files_by_format(landing_dir, contract):
        started = time.perf_counter()
        con.execute(floor_sql(source, fmt, files))
        seconds = time.perf_counter() - started
        keys, records = con.execute("select count(*), sum(records) from floor_result").fetchall()[0]
        parts.append({
            "source": source.name, "format": fmt, "files": len(files),
            "bytes": sum(p.stat().st_size for p in files), "rows": int(records or 0), "keys": keys,
            "seconds": round(seconds, 2),
        })
    con.close()
    return {
        "seconds": round(sum(p["seconds"] for p in parts), 2),
        "rows": sum(p["rows"] for p in parts),
        "files": sum(p["files"] for p in parts),
        "bytes": sum(p["bytes"] for p in parts),
        "parts": parts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.write_text(json.dumps(measure_floor(args.landing), indent=2))


if __name__ == "__main__":
    main()
