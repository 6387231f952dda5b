"""Time the daily run's Python steps after dbt, one by one, on a warehouse the pipeline benchmark kept.

    python -m benchmarks.python_steps --warehouse COPY/cdp.duckdb --artifacts DIR/warehouse/model_artifacts \
        [--repeat 2] [--exports DIR]

Each repeat runs the recommendations as the daily run does (a scoring run of the published model) and
exports every audience (a second export of the same as-of date writes nothing when the bytes are the
same: ``unchanged``). It prints each step's seconds, the recommendations' row count and the sha-256 of
each export file, so two checkouts run on the same warehouse compare time and output (the session-21
figures in docs/benchmarks.md). Both steps write into the warehouse (the model's outputs and run record,
the export log): run it on a copy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from cdp import settings
from cdp.export import export_audience, load_audiences
from ml.runners import run_recommendations


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection with the settings the pipeline's steps take (cdp.settings)."""
    con = duckdb.connect(str(path))
    con.execute("set enable_progress_bar = false")
    con.execute("set TimeZone = 'UTC'")
    for name, value in settings.duckdb_settings().items():
        con.execute(f"set {name} = '{value}'")
    return con


def timed_steps(warehouse: Path, artifacts: Path, exports: Path, run_id: str) -> list[tuple[str, float, str]]:
    """(step, seconds, what it wrote) for the recommendations and each audience's export."""
    steps = []
    with connect(warehouse) as con:
        started = time.perf_counter()
        outcome = run_recommendations(con, artifacts, run_id)
        steps.append(("recommendations", time.perf_counter() - started,
                      f"{outcome.run.status}, {outcome.rows_written:,} rows"))
        for audience in load_audiences(settings.AUDIENCES_DIR):
            started = time.perf_counter()
            results = export_audience(con, audience, exports, run_id)
            written = ", ".join(f"{r.destination} {r.status} {(r.sha256 or '-')[:12]}" for r in results)
            steps.append((f"export {audience.name}", time.perf_counter() - started, written))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, required=True, help="a copy of a kept cdp.duckdb")
    parser.add_argument("--artifacts", type=Path, required=True, help="the kept run's model_artifacts")
    parser.add_argument("--exports", type=Path, help="export folder (default: next to the warehouse)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    exports = args.exports or args.warehouse.parent / "benchmark_exports"
    for repeat in range(1, args.repeat + 1):
        for step, seconds, written in timed_steps(args.warehouse, args.artifacts, exports, f"python-steps-{repeat}"):
            print(f"repeat {repeat}  {step:42} {seconds:7.1f} s  {written}", flush=True)


if __name__ == "__main__":
    main()
