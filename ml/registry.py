"""The record of every model run (``ml.model_runs``) and where its trained model is saved.

A run is recorded whatever happens: trained (with parameters, metrics and the artifact that
scoring reloads), scored with a model an earlier run trained (ml/retraining.py decides which), or
skipped with the reason. Parameters and metrics are JSON so fitted values (CLV's r, alpha, a, b...)
and evaluation tables fit one column each.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self

import joblib
import numpy as np
import pandas as pd

from cdp.warehouse import Warehouse, as_warehouse

MODEL_RUNS_TABLE = "ml.model_runs"

# Columns added after the table first shipped are added to existing warehouses by `alter table ... if not
# exists`, so they come last in every warehouse alike; rows from before them hold null.
MODEL_RUNS_DDL = f"""
create schema if not exists ml;
create table if not exists {MODEL_RUNS_TABLE} (
    model_run_id varchar primary key,
    pipeline_run_id varchar,
    model_name varchar not null,
    model_version varchar,            -- the artifact that produced the run's scores (a scored run: an earlier run's)
    status varchar not null,          -- trained | scored (with an earlier run's artifact) | skipped
    message varchar,                  -- why the run trained, which model it scored with, or why it was skipped
    as_of_date date not null,
    training_window_start date,       -- first day of data the fit may read
    training_window_end date,         -- last day of data (features and labels) the fit read
    rows_trained bigint,              -- null on a scored run: nothing was fitted
    rows_scored bigint,
    parameters json,
    metrics json,
    artifact_path varchar,
    started_at timestamp not null,
    finished_at timestamp not null,
    seconds double not null
);
alter table {MODEL_RUNS_TABLE} add column if not exists config_hash varchar;  -- of the settings the model depends on
"""
# The same columns as Spark spells them (no varchar, json or constraints): Spark's table is created with them.
MODEL_RUNS_COLUMNS = {
    "model_run_id": "string", "pipeline_run_id": "string", "model_name": "string", "model_version": "string",
    "status": "string", "message": "string", "as_of_date": "date", "training_window_start": "date",
    "training_window_end": "date", "rows_trained": "bigint", "rows_scored": "bigint", "parameters": "string",
    "metrics": "string", "artifact_path": "string", "started_at": "timestamp", "finished_at": "timestamp",
    "seconds": "double", "config_hash": "string",
}

TRAINED = "trained"
SCORED = "scored"
SKIPPED = "skipped"


@dataclass
class ModelRun:
    """One model run (trained, scored or skipped), filled in as it goes and written once at the end."""

    model_name: str
    as_of_date: date
    pipeline_run_id: str | None = None
    model_run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    model_version: str | None = None
    status: str = TRAINED
    message: str | None = None
    training_window_start: date | None = None
    training_window_end: date | None = None
    rows_trained: int | None = None
    rows_scored: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    artifact_path: str | None = None
    config_hash: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))

    def skip(self, reason: str) -> None:
        self.status, self.message = SKIPPED, reason


class JoblibArtifact:
    """Saving and reloading a trained model as one joblib file: what scoring reloads is what was saved.
    A joblib file is a pickle: load only files this pipeline wrote."""

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        joblib.dump(self, path, compress=3)
        return path

    @classmethod
    def load(cls, path: Path | str) -> Self:
        model = joblib.load(path)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def artifact_path(artifact_dir: Path | str, run: ModelRun, suffix: str = ".joblib") -> Path:
    """``<dir>/<model>/<as_of>_<model_run_id><suffix>``: sortable by date, unique per run."""
    path = Path(artifact_dir) / run.model_name / f"{run.as_of_date.isoformat()}_{run.model_run_id}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def record_run(warehouse: Warehouse, run: ModelRun) -> None:
    """Insert the run into ``ml.model_runs`` (created on first use). ``warehouse``: a ``Warehouse`` or a
    DuckDB connection."""
    warehouse = as_warehouse(warehouse)
    _create_model_runs(warehouse)
    finished = datetime.now(UTC).replace(tzinfo=None)
    values = {
        "model_run_id": run.model_run_id, "pipeline_run_id": run.pipeline_run_id, "model_name": run.model_name,
        "model_version": run.model_version, "status": run.status, "message": run.message,
        "as_of_date": run.as_of_date, "training_window_start": run.training_window_start,
        "training_window_end": run.training_window_end, "rows_trained": run.rows_trained,
        "rows_scored": run.rows_scored, "parameters": to_json(run.parameters), "metrics": to_json(run.metrics),
        "artifact_path": run.artifact_path, "started_at": run.started_at, "finished_at": finished,
        "seconds": (finished - run.started_at).total_seconds(), "config_hash": run.config_hash,
    }
    # one row typed as the table is, so the engines agree on nulls (a column of None has no type of its own)
    row = pd.DataFrame({name: pd.Series([value], dtype=_DTYPES.get(MODEL_RUNS_COLUMNS[name], "object"))
                        for name, value in values.items()})
    warehouse.append(MODEL_RUNS_TABLE, row)


_DTYPES = {"bigint": "Int64", "double": "float64"}


def _create_model_runs(warehouse: Warehouse) -> None:
    """DuckDB keeps its DDL (primary key, not null, json; an older table gains config_hash); Spark's Parquet
    tables take no constraints, so there the table is created from the plain column list."""
    if warehouse.engine == "duckdb":
        warehouse.execute(MODEL_RUNS_DDL)
    elif not warehouse.has_table(MODEL_RUNS_TABLE):
        warehouse.replace(MODEL_RUNS_TABLE, pd.DataFrame(columns=list(MODEL_RUNS_COLUMNS)), MODEL_RUNS_COLUMNS)


RUN_COLUMNS = [
    "model_run_id", "model_version", "status", "as_of_date", "training_window_start", "training_window_end",
    "parameters", "metrics", "artifact_path", "config_hash",
]


def previous_trained_run(
    warehouse: Warehouse, model_name: str, before_run_id: str | None = None
) -> dict[str, Any] | None:
    """The latest trained run of a model (other than ``before_run_id``), with parameters and
    metrics parsed; None when there is none."""
    where = f"model_name = ? and status = '{TRAINED}' and model_run_id is distinct from ?"
    return _latest_run(warehouse, where, [model_name, before_run_id], "finished_at desc")


def published_run(warehouse: Warehouse, model_name: str, as_of: date) -> dict[str, Any] | None:
    """The trained run whose artifact a run as of ``as_of`` may score with: the latest trained at or before
    that date (a model trained on later data would leak it into earlier scores); None when there is none."""
    return _latest_run(
        warehouse, f"model_name = ? and status = '{TRAINED}' and as_of_date <= ?", [model_name, as_of],
        "as_of_date desc, finished_at desc",
    )


def latest_run(warehouse: Warehouse, model_name: str, as_of: date) -> dict[str, Any] | None:
    """The latest run of a model, trained, scored or skipped, at or before ``as_of``; None when there is none."""
    where = "model_name = ? and as_of_date <= ?"
    return _latest_run(warehouse, where, [model_name, as_of], "as_of_date desc, finished_at desc")


def _latest_run(warehouse: Warehouse, where: str, params: list, order: str) -> dict[str, Any] | None:
    # read without DDL, so a read-only connection can ask too: no table, no run; a column the table does not
    # have yet (a warehouse from before it, until record_run adds it) reads as null
    warehouse = as_warehouse(warehouse)
    if not warehouse.has_table(MODEL_RUNS_TABLE):
        return None
    existing = set(warehouse.columns(MODEL_RUNS_TABLE))
    select = ", ".join(c if c in existing else f"null as {c}" for c in RUN_COLUMNS)
    rows = warehouse.rows(
        f"select {select} from {MODEL_RUNS_TABLE} where {where} order by {order} limit 1", params
    )
    if not rows:
        return None
    run = dict(zip(RUN_COLUMNS, rows[0], strict=True))
    run["parameters"] = json.loads(run["parameters"]) if run["parameters"] else {}
    run["metrics"] = json.loads(run["metrics"]) if run["metrics"] else {}
    return run


def to_json(value: Any) -> str:
    """JSON that numpy values, dates and non-finite floats cannot break."""
    return json.dumps(jsonable(value), sort_keys=True)


def jsonable(value: Any) -> Any:
    """Plain Python values for ``json.dumps``: numpy scalars and arrays unwrapped, NaN and infinity as
    None, dates as ISO strings, anything else as its string."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)
