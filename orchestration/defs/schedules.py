"""Jobs and schedules."""

from __future__ import annotations

import dagster as dg

daily_pipeline = dg.define_asset_job(
    name="daily_pipeline",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, build every dbt model and test, write audience exports.",
    executor_def=dg.in_process_executor,  # one process: DuckDB has a single writer
)

daily_schedule = dg.ScheduleDefinition(
    name="daily_pipeline_schedule",
    job=daily_pipeline,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
