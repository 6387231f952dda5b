"""One module per concern: resources, ingestion, dbt, privacy, ml, exports, schedules."""
