"""Dagster definitions: assembles the modules in orchestration/defs."""

import dagster as dg

from orchestration.defs.dbt import cdp_dbt_models
from orchestration.defs.exports import AUDIENCE_EXPORTS
from orchestration.defs.ingestion import raw_landing_files
from orchestration.defs.measurement import MEASUREMENT_ASSETS
from orchestration.defs.ml import ML_ASSETS
from orchestration.defs.privacy import privacy_erasure, privacy_erasure_before_dbt
from orchestration.defs.resources import make_resources
from orchestration.defs.schedules import daily_pipeline, daily_schedule, landing_files_sensor

# in run order
ALL_ASSETS = [
    raw_landing_files,
    privacy_erasure_before_dbt,
    cdp_dbt_models,
    privacy_erasure,
    *ML_ASSETS,
    *AUDIENCE_EXPORTS,
    *MEASUREMENT_ASSETS,
]

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_pipeline],
    schedules=[daily_schedule],
    sensors=[landing_files_sensor],
    resources=make_resources(),
    executor=dg.in_process_executor,
)
