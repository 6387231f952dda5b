"""Jobs, the daily schedule, and the sensor that starts a run when new landing files settle."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
from pathlib import Path

import dagster as dg

from cdp.contract import load_contract
from cdp.ingest.load import landing_state
from orchestration.defs.resources import WarehouseResource

daily_pipeline = dg.define_asset_job(
    name="daily_pipeline",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, build every dbt model and test, train and score, export the "
    "audiences, measure, and write the report.",
    executor_def=dg.in_process_executor,  # one process: DuckDB has a single writer
)

daily_schedule = dg.ScheduleDefinition(
    name="daily_pipeline_schedule",
    job=daily_pipeline,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

# A file modified this recently may still be being written: wait for it to settle.
SETTLE_SECONDS = 120


@dg.sensor(
    name="landing_files_sensor",
    job=daily_pipeline,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Starts the pipeline when the landing zone holds new or changed files that have not been modified "
        f"for {SETTLE_SECONDS} s. It never opens the warehouse (a running pipeline holds its one writer "
        "lock); ingestion skips files it already loaded by checksum, so a spurious run loads nothing."
    ),
)
def landing_files_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    state = landing_state(Path(warehouse.landing_dir), load_contract(), SETTLE_SECONDS)
    if state.files == 0:
        return dg.SkipReason(f"no landing files in {warehouse.landing_dir}")
    if state.fingerprint == context.cursor:
        waiting = f"; waiting for {len(state.unsettled)} file(s) still changing" if state.unsettled else ""
        return dg.SkipReason(f"no new or changed settled files{waiting}")
    context.update_cursor(state.fingerprint)
    # the run key makes a repeated evaluation of the same files start one run, not two
    return dg.RunRequest(run_key=f"landing-{state.fingerprint[:16]}", tags={"trigger": "landing_files"})
