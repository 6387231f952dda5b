"""Reading the warehouse's point-in-time feature and label tables (dbt_project/models/ml).

The set-based work (one row per customer and cutoff, labels from the window after it) is dbt's;
this module only selects the columns a model needs for one cutoff and puts them in a frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from cdp.warehouse import Warehouse, as_warehouse
from ml.errors import NotEnoughData
from ml.scale import date_literal, sample_clause
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
    population: dict[str, int] = field(default_factory=dict)  # customers per role before any sample


def scoring_cutoff(warehouse: Warehouse) -> date:
    """The as-of date the feature table was built for (its scoring cutoff)."""
    row = as_warehouse(warehouse).scalar(f"select cutoff_date from {CUTOFFS_TABLE} where cutoff_role = 'scoring'")
    if row is None:
        raise NotEnoughData(f"{CUTOFFS_TABLE} has no scoring cutoff: build the dbt models first")
    return row


def load_features(
    warehouse: Warehouse, cutoff: date, spec: FeatureSpec | None = None, max_customers: int | None = None
) -> pd.DataFrame:
    """One row per customer known at ``cutoff``: customer_id, the model features (floats) and the
    fairness attributes, ordered by customer_id. With ``max_customers``, a larger population is sampled in
    the warehouse (ml/scale.py) and only the sample is pulled."""
    spec = spec or FeatureSpec.load()
    warehouse = as_warehouse(warehouse)
    query = f"select {', '.join(_columns(spec))} from {FEATURES_TABLE} where cutoff_date = ?"
    return _numeric_features(_pull(warehouse, query, [cutoff], cutoff, max_customers), spec)


def count_features(warehouse: Warehouse, cutoff: date) -> int:
    """Customers known at ``cutoff``."""
    return int(as_warehouse(warehouse).scalar(f"select count(*) from {FEATURES_TABLE} where cutoff_date = ?", [cutoff]))


def feature_batches(
    warehouse: Warehouse, cutoff: date, spec: FeatureSpec, batch_rows: int, buyers_only: bool = False
) -> Iterator[pd.DataFrame]:
    """``load_features`` in frames of at most ``batch_rows`` customers, for scoring (ordered by customer_id
    within a batch; on DuckDB across batches too). ``buyers_only``: customers with a purchase."""
    buyers = " and frequency > 0" if buyers_only else ""
    query = (f"select {', '.join(_columns(spec))} from {FEATURES_TABLE} where cutoff_date = ?{buyers} "
             "order by customer_id")
    for batch in as_warehouse(warehouse).batches(query, [cutoff], rows=batch_rows):
        yield _numeric_features(batch.sort_values("customer_id", ignore_index=True), spec)


def load_labelled_cutoffs(
    warehouse: Warehouse, model_name: str, spec: FeatureSpec | None = None, max_customers: int | None = None
) -> LabelledCutoffs:
    """Training and validation rows of a supervised model: features at each cutoff joined with the
    label of the window after it (only the model's population: churn is defined for buyers). With
    ``max_customers``, each cutoff's population above it is sampled in the warehouse (ml/scale.py)."""
    spec = spec or FeatureSpec.load()
    warehouse = as_warehouse(warehouse)
    cutoffs = dict(warehouse.rows(
        f"select cutoff_role, cutoff_date from {CUTOFFS_TABLE} where model_name = ?", [model_name]
    ))
    horizon = warehouse.scalar(f"select max(horizon_days) from {CUTOFFS_TABLE} where model_name = ?", [model_name])
    if not {"training", "validation"} <= cutoffs.keys():
        raise NotEnoughData(f"{CUTOFFS_TABLE} has no training and validation cutoffs for {model_name!r}")
    columns = ", ".join(f"features.{c}" for c in [*spec.model_features, *spec.fairness_attributes])
    query = f"""
        select features.customer_id, {columns}, labels.label
        from {LABELS_TABLE} as labels
        inner join {FEATURES_TABLE} as features
            on labels.customer_id = features.customer_id and labels.cutoff_date = features.cutoff_date
        where labels.model_name = ? and labels.cutoff_role = ?
    """
    frames, population = {}, {}
    for role in ("training", "validation"):
        params = [model_name, role]
        population[role] = int(warehouse.scalar(f"select count(*) from ({query}) as population", params))
        frame = _pull(warehouse, query, params, cutoffs[role], max_customers, population[role])
        frames[role] = _numeric_features(frame, spec)
    for frame in frames.values():
        frame["label"] = frame["label"].astype(int)
    return LabelledCutoffs(
        model_name, int(horizon), cutoffs["training"], cutoffs["validation"], frames["training"], frames["validation"],
        population,
    )


def _columns(spec: FeatureSpec) -> list[str]:
    return ["customer_id", *spec.model_features, *spec.fairness_attributes]


def _pull(
    warehouse: Warehouse, query: str, params: list, cutoff: date, max_customers: int | None,
    population: int | None = None,
) -> pd.DataFrame:
    """The query's rows (one per customer at ``cutoff``) ordered by customer_id; above ``max_customers``,
    the warehouse's sample of them."""
    sample = ""
    if max_customers is not None:
        if population is None:
            population = int(warehouse.scalar(f"select count(*) from ({query}) as population", params))
        if population > max_customers:
            sample = sample_clause(max_customers, cutoff_sql=date_literal(cutoff))
    return warehouse.frame(f"select * from ({query}) as population {sample} order by customer_id", params)


def _numeric_features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    # Booleans and integer counts become floats; nulls stay NaN ("never"), each model decides.
    for column in spec.model_features:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame
