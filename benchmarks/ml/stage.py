"""The ML stage alone on an existing warehouse: every model runner in turn, as the Dagster assets
run them, printing per-model seconds, status and headline metrics as JSON.

    python -m benchmarks.ml.stage --warehouse /tmp/ml-1m/cdp.duckdb [--retrain]
    python -m benchmarks.ml.stage --warehouse /tmp/ml-1m/cdp.duckdb --engine spark --spark-dir /tmp/ml-spark

With ``--engine spark`` the tables the ML stage reads are first copied from the DuckDB warehouse into
a local Spark catalogue under ``--spark-dir`` (timed apart), and the models run on Spark.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import duckdb

from cdp.spark.handover import SourceTable
from cdp.warehouse import as_warehouse
from ml.runners import RUNNERS

# everything the ML stage reads
ML_INPUTS = [
    SourceTable("ml", "feature_cutoffs"), SourceTable("ml", "customer_features"), SourceTable("ml", "customer_labels"),
    SourceTable("marts", "fct_orders"), SourceTable("staging", "stg_landing__order_items"),
    SourceTable("intermediate", "int_events_identified"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--models", nargs="*", default=list(RUNNERS))
    parser.add_argument("--retrain", action="store_true", help="train every model (else its retraining policy decides)")
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--spark-dir", type=Path, help="the local Spark catalogue (--engine spark)")
    args = parser.parse_args()
    if args.engine == "spark":
        if args.spark_dir is None:
            parser.error("--engine spark needs --spark-dir")
        run_stage(spark_warehouse(args.warehouse, args.spark_dir), args.spark_dir / "model_artifacts", args)
        return
    with duckdb.connect(str(args.warehouse)) as con:
        con.execute("set TimeZone = 'UTC'")
        run_stage(as_warehouse(con), args.warehouse.parent / "model_artifacts", args)


def spark_warehouse(duckdb_path: Path, spark_dir: Path):
    from cdp.spark.handover import export_parquet, load_into_spark
    from cdp.spark.session import get_session

    started = time.perf_counter()
    spark = get_session(spark_dir)
    with tempfile.TemporaryDirectory(prefix="cdp-ml-inputs-") as tmp:
        rows = load_into_spark(spark, export_parquet(duckdb_path, ML_INPUTS, Path(tmp)))
    print(json.dumps({"spark_inputs": {"seconds": round(time.perf_counter() - started, 1), "rows": rows}}), flush=True)
    return as_warehouse(spark)


def run_stage(warehouse, artifacts: Path, args: argparse.Namespace) -> None:
    for name in args.models:
        started = time.perf_counter()
        outcome = RUNNERS[name](warehouse, artifacts, "benchmark", args.retrain)
        print(json.dumps({name: {
            "seconds": round(time.perf_counter() - started, 1),
            "status": outcome.run.status,
            "message": outcome.run.message,
            "rows_trained": outcome.run.rows_trained,
            "rows_written": outcome.rows_written,
            "peak_rss_mib_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "metrics": {k: v for k, v in outcome.run.metrics.items() if isinstance(v, int | float | str)},
        }}), flush=True)


if __name__ == "__main__":
    main()
