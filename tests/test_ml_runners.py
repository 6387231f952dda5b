"""Every model runner on a small warehouse: trains, saves and reloads its model, writes its tables
and records the run; with too little data it skips with the reason and leaves empty tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from benchmarks.ml.synthetic_warehouse import FEATURE_MODELS, build
from ml.runners import OUTPUT_TABLES, RUNNERS
from orchestration.defs.ml import MODELS

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-09-30"


def build_feature_tables(warehouse: Path, target: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--select", *FEATURE_MODELS,
         "--vars", json.dumps({"as_of": AS_OF, "churn_horizon_days": 60}),
         "--target-path", str(target)],
        cwd=ROOT / "dbt_project",
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("ml")
    path = work / "cdp.duckdb"
    # a year of history: on 240 days BG/NBD's drop-out parameters sit on a flat ridge next to the boundary
    # check, and the CLV fit was trained or skipped by floating-point noise
    build(path, customers=3_000, days=365, end=date(2026, 9, 30))
    build_feature_tables(path, work / "target")
    return path


def run_all(warehouse: Path) -> dict:
    with duckdb.connect(str(warehouse)) as con:
        return {name: runner(con, warehouse.parent / "artifacts", "test-run") for name, runner in RUNNERS.items()}


def test_every_model_trains_writes_its_tables_and_records_the_run(warehouse, tmp_path):
    copy = tmp_path / "cdp.duckdb"
    shutil.copy(warehouse, copy)
    outcomes = run_all(copy)
    assert set(outcomes) == {m.model_name for m in MODELS}
    with duckdb.connect(str(copy), read_only=True) as con:
        for model in MODELS:
            outcome = outcomes[model.model_name]
            assert outcome.run.status == "trained", (model.model_name, outcome.run.message)
            for table in model.tables:
                columns = [r[0] for r in con.execute(f"describe {table}").fetchall()]
                assert columns == list(OUTPUT_TABLES[table])
                versions = con.execute(f"select distinct model_version from {table}").fetchall()
                assert versions == [(outcome.run.model_version,)]
            run = con.execute(
                "select status, artifact_path, parameters, metrics, as_of_date::varchar from ml.model_runs "
                "where model_run_id = ?", [outcome.run.model_run_id]
            ).fetchone()
            assert run[0] == "trained" and Path(run[1]).exists() and run[4] == AS_OF
            assert json.loads(run[2]) and json.loads(run[3])
        # fitted CLV parameters are in the run record
        params = json.loads(con.execute("select parameters from ml.model_runs where model_name = 'clv'").fetchone()[0])
        assert set(params["bg_nbd"]) == {"r", "alpha", "a", "b"} and set(params["gamma_gamma"]) == {"p", "q", "gamma"}
        # scores only for customers known at the as-of date
        unknown = con.execute(
            "select count(*) from ml.customer_clusters where customer_id not in "
            f"(select customer_id from ml.customer_features where cutoff_date = '{AS_OF}')"
        ).fetchone()[0]
        assert unknown == 0


def test_personas_keep_their_ids_when_retrained(warehouse, tmp_path):
    copy = tmp_path / "cdp.duckdb"
    shutil.copy(warehouse, copy)
    query = "select customer_id, cluster_id, persona_name from ml.customer_clusters order by customer_id"
    with duckdb.connect(str(copy)) as con:
        first = RUNNERS["personas"](con, tmp_path / "artifacts")
        before = con.execute(query).fetchall()
        second = RUNNERS["personas"](con, tmp_path / "artifacts", force_retrain=True)
        after = con.execute(query).fetchall()
    assert first.trained and second.trained and first.run.model_version != second.run.model_version
    assert after == before
    assert second.run.metrics["id_mapping"]["has_previous"] is True


def test_models_skip_with_the_reason_when_there_is_too_little_data(warehouse, tmp_path):
    copy = tmp_path / "cdp.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        keep = "select customer_id from ml.customer_features order by customer_id limit 15"
        for table in ("ml.customer_features", "ml.customer_labels", "marts.fct_orders",
                      "intermediate.int_events_identified"):
            con.execute(f"delete from {table} where customer_id not in ({keep})")
    outcomes = run_all(copy)
    with duckdb.connect(str(copy), read_only=True) as con:
        for model in MODELS:
            outcome = outcomes[model.model_name]
            assert outcome.skipped and outcome.run.message, model.model_name
            for table in model.tables:
                assert con.execute(f"select count(*) from {table}").fetchone()[0] == 0
                assert [r[0] for r in con.execute(f"describe {table}").fetchall()] == list(OUTPUT_TABLES[table])
        runs = dict(con.execute("select model_name, message from ml.model_runs where status = 'skipped'").fetchall())
    assert set(runs) == {m.model_name for m in MODELS}
    assert "at least" in runs["clv"] and "at least" in runs["personas"]
