"""Privacy: erasure requests and uploaded suppressions reach every layer (logic in cdp/privacy).

Two steps, one logic (``apply_erasures``), so that a run builds the dbt models once:

- ``privacy/erasure_before_dbt`` runs after ingestion and before dbt. When the warehouse
  already knows who is who (the identity tables of the previous run) it stages this run's
  requests and uploads; on a first run with requests it builds staging and identity first.
  It erases the people the requests name from raw and every table, and dbt then builds
  every model, aggregates included, without them.
- ``privacy/erasure`` runs after dbt and before the ML and export assets, which depend on
  it. It catches what the first step could not know: a record that arrived in this run and
  joined an erased person through an identifier on the suppression list. When it erased
  someone it rebuilds the dbt models, so aggregates are what they are without the person and
  a re-run changes nothing.

The bytes of erased rows linger in the freed blocks of the DuckDB file until it is rewritten.
``privacy/file_compaction`` runs last, after every other asset of the run, and rewrites the file
when the oldest erasure it has not covered is ``max_delay_days`` old (cdp/privacy/storage.yml).
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
import json

import dagster as dg
from dagster_dbt import DbtCliResource, get_asset_key_for_model

from cdp.privacy import apply_erasures
from cdp.privacy.erasure import INPUT_MODELS, ErasureReport, people_resolvable, raw_holds_requests, requests_staged
from cdp.privacy.storage import compact_if_due, load_policy
from orchestration.defs.dbt import (
    DBT_PROJECT,
    ERASURE_BEFORE_DBT_KEY,
    MEASUREMENT_SELECTOR,
    cdp_dbt_models,
    dbt_build_args,
    dbt_vars,
)
from orchestration.defs.dbt_invocation import run_dbt_to_end
from orchestration.defs.ingestion import CONTRACT, raw_asset_key
from orchestration.defs.resources import WAREHOUSE_POOL, PipelineConfig, WarehouseResource

ERASURE_ASSET_KEY = dg.AssetKey(["privacy", "erasure"])
# what the step before dbt refreshes: this run's requests and uploads, and whom the requests name
REQUEST_MODELS = ("stg_landing__erasure_requests", "stg_landing__suppressions", "int_erasure_requests_identified")


@dg.asset(
    key=ERASURE_BEFORE_DBT_KEY,
    group_name="privacy",
    description=(
        "Before dbt: this run's erasure requests and uploaded suppressions erase their people from raw and "
        "every table, so dbt builds every model once, without them (docs/privacy.md). On a first run with "
        "requests it builds staging and identity first, to know who is who."
    ),
    deps=[raw_asset_key(name) for name in CONTRACT.sources],
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def privacy_erasure_before_dbt(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, dbt: DbtCliResource, config: PipelineConfig
) -> dg.MaterializeResult:
    with warehouse.open(read_only=True) as con:
        ready = people_resolvable(con)
        waiting = not ready and raw_holds_requests(con)
        staged = ready and requests_staged(con)
    if not ready and not waiting:
        return dg.MaterializeResult(metadata={"skipped": "no identity tables yet and no request to erase"})
    warehouse.dbt_environment()
    vars_json = json.dumps(dbt_vars(config))
    if staged:
        # no request or upload landed since the last erasure run: still run it, for re-sent raw rows
        args = None
    elif ready:
        args = ["run", "--select", " ".join(REQUEST_MODELS), "--vars", vars_json]
    else:
        # A first run with requests: build who is who (staging and identity, the models erasure reads and
        # what they need, seeds included) so the people leave raw before the main build, which then builds
        # every model once without them; erasing after it would mean a second build of every model.
        # One thread: large models and no tests, so a second one only makes two large queries share the
        # cores and the memory limit (38 -> 44 s at 100k, 117 -> 131 s at 300k; docs/benchmarks.md).
        args = ["build", "--select", " ".join(f"+{model}" for model in INPUT_MODELS),
                "--exclude", "resource_type:test resource_type:unit_test", "--threads", "1", "--vars", vars_json]
    if args:
        run_dbt_to_end(dbt, args, context, manifest=DBT_PROJECT.manifest_path)
    with warehouse.open() as con:
        report = apply_erasures(con, context.run.run_id)
    return dg.MaterializeResult(metadata={**_metadata(report), "requests_refreshed": bool(args)})


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
    with warehouse.open() as con:
        report = apply_erasures(con, context.run.run_id)
    if report.models_stale:
        # same warehouse and vars as the dbt asset of this run; data tests check the result
        warehouse.dbt_environment()
        args = [*dbt_build_args(config), "--exclude", MEASUREMENT_SELECTOR]
        run_dbt_to_end(dbt, args, context, manifest=DBT_PROJECT.manifest_path)
    return dg.MaterializeResult(metadata={**_metadata(report), "models_rebuilt": report.models_stale})


FILE_COMPACTION_KEY = dg.AssetKey(["privacy", "file_compaction"])


def file_compaction_asset(after: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The step that rewrites the warehouse file when erased bytes are due to go; it runs after
    ``after`` (the run's last assets) because the rewrite needs every connection closed."""

    @dg.asset(
        key=FILE_COMPACTION_KEY,
        group_name="privacy",
        description=(
            "Last step of a run: rewrites the warehouse file, so erased rows' bytes leave the freed blocks "
            "DuckDB keeps, once the oldest erasure not yet covered is file_compaction.max_delay_days old "
            "(cdp/privacy/storage.yml; docs/privacy.md). `cdp compact` does it on demand."
        ),
        deps=after,
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_POOL,
    )
    def privacy_file_compaction(warehouse: WarehouseResource, config: PipelineConfig) -> dg.MaterializeResult:
        if warehouse.engine != "duckdb":
            # a Parquet table's delete rewrites its files and removes the old ones: no freed blocks keep bytes
            return dg.MaterializeResult(metadata={"skipped": f"nothing to compact on {warehouse.engine}"})
        policy = load_policy(max_delay_days=config.compaction_max_delay_days)
        compaction, pending_since = compact_if_due(warehouse.warehouse_path, policy)
        metadata = {"max_delay_days": dg.MetadataValue.int(policy.max_delay_days),
                    "compacted": compaction is not None}
        if compaction:
            metadata |= {"reason": compaction.reason, "bytes_before": dg.MetadataValue.int(compaction.bytes_before),
                         "bytes_after": dg.MetadataValue.int(compaction.bytes_after),
                         "seconds": dg.MetadataValue.float(round(compaction.seconds, 2))}
        if pending_since:
            metadata |= {"erased_bytes_pending_since": pending_since.isoformat(),
                         "compaction_due_by": policy.deadline(pending_since).isoformat()}
        return dg.MaterializeResult(metadata=metadata)

    return privacy_file_compaction


def _metadata(report: ErasureReport) -> dict:
    # counts only: Dagster's event log must not hold personal data
    return {
        "erasure_requests": dg.MetadataValue.int(report.erasure_requests),
        "suppressions_absorbed": dg.MetadataValue.int(report.suppressions_absorbed),
        "customers_erased": dg.MetadataValue.int(report.customers_erased),
        "identifiers_suppressed": dg.MetadataValue.json(report.identifiers_suppressed),
        "rows_deleted": dg.MetadataValue.json(report.rows_deleted),
        "rows_updated": dg.MetadataValue.json(report.rows_updated),
    }
