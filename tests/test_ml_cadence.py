"""Retraining cadence (ml/retraining.py, ml/runners.py): a model trains when it has no published artifact,
when that artifact is every_days old, when its settings change, when forced or when the artifact cannot be
read; otherwise the run reloads the artifact and scores today's data with it, and records that it did.

The days are a synthetic warehouse whose feature tables dbt builds as of each date; "advancing a day"
swaps those tables in, as the nightly dbt build does, while orders and events stay (read up to the as-of
date by the models)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from benchmarks.ml.synthetic_warehouse import FEATURE_MODELS, build
from ml import runners
from ml.clv_predictions import ClvModel, purchase_summary
from ml.features import FeatureSpec, load_features, load_labelled_cutoffs
from ml.monitoring import feature_drift
from ml.personas import PersonaModel
from ml.propensity import PropensityModel
from ml.recommendation_data import load_interactions
from ml.recommendations import ItemToItemRecommender
from ml.registry import ModelRun, published_run, record_run
from ml.retraining import Decision, RetrainingPolicy, decide, settings_hash
from ml.runners import OUTPUT_TABLES, RUNNERS
from ml.settings import load_model_config
from orchestration.defs.ml import ML_ASSETS, MODELS
from orchestration.defs.resources import WarehouseResource

ROOT = Path(__file__).resolve().parent.parent
END = date(2026, 9, 30)
POLICIES = {name: RetrainingPolicy.from_config(name, load_model_config(name)) for name in RUNNERS}
CADENCES = sorted({policy.every_days for policy in POLICIES.values()})
DAY_ONE = END - timedelta(days=max(CADENCES))
DATES = sorted({DAY_ONE, DAY_ONE + timedelta(days=1), *(DAY_ONE + timedelta(days=d) for d in CADENCES)})
FEATURE_TABLES = ("ml.feature_cutoffs", "ml.customer_features", "ml.customer_labels")
MODEL_TABLES = {m.model_name: m.tables for m in MODELS}
MAIN_TABLE = {name: tables[0] for name, tables in MODEL_TABLES.items()}


@dataclass(frozen=True)
class Days:
    """A warehouse after training on day one, its artifacts, and the feature tables of every test date."""

    trained: Path
    artifacts: Path
    feature_tables: dict[date, Path]


def build_feature_tables(warehouse: Path, as_of: date, target: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--select", *FEATURE_MODELS,
         "--vars", json.dumps({"as_of": as_of.isoformat(), "churn_horizon_days": 60}),
         "--target-path", str(target)],
        cwd=ROOT / "dbt_project",
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def advance(con: duckdb.DuckDBPyConnection, days: Days, as_of: date) -> None:
    """The feature tables as dbt builds them as of ``as_of``."""
    con.execute(f"attach '{days.feature_tables[as_of]}' as day (read_only)")
    con.execute("create schema if not exists ml")
    try:
        for table in FEATURE_TABLES:
            con.execute(f"create or replace table {table} as select * from day.{table}")
    finally:
        con.execute("detach day")


def run_all(con: duckdb.DuckDBPyConnection, artifacts: Path, **options) -> dict[str, runners.ModelOutcome]:
    return {name: runner(con, artifacts, "test-run", **options) for name, runner in RUNNERS.items()}


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> Days:
    work = tmp_path_factory.mktemp("cadence")
    # a year of history: on 240 days BG/NBD's drop-out parameters sit on a flat ridge near the boundary check
    base = work / "base.duckdb"
    build(base, customers=3_000, days=365, end=END)
    feature_tables = {}
    for as_of in DATES:
        path = work / f"features_{as_of}.duckdb"
        shutil.copy(base, path)
        build_feature_tables(path, as_of, work / "target")
        feature_tables[as_of] = path
    result = Days(work / "trained.duckdb", work / "artifacts", feature_tables)
    shutil.copy(base, result.trained)
    with duckdb.connect(str(result.trained)) as con:
        advance(con, result, DAY_ONE)
        outcomes = run_all(con, result.artifacts)
    assert {n: o.run.status for n, o in outcomes.items()} == dict.fromkeys(RUNNERS, "trained"), {
        n: o.run.message for n, o in outcomes.items()}
    return result


@pytest.fixture
def day_two(days, tmp_path) -> duckdb.DuckDBPyConnection:
    """A copy of the trained warehouse, advanced to the day after day one."""
    copy = tmp_path / "cdp.duckdb"
    shutil.copy(days.trained, copy)
    con = duckdb.connect(str(copy))
    advance(con, days, DAY_ONE + timedelta(days=1))
    yield con
    con.close()


def published_versions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {name: published_run(con, name, END)["model_version"] for name in RUNNERS}


def table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """An output table's content, less the columns naming the run."""
    columns = ", ".join(f'"{c}"' for c in OUTPUT_TABLES[name] if c not in ("model_version", "as_of_date"))
    return con.execute(f"select {columns} from {name} order by all").df()


# --------------------------------------------------------------------------- day one, day two


def test_the_next_day_scores_with_the_saved_model_and_records_it(days, day_two):
    con = day_two
    day_one = {name: table(con, MAIN_TABLE[name]) for name in RUNNERS}
    trained = published_versions(con)
    artifacts_before = sorted(days.artifacts.rglob("*"))
    outcomes = run_all(con, days.artifacts)
    for name, outcome in outcomes.items():
        run = outcome.run
        assert run.status == "scored", (name, run.message)
        assert run.model_version == trained[name]
        assert f"trained on {DAY_ONE}" in run.message and trained[name] in run.message
        for output in MODEL_TABLES[name]:
            versions = con.execute(f"select distinct model_version, as_of_date from {output}").fetchall()
            assert versions == [(trained[name], DAY_ONE + timedelta(days=1))], output
        # the scores follow the new day's data
        assert not table(con, MAIN_TABLE[name]).equals(day_one[name]), name
    assert sorted(days.artifacts.rglob("*")) == artifacts_before  # nothing fitted, nothing saved
    rows = con.execute(
        "select model_name, status, model_version, rows_trained, artifact_path, config_hash, parameters "
        "from ml.model_runs where status = 'scored'"
    ).fetchall()
    assert len(rows) == len(RUNNERS)
    for name, _, version, rows_trained, path, config_hash, parameters in rows:
        training = published_run(con, name, END)
        assert version == training["model_version"] and path == training["artifact_path"]
        assert config_hash == training["config_hash"] and rows_trained is None
        assert json.loads(parameters)["trained_run_id"] == training["model_run_id"]


def test_scoring_applies_the_saved_artifact_to_the_days_data(days, day_two):
    """What a scoring run writes is exactly what the published artifact gives on today's data."""
    con = day_two
    run_all(con, days.artifacts)
    as_of = DAY_ONE + timedelta(days=1)
    path = {name: published_run(con, name, END)["artifact_path"] for name in RUNNERS}
    features = load_features(con, as_of, FeatureSpec.load())

    propensity = PropensityModel.load(path["purchase_propensity"]).score(features)
    written = con.execute("select customer_id, purchase_probability from ml.purchase_propensity_scores").df()
    expected = propensity[["customer_id", "probability"]].rename(columns={"probability": "purchase_probability"})
    pd.testing.assert_frame_equal(written.sort_values("customer_id", ignore_index=True),
                                  expected.sort_values("customer_id", ignore_index=True))

    clusters = PersonaModel.load(path["personas"]).assign(features)
    written = con.execute("select customer_id, cluster_id from ml.customer_clusters order by customer_id").df()
    expected = clusters[["customer_id", "cluster_id"]].sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    sizes = dict(con.execute("select cluster_id, customer_count from ml.personas where customer_count > 0").fetchall())
    assert sizes == clusters["cluster_id"].value_counts().to_dict()

    clv = ClvModel.load(path["clv"]).predict(purchase_summary(con, as_of, "W")[0])
    written = con.execute("select customer_id, clv_12m from ml.clv_predictions order by customer_id").df()
    expected = clv[clv["customer_id"].isin(features["customer_id"])][["customer_id", "clv_12m"]]
    pd.testing.assert_frame_equal(written, expected.sort_values("customer_id", ignore_index=True))

    interactions = load_interactions(con, as_of, load_model_config("recommendations")["lookback_days"])
    recommended = ItemToItemRecommender.load(path["recommendations"]).recommend(
        interactions, customer_ids=features["customer_id"].to_numpy())
    written = con.execute("select customer_id, product_id, rank from ml.product_recommendations").df()
    assert len(written) == len(recommended)
    assert set(map(tuple, written.to_numpy().tolist())) == set(
        zip(recommended["customer_id"].astype(str), recommended["product_id"].astype(str),
            recommended["rank"].astype(int), strict=True))


def test_monitoring_runs_on_scoring_days_and_the_validation_check_says_it_did_not(days, day_two):
    outcomes = run_all(day_two, days.artifacts)
    for name in ("churn", "purchase_propensity"):
        checks = {c.name: c for c in outcomes[name].checks}
        assert set(checks) == set(runners.PROPENSITY_CHECKS)
        assert "training run's scores" in checks[runners.SCORE_SHIFT_CHECK].description
        assert checks[runners.PARITY_CHECKS["gender"]].metadata["rates"]
        regression = checks[runners.METRIC_REGRESSION_CHECK]
        assert regression.metadata["evaluated"] is False and "not evaluated" in regression.description
    # feature drift is measured against the data the published model was fitted on (day one's validation
    # cutoff), from the profiles its training run recorded
    with duckdb.connect(str(days.feature_tables[DAY_ONE]), read_only=True) as day_one:
        fitted_on = load_labelled_cutoffs(day_one, "purchase_propensity").validation
    spec = FeatureSpec.load()
    today = load_features(day_two, DAY_ONE + timedelta(days=1), spec)
    expected = feature_drift(fitted_on, today, spec.model_features, load_model_config("monitoring"))
    recorded = outcomes["purchase_propensity"].run.metrics["monitoring"]
    assert recorded["feature_psi"] == pytest.approx(dict(zip(expected["feature"], expected["psi"], strict=True)))
    assert recorded["shifted_features"] == expected.loc[expected["is_shifted"], "feature"].tolist()


# --------------------------------------------------------------------------- reasons to train


def test_a_model_retrains_once_its_model_is_every_days_old(days, tmp_path):
    """Day one + every_days retrains a model; a model whose cadence is longer keeps scoring until its own."""
    copy = tmp_path / "cdp.duckdb"
    shutil.copy(days.trained, copy)
    with duckdb.connect(str(copy)) as con:
        for cadence in CADENCES:
            as_of = DAY_ONE + timedelta(days=cadence)
            advance(con, days, as_of)
            published = {name: published_run(con, name, as_of) for name in RUNNERS}
            outcomes = run_all(con, days.artifacts)
            for name, outcome in outcomes.items():
                age = (as_of - published[name]["as_of_date"]).days
                due = age >= POLICIES[name].every_days
                assert outcome.trained == due, (name, as_of, outcome.run.message)
                if due:
                    assert f"{age} days old" in outcome.run.message
                    assert outcome.run.model_version != published[name]["model_version"]
                if cadence == POLICIES[name].every_days:
                    assert published[name]["as_of_date"] == DAY_ONE and outcome.trained


def test_a_settings_change_retrains_the_models_that_depend_on_it(days, day_two, monkeypatch):
    real = runners.load_model_config

    def with_discount(model: str):
        settings = real(model)
        return {**settings, "monthly_discount_rate": 0.01} if model == "clv" else settings

    monkeypatch.setattr(runners, "load_model_config", with_discount)
    outcomes = run_all(day_two, days.artifacts)
    assert outcomes["clv"].trained and "settings changed" in outcomes["clv"].run.message
    assert outcomes["clv"].run.parameters["monthly_discount_rate"] == 0.01
    assert all(o.run.status == "scored" for n, o in outcomes.items() if n != "clv")

    # fewer model features: every model that reads the feature table retrains, the others score
    spec = FeatureSpec.load()
    monkeypatch.setattr(FeatureSpec, "load", classmethod(
        lambda cls: cls([f for f in spec.model_features if f != "sessions_30d"], spec.fairness_attributes)))
    outcomes = run_all(day_two, days.artifacts)
    retrained = {name for name, outcome in outcomes.items() if outcome.trained}
    assert retrained == {"personas", "churn", "purchase_propensity"}, {n: o.run.message for n, o in outcomes.items()}


def test_changing_only_the_cadence_retrains_nothing(days, day_two, monkeypatch):
    real = runners.load_model_config

    def slower(model: str):
        settings = real(model)
        if model not in RUNNERS:
            return settings
        return {**settings, "retraining": {**settings["retraining"], "every_days": 30}}

    monkeypatch.setattr(runners, "load_model_config", slower)
    outcomes = run_all(day_two, days.artifacts)
    assert all(o.run.status == "scored" for o in outcomes.values()), {n: o.run.message for n, o in outcomes.items()}


def test_retrain_forces_training(days, day_two):
    outcomes = run_all(day_two, days.artifacts, force_retrain=True)
    for name, outcome in outcomes.items():
        assert outcome.trained and "forced" in outcome.run.message, name


def test_the_retrain_flag_reaches_the_model_assets(days, day_two):
    """PipelineConfig.retrain, as `cdp run --retrain` sets it, forces the Dagster asset to train."""
    path = day_two.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    day_two.close()
    warehouse = WarehouseResource(warehouse_path=path[0], model_artifact_dir=str(days.artifacts))
    clv = next(asset for asset in ML_ASSETS if asset.node_def.name == "train_clv")
    for retrain, status in ((False, "scored"), (True, "trained")):
        result = dg.materialize([clv], resources={"warehouse": warehouse},
                                run_config={"ops": {"train_clv": {"config": {"retrain": retrain}}}})
        assert result.success
        [materialization] = result.asset_materializations_for_node("train_clv")
        assert materialization.metadata["status"].value == status


def test_a_missing_or_corrupt_artifact_retrains_instead_of_failing(days, day_two, tmp_path):
    con = day_two
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in RUNNERS:
        original = Path(published_run(con, name, END)["artifact_path"])
        copy = broken / f"{name}{original.suffix}"
        shutil.copy(original, copy)
        con.execute("update ml.model_runs set artifact_path = ? where artifact_path = ?", [str(copy), str(original)])
    (broken / "clv.joblib").unlink()  # gone
    data = (broken / "personas.joblib").read_bytes()
    (broken / "personas.joblib").write_bytes(data[: len(data) // 2])  # truncated
    (broken / "recommendations.npz").write_bytes(b"not a zip file")  # garbage
    (broken / "churn.joblib").write_bytes(b"")  # empty
    outcomes = run_all(con, days.artifacts)
    for name in ("clv", "personas", "recommendations", "churn"):
        assert outcomes[name].trained and "could not be loaded" in outcomes[name].run.message, name
        assert con.execute(f"select count(*) from {MAIN_TABLE[name]}").fetchone()[0] > 0
    assert outcomes["purchase_propensity"].run.status == "scored"


def test_an_earlier_date_never_scores_with_a_model_trained_on_later_data(days, day_two):
    """A backfill of a date before the published model's trains afresh: the later model saw the future."""
    day_two.execute("update ml.model_runs set as_of_date = as_of_date + 2")  # trained two days after day one
    outcomes = run_all(day_two, days.artifacts)
    for name, outcome in outcomes.items():
        assert outcome.trained and "no trained model" in outcome.run.message, name


# --------------------------------------------------------------------------- the policy and the record


def test_policy_decisions():
    policy = RetrainingPolicy(every_days=7, on_feature_drift=True)
    as_of = date(2026, 9, 10)
    published = {"as_of_date": date(2026, 9, 5), "config_hash": "h", "model_version": "20260905.abc",
                 "metrics": {"monitoring": {"shifted_features": ["email_opens_90d"]}}}
    assert decide(policy, as_of, "h", None) == Decision(True, "no trained model to score with")
    assert decide(policy, as_of, "h", published).reason == (
        "with the model trained on 2026-09-05, version 20260905.abc (retrains on 2026-09-12)")
    assert not decide(policy, as_of, "h", published).train
    assert decide(policy, date(2026, 9, 11), "h", published).train is False  # 6 days
    assert decide(policy, date(2026, 9, 12), "h", published).train  # 7 days
    assert "settings changed" in decide(policy, as_of, "other", published).reason
    assert decide(policy, as_of, "h", published, force=True).train
    # drift already present at training does not retrain; a newly shifted feature does
    same = {"metrics": {"monitoring": {"shifted_features": ["email_opens_90d"]}}}
    assert not decide(policy, as_of, "h", published, same).train
    new = {"metrics": {"monitoring": {"shifted_features": ["email_opens_90d", "recency_days"]}}}
    assert decide(policy, as_of, "h", published, new).reason.endswith("recency_days")
    assert not decide(RetrainingPolicy(every_days=7), as_of, "h", published, new).train


def test_policy_settings_are_checked_and_the_cadence_is_not_hashed():
    for block in (None, {"every_days": 0}, {"every_days": "7"}, {"every_days": 7, "on_feature_drift": "yes"},
                  {"every_days": 7, "often": True}):
        with pytest.raises(ValueError, match="ml/config/churn.yml"):
            RetrainingPolicy.from_config("churn", {"retraining": block} if block is not None else {})
    settings = load_model_config("churn")
    assert settings_hash(settings) == settings_hash({**settings, "retraining": {"every_days": 1}})
    assert settings_hash(settings) != settings_hash({**settings, "seed": 8})
    assert settings_hash(settings, {"horizon_days": 30}) != settings_hash(settings, {"horizon_days": 60})
    assert all(policy.every_days >= 1 for policy in POLICIES.values())


def test_an_existing_model_runs_table_gains_the_new_column(con):
    """A warehouse from before the cadence: its run log gets config_hash, and its trained runs (no hash)
    count as trained with other settings, so the first run after the upgrade retrains."""
    assert published_run(con, "clv", date(2026, 9, 1)) is None  # no table: no run, and nothing created
    assert con.execute("select count(*) from duckdb_tables() where table_name = 'model_runs'").fetchone()[0] == 0
    con.execute("create schema ml")
    con.execute("""create table ml.model_runs (
        model_run_id varchar primary key, pipeline_run_id varchar, model_name varchar not null,
        model_version varchar, status varchar not null, message varchar, as_of_date date not null,
        training_window_start date, training_window_end date, rows_trained bigint, rows_scored bigint,
        parameters json, metrics json, artifact_path varchar, started_at timestamp not null,
        finished_at timestamp not null, seconds double not null)""")
    con.execute("insert into ml.model_runs values ('old', null, 'clv', '20260901.old', 'trained', null, "
                "'2026-09-01', null, null, 10, 10, '{}', '{}', '/nowhere.joblib', now(), now(), 1)")
    before_upgrade = published_run(con, "clv", date(2026, 9, 1))  # read before the column exists
    assert before_upgrade["model_run_id"] == "old" and before_upgrade["config_hash"] is None
    run = ModelRun("clv", date(2026, 9, 2), model_version="20260902.new", config_hash="abc")
    record_run(con, run)
    columns = [r[0] for r in con.execute("describe ml.model_runs").fetchall()]
    assert columns[-1] == "config_hash"
    assert con.execute("select config_hash from ml.model_runs order by as_of_date").fetchall() == [(None,), ("abc",)]
    old = published_run(con, "clv", date(2026, 9, 1))
    assert old["model_run_id"] == "old" and decide(POLICIES["clv"], date(2026, 9, 1), "abc", old).train
