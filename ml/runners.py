"""Train or score each model on the warehouse, and record the run.

Each run first asks the model's retraining policy (ml/retraining.py) whether to train. A training run
fits, saves the model as an artifact and reloads it from that file to score (so what is saved is what
scored); a scoring run reloads the published artifact (an earlier training run's) and scores the current
features with it, falling back to training when the file is missing or unreadable. Either way the run
replaces the model's output tables and inserts a row into ``ml.model_runs``, and ``model_version`` names
the artifact behind the scores. A model that cannot be trained (``ModelSkipped``) leaves empty output
tables and a skipped run with the reason, so everything downstream still runs. No Dagster here: the
assets in orchestration/defs/ml.py call these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ml.clv_predictions import ClvModel, fit_clv, purchase_summary
from ml.errors import ModelSkipped, NotEnoughData
from ml.features import FEATURES_TABLE, FeatureSpec, load_features, load_labelled_cutoffs, scoring_cutoff
from ml.monitoring import feature_drift, feature_profiles, psi_from_shares, score_histogram, selection_rate_parity
from ml.personas import PersonaModel, fit_personas
from ml.propensity import PropensityModel, train_propensity
from ml.recommendation_data import load_interactions
from ml.recommendations import ItemToItemRecommender
from ml.recommendations import evaluate as evaluate_recommendations
from ml.registry import (
    SCORED,
    SKIPPED,
    TRAINED,
    ModelRun,
    artifact_path,
    latest_run,
    previous_trained_run,
    published_run,
    record_run,
)
from ml.retraining import Decision, RetrainingPolicy, decide, settings_hash
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
        return self.run.status == SKIPPED

    @property
    def trained(self) -> bool:
        return self.run.status == TRAINED


Frames = dict[str, pd.DataFrame]
Scored = tuple[Frames, list[CheckOutcome]]


@dataclass(frozen=True)
class ModelLifecycle:
    """One model as ``run_model`` drives it: where its scores go, what its fit depends on, how to train it
    (fit, save the artifact, reload it, score) and how to score with a published artifact."""

    name: str
    tables: list[str]
    settings: Mapping[str, Any]  # ml/config/<name>.yml: the retraining policy, and hashed with hashed_inputs
    hashed_inputs: Mapping[str, Any]  # what else the fitted model depends on (feature list, label horizon)
    load: Callable[[str], Any]  # artifact path -> model
    train: Callable[[ModelRun], Scored]
    score: Callable[[ModelRun, Any, dict[str, Any]], Scored]  # (run, loaded model, its training run's record)


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
    model: ModelLifecycle,
    pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """The shared frame of every runner: decide train or score, skip cleanly, write the outputs and the run
    record together."""
    run = ModelRun(model.name, scoring_cutoff(con), pipeline_run_id)
    run.config_hash = settings_hash(model.settings, model.hashed_inputs)
    policy = RetrainingPolicy.from_config(model.name, model.settings)
    published = published_run(con, model.name, run.as_of_date)
    decision = decide(policy, run.as_of_date, run.config_hash, published,
                      latest_run(con, model.name, run.as_of_date), force_retrain)
    checks: list[CheckOutcome] = []
    try:
        loaded, decision = _load_published(model, published, decision)
        if decision.train:
            run.model_version = model_version(run)
            frames, checks = model.train(run)
        else:
            _scoring_with(run, published)
            frames, checks = model.score(run, loaded, published)
        run.message = decision.reason
        run.parameters = {**run.parameters, "retraining": policy.as_dict()}
        frames = {t: f.assign(model_version=run.model_version, as_of_date=run.as_of_date) for t, f in frames.items()}
    except ModelSkipped as reason:
        run.skip(str(reason))
        run.metrics = reason.metrics
        run.model_version = None
        frames = {t: pd.DataFrame(columns=list(OUTPUT_TABLES[t])) for t in model.tables}
    run.rows_scored = len(frames[model.tables[0]])
    con.execute("begin transaction")
    try:
        written = [write_table(con, table, frames[table]) for table in model.tables]
        record_run(con, run)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return ModelOutcome(run, model.tables[0], written[0], checks)


def _load_published(model: ModelLifecycle, published: dict | None, decision: Decision) -> tuple[Any, Decision]:
    """The published model when the decision is to score with it. A file that is gone or cannot be read
    back turns the decision into training: a new model, never a failed run."""
    if decision.train or published is None:
        return None, decision
    path = published["artifact_path"]
    try:
        return model.load(path), decision
    except Exception as error:  # any failure to read the artifact back (missing, truncated, another class)
        why = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"
        return None, Decision(True, f"the published artifact {path} could not be loaded ({why})")


def _scoring_with(run: ModelRun, published: dict[str, Any]) -> None:
    """A scoring run names the artifact it scores with and the data that artifact was fitted on."""
    run.status = SCORED
    run.model_version = published["model_version"]
    run.artifact_path = published["artifact_path"]
    run.training_window_start = published["training_window_start"]
    run.training_window_end = published["training_window_end"]
    run.parameters = {
        "trained_run_id": published["model_run_id"],
        "trained_as_of": published["as_of_date"],
        "model_age_days": (run.as_of_date - published["as_of_date"]).days,
    }


def model_version(run: ModelRun) -> str:
    """Readable and unique per training run: the as-of date and the start of the run id."""
    return f"{run.as_of_date:%Y%m%d}.{run.model_run_id[:8]}"


def known_customers(con: duckdb.DuckDBPyConnection, cutoff) -> pd.Index:
    """Customers with a feature row at the cutoff: known then, and not erased."""
    rows = con.execute(f"select customer_id from {FEATURES_TABLE} where cutoff_date = ?", [cutoff]).fetchall()
    return pd.Index([r[0] for r in rows], name="customer_id")


# --------------------------------------------------------------------------- lifetime value


def run_clv(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """BG/NBD + Gamma-Gamma on completed orders up to the as-of date -> ``ml.clv_predictions``. Scoring
    needs only the fitted parameters: every buyer's purchase summary is rebuilt at the as-of date."""
    settings = load_model_config("clv")

    def train(run: ModelRun) -> Scored:
        summary, unpriced = purchase_summary(con, run.as_of_date, settings["time_unit"])
        path = artifact_path(artifact_dir, run)
        fit_clv(summary, settings["time_unit"], settings["monthly_discount_rate"]).save(path)
        model = ClvModel.load(path)
        purchases, spend = model.purchases.report_, model.spend.report_
        first_purchase = con.execute(
            "select min(ordered_date) from marts.fct_orders where is_completed and ordered_date <= ?",
            [run.as_of_date],
        ).fetchall()[0][0]
        run.artifact_path = str(path)
        run.training_window_start, run.training_window_end = first_purchase, run.as_of_date
        run.rows_trained = purchases.n_customers
        run.parameters = {
            "time_unit": model.time_unit, "months": model.months, "monthly_discount_rate": model.monthly_discount_rate,
            "bg_nbd": purchases.params, "gamma_gamma": spend.params,
        }
        run.metrics = {
            "bg_nbd_log_likelihood": purchases.log_likelihood,
            "gamma_gamma_log_likelihood": spend.log_likelihood,
            "gamma_gamma_customers": spend.n_customers,
            # parameters the data leave uncertain by a factor of e or more (docs/clv.md)
            "bg_nbd_weakly_identified": purchases.extra["weakly_identified"],
            "gamma_gamma_weakly_identified": spend.extra["weakly_identified"],
            "bg_nbd_log_parameter_standard_errors": purchases.extra["log_parameter_standard_errors"],
            "gamma_gamma_log_parameter_standard_errors": spend.extra["log_parameter_standard_errors"],
        }
        return _clv_scores(run, model, summary, unpriced)

    def score(run: ModelRun, model: ClvModel, trained: dict[str, Any]) -> Scored:
        return _clv_scores(run, model, *purchase_summary(con, run.as_of_date, model.time_unit))

    def _clv_scores(run: ModelRun, model: ClvModel, summary: pd.DataFrame, unpriced: int) -> Scored:
        predictions = model.predict(summary)
        predictions = predictions[predictions["customer_id"].isin(known_customers(con, run.as_of_date))]
        run.metrics = {
            **run.metrics,
            "unpriced_orders": unpriced,
            "expected_purchases_12m_total": float(predictions["expected_purchases_12m"].sum()),
            "clv_12m_mean": float(predictions["clv_12m"].mean()) if len(predictions) else None,
            "clv_12m_total": float(predictions["clv_12m"].sum()),
        }
        return {"ml.clv_predictions": predictions}, []

    lifecycle = ModelLifecycle("clv", ["ml.clv_predictions"], settings, {}, ClvModel.load, train, score)
    return run_model(con, lifecycle, pipeline_run_id, force_retrain)


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
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """Churn in the horizon after the as-of date for every buyer -> ``ml.churn_scores``."""
    return _run_propensity(con, CHURN, artifact_dir, pipeline_run_id, force_retrain)


def run_purchase_propensity(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """A completed order in the next 30 days, for every known customer -> ``ml.purchase_propensity_scores``."""
    return _run_propensity(con, PURCHASE_PROPENSITY, artifact_dir, pipeline_run_id, force_retrain)


def _run_propensity(
    con: duckdb.DuckDBPyConnection, target: PropensityTable, artifact_dir: Path | str, pipeline_run_id: str | None,
    force_retrain: bool,
) -> ModelOutcome:
    spec = FeatureSpec.load()
    monitoring = load_model_config("monitoring")

    def population(run: ModelRun) -> pd.DataFrame:
        features = load_features(con, run.as_of_date, spec)
        if target.buyers_only:
            features = features[features["frequency"] > 0].reset_index(drop=True)
        return features

    def scores_of(model: PropensityModel, features: pd.DataFrame) -> pd.DataFrame:
        scores = model.score(features).drop(columns="model_version")
        return scores.rename(columns={"probability": target.probability_column, "risk_tier": target.tier_column})

    def train(run: ModelRun) -> Scored:
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
        features = population(run)
        scores = scores_of(model, features)
        run.artifact_path = str(path)
        run.training_window_start, run.training_window_end = data.training_cutoff, run.as_of_date
        run.rows_trained = len(data.training) + len(data.validation)
        run.parameters = {**model.params, "model_fingerprint": model.version}
        # the final model was fitted on the validation cutoff: that is the distribution later runs drift from
        reference = feature_profiles(data.validation, spec.model_features, monitoring)
        previous = previous_trained_run(con, target.model_name)
        previous_histogram = (previous or {}).get("metrics", {}).get("monitoring", {}).get("score_histogram")
        if previous_histogram:
            score_reference = (previous_histogram, f"run {previous['model_version']}")
        else:
            fitted_scores = score_histogram(model.predict_proba(data.validation), monitoring["score_bins"])
            score_reference = (fitted_scores, "the scores of the data it was fitted on")
        checks, watched = _propensity_checks(reference, features, scores, score_reference, target, spec, monitoring)
        checks.append(metric_regression(model.metrics, (previous or {}).get("metrics", {}), previous, monitoring))
        run.metrics = {**model.metrics, "monitoring": {**watched, "reference_profiles": reference}}
        return {target.table: scores}, checks

    def score(run: ModelRun, model: PropensityModel, trained: dict[str, Any]) -> Scored:
        features = population(run)
        scores = scores_of(model, features)
        recorded = trained["metrics"]["monitoring"]
        score_reference = (recorded["score_histogram"], f"the training run's scores ({trained['model_version']})")
        checks, watched = _propensity_checks(
            recorded["reference_profiles"], features, scores, score_reference, target, spec, monitoring
        )
        checks.append(CheckOutcome(
            METRIC_REGRESSION_CHECK,
            True,
            "not evaluated: a scoring-only run fits and validates nothing; the check runs on training days "
            f"(this model, trained on {trained['as_of_date']}, passed it then)",
            {"evaluated": False, "trained_run_id": trained["model_run_id"]},
        ))
        run.metrics = {"monitoring": watched}
        return {target.table: scores}, checks

    settings = load_model_config(target.model_name)
    horizon = con.execute(
        "select max(horizon_days) from ml.feature_cutoffs where model_name = ?", [target.model_name]
    ).fetchall()[0][0]
    lifecycle = ModelLifecycle(
        target.model_name, [target.table], settings,
        {"model_features": spec.model_features, "horizon_days": horizon},
        PropensityModel.load, train, score,
    )
    return run_model(con, lifecycle, pipeline_run_id, force_retrain)


def _propensity_checks(
    reference_profiles: dict[str, dict],
    population: pd.DataFrame,
    scores: pd.DataFrame,
    score_reference: tuple[list[float], str],
    target: PropensityTable,
    spec: FeatureSpec,
    settings: dict[str, Any],
) -> tuple[list[CheckOutcome], dict[str, Any]]:
    """Drift of the features against the data the model was fitted on (kept as quantile profiles, so a
    scoring run can compare too), shift of the scores against a reference histogram, and fairness of the
    top decile. Needs only features and scores: these run on training and scoring days alike."""
    drift = feature_drift(reference_profiles, population, spec.model_features, settings)
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
    reference, reference_name = score_reference
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
    monitoring = {
        "feature_psi": {r.feature: r.psi for r in drift.itertuples()},
        "shifted_features": shifted["feature"].tolist(),
        "score_histogram": histogram,
        "score_psi": score_psi,
        "parity": parity,
    }
    return checks, monitoring


def metric_regression(
    metrics: dict[str, Any], previous_metrics: dict[str, Any], previous: dict | None, settings: dict[str, Any]
) -> CheckOutcome:
    """The winner's validation figure against the last published (trained) run's: a model that got worse
    than the one it replaces warns, though it is published (the newer labels may simply be harder).
    Training runs only: a scoring run has no fresh validation to compare."""
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
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """K-means personas -> ``ml.customer_clusters`` and ``ml.personas``. Training fits on the as-of features
    and keeps cluster ids from the previous trained model; scoring assigns customers to the saved centroids."""
    spec = FeatureSpec.load()

    def train(run: ModelRun) -> Scored:
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
        return _persona_tables(model, features), []

    def score(run: ModelRun, model: PersonaModel, trained: dict[str, Any]) -> Scored:
        features = load_features(con, run.as_of_date, spec)
        tables = _persona_tables(model, features)
        assigned = tables["ml.customer_clusters"]
        run.metrics = {
            "n_customers": len(assigned),
            "cluster_sizes": {str(k): int(v) for k, v in assigned["cluster_id"].value_counts().sort_index().items()},
            "mean_squared_distance": float((assigned["distance_to_centroid"] ** 2).mean()) if len(assigned) else None,
        }
        return tables, []

    lifecycle = ModelLifecycle(
        "personas", ["ml.customer_clusters", "ml.personas"], load_model_config("personas"),
        {"model_features": spec.model_features}, PersonaModel.load, train, score,
    )
    return run_model(con, lifecycle, pipeline_run_id, force_retrain)


def _persona_tables(model: PersonaModel, features: pd.DataFrame) -> Frames:
    assigned = model.assign(features)
    return {"ml.customer_clusters": assigned, "ml.personas": model.personas_for(assigned)}


# --------------------------------------------------------------------------- recommendations


def run_recommendations(
    con: duckdb.DuckDBPyConnection, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """Item-to-item top-N for every known customer (popular products for those without history) ->
    ``ml.product_recommendations``. Training evaluates hit rate at N on the last ``holdout_days``, then
    learns product similarities and popularity; scoring reads each customer's current interactions and
    ranks products with the saved similarities."""
    settings = load_model_config("recommendations")

    def interactions_at(run: ModelRun) -> pd.DataFrame:
        return load_interactions(con, run.as_of_date, settings.get("lookback_days"))

    def train(run: ModelRun) -> Scored:
        model_settings = dict(settings.get("model", {}))
        interactions = interactions_at(run)
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
        run.artifact_path = str(path)
        run.training_window_start = model.params.get("first_interaction_date")
        run.training_window_end = run.as_of_date
        run.rows_trained = len(interactions)
        run.parameters = {**model.params, "lookback_days": settings.get("lookback_days"),
                          "holdout_days": settings["holdout_days"]}
        recommendations, scoring = _recommend(con, run, model, interactions)
        run.metrics = {"training": model.metrics, "holdout": evaluation, "scoring": scoring}
        return {"ml.product_recommendations": recommendations}, []

    def score(run: ModelRun, model: ItemToItemRecommender, trained: dict[str, Any]) -> Scored:
        recommendations, scoring = _recommend(con, run, model, interactions_at(run))
        run.metrics = {"scoring": scoring}
        return {"ml.product_recommendations": recommendations}, []

    lifecycle = ModelLifecycle(
        "recommendations", ["ml.product_recommendations"], settings, {}, ItemToItemRecommender.load, train, score
    )
    return run_model(con, lifecycle, pipeline_run_id, force_retrain)


def _recommend(
    con: duckdb.DuckDBPyConnection, run: ModelRun, model: ItemToItemRecommender, interactions: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Top-N for every customer known at the as-of date from their interactions up to it."""
    recommendations = model.recommend(interactions, customer_ids=known_customers(con, run.as_of_date).to_numpy())
    for column in ("customer_id", "product_id", "source"):
        recommendations[column] = recommendations[column].astype(str)
    scoring = {
        "interaction_rows": len(interactions),
        "customers": int(recommendations["customer_id"].nunique()),
        "item_to_item_share": float((recommendations["source"] == "item_to_item").mean()) if len(recommendations)
        else None,
    }
    return recommendations, scoring


def _previous_model(con: duckdb.DuckDBPyConnection, model_name: str, load: Callable[[str], Any]) -> Any | None:
    """The model saved by the latest trained run, or None (first run, or its file is gone or unreadable:
    a fresh model then gets fresh ids rather than failing)."""
    previous = previous_trained_run(con, model_name)
    if previous is None or not previous["artifact_path"]:
        return None
    try:
        return load(previous["artifact_path"])
    except Exception:  # noqa: BLE001 - missing or corrupt file: carry no ids over
        return None


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
