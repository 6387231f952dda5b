"""dbt on the `spark` target with Python models run in the local Spark session.

dbt-spark submits Python models to Databricks clusters only (its `all_purpose_cluster` and
`job_cluster` methods; an upstream pull request for a `session` method is still open). With
the session connection method the dbt process is itself the Spark driver, so this adds a
`session` submission method that executes the compiled model there, and makes it the
default when the profile's method is `session`. Everything else is plain dbt:

    python -m cdp.spark.run_dbt build --target spark [any dbt arguments]

run from the repository root or dbt_project/ (the project and profiles directories default
to dbt_project/). CDP_SPARK_DIR is made absolute so that dbt and the hand-over
(cdp.spark.handover) open the same metastore whatever the working directory.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from cdp import settings
from cdp.spark.session import spark_environment


class SessionPythonJobHelper:
    """Runs a compiled dbt Python model in this process's Spark session (the one dbt-spark uses)."""

    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.model_path = parsed_model.get("original_file_path", parsed_model.get("alias", "python model"))

    def submit(self, compiled_code: str) -> None:
        from pyspark.sql import SparkSession

        # the compiled code ends with dbt-spark's py_write_table, which expects `spark`
        namespace = {"__name__": "__dbt_python_model__", "spark": SparkSession.builder.getOrCreate()}
        exec(compile(compiled_code, self.model_path, "exec"), namespace)


def enable_session_python_models() -> None:
    """Register the `session` submission method on dbt-spark's adapter (idempotent)."""
    from dbt.adapters.spark.impl import SparkAdapter

    if getattr(SparkAdapter, "_cdp_session_python_models", False):
        return
    helpers = SparkAdapter.python_submission_helpers.fget
    default_method = SparkAdapter.default_python_submission_method.fget

    def python_submission_helpers(self) -> dict:
        return {**helpers(self), "session": SessionPythonJobHelper}

    def default_python_submission_method(self) -> str:
        return "session" if str(self.config.credentials.method) == "session" else default_method(self)

    SparkAdapter.python_submission_helpers = property(python_submission_helpers)
    SparkAdapter.default_python_submission_method = property(default_python_submission_method)
    SparkAdapter._cdp_session_python_models = True


def run(args: list[str]) -> bool:
    """Invoke dbt in this process with the session submission method; True when it succeeded."""
    from dbt.cli.main import dbtRunner

    enable_session_python_models()
    os.environ.update(spark_environment())
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    args = list(args)
    if not args or args[0].startswith("-"):  # `--version`, `--help`: no command to point at the project
        return dbtRunner().invoke(args).success
    if "--project-dir" not in args:
        args += ["--project-dir", str(settings.DBT_PROJECT_DIR)]
    if "--profiles-dir" not in args:
        args += ["--profiles-dir", str(settings.DBT_PROJECT_DIR)]
    return dbtRunner().invoke(args).success


def main() -> None:
    sys.exit(0 if run(sys.argv[1:]) else 1)


if __name__ == "__main__":
    main()
