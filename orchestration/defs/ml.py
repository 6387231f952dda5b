"""Machine-learning assets: each trains or only scores (by its retraining policy), and records one model
(logic in ml/runners.py), downstream of the dbt feature tables; monitoring verdicts surface as asset
checks (warnings)."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from ml import runners
from orchestration.defs.dbt import cdp_dbt_models
from orchestration.defs.privacy import ERASURE_ASSET_KEY
from orchestration.defs.resources import WAREHOUSE_POOL, PipelineConfig, WarehouseResource


@dataclass(frozen=True)
class ModelAsset:
    """One model: its output tables, the runner that fills them, the dbt models it reads, its checks."""

    model_name: str
    tables: tuple[str, ...]
    runner: Callable[..., runners.ModelOutcome]
    dbt_inputs: tuple[str, ...]
    description: str
    checks: tuple[str, ...] = ()


MODELS = [
    ModelAsset(
        "personas",
        ("ml.customer_clusters", "ml.personas"),
        runners.run_personas,
        ("customer_features",),
        "K-means personas on standardised behavioural and RFM features, ids stable across retrains "
        "(docs/personas.md).",
    ),
    ModelAsset(
        "churn",
        ("ml.churn_scores",),
        runners.run_churn,
        ("customer_features", "customer_labels"),
        "Churn probability of every buyer over the churn horizon: logistic regression vs gradient boosting, "
        "validated out of time, calibrated, with risk tiers (docs/churn.md).",
        runners.PROPENSITY_CHECKS,
    ),
    ModelAsset(
        "purchase_propensity",
        ("ml.purchase_propensity_scores",),
        runners.run_purchase_propensity,
        ("customer_features", "customer_labels"),
        "Probability of a completed order in the next 30 days for every known customer (docs/churn.md).",
        runners.PROPENSITY_CHECKS,
    ),
    ModelAsset(
        "clv",
        ("ml.clv_predictions",),
        runners.run_clv,
        ("fct_orders", "customer_features"),
        "12-month customer lifetime value: BG/NBD purchase frequency and Gamma-Gamma spend (docs/clv.md).",
    ),
    ModelAsset(
        "recommendations",
        ("ml.product_recommendations",),
        runners.run_recommendations,
        ("fct_orders", "int_events_identified", "customer_features"),
        "Top-N products per customer by item-to-item collaborative filtering on co-purchase, co-cart and "
        "co-view, never one already bought; popular products fill the gaps (docs/recommendations.md).",
    ),
]


def table_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def build_model_asset(model: ModelAsset) -> dg.AssetsDefinition:
    keys = [table_key(t) for t in model.tables]
    checked = keys[0]  # checks sit on the model's main table

    @dg.multi_asset(
        name=f"train_{model.model_name}",
        specs=[
            dg.AssetSpec(
                key,
                group_name="ml",
                description=model.description,
                # after the erasure step: a model never trains on or scores an erased person
                deps=[
                    *(get_asset_key_for_model([cdp_dbt_models], name) for name in model.dbt_inputs),
                    ERASURE_ASSET_KEY,
                ],
                kinds={"python", "scikitlearn", "duckdb"},
            )
            for key in keys
        ],
        check_specs=[dg.AssetCheckSpec(name, asset=checked) for name in model.checks],
        pool=WAREHOUSE_POOL,
    )
    def train_and_score(context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: PipelineConfig):
        with warehouse.open() as engine:  # DuckDB or Spark, as configured (engine / CDP_ENGINE)
            outcome = model.runner(engine, warehouse.model_artifact_dir, context.run.run_id, config.retrain)
        run = outcome.run
        if outcome.skipped:
            context.log.warning(f"{model.model_name} skipped: {run.message}")
        for key in keys:
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "status": run.status,  # trained | scored (with an earlier run's model) | skipped
                    "reason": run.message or "",
                    "model_version": run.model_version or "",
                    "model_run_id": run.model_run_id,
                    "rows_scored": dg.MetadataValue.int(run.rows_scored or 0),
                    "metrics": dg.MetadataValue.json(_headline(run.metrics)),
                },
            )
        verdicts = {c.name: c for c in outcome.checks}
        for name in model.checks:
            check = verdicts.get(name)
            yield dg.AssetCheckResult(
                asset_key=checked,
                check_name=name,
                passed=True if check is None else check.passed,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"not evaluated: {run.message}" if check is None else check.description,
                metadata={} if check is None else check.metadata,
            )

    return train_and_score


def _headline(metrics: dict) -> dict:
    # the full metrics (lift tables, curves) are in ml.model_runs; metadata keeps the scalars
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str | bool) or v is None}


ML_ASSETS = [build_model_asset(m) for m in MODELS]
