"""Measurement: KPIs and experiment outcomes (dbt, tag `measurement`), experiment readouts
(cdp/measure) and the run's HTML report (cdp/report), after the ML and export assets they read.

Order in a run: main dbt build -> erasure -> ML -> exports -> measurement dbt models ->
experiment readouts -> report.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets, get_asset_key_for_model

from cdp.measure.readouts import write_experiment_readouts
from cdp.report import write_report
from orchestration.defs.dbt import (
    DBT_PROJECT,
    MEASUREMENT_SELECTOR,
    CdpDbtTranslator,
    cdp_dbt_models,
    dbt_build_args,
)
from orchestration.defs.dbt_invocation import run_dbt
from orchestration.defs.exports import AUDIENCE_EXPORTS
from orchestration.defs.ml import ML_ASSETS
from orchestration.defs.privacy import ERASURE_ASSET_KEY
from orchestration.defs.resources import WAREHOUSE_POOL, PipelineConfig, WarehouseResource

EXPORT_KEYS = [key for asset in AUDIENCE_EXPORTS for key in asset.keys]
READOUTS_KEY = dg.AssetKey(["marts", "experiment_readouts"])
REPORT_KEY = dg.AssetKey(["reports", "html_report"])


class MeasurementTranslator(CdpDbtTranslator):
    """The exporter's tables are dbt sources without an asset of their own (every export asset
    writes them): a model reading them waits for every export asset instead."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        parents = manifest["parent_map"].get(unique_id, [])
        if any(parent.startswith("source.cdp_warehouse.activation.") for parent in parents):
            spec = spec.merge_attributes(deps=EXPORT_KEYS)
        return spec


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    select=MEASUREMENT_SELECTOR,
    dagster_dbt_translator=MeasurementTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    pool=WAREHOUSE_POOL,
)
def cdp_measurement_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: PipelineConfig
):
    """KPIs by dimension and experiment outcomes, as of ``config.as_of`` (docs/measurement.md)."""
    warehouse.dbt_environment()
    yield from run_dbt(dbt, dbt_build_args(config), context)


def _measurement_key(model: str) -> dg.AssetKey:
    return get_asset_key_for_model([cdp_measurement_models], model)


@dg.asset(
    key=READOUTS_KEY,
    group_name="measurement",
    description=(
        "Per experiment arm and as-of date: conversion and revenue per customer against the holdout, lifts "
        "with 95 % intervals, chi-square and Welch p-values, sample-ratio check, minimum detectable effect "
        "(docs/experiments.md)."
    ),
    deps=[_measurement_key("experiment_outcomes")],
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def experiment_readouts(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.open() as opened:
        rows = write_experiment_readouts(opened)
    return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(rows)})


def _report_inputs() -> list[dg.AssetKey]:
    """Everything the report reads: every dbt model, the ML tables, the exports, the readouts."""
    keys = [*cdp_dbt_models.keys, *cdp_measurement_models.keys, READOUTS_KEY, ERASURE_ASSET_KEY, *EXPORT_KEYS]
    keys += [key for asset in ML_ASSETS for key in asset.keys]
    return keys


@dg.asset(
    key=REPORT_KEY,
    group_name="measurement",
    description="The run's self-contained HTML report (docs/report.md): quality, identity, segments, models, "
    "experiments, audiences.",
    deps=_report_inputs(),
    kinds={"python", "html"},
    pool=WAREHOUSE_POOL,
)
def html_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: PipelineConfig
) -> dg.MaterializeResult:
    as_of = date.fromisoformat(config.as_of) if config.as_of else None
    # read-only: the report never changes the warehouse
    with warehouse.open(read_only=True) as con:
        path = write_report(con, Path(warehouse.report_dir), as_of_date=as_of, run_id=context.run.run_id)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "bytes": dg.MetadataValue.int(path.stat().st_size)}
    )


MEASUREMENT_ASSETS = [cdp_measurement_models, experiment_readouts, html_report]
