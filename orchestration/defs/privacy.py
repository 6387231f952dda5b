"""Privacy: erasure requests and uploaded suppressions reach every layer (logic in cdp/privacy).

Runs after dbt (it reads who is who from staging and identity) and before the ML and
export assets, which depend on ``ERASURE_ASSET_KEY``: nothing downstream reads an erased
person. When it erased someone it rebuilds the dbt models, so aggregates (identity
statistics, RFM quintiles, segment sizes) are what they are without the person and a
re-run changes nothing; when it deleted or changed rows it rewrites the warehouse file, so
the old bytes do not linger in freed blocks.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
import os

import dagster as dg
from dagster_dbt import DbtCliResource, get_asset_key_for_model

from cdp.privacy import apply_erasures
from cdp.privacy.erasure import INPUT_MODELS
from cdp.privacy.storage import compact_warehouse
from orchestration.defs.dbt import DBT_PROJECT, MEASUREMENT_SELECTOR, cdp_dbt_models, dbt_build_args
from orchestration.defs.resources import WAREHOUSE_POOL, PipelineConfig, WarehouseResource

ERASURE_ASSET_KEY = dg.AssetKey(["privacy", "erasure"])


@dg.asset(
    key=ERASURE_ASSET_KEY,
    group_name="privacy",
    description=(
        "Erasure requests and uploaded suppressions: identifiers hashed onto privacy.suppression_list, the "
        "people's rows deleted from raw and every table built from it, audit.erasure_log and "
        "audit.privacy_runs written (docs/privacy.md)."
    ),
    deps=[get_asset_key_for_model([cdp_dbt_models], name) for name in INPUT_MODELS],
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def privacy_erasure(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, dbt: DbtCliResource, config: PipelineConfig
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        report = apply_erasures(con, context.run.run_id)
    if report.models_stale:
        # same warehouse and vars as the dbt asset of this run; data tests check the result, the unit
        # tests (a third of the time) already ran on the same SQL
        os.environ["CDP_WAREHOUSE"] = warehouse.warehouse_path
        args = [*dbt_build_args(config), "--exclude", f"resource_type:unit_test {MEASUREMENT_SELECTOR}"]
        dbt.cli(args, manifest=DBT_PROJECT.manifest_path).wait()
    if report.rows_deleted or report.rows_updated:
        compact_warehouse(warehouse.warehouse_path)
    # counts only: Dagster's event log must not hold personal data
    return dg.MaterializeResult(
        metadata={
            "erasure_requests": dg.MetadataValue.int(report.erasure_requests),
            "suppressions_absorbed": dg.MetadataValue.int(report.suppressions_absorbed),
            "customers_erased": dg.MetadataValue.int(report.customers_erased),
            "identifiers_suppressed": dg.MetadataValue.json(report.identifiers_suppressed),
            "rows_deleted": dg.MetadataValue.json(report.rows_deleted),
            "rows_updated": dg.MetadataValue.json(report.rows_updated),
            "models_rebuilt": report.models_stale,
            "warehouse_compacted": bool(report.rows_deleted or report.rows_updated),
        }
    )
