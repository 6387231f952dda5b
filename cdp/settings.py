"""Default locations, overridable by environment variables (the CLI sets them from its options)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
AUDIENCES_DIR = REPO_ROOT / "audiences"


def landing_dir() -> Path:
    return Path(os.environ.get("CDP_LANDING_DIR", REPO_ROOT / "seeds" / "sample"))


def warehouse_path() -> Path:
    return Path(os.environ.get("CDP_WAREHOUSE", REPO_ROOT / "warehouse" / "cdp.duckdb"))


def warehouse_engine() -> str:
    """Where the Python stages' tables live: duckdb (the default) or spark (docs/spark.md)."""
    return os.environ.get("CDP_ENGINE", "duckdb")


def duckdb_memory_limit() -> str:
    """DuckDB's buffer pool for every connection a run opens on the warehouse, dbt's (profiles.yml reads
    the same variable, same default) and the Python stages': above it joins, sorts and aggregates spill
    to disk, so a run fits the machine's memory target (docs/benchmarks.md). Unset, DuckDB would take
    80 % of RAM: the erasure step reached 14.1 GiB at 1,000,000 customers."""
    return os.environ.get("CDP_DUCKDB_MEMORY_LIMIT", "6GB")


def duckdb_settings() -> dict[str, str]:
    """The settings of every DuckDB connection a run opens on the warehouse (dbt's are the same, in
    profiles.yml): the memory limit, and memory freed by one query kept for the next up to that limit,
    rather than handed back to the OS and faulted in again page by page."""
    limit = duckdb_memory_limit()
    return {
        "memory_limit": limit,
        "block_allocator_memory": limit,
        "allocator_flush_threshold": limit,
        "allocator_bulk_deallocation_flush_threshold": limit,
    }


def export_dir() -> Path:
    return Path(os.environ.get("CDP_EXPORT_DIR", REPO_ROOT / "exports"))


def dbt_executable(engine: str = "duckdb") -> str:
    """The dbt installed beside the running Python (the project's venv), else the one on PATH. On
    Spark, cdp-dbt-spark: dbt with the session submission for Python models (cdp/spark/run_dbt.py)."""
    name = "cdp-dbt-spark" if engine == "spark" else "dbt"
    sibling = Path(sys.executable).parent / name
    return str(sibling) if sibling.exists() else (shutil.which(name) or name)


def model_artifact_dir(warehouse: Path | str | None = None) -> Path:
    """Where trained models are saved (one file per model run); beside the warehouse by default."""
    default = Path(warehouse or warehouse_path()).parent / "model_artifacts"
    return Path(os.environ.get("CDP_MODEL_ARTIFACT_DIR", default))


def report_dir(warehouse: Path | str | None = None) -> Path:
    """Where each run writes its HTML report (docs/report.md); beside the warehouse by default."""
    default = Path(warehouse or warehouse_path()).parent / "reports"
    return Path(os.environ.get("CDP_REPORT_DIR", default))
