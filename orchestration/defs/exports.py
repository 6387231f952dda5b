"""Audience export assets: one per audience YAML (audiences/), after the dbt models
and ML scores the activation profile reads."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
import dagster as dg
from dagster_dbt import get_asset_key_for_model

from cdp import settings
from cdp.export import Audience, export_audience, load_audiences
from cdp.export.state import audience_size_change
from orchestration.defs.dbt import cdp_dbt_models
from orchestration.defs.ml import table_key
from orchestration.defs.privacy import ERASURE_ASSET_KEY
from orchestration.defs.resources import WAREHOUSE_POOL, WarehouseResource

PROFILE_MODELS = (
    "int_customer_profile",
    "dim_customers",
    "customer_marketing_permissions",
    "customer_segment_membership",
    "customer_identity_map",
)
SIZE_CHANGE_CHECK = "audience_size_change"
PROFILE_ML_TABLES = ("ml.customer_clusters", "ml.churn_scores", "ml.purchase_propensity_scores", "ml.clv_predictions")


def build_export_asset(audience: Audience) -> dg.AssetsDefinition:
    formats = {"csv" if d.name != "parquet" else "parquet" for d in audience.destinations}

    @dg.asset(
        name=audience.name,
        key_prefix=["exports"],
        group_name="exports",
        description=audience.description,
        deps=[get_asset_key_for_model([cdp_dbt_models], m) for m in PROFILE_MODELS]
        + [table_key(t) for t in PROFILE_ML_TABLES]
        # an erasure purges the tables above first: nothing erased is exported
        + [ERASURE_ASSET_KEY],
        owners=[f"team:{audience.owner}"] if audience.owner else None,
        kinds=formats,
        tags={"consent_purpose": audience.consent_purpose, "refresh": audience.refresh},
        check_specs=[dg.AssetCheckSpec(SIZE_CHANGE_CHECK, asset=dg.AssetKey(["exports", audience.name]))],
        pool=WAREHOUSE_POOL,
    )
    def export(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.open() as opened:
            results = export_audience(opened, audience, warehouse.export_dir, context.run.run_id)
            change = audience_size_change(opened, audience.name, results[0].as_of) if results else None
        for r in results:
            log = context.log.info if r.status in ("exported", "unchanged") else context.log.warning
            log(f"{audience.name} -> {r.destination}: {r.status}: {r.message}")
        counts = results[0].counts if results else {}
        yield dg.MaterializeResult(
            metadata={
                "as_of": results[0].as_of if results else "",
                **{k: dg.MetadataValue.int(v) for k, v in counts.items()},
                **{f"{r.destination}_status": r.status for r in results},
                **{f"{r.destination}_rows": dg.MetadataValue.int(r.rows) for r in results},
                **{f"{r.destination}_file": dg.MetadataValue.path(r.path) for r in results if r.path},
            }
        )
        yield size_change_check(audience, change)

    return export


def size_change_check(audience: Audience, change: dict | None) -> dg.AssetCheckResult:
    """Warns when the audience grew or shrank by more than its max_size_change since the last as-of:
    a broken upstream table or a consent import gone wrong shows here before anyone sends."""
    if change is None:
        return dg.AssetCheckResult(passed=True, check_name=SIZE_CHANGE_CHECK, description="no earlier snapshot")
    passed = abs(change["change"]) <= audience.max_size_change
    return dg.AssetCheckResult(
        passed=passed,
        check_name=SIZE_CHANGE_CHECK,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{change['members']} members as of {change['as_of']}, {change['previous_members']} as of "
            f"{change['previous_as_of']}: {change['change']:+.0%} (warns beyond ±{audience.max_size_change:.0%})"
        ),
        metadata={k: v for k, v in change.items()},
    )


AUDIENCE_EXPORTS = [build_export_asset(a) for a in load_audiences(settings.AUDIENCES_DIR)]
