"""The whole pipeline on Spark: `cdp run --engine spark` gives what the pipeline on DuckDB gives.

Slow and opt-in (CDP_SPARK_TEST=1 and the spark extra; make test-spark). The pipeline runs on
the bundled sample once on DuckDB and once on Spark local mode, every stage on its engine:
ingestion publishes to Spark, erasure runs there, dbt builds the spark target, the models
train and score, the audiences are exported and the report written, all through the
Warehouse resource. Then every table of the schemas dbt and the Python stages write must
hold the same rows, and the audience files must be the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from conftest import CHANGE_CAPTURE_COLUMNS

from cdp import settings
from cdp.pipeline import run_pipeline

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1 (make test-spark)"),
]
pytest.importorskip("pyspark", reason="needs the spark extra: pip install -e '.[spark]'")

AS_OF = "2026-09-30"
SAMPLE = settings.REPO_ROOT / "seeds" / "sample"
COMPARED_SCHEMAS = ("reference", "staging", "intermediate", "marts", "ml", "audit", "privacy", "raw")
# Values that depend on when or by which run a row was written, not on the data. Ids minted per
# run (model_run_id, the run ids) and the times are left out of the comparison; so are the tables
# that only log runs and the paths of the run's own files.
VOLATILE_COLUMNS = (
    "assigned_at", "assigned_run_id", "run_id", "pipeline_run_id", "model_run_id", "model_version",
    "started_at", "finished_at",
    "trained_at", "scored_at", "created_at", "exported_at", "quarantined_at", "_loaded_at", "logged_at",
    "ran_at", "erased_at", "suppressed_at", "requested_at_processed", "artifact_path", "file_path",
    "privacy.suppression_list.added_at",  # the erasure's wall-clock time
    *CHANGE_CAPTURE_COLUMNS,
)
RUN_LOGS = {"ml.model_runs", "audit.privacy_runs", "audit.erasure_log", "audit.export_log",
            "audit.file_compactions"}  # the last: DuckDB file rewrites, none on Spark


@pytest.fixture(scope="module")
def on_duckdb(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("duckdb")
    outcome = run_pipeline(SAMPLE, work / "cdp.duckdb", work / "exports", as_of=AS_OF, engine="duckdb")
    assert outcome.success, outcome.summary()
    (work / "outcome.json").write_text(json.dumps({"loads": outcome.loads, "privacy": outcome.privacy,
                                                   "table_rows": outcome.table_rows}), encoding="utf-8")
    return work


@pytest.fixture(scope="module")
def on_spark(tmp_path_factory):
    from cdp.spark.session import get_session, release_session

    work = tmp_path_factory.mktemp("spark")
    release_session()  # a session of another test module holds another catalogue
    outcome = run_pipeline(SAMPLE, work / "cdp.duckdb", work / "exports", as_of=AS_OF, engine="spark",
                           spark_dir=work / "spark")
    assert outcome.success, outcome.summary()
    (work / "outcome.json").write_text(json.dumps({"loads": outcome.loads, "privacy": outcome.privacy,
                                                   "table_rows": outcome.table_rows,
                                                   "steps": outcome.step_seconds}), encoding="utf-8")
    spark = get_session(work / "spark")
    yield work, spark
    release_session()


def outcome(work: Path) -> dict:
    return json.loads((work / "outcome.json").read_text(encoding="utf-8"))


def test_the_run_loads_erases_and_counts_the_same(on_duckdb, on_spark):
    duck, spark = outcome(on_duckdb), outcome(on_spark[0])
    assert duck["loads"] == spark["loads"]
    assert duck["loads"]["rows_in"] == duck["loads"]["rows_loaded"] + duck["loads"]["rows_rejected"]
    assert duck["privacy"] == spark["privacy"] and duck["privacy"]["customers_erased"] > 0
    assert duck["table_rows"] == spark["table_rows"]


def test_every_table_holds_the_same_rows_on_both_engines(on_duckdb, on_spark):
    from cdp.spark.compare import compare_warehouses

    with duckdb.connect(str(on_duckdb / "cdp.duckdb"), read_only=True) as con:
        tables = [f"{schema}.{name}" for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() order by 1, 2").fetchall()
            if schema in COMPARED_SCHEMAS and f"{schema}.{name}" not in RUN_LOGS]
    assert "marts.customer_segment_membership" in tables and "ml.churn_scores" in tables
    differences = compare_warehouses(on_duckdb / "cdp.duckdb", on_spark[1], tables, ignore_columns=VOLATILE_COLUMNS)
    assert not differences, "\n".join(map(str, differences))


def test_the_audience_files_are_the_same_bytes(on_duckdb, on_spark):
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file() and not p.name.endswith(".manifest.json")}

    def manifests(root: Path) -> dict[str, dict]:
        return {str(p.relative_to(root)): {k: v for k, v in json.loads(p.read_text(encoding="utf-8")).items()
                                           if k not in ("run_id", "created_at", "exported_at", "generated_at")}
                for p in sorted(root.rglob("*.manifest.json"))}

    duck, spark = files(on_duckdb / "exports"), files(on_spark[0] / "exports")
    assert len(duck) >= 20
    assert duck.keys() == spark.keys()
    assert [name for name in duck if duck[name] != spark[name]] == []
    assert manifests(on_duckdb / "exports") == manifests(on_spark[0] / "exports")
