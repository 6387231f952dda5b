"""Scoring in batches and training on a warehouse-drawn sample (ml/scale.py): batches of 37 customers write
what one batch writes (floats to the last bits), and a capped training population pulls the md5-lowest
customers and says so in the run record."""

from __future__ import annotations

import copy
import hashlib
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from benchmarks.ml.synthetic_warehouse import build, build_feature_tables
from ml import runners
from ml.features import FeatureSpec, load_features, load_labelled_cutoffs
from ml.outputs import OUTPUT_TABLES
from ml.runners import RUNNERS
from ml.scale import Scale
from ml.settings import load_model_config

AS_OF = date(2026, 9, 30)
COUNT_CUSTOMERS = "select count(*) from ml.customer_features where cutoff_date = ?"
SCORED_COLUMNS = {table: [c for c in columns if c != "model_version"] for table, columns in OUTPUT_TABLES.items()}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("ml_batches")
    path = work / "cdp.duckdb"
    build(path, customers=1_500, days=365, end=AS_OF)
    build_feature_tables(path, AS_OF, churn_horizon_days=60, target_path=work / "target")
    return path


def with_settings(monkeypatch, change) -> None:
    """Every model's YAML as ``change(name, settings)`` leaves it, for the runners."""
    def load(name: str, *args):
        settings = copy.deepcopy(load_model_config(name, *args))
        change(name, settings)
        return settings

    monkeypatch.setattr(runners, "load_model_config", load)


def outputs(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """Every output table, less the run's version, in a fixed order."""
    frames = {}
    for table, columns in SCORED_COLUMNS.items():
        listed = ", ".join(f'"{c}"' for c in columns)
        frames[table] = con.execute(f"select {listed} from {table} order by all").df()
    return frames


def run_all(path: Path, artifacts: Path) -> dict[str, runners.ModelOutcome]:
    with duckdb.connect(str(path)) as con:
        return {name: runner(con, artifacts, "test-run") for name, runner in RUNNERS.items()}


def test_scores_in_batches_of_37_equal_one_batch(warehouse, tmp_path, monkeypatch):
    whole, batched = tmp_path / "whole.duckdb", tmp_path / "batched.duckdb"
    shutil.copy(warehouse, whole)
    shutil.copy(warehouse, batched)
    one_batch = run_all(whole, tmp_path / "whole_artifacts")
    with duckdb.connect(str(whole), read_only=True) as con:
        expected = outputs(con)
        customers = con.execute(COUNT_CUSTOMERS, [AS_OF]).fetchone()[0]
    assert customers > 10 * 37  # so the population really is split

    with_settings(monkeypatch, lambda name, settings: settings.setdefault("scoring", {}).update(batch_rows=37))
    trained = run_all(batched, tmp_path / "batched_artifacts")  # training runs: fit, then score in batches
    with duckdb.connect(str(batched), read_only=True) as con:
        after_training = outputs(con)
    scored = run_all(batched, tmp_path / "batched_artifacts")  # scoring runs: the published models, in batches
    with duckdb.connect(str(batched), read_only=True) as con:
        after_scoring = outputs(con)

    assert {n: o.run.status for n, o in one_batch.items()} == dict.fromkeys(RUNNERS, "trained")
    assert {n: o.run.status for n, o in scored.items()} == dict.fromkeys(RUNNERS, "scored")
    for table, frame in expected.items():
        assert len(frame), table
        # ids, tiers, deciles, ranks and clusters exactly; floats to the last few bits: NumPy's and BLAS's
        # vector loops round a row's arithmetic by where it falls in the array (ml/scale.py)
        for got in (after_training[table], after_scoring[table]):
            pd.testing.assert_frame_equal(got, frame, check_exact=False, rtol=1e-12, atol=0, obj=table)
    for name in ("churn", "purchase_propensity"):
        # drift, score histogram and parity from batch counts and SQL equal the whole population's
        whole_checks = {c.name: (c.passed, c.metadata) for c in one_batch[name].checks}
        assert {c.name: (c.passed, c.metadata) for c in trained[name].checks} == whole_checks
        monitoring = one_batch[name].run.metrics["monitoring"]
        assert trained[name].run.metrics["monitoring"] == monitoring
        assert scored[name].run.metrics["monitoring"]["score_histogram"] == monitoring["score_histogram"]
    for name, outcome in one_batch.items():
        assert trained[name].rows_written == outcome.rows_written == outcome.run.rows_scored


def md5_lowest(ids: list[str], cutoff: date, n: int) -> list[str]:
    key = {i: hashlib.md5(f"{i}|{cutoff.isoformat()}".encode()).hexdigest() for i in ids}
    return sorted(sorted(ids, key=lambda i: (key[i], i))[:n])


def test_a_capped_training_population_is_the_md5_lowest_sample_drawn_in_the_warehouse(warehouse):
    spec = FeatureSpec.load()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        everyone = load_features(con, AS_OF, spec)
        sample = load_features(con, AS_OF, spec, max_customers=200)
        assert load_features(con, AS_OF, spec, max_customers=len(everyone)).equals(everyone)  # under the cap: all
        labelled = load_labelled_cutoffs(con, "purchase_propensity", spec, max_customers=300)
        training_ids = [r[0] for r in con.execute(
            "select customer_id from ml.customer_labels where model_name = 'purchase_propensity' "
            "and cutoff_role = 'training'").fetchall()]
    assert sample["customer_id"].tolist() == md5_lowest(everyone["customer_id"].tolist(), AS_OF, 200)
    pd.testing.assert_frame_equal(sample, everyone[everyone["customer_id"].isin(sample["customer_id"])]
                                  .reset_index(drop=True))
    assert labelled.population["training"] == len(training_ids) > 300
    assert labelled.training["customer_id"].tolist() == md5_lowest(training_ids, labelled.training_cutoff, 300)
    assert len(labelled.validation) == 300


def test_training_runs_record_the_population_and_the_sample(warehouse, tmp_path, monkeypatch):
    path = tmp_path / "cdp.duckdb"
    shutil.copy(warehouse, path)
    caps = {"personas": 400, "purchase_propensity": 500, "clv": 300}
    with_settings(monkeypatch, lambda name, settings: settings.get("training_sample", {}).update(
        max_customers=caps.get(name, settings.get("training_sample", {}).get("max_customers"))))
    outcomes = run_all(path, tmp_path / "artifacts")
    with duckdb.connect(str(path), read_only=True) as con:
        customers = con.execute(COUNT_CUSTOMERS, [AS_OF]).fetchone()[0]
        clusters = con.execute("select count(*) from ml.customer_clusters").fetchone()[0]
    personas = outcomes["personas"].run
    assert personas.status == "trained" and personas.rows_trained == 400
    assert personas.parameters["training_sample"] == {"max_customers": 400, "customers": customers, "used": 400,
                                                       "sampled": True}
    assert clusters == customers  # fitted on the sample, every customer assigned
    propensity = outcomes["purchase_propensity"].run
    assert propensity.status == "trained", propensity.message
    sample = propensity.parameters["training_sample"]
    assert sample["training"]["used"] == sample["validation"]["used"] == 500
    assert sample["training"]["customers"] > 500 and sample["training"]["sampled"]
    assert propensity.rows_trained == 1_000
    clv = outcomes["clv"].run
    assert clv.status == "trained", clv.message
    assert clv.parameters["training_sample"]["used"] == clv.rows_trained == 300
    assert clv.parameters["training_sample"]["customers"] > 300
    # churn's buyers are fewer than its cap: everyone is used, and the record says so
    churn = outcomes["churn"].run.parameters.get("training_sample") or {}
    assert all(not role["sampled"] and role["used"] == role["customers"] for role in churn.values())


def test_scale_settings_are_checked_and_default_to_one_hundred_thousand_a_batch():
    assert Scale.from_config("personas", {}) == Scale(None, 100_000)
    assert Scale.from_config("clv", {"training_sample": {"max_customers": 5}, "scoring": {"batch_rows": 7}}) == \
        Scale(5, 7)
    for bad in ({"training_sample": {"max_customers": 0}}, {"scoring": {"batch_rows": "many"}},
                {"scoring": {"batch_rows": True}}):
        with pytest.raises(ValueError, match="ml/config/clv.yml"):
            Scale.from_config("clv", bad)


def test_an_error_while_scoring_is_reported_as_itself_and_leaves_the_outputs_as_they_were(warehouse, tmp_path,
                                                                                            monkeypatch):
    path = tmp_path / "cdp.duckdb"
    shutil.copy(warehouse, path)
    run_all(path, tmp_path / "artifacts")
    with duckdb.connect(str(path), read_only=True) as con:
        before = outputs(con)
        runs = con.execute("select count(*) from ml.model_runs").fetchone()[0]

    def broken_ranking(warehouse, scratch, table, rows):
        warehouse.execute("select * from ml.no_such_table")  # a DuckDB error inside the run's transaction

    monkeypatch.setattr(runners, "_rank_scores", broken_ranking)
    with duckdb.connect(str(path)) as con, pytest.raises(duckdb.CatalogException, match="no_such_table"):
        RUNNERS["purchase_propensity"](con, tmp_path / "artifacts", "test-run", force_retrain=False)
    with duckdb.connect(str(path), read_only=True) as con:
        after = outputs(con)
        assert con.execute("select count(*) from ml.model_runs").fetchone()[0] == runs
        assert con.execute("select count(*) from duckdb_tables() where table_name like '%_unranked'").fetchone()[0] == 0
    for table, frame in before.items():
        pd.testing.assert_frame_equal(after[table], frame)
