"""Dagster definitions: assembles the modules in orchestration/defs."""

import dagster as dg

from orchestration.defs.dbt import cdp_dbt_models
from orchestration.defs.exports import AUDIENCE_EXPORTS
from orchestration.defs.ingestion import raw_landing_files
from orchestration.defs.measurement import MEASUREMENT_ASSETS
from orchestration.defs.ml import ML_ASSETS
from orchestration.defs.privacy import file_compaction_asset, privacy_erasure, privacy_erasure_before_dbt
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
# the file rewrite needs every connection closed: after the assets nothing else waits for
_LAST_ASSETS = sorted(
    {key for asset in ALL_ASSETS for key in asset.keys}
    - {dep for asset in ALL_ASSETS for deps in asset.asset_deps.values() for dep in deps},
    key=lambda key: key.to_user_string(),
)
ALL_ASSETS.append(file_compaction_asset(after=_LAST_ASSETS))

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_pipeline],
    schedules=[daily_schedule],
    sensors=[landing_files_sensor],
    resources=make_resources(),
    executor=dg.in_process_executor,
)
