"""Reading the warehouse's point-in-time feature and label tables (dbt_project/models/ml).

The set-based work (one row per customer and cutoff, labels from the window after it) is dbt's;
this module only selects the columns a model needs for one cutoff and puts them in a frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from ml.errors import NotEnoughData
from ml.settings import load_model_config

FEATURES_TABLE = "ml.customer_features"
LABELS_TABLE = "ml.customer_labels"
CUTOFFS_TABLE = "ml.feature_cutoffs"


@dataclass(frozen=True)
class FeatureSpec:
    """Which feature-table columns models read, and which only the fairness check reads."""

    model_features: list[str]
    fairness_attributes: list[str]

    @classmethod
    def load(cls) -> FeatureSpec:
        config = load_model_config("features")
        return cls(list(config["model_features"]), list(config.get("fairness_attributes", [])))


@dataclass(frozen=True)
class LabelledCutoffs:
    """Features with labels at a model's training and out-of-time validation cutoffs."""

    model_name: str
    horizon_days: int
    training_cutoff: date
    validation_cutoff: date
    training: pd.DataFrame
    validation: pd.DataFrame


def scoring_cutoff(con: duckdb.DuckDBPyConnection) -> date:
    """The as-of date the feature table was built for (its scoring cutoff)."""
    rows = con.execute(f"select cutoff_date from {CUTOFFS_TABLE} where cutoff_role = 'scoring'").fetchall()
    row = rows[0] if rows else None
    if row is None:
        raise NotEnoughData(f"{CUTOFFS_TABLE} has no scoring cutoff: build the dbt models first")
    return row[0]


def load_features(con: duckdb.DuckDBPyConnection, cutoff: date, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """One row per customer known at ``cutoff``: customer_id, the model features (floats) and the
    fairness attributes."""
    spec = spec or FeatureSpec.load()
    columns = ["customer_id", *spec.model_features, *spec.fairness_attributes]
    frame = con.execute(
        f"select {', '.join(columns)} from {FEATURES_TABLE} where cutoff_date = ? order by customer_id", [cutoff]
    ).df()
    return _numeric_features(frame, spec)


def load_labelled_cutoffs(
    con: duckdb.DuckDBPyConnection, model_name: str, spec: FeatureSpec | None = None
) -> LabelledCutoffs:
    """Training and validation rows of a supervised model: features at each cutoff joined with the
    label of the window after it (only the model's population: churn is defined for buyers)."""
    spec = spec or FeatureSpec.load()
    cutoffs = dict(
        con.execute(
            f"select cutoff_role, cutoff_date from {CUTOFFS_TABLE} where model_name = ?", [model_name]
        ).fetchall()
    )
    horizon = con.execute(
        f"select max(horizon_days) from {CUTOFFS_TABLE} where model_name = ?", [model_name]
    ).fetchall()[0][0]
    if not {"training", "validation"} <= cutoffs.keys():
        raise NotEnoughData(f"{CUTOFFS_TABLE} has no training and validation cutoffs for {model_name!r}")
    columns = ", ".join(f"features.{c}" for c in [*spec.model_features, *spec.fairness_attributes])
    query = f"""
        select features.customer_id, {columns}, labels.label
        from {LABELS_TABLE} as labels
        inner join {FEATURES_TABLE} as features
            on labels.customer_id = features.customer_id and labels.cutoff_date = features.cutoff_date
        where labels.model_name = ? and labels.cutoff_role = ?
        order by features.customer_id
    """
    frames = {
        role: _numeric_features(con.execute(query, [model_name, role]).df(), spec)
        for role in ("training", "validation")
    }
    for frame in frames.values():
        frame["label"] = frame["label"].astype(int)
    return LabelledCutoffs(
        model_name, int(horizon), cutoffs["training"], cutoffs["validation"], frames["training"], frames["validation"]
    )


def _numeric_features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    # Booleans and integer counts become floats; nulls stay NaN ("never"), each model decides.
    for column in spec.model_features:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame
