"""Raw assets: every landing source loaded into ``raw.<source>``, with a reconciliation check each, and
``audit.load_history``, the row per landing file the loads write."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
from pathlib import Path

import dagster as dg

from cdp.contract import load_contract
from cdp.ingest.freshness import freshness_rules, source_freshness
from cdp.ingest.publish import ingest_into
from cdp.ingest.reconcile import reconcile_source
from orchestration.defs.dbt import DBT_PROJECT
from orchestration.defs.resources import WAREHOUSE_POOL, WarehouseResource

CONTRACT = load_contract()
RECONCILE_CHECK = "rows_in_equal_loaded_plus_rejected"
FRESHNESS_CHECK = "source_freshness"
# the dbt sources' warn_after / error_after: one configuration for this check and `dbt source freshness`
FRESHNESS_RULES = freshness_rules(DBT_PROJECT.manifest_path)


# An asset of its own: the dbt tests on it (source tests, orchestration/defs/dbt.py) are its checks, and a
# check runs in a job only when its asset is one the job can materialise.
LOAD_HISTORY_KEY = dg.AssetKey(["audit", "load_history"])


def raw_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source])


@dg.multi_asset(
    name="raw_landing_files",
    specs=[
        dg.AssetSpec(
            raw_asset_key(name),
            description=source.description,
            group_name="raw",
            kinds={"duckdb"},
            skippable=True,
        )
        for name, source in CONTRACT.sources.items()
    ] + [
        dg.AssetSpec(
            LOAD_HISTORY_KEY,
            description="One row per landing file loaded or refused: counts in, loaded and rejected, and why.",
            group_name="audit",
            kinds={"duckdb"},
            skippable=True,
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(check, asset=raw_asset_key(name))
        for name in CONTRACT.sources
        for check in (RECONCILE_CHECK, FRESHNESS_CHECK)
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def raw_landing_files(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Load new landing files, quarantine bad rows, and prove the counts reconcile."""
    selected = [key.path[-1] for key in context.selected_asset_keys if key != LOAD_HISTORY_KEY]
    if not selected:  # the load history alone: it changes only when sources load (ingest_into reads [] as all)
        return
    with warehouse.open() as con:
        # DuckDB parses the files; on another engine in a scratch file beside the warehouse's, then published
        report = ingest_into(con, warehouse.landing_dir, sources=selected, run_id=context.run.run_id,
                             scratch_dir=Path(warehouse.warehouse_path).parent)
        for name in selected:
            totals = report.totals(name)
            yield dg.MaterializeResult(
                asset_key=raw_asset_key(name),
                metadata={k: dg.MetadataValue.int(v) for k, v in totals.items()},
            )
            recon = reconcile_source(con, name)
            yield dg.AssetCheckResult(
                asset_key=raw_asset_key(name),
                check_name=RECONCILE_CHECK,
                passed=recon.passed,
                metadata=recon.as_metadata(),
                description=recon.explanation,
            )
            fresh = source_freshness(con, name, FRESHNESS_RULES.get(name))
            yield dg.AssetCheckResult(
                asset_key=raw_asset_key(name),
                check_name=FRESHNESS_CHECK,
                passed=fresh.state == "pass",
                severity=dg.AssetCheckSeverity.ERROR if fresh.state == "error" else dg.AssetCheckSeverity.WARN,
                metadata=fresh.as_metadata(),
                description=fresh.explanation,
            )
    if LOAD_HISTORY_KEY in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=LOAD_HISTORY_KEY, metadata={"files": len(report.files)})
    for failed in (f for f in report.files if f.status in ("failed", "rejected")):
        # The reason may quote file content (personal data): it stays in audit.load_history.
        context.log.warning(
            f"{failed.file_path}: {failed.status}; reason in audit.load_history (load_id {failed.load_id})"
        )
