"""Train, save, reload and score each model on the warehouse, and record the run.

Each runner reads its inputs from the point-in-time tables, trains, saves the trained model as an
artifact, reloads it from that file to score (so what is saved is what scored), replaces the
model's output table and inserts a row into ``ml.model_runs``. A model that cannot be trained
(``ModelSkipped``) leaves an empty output table and a skipped run with the reason, so everything
downstream still runs. No Dagster here: the assets in orchestration/defs/ml.py call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ml.clv_predictions import ClvModel, predict_clv
from ml.errors import ModelSkipped, NotEnoughData
from ml.features import FEATURES_TABLE, FeatureSpec, load_features, load_labelled_cutoffs, scoring_cutoff
from ml.monitoring import feature_drift, psi_from_shares, score_histogram, selection_rate_parity
from ml.personas import PersonaModel, fit_personas
from ml.propensity import PropensityModel, train_propensity
from ml.recommendation_data import load_interactions
from ml.recommendations import ItemToItemRecommender
from ml.recommendations import evaluate as evaluate_recommendations
from ml.registry import ModelRun, artifact_path, previous_trained_run, record_run
from ml.settings import load_model_config

# Output tables: column -> DuckDB type. An empty (skipped) output keeps this shape.
OUTPUT_TABLES: dict[str, dict[str, str]] = {
    "ml.clv_predictions": {
        "customer_id": "varchar", "frequency": "double", "recency": "double", "T": "double", "monetary": "double",
        "expected_purchases_12m": "double", "probability_alive": "double", "expected_order_value": "double",
        "clv_12m": "double", "model_version": "varchar", "as_of_date": "date",
    },
    "ml.churn_scores": {
        "customer_id": "varchar", "churn_probability": "double", "risk_tier": "varchar", "decile": "integer",
        "model_version": "varchar", "as_of_date": "date",
    },
    "ml.purchase_propensity_scores": {
        "customer_id": "varchar", "purchase_probability": "double", "propensity_tier": "varchar",
        "decile": "integer", "model_version": "varchar", "as_of_date": "date",
    },
    "ml.product_recommendations": {
        "customer_id": "varchar", "product_id": "varchar", "rank": "smallint", "score": "double", "source": "varchar",
        "model_version": "varchar", "as_of_date": "date",
    },
    "ml.customer_clusters": {
        "customer_id": "varchar", "cluster_id": "integer", "persona_name": "varchar",
        "distance_to_centroid": "double", "model_version": "varchar", "as_of_date": "date",
    },
    "ml.personas": {
        "cluster_id": "integer", "persona_name": "varchar", "description": "varchar", "customer_count": "bigint",
        "customer_share": "double", "centroid": "json", "distinguishing_features": "json",
        "model_version": "varchar", "as_of_date": "date",
    },
}


@dataclass
class CheckOutcome:
    """One monitoring check's verdict, for the orchestration layer to report."""

    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelOutcome:
    run: ModelRun
    table: str
    rows_written: int
    checks: list[CheckOutcome] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return self.run.status != "trained"


def write_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Replace ``table`` with ``frame`` in the declared column order and types."""
    columns = OUTPUT_TABLES[table]
    schema = table.split(".")[0]
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create or replace table {table} ({', '.join(f'{_q(c)} {t}' for c, t in columns.items())})")
    if len(frame):
        con.register("output_frame", frame[list(columns)])
        try:
            con.execute(f"insert into {table} select * from output_frame")
        finally:
            con.unregister("output_frame")
    return len(frame)


def run_model(
    con: duckdb.DuckDBPyConnection,
    model_name: str,
    tables: list[str],
    train_and_score: Callable[[ModelRun], tuple[dict[str, pd.DataFrame], list[CheckOutcome]]],
    pipeline_run_id: str | None = None,
) -> ModelOutcome:
    """The shared frame of every runner: skip cleanly, write the outputs and the run record together."""
    run = ModelRun(model_name, scoring_cutoff(con), pipeline_run_id)
    run.model_version = model_version(run)
    checks: list[CheckOutcome] = []
    try:
        frames, checks = train_and_score(run)
        frames = {t: f.assign(model_version=run.model_version, as_of_date=run.as_of_date) for t, f in frames.items()}
    except ModelSkipped as reason:
        run.skip(str(reason))
        run.metrics = reason.metrics
        run.model_version = None
        frames = {t: pd.DataFrame(columns=list(OUTPUT_TABLES[t])) for t in tables}
    run.rows_scored = len(frames[tables[0]])
    con.execute("begin transaction")
    try:
        written = [write_table(con, table, frames[table]) for table in tables]
        record_run(con, run)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return ModelOutcome(run, tables[0], written[0], checks)


def model_version(run: ModelRun) -> str:
    """Readable and unique per training run: the as-of date and the start of the run id."""
    return f"{run.as_of_date:%Y%m%d}.{run.model_run_id[:8]}"


def known_customers(con: duckdb.DuckDBPyConnection, cutoff) -> pd.Index:
    """Customers with a feature row at the cutoff: known then, and not erased."""
    rows = con.execute(f"select customer_id from {FEATURES_TABLE} where cutoff_date = ?", [cutoff]).fetchall()
    return pd.Index([r[0] for r in rows], name="customer_id")


# --------------------------------------------------------------------------- lifetime value


def run_clv(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None
) -> ModelOutcome:
    """BG/NBD + Gamma-Gamma on completed orders up to the as-of date -> ``ml.clv_predictions``."""

    def train_and_score(run: ModelRun) -> tuple[dict[str, pd.DataFrame], list[CheckOutcome]]:
        settings = load_model_config("clv")
        fitted = predict_clv(con, run.as_of_date, settings["time_unit"], settings["monthly_discount_rate"])
        path = artifact_path(artifact_dir, run)
        fitted.model.save(path)
        predictions = ClvModel.load(path).predict(fitted.summary)
        predictions = predictions[predictions["customer_id"].isin(known_customers(con, run.as_of_date))]
        first_purchase = con.execute(
            "select min(ordered_date) from marts.fct_orders where is_completed and ordered_date <= ?",
            [run.as_of_date],
        ).fetchall()[0][0]
        run.artifact_path = str(path)
        run.training_window_start, run.training_window_end = first_purchase, run.as_of_date
        run.rows_trained = fitted.purchases.n_customers
        run.parameters = {
            "time_unit": fitted.time_unit, "months": fitted.months,
            "monthly_discount_rate": fitted.monthly_discount_rate,
            "bg_nbd": fitted.purchases.params, "gamma_gamma": fitted.spend.params,
        }
        run.metrics = {
            "bg_nbd_log_likelihood": fitted.purchases.log_likelihood,
            "gamma_gamma_log_likelihood": fitted.spend.log_likelihood,
            "gamma_gamma_customers": fitted.spend.n_customers,
            # parameters the data leave uncertain by a factor of e or more (docs/clv.md)
            "bg_nbd_weakly_identified": fitted.purchases.extra["weakly_identified"],
            "gamma_gamma_weakly_identified": fitted.spend.extra["weakly_identified"],
            "bg_nbd_log_parameter_standard_errors": fitted.purchases.extra["log_parameter_standard_errors"],
            "gamma_gamma_log_parameter_standard_errors": fitted.spend.extra["log_parameter_standard_errors"],
            "unpriced_orders": fitted.unpriced_orders,
            "expected_purchases_12m_total": float(predictions["expected_purchases_12m"].sum()),
            "clv_12m_mean": float(predictions["clv_12m"].mean()) if len(predictions) else None,
            "clv_12m_total": float(predictions["clv_12m"].sum()),
        }
        return {"ml.clv_predictions": predictions}, []

    return run_model(con, "clv", ["ml.clv_predictions"], train_and_score, pipeline_run_id)


# --------------------------------------------------------------------------- churn and purchase propensity

FEATURE_DRIFT_CHECK = "feature_drift"
SCORE_SHIFT_CHECK = "score_distribution_shift"
PARITY_CHECKS = {"gender": "top_decile_parity_gender", "age_band": "top_decile_parity_age_band"}
METRIC_REGRESSION_CHECK = "validation_metric_vs_last_published"
PROPENSITY_CHECKS = (FEATURE_DRIFT_CHECK, SCORE_SHIFT_CHECK, METRIC_REGRESSION_CHECK, *PARITY_CHECKS.values())


@dataclass(frozen=True)
class PropensityTable:
    """Where a binary model's scores go and what its columns are called."""

    model_name: str
    table: str
    probability_column: str
    tier_column: str
    buyers_only: bool  # churn is defined for customers who have bought


CHURN = PropensityTable("churn", "ml.churn_scores", "churn_probability", "risk_tier", True)
PURCHASE_PROPENSITY = PropensityTable(
    "purchase_propensity", "ml.purchase_propensity_scores", "purchase_probability", "propensity_tier", False
)


def run_churn(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None
) -> ModelOutcome:
    """Churn in the horizon after the as-of date for every buyer -> ``ml.churn_scores``."""
    return _run_propensity(con, CHURN, artifact_dir, pipeline_run_id)


def run_purchase_propensity(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None
) -> ModelOutcome:
    """A completed order in the next 30 days, for every known customer -> ``ml.purchase_propensity_scores``."""
    return _run_propensity(con, PURCHASE_PROPENSITY, artifact_dir, pipeline_run_id)


def _run_propensity(
    con: duckdb.DuckDBPyConnection, target: PropensityTable, artifact_dir: Path | str, pipeline_run_id: str | None
) -> ModelOutcome:
    def train_and_score(run: ModelRun) -> tuple[dict[str, pd.DataFrame], list[CheckOutcome]]:
        spec = FeatureSpec.load()
        data = load_labelled_cutoffs(con, target.model_name, spec)
        cutoffs = {"training": data.training_cutoff, "validation": data.validation_cutoff,
                   "horizon_days": data.horizon_days}
        model = train_propensity(
            data.training, data.validation, spec.model_features, "label", load_model_config(target.model_name),
            cutoffs,
        )
        path = artifact_path(artifact_dir, run)
        model.save(path)
        model = PropensityModel.load(path)
        population = load_features(con, run.as_of_date, spec)
        if target.buyers_only:
            population = population[population["frequency"] > 0].reset_index(drop=True)
        scores = model.score(population).drop(columns="model_version")
        scores = scores.rename(columns={"probability": target.probability_column, "risk_tier": target.tier_column})
        run.artifact_path = str(path)
        run.training_window_start, run.training_window_end = data.training_cutoff, run.as_of_date
        run.rows_trained = len(data.training) + len(data.validation)
        run.parameters = {**model.params, "model_fingerprint": model.version}
        checks, monitoring = _propensity_checks(con, model, data.validation, population, scores, target, spec)
        run.metrics = {**model.metrics, "monitoring": monitoring}
        return {target.table: scores}, checks

    return run_model(con, target.model_name, [target.table], train_and_score, pipeline_run_id)


def _propensity_checks(
    con: duckdb.DuckDBPyConnection,
    model: PropensityModel,
    fitted_on: pd.DataFrame,
    population: pd.DataFrame,
    scores: pd.DataFrame,
    target: PropensityTable,
    spec: FeatureSpec,
) -> tuple[list[CheckOutcome], dict[str, Any]]:
    """Drift of the features against what the final model was fitted on, shift of the scores against the
    previous run (or, on a first run, the fitted data's scores), and fairness of the top decile."""
    settings = load_model_config("monitoring")
    drift = feature_drift(fitted_on, population, spec.model_features, settings)
    shifted = drift[drift["is_shifted"]]
    checks = [CheckOutcome(
        FEATURE_DRIFT_CHECK,
        shifted.empty,
        "no feature shifted" if shifted.empty
        else f"{len(shifted)} feature(s) shifted since training (PSI > {settings['psi']['warn_above']}): "
        + ", ".join(shifted["feature"]),
        {"psi": {r.feature: round(r.psi, 4) for r in drift.head(10).itertuples()}},
    )]
    histogram = score_histogram(scores[target.probability_column], settings["score_bins"])
    previous = previous_trained_run(con, target.model_name)
    reference = (previous or {}).get("metrics", {}).get("monitoring", {}).get("score_histogram")
    reference_name = f"run {previous['model_version']}" if reference else "the scores of the data it was fitted on"
    if not reference:
        reference = score_histogram(model.predict_proba(fitted_on), settings["score_bins"])
    score_psi = psi_from_shares(np.asarray(reference), np.asarray(histogram))
    checks.append(CheckOutcome(
        SCORE_SHIFT_CHECK,
        score_psi <= settings["psi"]["warn_above"],
        f"score distribution PSI {score_psi:.3f} against {reference_name}",
        {"psi": round(score_psi, 4), "histogram": [round(x, 4) for x in histogram]},
    ))
    audience = scores.merge(population[["customer_id", *PARITY_CHECKS]], on="customer_id")
    parity = {}
    for attribute, check_name in PARITY_CHECKS.items():
        verdict = selection_rate_parity(audience, target.probability_column, attribute, settings)
        parity[attribute] = verdict.as_metadata()
        ratio = "not enough groups to compare" if verdict.rate_ratio is None else f"{verdict.rate_ratio:.2f}"
        checks.append(CheckOutcome(
            check_name,
            verdict.passed,
            f"top-decile selection rate, lowest / highest {attribute} group: {ratio} "
            f"(warns under {settings['fairness']['min_rate_ratio']})",
            verdict.as_metadata(),
        ))
    checks.append(metric_regression(model.metrics, (previous or {}).get("metrics", {}), previous, settings))
    monitoring = {
        "feature_psi": {r.feature: r.psi for r in drift.itertuples()},
        "score_histogram": histogram,
        "score_psi": score_psi,
        "parity": parity,
    }
    return checks, monitoring


def metric_regression(
    metrics: dict[str, Any], previous_metrics: dict[str, Any], previous: dict | None, settings: dict[str, Any]
) -> CheckOutcome:
    """The winner's validation figure against the last published (trained) run's: a model that got worse
    than the one it replaces warns, though it is published (the newer labels may simply be harder)."""
    rule = settings["metric_regression"]
    metric, max_drop = rule["metric"], float(rule["max_drop"])
    current = metrics["candidates"][metrics["winner"]][metric]
    if not previous or not previous_metrics.get("candidates"):
        return CheckOutcome(METRIC_REGRESSION_CHECK, True, f"{metric} {current:.3f}; no earlier published run",
                            {metric: round(current, 4)})
    before = previous_metrics["candidates"][previous_metrics["winner"]][metric]
    drop = before - current
    return CheckOutcome(
        METRIC_REGRESSION_CHECK,
        drop <= max_drop,
        f"{metric} {current:.3f} against {before:.3f} of run {previous['model_version']} "
        f"(warns when it drops more than {max_drop})",
        {metric: round(current, 4), f"previous_{metric}": round(before, 4), "drop": round(drop, 4)},
    )


# --------------------------------------------------------------------------- personas


def run_personas(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None
) -> ModelOutcome:
    """K-means personas on the as-of features -> ``ml.customer_clusters`` and ``ml.personas``; cluster
    ids carry over from the previous trained run's saved model."""

    def train_and_score(run: ModelRun) -> tuple[dict[str, pd.DataFrame], list[CheckOutcome]]:
        spec = FeatureSpec.load()
        features = load_features(con, run.as_of_date, spec)
        previous = _previous_model(con, "personas", PersonaModel.load)
        model = fit_personas(features, spec.model_features, load_model_config("personas"), previous)
        path = artifact_path(artifact_dir, run)
        model.save(path)
        model = PersonaModel.load(path)
        run.artifact_path = str(path)
        run.training_window_start = run.training_window_end = run.as_of_date
        run.rows_trained = len(features)
        run.parameters = model.params
        run.metrics = {**model.metrics, "selection": model.selection.to_dict("records")}
        return {"ml.customer_clusters": model.assign(features), "ml.personas": model.personas}, []

    return run_model(con, "personas", ["ml.customer_clusters", "ml.personas"], train_and_score, pipeline_run_id)


# --------------------------------------------------------------------------- recommendations


def run_recommendations(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None
) -> ModelOutcome:
    """Item-to-item top-N for every known customer (popular products for those without history) ->
    ``ml.product_recommendations``, evaluated by hit rate at N on the last ``holdout_days`` first."""

    def train_and_score(run: ModelRun) -> tuple[dict[str, pd.DataFrame], list[CheckOutcome]]:
        settings = load_model_config("recommendations")
        model_settings = dict(settings.get("model", {}))
        interactions = load_interactions(con, run.as_of_date, settings.get("lookback_days"))
        holdout_start = run.as_of_date - timedelta(days=settings["holdout_days"] - 1)
        try:
            evaluation = evaluate_recommendations(interactions, holdout_start, run.as_of_date, **model_settings)
            evaluation.pop("model", None)
        except NotEnoughData as thin:
            evaluation = {"skipped": str(thin)}
        model = ItemToItemRecommender(**model_settings).fit(interactions, run.as_of_date)
        path = artifact_path(artifact_dir, run, suffix=".npz")
        model.save(path)
        model = ItemToItemRecommender.load(path)
        customers = known_customers(con, run.as_of_date)
        recommendations = model.recommend(interactions, customer_ids=customers.to_numpy())
        for column in ("customer_id", "product_id", "source"):
            recommendations[column] = recommendations[column].astype(str)
        run.artifact_path = str(path)
        run.training_window_start = model.params.get("first_interaction_date")
        run.training_window_end = run.as_of_date
        run.rows_trained = len(interactions)
        run.parameters = {**model.params, "lookback_days": settings.get("lookback_days"),
                          "holdout_days": settings["holdout_days"]}
        run.metrics = {"training": model.metrics, "holdout": evaluation}
        return {"ml.product_recommendations": recommendations}, []

    return run_model(con, "recommendations", ["ml.product_recommendations"], train_and_score, pipeline_run_id)


def _previous_model(con: duckdb.DuckDBPyConnection, model_name: str, load: Callable[[str], Any]) -> Any | None:
    """The model saved by the latest trained run, or None (first run, or its file is gone)."""
    previous = previous_trained_run(con, model_name)
    if previous is None or not previous["artifact_path"] or not Path(previous["artifact_path"]).exists():
        return None
    return load(previous["artifact_path"])


def _q(column: str) -> str:
    return f'"{column}"'


# Every model, in the order the ML stage runs them.
RUNNERS: dict[str, Callable[..., ModelOutcome]] = {
    "personas": run_personas,
    "churn": run_churn,
    "purchase_propensity": run_purchase_propensity,
    "clv": run_clv,
    "recommendations": run_recommendations,
}
