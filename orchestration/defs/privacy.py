"""Privacy: erasure requests and uploaded suppressions reach every layer (logic in cdp/privacy).

Two steps, one logic (``apply_erasures``), so that a run builds the dbt models once:

- ``privacy/erasure_before_dbt`` runs after ingestion and before dbt whenever the warehouse
  already knows who is who (the identity tables of the previous run). It stages this run's
  requests and uploads, erases the people they name from raw and every table, and dbt then
  builds every model, aggregates included, without them.
- ``privacy/erasure`` runs after dbt and before the ML and export assets, which depend on
  it. It catches what the first step could not know: on a fresh warehouse, everything (there
  is no identity yet); later, a record that arrived in this run and joined an erased person
  through an identifier on the suppression list. When it erased someone it rebuilds the dbt
  models, so aggregates are what they are without the person and a re-run changes nothing.

Either step rewrites the warehouse file when it deleted or changed rows, so the old bytes do
not linger in freed blocks.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
import json
import os

import dagster as dg
from dagster_dbt import DbtCliResource, get_asset_key_for_model

from cdp.privacy import apply_erasures
from cdp.privacy.erasure import INPUT_MODELS, ErasureReport, people_resolvable
from cdp.privacy.storage import compact_warehouse
from orchestration.defs.dbt import (
    DBT_PROJECT,
    ERASURE_BEFORE_DBT_KEY,
    MEASUREMENT_SELECTOR,
    cdp_dbt_models,
    dbt_build_args,
    dbt_vars,
)
from orchestration.defs.ingestion import CONTRACT, raw_asset_key
from orchestration.defs.resources import WAREHOUSE_POOL, PipelineConfig, WarehouseResource

ERASURE_ASSET_KEY = dg.AssetKey(["privacy", "erasure"])
# what the step before dbt refreshes: this run's requests and uploads, and whom the requests name
REQUEST_MODELS = ("stg_landing__erasure_requests", "stg_landing__suppressions", "int_erasure_requests_identified")


@dg.asset(
    key=ERASURE_BEFORE_DBT_KEY,
    group_name="privacy",
    description=(
        "Before dbt, when the warehouse already knows who is who: this run's erasure requests and uploaded "
        "suppressions erase their people from raw and every table, so dbt builds every model once, without "
        "them (docs/privacy.md). On a fresh warehouse it waits for privacy/erasure."
    ),
    deps=[raw_asset_key(name) for name in CONTRACT.sources],
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def privacy_erasure_before_dbt(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, dbt: DbtCliResource, config: PipelineConfig
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        ready = people_resolvable(con)
    if not ready:
        return dg.MaterializeResult(metadata={"skipped": "no identity tables yet: privacy/erasure erases after dbt"})
    os.environ["CDP_WAREHOUSE"] = warehouse.warehouse_path
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    args = ["run", "--select", " ".join(REQUEST_MODELS), "--vars", json.dumps(dbt_vars(config))]
    dbt.cli(args, manifest=DBT_PROJECT.manifest_path).wait()
    with warehouse.connect() as con:
        report = apply_erasures(con, context.run.run_id)
    _compact_if_changed(warehouse, report)
    return dg.MaterializeResult(metadata=_metadata(report))


@dg.asset(
    key=ERASURE_ASSET_KEY,
    group_name="privacy",
    description=(
        "After dbt: erasure requests and uploaded suppressions not handled before dbt (a fresh warehouse, a "
        "record that joined an erased person in this run); identifiers hashed onto privacy.suppression_list, "
        "the people's rows deleted from raw and every table built from it, audit.erasure_log and "
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
    _compact_if_changed(warehouse, report)
    return dg.MaterializeResult(metadata={**_metadata(report), "models_rebuilt": report.models_stale})


def _compact_if_changed(warehouse: WarehouseResource, report: ErasureReport) -> None:
    if report.rows_deleted or report.rows_updated:
        compact_warehouse(warehouse.warehouse_path)


def _metadata(report: ErasureReport) -> dict:
    # counts only: Dagster's event log must not hold personal data
    return {
        "erasure_requests": dg.MetadataValue.int(report.erasure_requests),
        "suppressions_absorbed": dg.MetadataValue.int(report.suppressions_absorbed),
        "customers_erased": dg.MetadataValue.int(report.customers_erased),
        "identifiers_suppressed": dg.MetadataValue.json(report.identifiers_suppressed),
        "rows_deleted": dg.MetadataValue.json(report.rows_deleted),
        "rows_updated": dg.MetadataValue.json(report.rows_updated),
        "warehouse_compacted": bool(report.rows_deleted or report.rows_updated),
    }
