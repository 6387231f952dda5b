"""The local Spark session of the dbt `spark` target, configured from profiles.yml.

The profile is the one place the Spark settings live (warehouse directory, metastore,
partitions, memory); Python code that opens the session itself (the hand-over, tests)
reads them from there so that it sees the same catalogue dbt writes."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import yaml

from cdp import settings

PROFILE = "cdp_warehouse"
TARGET = "spark"


def spark_dir() -> Path:
    """Where the Spark warehouse files and the metastore live (CDP_SPARK_DIR)."""
    return Path(os.environ.get("CDP_SPARK_DIR", settings.REPO_ROOT / "warehouse" / "spark")).resolve()


def spark_environment(directory: Path | str | None = None) -> dict[str, str]:
    """Environment variables that point the profile's `spark` target at `directory` (absolute)."""
    return {"CDP_SPARK_DIR": str(Path(directory).resolve() if directory else spark_dir())}


def session_parameters(directory: Path | str | None = None, project_dir: Path = settings.DBT_PROJECT_DIR) -> dict:
    """The `server_side_parameters` of the profile's spark target, with env_var() resolved."""
    environment = {**os.environ, **spark_environment(directory)}

    def env_var(name: str, default: str | None = None) -> str:
        if name in environment:
            return environment[name]
        if default is None:
            raise KeyError(f"environment variable {name} is not set and has no default in profiles.yml")
        return default

    profile = yaml.safe_load((project_dir / "profiles.yml").read_text(encoding="utf-8"))
    parameters = profile[PROFILE]["outputs"][TARGET]["server_side_parameters"]
    return {key: jinja2.Template(str(value)).render(env_var=env_var) for key, value in parameters.items()}


def get_session(directory: Path | str | None = None):
    """The process's Spark session with the profile's settings (created on first call), as dbt-spark builds it."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in session_parameters(directory).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def embedded_metastore(directory: Path | str | None = None) -> bool:
    """Whether the catalogue is the embedded Derby of local mode, which admits one JVM at a time."""
    url = session_parameters(directory).get("spark.hadoop.javax.jdo.option.ConnectionURL", "")
    return url.startswith("jdbc:derby:") and "//" not in url


def release_session() -> None:
    """Stop this process's Spark session and its JVM, so that another process (a dbt run) can open the
    embedded metastore; the next get_session() starts a new JVM (about 15 s)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if process is not None:
        # the JVM exits when its stdin closes; Derby's lock goes with it
        process.stdin.close()
        process.wait(timeout=120)
