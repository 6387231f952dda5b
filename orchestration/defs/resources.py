"""Resources: where the warehouse, landing zone and exports live, and the run's parameters."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from cdp import settings

# DuckDB allows one writing process at a time: every asset that writes the
# warehouse runs in this pool, whose limit is 1 (dagster.yaml).
WAREHOUSE_POOL = "duckdb_warehouse"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file plus the landing and export folders around it."""

    warehouse_path: str = str(settings.warehouse_path())
    landing_dir: str = str(settings.landing_dir())
    export_dir: str = str(settings.export_dir())
    model_artifact_dir: str = str(settings.model_artifact_dir())
    report_dir: str = str(settings.report_dir())

    @contextmanager
    def connect(self, read_only: bool = False):
        Path(self.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.warehouse_path, read_only=read_only)
        try:
            con.execute("set TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


class PipelineConfig(dg.Config):
    """Run parameters shared by every stage."""

    as_of: str | None = None  # YYYY-MM-DD; None = latest date in the data
    # None: the dbt project's var churn_horizon_days
    churn_horizon_days: int | None = None
    # More dbt vars for this run, as a JSON object (e.g. identity settings for a benchmark)
    dbt_vars_json: str | None = None


def make_resources(
    warehouse_path: str | None = None, landing_dir: str | None = None, export_dir: str | None = None
) -> dict:
    warehouse_path = str(warehouse_path or settings.warehouse_path())
    warehouse = WarehouseResource(
        warehouse_path=warehouse_path,
        landing_dir=str(landing_dir or settings.landing_dir()),
        export_dir=str(export_dir or settings.export_dir()),
        model_artifact_dir=str(settings.model_artifact_dir(warehouse_path)),
        report_dir=str(settings.report_dir(warehouse_path)),
    )
    dbt = DbtCliResource(
        project_dir=str(settings.DBT_PROJECT_DIR),
        profiles_dir=str(settings.DBT_PROJECT_DIR),
        dbt_executable=settings.dbt_executable(),
    )
    return {"warehouse": warehouse, "dbt": dbt}
