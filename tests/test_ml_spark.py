"""The ML stage on Spark writes what it writes on DuckDB.

Opt-in (CDP_SPARK_TEST=1 and the spark extra): about 3 minutes on two cores. A synthetic warehouse's
ML inputs (the feature tables dbt builds, orders, order items, identified events) are copied into a
local Spark catalogue; every model then trains, and scores with the published artifact the next run,
on both engines. The output tables must hold the same rows (ids, tiers, deciles, ranks, clusters
exactly; floats to 9 significant digits), and the run records the same parameters and metrics (less
timings, run ids and artifact paths).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from benchmarks.ml.synthetic_warehouse import build, build_feature_tables
from cdp.spark.handover import SourceTable, export_parquet, load_into_spark
from cdp.warehouse import Warehouse, as_warehouse
from ml.outputs import OUTPUT_TABLES
from ml.runners import RUNNERS
from orchestration.defs.ml import MODELS

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1 (make test-spark)"),
]
pyspark = pytest.importorskip("pyspark", reason="needs the spark extra: pip install -e '.[spark]'")

AS_OF = date(2026, 9, 30)
# everything the ML stage reads
INPUTS = [
    SourceTable("ml", "feature_cutoffs"), SourceTable("ml", "customer_features"), SourceTable("ml", "customer_labels"),
    SourceTable("marts", "fct_orders"), SourceTable("staging", "stg_landing__order_items"),
    SourceTable("intermediate", "int_events_identified"),
]
MODEL_OF_TABLE = {table: model.model_name for model in MODELS for table in model.tables}
# differ between any two runs, whatever the engine
VOLATILE = ("seconds", "model_run_id", "trained_run_id", "model_version", "artifact_path", "started_at",
            "finished_at")
RUN_COLUMNS = ["model_name", "status", "message", "as_of_date", "training_window_start", "training_window_end",
               "rows_trained", "rows_scored", "parameters", "metrics", "config_hash", "model_version"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("ml_inputs")
    path = work / "cdp.duckdb"
    build(path, customers=1_500, days=365, end=AS_OF)
    build_feature_tables(path, AS_OF, churn_horizon_days=60, target_path=work / "target")
    return path


def ml_stage_twice(warehouse: Warehouse, artifacts: Path) -> list[dict]:
    """Train every model, then score with the published models: each run's output tables and run records."""
    runs = []
    for _ in range(2):
        outcomes = {name: runner(warehouse, artifacts, "test-run") for name, runner in RUNNERS.items()}
        tables = {table: output(warehouse, table) for table in OUTPUT_TABLES}
        records = warehouse.frame(
            f"select {', '.join(RUN_COLUMNS)} from ml.model_runs where model_run_id in "
            f"({', '.join('?' * len(outcomes))})", [o.run.model_run_id for o in outcomes.values()])
        for column in ("as_of_date", "training_window_start", "training_window_end"):
            records[column] = pd.to_datetime(records[column])  # DuckDB hands dates to pandas as datetimes
        runs.append({"statuses": {n: o.run.status for n, o in outcomes.items()}, "tables": tables,
                     "records": records.set_index("model_name").sort_index()})
    return runs


def output(warehouse: Warehouse, table: str) -> pd.DataFrame:
    columns = [c for c in OUTPUT_TABLES[table] if c != "model_version"]
    frame = warehouse.frame(f"select {', '.join(columns)} from {table}")
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"])  # as DuckDB hands dates to pandas
    keys = [c for c in columns if frame[c].dtype.kind != "f"]
    return frame.sort_values(keys, ignore_index=True)


def assert_same(duck, spark, where: str = "") -> None:
    """Equal JSON-like values, floats to 9 significant digits, volatile keys left out."""
    if isinstance(duck, dict):
        assert set(duck) == set(spark), where
        for key in duck:
            if not any(word in key for word in VOLATILE):
                assert_same(duck[key], spark[key], f"{where}.{key}")
    elif isinstance(duck, list):
        assert len(duck) == len(spark), where
        for i, (a, b) in enumerate(zip(duck, spark, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(duck, float) and isinstance(spark, float | int):
        assert math.isclose(duck, spark, rel_tol=1e-9, abs_tol=1e-12), (where, duck, spark)
    else:
        assert duck == spark, (where, duck, spark)


def test_the_ml_stage_on_spark_equals_duckdb(inputs, tmp_path):
    duck_path = tmp_path / "duck.duckdb"
    shutil.copy(inputs, duck_path)
    with duckdb.connect(str(duck_path)) as con:
        con.execute("set TimeZone = 'UTC'")
        duck = ml_stage_twice(as_warehouse(con), tmp_path / "duck_artifacts")

    from cdp.spark.session import get_session

    spark = get_session(tmp_path / "spark")
    load_into_spark(spark, export_parquet(inputs, INPUTS, tmp_path))
    on_spark = ml_stage_twice(as_warehouse(spark), tmp_path / "spark_artifacts")

    for run, (d, s) in enumerate(zip(duck, on_spark, strict=True)):
        expected = "trained" if run == 0 else "scored"
        assert set(d["statuses"].values()) <= {expected, "skipped"} and d["statuses"]["clv"] == expected
        assert s["statuses"] == d["statuses"]
        for table, frame in d["tables"].items():
            if d["statuses"][MODEL_OF_TABLE[table]] != "skipped":
                assert len(frame), table
            pd.testing.assert_frame_equal(s["tables"][table], frame, check_exact=False, rtol=1e-9,
                                          check_dtype=False, obj=f"run {run}: {table}")
        for name, record in d["records"].iterrows():
            other = s["records"].loc[name]
            for column in RUN_COLUMNS[1:]:
                if column in ("parameters", "metrics"):
                    assert_same(json.loads(record[column]), json.loads(other[column]), f"{name}.{column}")
                elif column == "message":  # names the model version it scored with
                    assert _unversioned(record) == _unversioned(other), name
                elif column != "model_version":
                    both_null = pd.isna(record[column]) and pd.isna(other[column])
                    assert both_null or record[column] == other[column], (name, column, record[column], other[column])


def _unversioned(record: pd.Series) -> str:
    message = record["message"] or ""
    return message.replace(record["model_version"], "<version>") if record["model_version"] else message
