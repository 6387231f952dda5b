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
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ml.clv_predictions import ClvModel, predict_clv
from ml.errors import ModelSkipped
from ml.features import FEATURES_TABLE, FeatureSpec, load_features, scoring_cutoff
from ml.personas import PersonaModel, fit_personas
from ml.registry import ModelRun, artifact_path, previous_trained_run, record_run
from ml.settings import load_model_config

# Output tables: column -> DuckDB type. An empty (skipped) output keeps this shape.
OUTPUT_TABLES: dict[str, dict[str, str]] = {
    "ml.clv_predictions": {
        "customer_id": "varchar", "frequency": "double", "recency": "double", "T": "double", "monetary": "double",
        "expected_purchases_12m": "double", "probability_alive": "double", "expected_order_value": "double",
        "clv_12m": "double", "model_version": "varchar", "as_of_date": "date",
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
    checks: list[CheckOutcome] = []
    try:
        frames, checks = train_and_score(run)
        frames = {t: f.assign(model_version=run.model_version, as_of_date=run.as_of_date) for t, f in frames.items()}
    except ModelSkipped as reason:
        run.skip(str(reason))
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
        ).fetchone()[0]
        run.model_version = model_version(run)
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
            "unpriced_orders": fitted.unpriced_orders,
            "expected_purchases_12m_total": float(predictions["expected_purchases_12m"].sum()),
            "clv_12m_mean": float(predictions["clv_12m"].mean()) if len(predictions) else None,
            "clv_12m_total": float(predictions["clv_12m"].sum()),
        }
        return {"ml.clv_predictions": predictions}, []

    return run_model(con, "clv", ["ml.clv_predictions"], train_and_score, pipeline_run_id)


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
        run.model_version, run.artifact_path = model_version(run), str(path)
        run.training_window_start = run.training_window_end = run.as_of_date
        run.rows_trained = len(features)
        run.parameters = model.params
        run.metrics = {**model.metrics, "selection": model.selection.to_dict("records")}
        return {"ml.customer_clusters": model.assign(features), "ml.personas": model.personas}, []

    return run_model(con, "personas", ["ml.customer_clusters", "ml.personas"], train_and_score, pipeline_run_id)


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
    "clv": run_clv,
}
