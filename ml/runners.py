"""Train or score each model on the warehouse, and record the run.

Each run first asks the model's retraining policy (ml/retraining.py) whether to train. A training run
fits, saves the model as an artifact and reloads it from that file to score (so what is saved is what
scored); a scoring run reloads the published artifact (an earlier training run's) and scores the current
features with it, falling back to training when the file is missing or unreadable. Either way the run
replaces the model's output tables and inserts a row into ``ml.model_runs``, and ``model_version`` names
the artifact behind the scores. A model that cannot be trained (``ModelSkipped``) leaves empty output
tables and a skipped run with the reason, so everything downstream still runs. No Dagster here: the
assets in orchestration/defs/ml.py call these.

Every read and write goes through a ``cdp.warehouse.Warehouse`` (DuckDB or Spark; a DuckDB connection is
wrapped). Training pulls its rows, sampled in the warehouse above ``training_sample.max_customers``;
scoring reads the customers in batches of ``scoring.batch_rows`` and appends each batch's scores, and what
needs the whole population (deciles, the parity audience) is computed in SQL (ml/scale.py, docs/ml.md).
On DuckDB a run's outputs and its record are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cdp.warehouse import Warehouse, as_warehouse
from ml.clv import rfm_summary
from ml.clv_predictions import ClvModel, count_buyers, fit_clv, purchase_days_of, purchase_summary, unpriced_orders
from ml.errors import ModelSkipped, NotEnoughData
from ml.features import (
    FEATURES_TABLE,
    FeatureSpec,
    count_features,
    feature_batches,
    load_features,
    load_labelled_cutoffs,
    scoring_cutoff,
)
from ml.monitoring import (
    ParityCheck,
    PopulationCounts,
    feature_profiles,
    parity_of_rates,
    psi_from_shares,
    score_histogram,
)
from ml.outputs import OUTPUT_TABLES, RunOutputs
from ml.personas import PersonaModel, fit_personas
from ml.propensity import PropensityModel, assign_tiers, train_propensity
from ml.recommendation_data import interaction_batches, load_interactions
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
from ml.scale import Scale
from ml.settings import load_model_config


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


Checks = list[CheckOutcome]


@dataclass(frozen=True)
class ModelLifecycle:
    """One model as ``run_model`` drives it: where its scores go, what its fit depends on, how to train it
    (fit, save the artifact, reload it, score) and how to score with a published artifact. Both write the
    scores into the run's ``RunOutputs`` and return the monitoring checks."""

    name: str
    tables: list[str]
    settings: Mapping[str, Any]  # ml/config/<name>.yml: the retraining policy, and hashed with hashed_inputs
    hashed_inputs: Mapping[str, Any]  # what else the fitted model depends on (feature list, label horizon)
    load: Callable[[str], Any]  # artifact path -> model
    train: Callable[[ModelRun, RunOutputs], Checks]
    score: Callable[[ModelRun, Any, dict[str, Any], RunOutputs], Checks]  # (run, model, its training run's record)


def run_model(
    warehouse: Warehouse,
    model: ModelLifecycle,
    pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """The shared frame of every runner: decide train or score, skip cleanly, write the outputs and the run
    record together (one transaction on DuckDB; on Spark every write is a replace, so a rerun repairs)."""
    warehouse = as_warehouse(warehouse)
    run = ModelRun(model.name, scoring_cutoff(warehouse), pipeline_run_id)
    run.config_hash = settings_hash(model.settings, model.hashed_inputs)
    policy = RetrainingPolicy.from_config(model.name, model.settings)
    published = published_run(warehouse, model.name, run.as_of_date)
    decision = decide(policy, run.as_of_date, run.config_hash, published,
                      latest_run(warehouse, model.name, run.as_of_date), force_retrain)
    outputs = RunOutputs(warehouse, model.tables, run)
    checks: Checks = []
    with warehouse.transaction():
        try:
            loaded, decision = _load_published(model, published, decision)
            outputs.create()
            if decision.train:
                run.model_version = model_version(run)
                checks = model.train(run, outputs)
            else:
                _scoring_with(run, published)
                checks = model.score(run, loaded, published, outputs)
            run.message = decision.reason
            run.parameters = {**run.parameters, "retraining": policy.as_dict()}
        except ModelSkipped as reason:
            run.skip(str(reason))
            run.metrics = reason.metrics
            run.model_version = None
            outputs.create()
        run.rows_scored = outputs.rows[model.tables[0]]
        record_run(warehouse, run)
    return ModelOutcome(run, model.tables[0], outputs.rows[model.tables[0]], checks)


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


# --------------------------------------------------------------------------- lifetime value


def run_clv(
    warehouse: Warehouse, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """BG/NBD + Gamma-Gamma on completed orders up to the as-of date -> ``ml.clv_predictions``. The fit reads
    every buyer's purchase summary (a sample of buyers above ``training_sample.max_customers``: the models
    have four and three parameters); scoring needs only the fitted parameters, and rebuilds each known
    customer's summary at the as-of date, batch by batch."""
    warehouse = as_warehouse(warehouse)
    settings = load_model_config("clv")
    scale = Scale.from_config("clv", settings)

    def train(run: ModelRun, outputs: RunOutputs) -> Checks:
        buyers = count_buyers(warehouse, run.as_of_date)
        summary, unpriced = purchase_summary(warehouse, run.as_of_date, settings["time_unit"],
                                             scale.max_training_customers)
        path = artifact_path(artifact_dir, run)
        fit_clv(summary, settings["time_unit"], settings["monthly_discount_rate"]).save(path)
        model = ClvModel.load(path)
        purchases, spend = model.purchases.report_, model.spend.report_
        first_purchase = warehouse.scalar(
            "select min(ordered_date) from marts.fct_orders where is_completed and ordered_date <= ?",
            [run.as_of_date],
        )
        run.artifact_path = str(path)
        run.training_window_start, run.training_window_end = first_purchase, run.as_of_date
        run.rows_trained = purchases.n_customers
        run.parameters = {
            "time_unit": model.time_unit, "months": model.months, "monthly_discount_rate": model.monthly_discount_rate,
            "bg_nbd": purchases.params, "gamma_gamma": spend.params,
            "training_sample": scale.record(buyers, len(summary)),
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
        del summary  # scoring reads the customers again, batch by batch
        _clv_scores(run, model, unpriced, outputs)
        return []

    def score(run: ModelRun, model: ClvModel, trained: dict[str, Any], outputs: RunOutputs) -> Checks:
        _clv_scores(run, model, unpriced_orders(warehouse, run.as_of_date), outputs)
        return []

    def _clv_scores(run: ModelRun, model: ClvModel, unpriced: int, outputs: RunOutputs) -> None:
        """Every known customer who has bought, scored in batches of customers."""
        table = "ml.clv_predictions"
        expected_purchases = clv_total = 0.0
        for customers in _known_customer_batches(warehouse, run.as_of_date, scale.batch_rows):
            days = purchase_days_of(warehouse, run.as_of_date, customers)
            if days.empty:
                continue
            predictions = model.predict(rfm_summary(days, run.as_of_date, model.time_unit, at_col="purchase_date"))
            outputs.append(table, predictions)
            expected_purchases += float(predictions["expected_purchases_12m"].sum())
            clv_total += float(predictions["clv_12m"].sum())
        scored = outputs.rows[table]
        run.metrics = {
            **run.metrics,
            "unpriced_orders": unpriced,
            "expected_purchases_12m_total": expected_purchases,
            "clv_12m_mean": clv_total / scored if scored else None,
            "clv_12m_total": clv_total,
        }

    lifecycle = ModelLifecycle("clv", ["ml.clv_predictions"], settings, {}, ClvModel.load, train, score)
    return run_model(warehouse, lifecycle, pipeline_run_id, force_retrain)


def _known_customers_sql(cutoff: date) -> str:
    """The ids of customers with a feature row at the cutoff: known then, and not erased."""
    return f"select customer_id from {FEATURES_TABLE} where cutoff_date = date '{cutoff.isoformat()}'"


def _known_customer_batches(warehouse: Warehouse, cutoff: date, batch_rows: int):
    """``_known_customers_sql``'s customers, in batches."""
    for batch in warehouse.batches(f"{_known_customers_sql(cutoff)} order by customer_id", rows=batch_rows):
        yield batch["customer_id"].sort_values(ignore_index=True)


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
    warehouse: Warehouse, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """Churn in the horizon after the as-of date for every buyer -> ``ml.churn_scores``."""
    return _run_propensity(warehouse, CHURN, artifact_dir, pipeline_run_id, force_retrain)


def run_purchase_propensity(
    warehouse: Warehouse, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """A completed order in the next 30 days, for every known customer -> ``ml.purchase_propensity_scores``."""
    return _run_propensity(warehouse, PURCHASE_PROPENSITY, artifact_dir, pipeline_run_id, force_retrain)


def _run_propensity(
    warehouse: Warehouse, target: PropensityTable, artifact_dir: Path | str, pipeline_run_id: str | None,
    force_retrain: bool,
) -> ModelOutcome:
    warehouse = as_warehouse(warehouse)
    spec = FeatureSpec.load()
    monitoring = load_model_config("monitoring")
    settings = load_model_config(target.model_name)
    scale = Scale.from_config(target.model_name, settings)

    def train(run: ModelRun, outputs: RunOutputs) -> Checks:
        data = load_labelled_cutoffs(warehouse, target.model_name, spec, scale.max_training_customers)
        cutoffs = {"training": data.training_cutoff, "validation": data.validation_cutoff,
                   "horizon_days": data.horizon_days}
        model = train_propensity(
            data.training, data.validation, spec.model_features, "label", settings, cutoffs,
        )
        path = artifact_path(artifact_dir, run)
        model.save(path)
        model = PropensityModel.load(path)
        run.artifact_path = str(path)
        run.training_window_start, run.training_window_end = data.training_cutoff, run.as_of_date
        run.rows_trained = len(data.training) + len(data.validation)
        run.parameters = {
            **model.params, "model_fingerprint": model.version,
            "training_sample": {role: scale.record(data.population[role], len(frame))
                                for role, frame in (("training", data.training), ("validation", data.validation))},
        }
        # the final model was fitted on the validation cutoff: that is the distribution later runs drift from
        reference = feature_profiles(data.validation, spec.model_features, monitoring)
        previous = previous_trained_run(warehouse, target.model_name)
        previous_histogram = (previous or {}).get("metrics", {}).get("monitoring", {}).get("score_histogram")
        if previous_histogram:
            score_reference = (previous_histogram, f"run {previous['model_version']}")
        else:
            fitted_scores = score_histogram(model.predict_proba(data.validation), monitoring["score_bins"])
            score_reference = (fitted_scores, "the scores of the data it was fitted on")
        del data  # scoring reads the population batch by batch
        counts, parity = _score_propensity(warehouse, run, target, model, spec, reference, monitoring, outputs,
                                           scale.batch_rows)
        checks, watched = _propensity_checks(counts, parity, score_reference, monitoring)
        checks.append(metric_regression(model.metrics, (previous or {}).get("metrics", {}), previous, monitoring))
        run.metrics = {**model.metrics, "monitoring": {**watched, "reference_profiles": reference}}
        return checks

    def score(run: ModelRun, model: PropensityModel, trained: dict[str, Any], outputs: RunOutputs) -> Checks:
        recorded = trained["metrics"]["monitoring"]
        counts, parity = _score_propensity(warehouse, run, target, model, spec, recorded["reference_profiles"],
                                           monitoring, outputs, scale.batch_rows)
        score_reference = (recorded["score_histogram"], f"the training run's scores ({trained['model_version']})")
        checks, watched = _propensity_checks(counts, parity, score_reference, monitoring)
        checks.append(CheckOutcome(
            METRIC_REGRESSION_CHECK,
            True,
            "not evaluated: a scoring-only run fits and validates nothing; the check runs on training days "
            f"(this model, trained on {trained['as_of_date']}, passed it then)",
            {"evaluated": False, "trained_run_id": trained["model_run_id"]},
        ))
        run.metrics = {"monitoring": watched}
        return checks

    horizon = warehouse.scalar(
        "select max(horizon_days) from ml.feature_cutoffs where model_name = ?", [target.model_name]
    )
    lifecycle = ModelLifecycle(
        target.model_name, [target.table], settings,
        {"model_features": spec.model_features, "horizon_days": horizon},
        PropensityModel.load, train, score,
    )
    return run_model(warehouse, lifecycle, pipeline_run_id, force_retrain)


def _score_propensity(
    warehouse: Warehouse, run: ModelRun, target: PropensityTable, model: PropensityModel, spec: FeatureSpec,
    reference_profiles: dict[str, dict], monitoring: dict[str, Any], outputs: RunOutputs, batch_rows: int,
) -> tuple[PopulationCounts, dict[str, ParityCheck]]:
    """Scores every customer of the population in batches: probabilities and tiers per batch into a scratch
    table, while the drift and score-histogram counts add up; then deciles over the whole population and the
    parity audience (the top share by score) in SQL, so no step holds more than a batch."""
    counts = PopulationCounts(reference_profiles, spec.model_features, monitoring["score_bins"])
    scratch = f"{target.table}_unranked"
    columns = {"customer_id": "string", "probability": "double", "tier": "string", "model_version": "string",
               "as_of_date": "date"}
    warehouse.replace(scratch, pd.DataFrame(columns=list(columns)), columns)
    try:
        for features in feature_batches(warehouse, run.as_of_date, spec, batch_rows, target.buyers_only):
            probability = model.predict_proba(features)
            warehouse.append(scratch, pd.DataFrame({
                "customer_id": features["customer_id"].to_numpy(), "probability": probability,
                "tier": assign_tiers(probability, model.risk_tiers), "model_version": run.model_version,
                "as_of_date": run.as_of_date,
            }))
            counts.add(features, probability)
        outputs.inserted(target.table, _rank_scores(warehouse, scratch, target.table, counts.rows))
        parity = _parity(warehouse, run, target, counts.rows, monitoring["fairness"])
    except BaseException:
        # after an error DuckDB refuses every statement until the rollback, which drops the scratch
        # table; a drop here would replace the error with "transaction is aborted"
        if warehouse.engine != "duckdb":
            warehouse.execute(f"drop table if exists {scratch}")
        raise
    warehouse.execute(f"drop table if exists {scratch}")
    return counts, parity


def _rank_scores(warehouse: Warehouse, scratch: str, table: str, rows: int) -> int:
    """The scratch scores into ``table`` with their decile: 1 = the 10 % highest probabilities, equal-sized,
    ties by customer_id (``assign_deciles`` on customers in id order)."""
    warehouse.execute(f"""
        insert into {table}
        select
            customer_id,
            probability,
            tier,
            cast(floor((row_number() over (order by probability desc, customer_id) - 1) * 10 / {max(rows, 1)})
                as integer) + 1,
            model_version,
            as_of_date
        from {scratch}
    """)
    return rows


def _parity(
    warehouse: Warehouse, run: ModelRun, target: PropensityTable, rows: int, fairness: dict[str, Any]
) -> dict[str, ParityCheck]:
    """``selection_rate_parity`` of the scored table per attribute, its group counts taken in the warehouse:
    the audience is the top ``top_share`` by score (ties by customer_id), as the function ranks it."""
    selected = int(np.ceil(rows * fairness["top_share"]))
    verdicts = {}
    for attribute in PARITY_CHECKS:
        rates = warehouse.frame(f"""
            with ranked as (
                select customer_id, row_number() over (order by {target.probability_column} desc, customer_id)
                    as position
                from {target.table}
            )
            select
                coalesce(cast(features.{attribute} as string), 'unknown') as group_name,
                count(*) as customers,
                cast(sum(case when ranked.position <= {selected} then 1 else 0 end) as bigint) as selected
            from ranked
            inner join {FEATURES_TABLE} as features
                on features.customer_id = ranked.customer_id and features.cutoff_date = ?
            group by coalesce(cast(features.{attribute} as string), 'unknown')
        """, [run.as_of_date])
        rates = rates.rename(columns={"group_name": "group"}).sort_values("group", ignore_index=True)
        verdicts[attribute] = parity_of_rates(attribute, rates, fairness)
    return verdicts


def _propensity_checks(
    counts: PopulationCounts,
    parity: dict[str, ParityCheck],
    score_reference: tuple[list[float], str],
    settings: dict[str, Any],
) -> tuple[Checks, dict[str, Any]]:
    """Drift of the features against the data the model was fitted on (kept as quantile profiles, so a
    scoring run can compare too), shift of the scores against a reference histogram, and fairness of the
    top decile. Needs only counts of the scored population: these run on training and scoring days alike."""
    drift = counts.feature_drift(settings)
    shifted = drift[drift["is_shifted"]]
    checks = [CheckOutcome(
        FEATURE_DRIFT_CHECK,
        shifted.empty,
        "no feature shifted" if shifted.empty
        else f"{len(shifted)} feature(s) shifted since training (PSI > {settings['psi']['warn_above']}): "
        + ", ".join(shifted["feature"]),
        {"psi": {r.feature: round(r.psi, 4) for r in drift.head(10).itertuples()}},
    )]
    histogram = counts.score_histogram()
    reference, reference_name = score_reference
    score_psi = psi_from_shares(np.asarray(reference), np.asarray(histogram))
    checks.append(CheckOutcome(
        SCORE_SHIFT_CHECK,
        score_psi <= settings["psi"]["warn_above"],
        f"score distribution PSI {score_psi:.3f} against {reference_name}",
        {"psi": round(score_psi, 4), "histogram": [round(x, 4) for x in histogram]},
    ))
    for attribute, check_name in PARITY_CHECKS.items():
        verdict = parity[attribute]
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
        "parity": {attribute: verdict.as_metadata() for attribute, verdict in parity.items()},
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
    warehouse: Warehouse, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """K-means personas -> ``ml.customer_clusters`` and ``ml.personas``. Training fits on the as-of features
    (a sample above ``training_sample.max_customers``) and keeps cluster ids from the previous trained model;
    every run then assigns all customers to the centroids, batch by batch."""
    warehouse = as_warehouse(warehouse)
    spec = FeatureSpec.load()
    settings = load_model_config("personas")
    scale = Scale.from_config("personas", settings)

    def train(run: ModelRun, outputs: RunOutputs) -> Checks:
        population = count_features(warehouse, run.as_of_date)
        features = load_features(warehouse, run.as_of_date, spec, scale.max_training_customers)
        previous = _previous_model(warehouse, "personas", PersonaModel.load)
        model = fit_personas(features, spec.model_features, settings, previous)
        path = artifact_path(artifact_dir, run)
        model.save(path)
        model = PersonaModel.load(path)
        run.artifact_path = str(path)
        run.training_window_start = run.training_window_end = run.as_of_date
        run.rows_trained = len(features)
        run.parameters = {**model.params, "training_sample": scale.record(population, len(features))}
        run.metrics = {**model.metrics, "selection": model.selection.to_dict("records")}
        del features  # scoring reads the customers again, batch by batch
        _assign_personas(run, model, outputs)
        return []

    def score(run: ModelRun, model: PersonaModel, trained: dict[str, Any], outputs: RunOutputs) -> Checks:
        sizes, squared_distance = _assign_personas(run, model, outputs)
        assigned = int(sizes.sum())
        run.metrics = {
            "n_customers": assigned,
            "cluster_sizes": {str(k): int(v) for k, v in sizes[sizes > 0].sort_index().items()},
            "mean_squared_distance": squared_distance / assigned if assigned else None,
        }
        return []

    def _assign_personas(run: ModelRun, model: PersonaModel, outputs: RunOutputs) -> tuple[pd.Series, float]:
        """Every known customer assigned to a persona in batches; ``ml.personas`` with the sizes they add up to.
        Returns the customers per cluster id and the sum of squared distances."""
        sizes = pd.Series(0, index=pd.Index(model.cluster_ids, name="cluster_id"), dtype="int64")
        squared_distance = 0.0
        for features in feature_batches(warehouse, run.as_of_date, spec, scale.batch_rows):
            assigned = model.assign(features)
            outputs.append("ml.customer_clusters", assigned)
            sizes = sizes.add(assigned["cluster_id"].value_counts(), fill_value=0).astype("int64")
            squared_distance += float((assigned["distance_to_centroid"] ** 2).sum())
        outputs.append("ml.personas", model.personas_of_sizes(sizes, int(sizes.sum())))
        return sizes, squared_distance

    lifecycle = ModelLifecycle(
        "personas", ["ml.customer_clusters", "ml.personas"], settings,
        {"model_features": spec.model_features}, PersonaModel.load, train, score,
    )
    return run_model(warehouse, lifecycle, pipeline_run_id, force_retrain)


# --------------------------------------------------------------------------- recommendations


def run_recommendations(
    warehouse: Warehouse, artifact_dir: Path | str, pipeline_run_id: str | None = None,
    force_retrain: bool = False,
) -> ModelOutcome:
    """Item-to-item top-N for every known customer (popular products for those without history) ->
    ``ml.product_recommendations``. Training evaluates hit rate at N on the last ``holdout_days``, then
    learns product similarities and popularity from every interaction in the lookback (no sample: a
    product's neighbours come from the few customers who touched it, and a customer sample loses the long
    tail); scoring reads each batch of customers' interactions and ranks products with the saved similarities."""
    warehouse = as_warehouse(warehouse)
    settings = load_model_config("recommendations")
    scale = Scale.from_config("recommendations", settings)

    def train(run: ModelRun, outputs: RunOutputs) -> Checks:
        model_settings = dict(settings.get("model", {}))
        interactions = load_interactions(warehouse, run.as_of_date, settings.get("lookback_days"))
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
        del interactions  # scoring reads them again, batch by batch of customers
        scoring = _recommend(run, model, outputs)
        run.metrics = {"training": model.metrics, "holdout": evaluation, "scoring": scoring}
        return []

    def score(run: ModelRun, model: ItemToItemRecommender, trained: dict[str, Any], outputs: RunOutputs) -> Checks:
        run.metrics = {"scoring": _recommend(run, model, outputs)}
        return []

    def _recommend(run: ModelRun, model: ItemToItemRecommender, outputs: RunOutputs) -> dict[str, Any]:
        """Top-N for every customer known at the as-of date from their interactions up to it, in batches of
        customers (a customer's recommendations depend on their own interactions and the model only)."""
        table = "ml.product_recommendations"
        interaction_rows = customers = item_to_item = 0
        batches = interaction_batches(warehouse, run.as_of_date, settings.get("lookback_days"),
                                      _known_customers_sql(run.as_of_date), scale.batch_rows)
        for batch, interactions in batches:
            recommendations = model.recommend(interactions, customer_ids=batch.to_numpy())
            outputs.append(table, recommendations)  # categorical ids are written as text
            interaction_rows += len(interactions)
            customers += int(recommendations["customer_id"].nunique())
            item_to_item += int((recommendations["source"] == "item_to_item").sum())
        written = outputs.rows[table]
        return {
            "interaction_rows": interaction_rows,
            "customers": customers,
            "item_to_item_share": item_to_item / written if written else None,
        }

    lifecycle = ModelLifecycle(
        "recommendations", ["ml.product_recommendations"], settings, {}, ItemToItemRecommender.load, train, score
    )
    return run_model(warehouse, lifecycle, pipeline_run_id, force_retrain)


def _previous_model(warehouse: Warehouse, model_name: str, load: Callable[[str], Any]) -> Any | None:
    """The model saved by the latest trained run, or None (first run, or its file is gone or unreadable:
    a fresh model then gets fresh ids rather than failing)."""
    previous = previous_trained_run(warehouse, model_name)
    if previous is None or not previous["artifact_path"]:
        return None
    try:
        return load(previous["artifact_path"])
    except Exception:  # noqa: BLE001 - missing or corrupt file: carry no ids over
        return None


# Every model, in the order the ML stage runs them.
RUNNERS: dict[str, Callable[..., ModelOutcome]] = {
    "personas": run_personas,
    "churn": run_churn,
    "purchase_propensity": run_purchase_propensity,
    "clv": run_clv,
    "recommendations": run_recommendations,
}

__all__ = ["OUTPUT_TABLES", "RUNNERS", "ModelOutcome", "run_model"]
