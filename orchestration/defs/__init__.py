"""One module per concern: resources, ingestion, dbt, exports, schedules."""
