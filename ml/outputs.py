"""The ML output tables: their columns, and how a run writes them through the Warehouse, batch by batch."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from cdp.warehouse import Warehouse
from ml.registry import ModelRun

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


def column_types(columns: Mapping[str, str], engine: str) -> dict[str, str]:
    """``columns`` as ``engine`` spells them. DuckDB keeps its own types (``json`` lets SQL read into a
    centroid); Spark has no ``varchar`` without a length and no ``json``: both are strings there."""
    if engine == "duckdb":
        return dict(columns)
    return {name: "string" if kind in ("varchar", "json") else kind for name, kind in columns.items()}


class RunOutputs:
    """A run's output tables: created empty in their declared columns, then filled batch by batch (or whole),
    each row stamped with the run's ``model_version`` and ``as_of_date``. ``rows`` counts what each got."""

    def __init__(self, warehouse: Warehouse, tables: list[str], run: ModelRun):
        self.warehouse, self.tables, self.run = warehouse, tables, run
        self.rows = dict.fromkeys(tables, 0)

    def create(self) -> None:
        """Every table empty (again): a run that is skipped midway leaves no partial output."""
        for table in self.tables:
            self.warehouse.replace(table, pd.DataFrame(columns=list(OUTPUT_TABLES[table])), self.types(table))
            self.rows[table] = 0

    def types(self, table: str) -> dict[str, str]:
        return column_types(OUTPUT_TABLES[table], self.warehouse.engine)

    def append(self, table: str, frame: pd.DataFrame) -> int:
        stamped = frame.assign(model_version=self.run.model_version, as_of_date=self.run.as_of_date)
        self.rows[table] += self.warehouse.append(table, stamped[list(OUTPUT_TABLES[table])])
        return len(frame)

    def inserted(self, table: str, rows: int) -> None:
        """``rows`` written to ``table`` by SQL in the warehouse (``insert ... select``)."""
        self.rows[table] += rows
