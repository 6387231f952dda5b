"""Resources: where the warehouse, landing zone and exports live, and the run's parameters."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
import importlib.metadata
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging import version

from cdp import settings
from cdp.warehouse import DuckDBWarehouse, Warehouse

# DuckDB allows one writing process at a time: every asset that writes the
# warehouse runs in this pool, whose limit is 1 (dagster.yaml).
WAREHOUSE_POOL = "duckdb_warehouse"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse plus the landing and export folders around it.

    ``engine`` says where the tables the Python stages read and write live: ``duckdb`` (the
    file at warehouse_path) or ``spark`` (the catalogue of dbt's spark target, under
    ``spark_dir``; docs/spark.md). ``open()`` gives a ``cdp.warehouse.Warehouse`` on that
    engine; ``connect()`` is the DuckDB file itself, for the stages that work on DuckDB only."""

    warehouse_path: str = str(settings.warehouse_path())
    landing_dir: str = str(settings.landing_dir())
    export_dir: str = str(settings.export_dir())
    model_artifact_dir: str = str(settings.model_artifact_dir())
    report_dir: str = str(settings.report_dir())

    # how long a step waits for another process (an ad-hoc dbt or duckdb session) to let go of the file
    lock_wait_seconds: float = 60

    engine: str = settings.warehouse_engine()
    spark_dir: str | None = None  # None: CDP_SPARK_DIR or warehouse/spark

    def dbt_environment(self) -> None:
        """Point the dbt processes this step starts at this warehouse (profiles.yml reads the environment).
        On Spark in local mode, also stop this process's session: its embedded metastore admits one JVM,
        and the dbt process needs it (the next step here starts a new session, about 15 s)."""
        os.environ["CDP_WAREHOUSE"] = self.warehouse_path
        os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        if self.engine == "spark":
            os.environ["CDP_SPARK_DIR"] = str(self._spark_directory())
            self.release()

    def release(self) -> None:
        """Let another process open the warehouse: on Spark in local mode, stop this process's session."""
        if self.engine == "spark":
            from cdp.spark.session import embedded_metastore, release_session

            if embedded_metastore(self._spark_directory()):
                release_session()

    def _spark_directory(self) -> Path:
        from cdp.spark.session import spark_dir

        return Path(self.spark_dir).resolve() if self.spark_dir else spark_dir()

    @contextmanager
    def open(self, read_only: bool = False) -> Iterator[Warehouse]:
        """The warehouse on its engine, as the engine-neutral interface."""
        if self.engine == "spark":
            from cdp.spark.session import get_session
            from cdp.warehouse.spark_warehouse import SparkWarehouse

            # the session outlives the step: the next step in this process reuses it (dbt_environment
            # lets go of it before a dbt process needs the catalogue)
            yield SparkWarehouse(get_session(self.spark_dir))
            return
        if self.engine != "duckdb":
            raise ValueError(f"unknown warehouse engine {self.engine!r}: duckdb or spark")
        with self.connect(read_only) as con:
            yield DuckDBWarehouse(con)

    @contextmanager
    def connect(self, read_only: bool = False):
        Path(self.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
        con = _connect_when_free(self.warehouse_path, read_only, self.lock_wait_seconds)
        try:
            con.execute("set TimeZone = 'UTC'")
            for name, value in settings.duckdb_settings().items():
                con.execute(f"set {name} = '{value}'")
            yield con
        finally:
            con.close()


def _connect_when_free(path: str, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """DuckDB refuses a second process's connection while one writes the file: wait and retry,
    then fail with a message that says what to do (a transient clash, such as a dbt CLI session,
    passes; a stuck one is named)."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the warehouse {path} stayed locked by another process for {wait_seconds:.0f} s "
                    f"({str(error).splitlines()[0]}); close that session or wait for its run to end"
                ) from error
            time.sleep(delay)
            delay = min(delay * 2, 5)


class PipelineConfig(dg.Config):
    """Run parameters shared by every stage."""

    as_of: str | None = None  # YYYY-MM-DD; None = latest date in the data
    # None: the dbt project's var churn_horizon_days
    churn_horizon_days: int | None = None
    # More dbt vars for this run, as a JSON object (e.g. identity settings for a benchmark)
    dbt_vars_json: str | None = None
    # None: file_compaction.max_delay_days of cdp/privacy/storage.yml
    compaction_max_delay_days: int | None = None
    # True: every model retrains, whatever its retraining policy (ml/config/<model>.yml, docs/ml.md)
    retrain: bool = False


class DbtResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two things the runs do not use, which cost about 10 s in a
    run's first dbt call (profiled at 1,000,000 customers: 6.6 + 3.7 s): a dbt Core adapter in this
    process, which parses every macro and serves only to fetch column metadata and row counts (the assets
    ask for neither), and `dbt --version` in a subprocess, for the version of the dbt-core installed here."""

    def _initialize_dbt_core_adapter(self, args):
        return None

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


def make_resources(
    warehouse_path: str | None = None, landing_dir: str | None = None, export_dir: str | None = None,
    engine: str | None = None, spark_dir: str | None = None,
) -> dict:
    """The resources of a run. On Spark, dbt runs its `spark` target through cdp-dbt-spark (dbt with
    Python models in the session, cdp/spark/run_dbt.py); the DuckDB file at warehouse_path then
    only serves as the run lock's anchor (docs/spark.md)."""
    warehouse_path = str(warehouse_path or settings.warehouse_path())
    engine = engine or settings.warehouse_engine()
    if engine == "spark":
        from cdp.spark.session import spark_dir as default_spark_dir

        spark_dir = str(Path(spark_dir).resolve() if spark_dir else default_spark_dir())
    warehouse = WarehouseResource(
        warehouse_path=warehouse_path,
        landing_dir=str(landing_dir or settings.landing_dir()),
        export_dir=str(export_dir or settings.export_dir()),
        model_artifact_dir=str(settings.model_artifact_dir(warehouse_path)),
        report_dir=str(settings.report_dir(warehouse_path)),
        engine=engine,
        spark_dir=spark_dir,
    )
    dbt = DbtResource(
        project_dir=str(settings.DBT_PROJECT_DIR),
        profiles_dir=str(settings.DBT_PROJECT_DIR),
        dbt_executable=settings.dbt_executable(engine),
        target="spark" if engine == "spark" else None,
    )
    return {"warehouse": warehouse, "dbt": dbt}
