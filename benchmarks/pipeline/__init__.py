"""The whole pipeline at scale: generate, full run, daily incremental run, and the DuckDB floor (run.py)."""
