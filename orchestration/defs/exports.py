"""Audience export assets: one per audience YAML, downstream of its dbt model."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
import dagster as dg
from dagster_dbt import get_asset_key_for_model

from cdp import settings
from cdp.export import Audience, export_audience, load_audiences
from orchestration.defs.dbt import cdp_dbt_models
from orchestration.defs.resources import WarehouseResource


def build_export_asset(audience: Audience) -> dg.AssetsDefinition:
    @dg.asset(
        name=audience.name,
        key_prefix=["exports"],
        group_name="exports",
        description=audience.description,
        deps=[get_asset_key_for_model([cdp_dbt_models], audience.model)],
        owners=[f"team:{audience.owner}"] if audience.owner else None,
        kinds={"csv", "parquet"},
    )
    def export(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect(read_only=True) as con:
            results = export_audience(con, audience, warehouse.export_dir, context.run.run_id)
        for r in results:
            if r.status != "exported":
                context.log.warning(f"{audience.name} -> {r.destination}: {r.message}")
        return dg.MaterializeResult(
            metadata={
                "as_of": results[0].as_of,
                "rows": dg.MetadataValue.int(results[0].rows),
                **{f"{r.destination}_file": dg.MetadataValue.path(r.path or "") for r in results},
                **{f"{r.destination}_sha256": r.sha256 or "" for r in results},
            }
        )

    return export


AUDIENCE_EXPORTS = [build_export_asset(a) for a in load_audiences(settings.AUDIENCES_DIR)]
