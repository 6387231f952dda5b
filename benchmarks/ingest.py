"""Ingestion on its own: load a landing directory into a fresh warehouse and print the figures.

    python -m benchmarks.ingest --landing DIR [--warehouse PATH] [--profile FILE] [--rerun]

Prints wall time, rows in, rows per second and files per second, then the same for a
second run over the same files when ``--rerun`` is given (every file skipped by checksum).
Peak memory: run it under ``/usr/bin/time -v`` (or benchmarks/measure.py).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import tempfile
import time
from pathlib import Path

from cdp.ingest.load import ingest_landing


def measure(warehouse: Path, landing: Path, profile: Path | None = None) -> dict:
    started = time.perf_counter()
    if profile:
        with cProfile.Profile() as profiler:
            report = ingest_landing(warehouse, landing)
        profiler.dump_stats(profile)
    else:
        report = ingest_landing(warehouse, landing)
    seconds = time.perf_counter() - started
    totals = report.totals()
    return {
        "seconds": round(seconds, 1),
        "files": len(report.files),
        **totals,
        "rows_per_second": round(totals["rows_in"] / seconds) if seconds else None,
        "files_per_second": round(len(report.files) / seconds, 1) if seconds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, help="a new DuckDB file (default: in a temporary directory)")
    parser.add_argument("--profile", type=Path, help="write cProfile statistics of the first run here")
    parser.add_argument("--rerun", action="store_true", help="ingest the same files again (all skipped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        warehouse = args.warehouse or Path(scratch) / "ingest.duckdb"
        if warehouse.exists():
            parser.error(f"{warehouse} exists: give a new file")
        figures = {"first_run": measure(warehouse, args.landing.resolve(), args.profile)}
        if args.rerun:
            figures["rerun"] = measure(warehouse, args.landing.resolve())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
