"""The record of every model run (``ml.model_runs``) and where its trained model is saved.

A run is recorded whatever happens: trained (with parameters, metrics and the artifact that
scoring reloads), or skipped with the reason. Parameters and metrics are JSON so fitted values
(CLV's r, alpha, a, b...) and evaluation tables fit one column each.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self

import duckdb
import joblib
import numpy as np

MODEL_RUNS_TABLE = "ml.model_runs"

MODEL_RUNS_DDL = f"""
create schema if not exists ml;
create table if not exists {MODEL_RUNS_TABLE} (
    model_run_id varchar primary key,
    pipeline_run_id varchar,
    model_name varchar not null,
    model_version varchar,
    status varchar not null,          -- trained | skipped
    message varchar,                  -- why a run was skipped
    as_of_date date not null,
    training_window_start date,       -- first day of data the fit may read
    training_window_end date,         -- last day of data (features and labels) the fit read
    rows_trained bigint,
    rows_scored bigint,
    parameters json,
    metrics json,
    artifact_path varchar,
    started_at timestamp not null,
    finished_at timestamp not null,
    seconds double not null
)
"""

TRAINED = "trained"
SKIPPED = "skipped"


@dataclass
class ModelRun:
    """One training run, filled in as it goes and written once at the end."""

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


def record_run(con: duckdb.DuckDBPyConnection, run: ModelRun) -> None:
    """Insert the run into ``ml.model_runs`` (created on first use)."""
    con.execute(MODEL_RUNS_DDL)
    finished = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        f"insert into {MODEL_RUNS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.model_run_id, run.pipeline_run_id, run.model_name, run.model_version, run.status, run.message,
            run.as_of_date, run.training_window_start, run.training_window_end, run.rows_trained, run.rows_scored,
            to_json(run.parameters), to_json(run.metrics), run.artifact_path, run.started_at, finished,
            (finished - run.started_at).total_seconds(),
        ],
    )


def previous_trained_run(
    con: duckdb.DuckDBPyConnection, model_name: str, before_run_id: str | None = None
) -> dict[str, Any] | None:
    """The latest trained run of a model (other than ``before_run_id``), with parameters and
    metrics parsed; None when there is none."""
    con.execute(MODEL_RUNS_DDL)
    rows = con.execute(
        f"""
        select model_run_id, model_version, as_of_date, parameters, metrics, artifact_path
        from {MODEL_RUNS_TABLE}
        where model_name = ? and status = '{TRAINED}' and model_run_id is distinct from ?
        order by finished_at desc
        limit 1
        """,
        [model_name, before_run_id],
    ).fetchall()
    if not rows:
        return None
    run_id, version, as_of, params, metrics, path = rows[0]
    return {
        "model_run_id": run_id, "model_version": version, "as_of_date": as_of,
        "parameters": json.loads(params) if params else {}, "metrics": json.loads(metrics) if metrics else {},
        "artifact_path": path,
    }


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
