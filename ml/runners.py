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
from ml.features import FEATURES_TABLE, scoring_cutoff
from ml.registry import ModelRun, artifact_path, record_run
from ml.settings import load_model_config

# Output tables: column -> DuckDB type. An empty (skipped) output keeps this shape.
OUTPUT_TABLES: dict[str, dict[str, str]] = {
    "ml.clv_predictions": {
        "customer_id": "varchar", "frequency": "double", "recency": "double", "T": "double", "monetary": "double",
        "expected_purchases_12m": "double", "probability_alive": "double", "expected_order_value": "double",
        "clv_12m": "double", "model_version": "varchar", "as_of_date": "date",
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
    table: str,
    train_and_score: Callable[[ModelRun], tuple[pd.DataFrame, list[CheckOutcome]]],
    pipeline_run_id: str | None = None,
) -> ModelOutcome:
    """The shared frame of every runner: skip cleanly, write the output and the run record together."""
    run = ModelRun(model_name, scoring_cutoff(con), pipeline_run_id)
    checks: list[CheckOutcome] = []
    try:
        frame, checks = train_and_score(run)
        frame = frame.assign(model_version=run.model_version, as_of_date=run.as_of_date)
    except ModelSkipped as reason:
        run.skip(str(reason))
        frame = pd.DataFrame(columns=list(OUTPUT_TABLES[table]))
    run.rows_scored = len(frame)
    con.execute("begin transaction")
    try:
        written = write_table(con, table, frame)
        record_run(con, run)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return ModelOutcome(run, table, written, checks)


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

    def train_and_score(run: ModelRun) -> tuple[pd.DataFrame, list[CheckOutcome]]:
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
        return predictions, []

    return run_model(con, "clv", "ml.clv_predictions", train_and_score, pipeline_run_id)


def _q(column: str) -> str:
    return f'"{column}"'


# Every model, in the order the ML stage runs them.
RUNNERS: dict[str, Callable[..., ModelOutcome]] = {
    "clv": run_clv,
}
