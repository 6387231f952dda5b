"""dbt models, seeds and tests as Dagster assets and asset checks."""

# No `from __future__ import annotations`: Dagster reads config and resource types from annotations.
import fcntl
import json
import os
import subprocess
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from cdp import settings
from orchestration.defs.dbt_invocation import run_dbt
from orchestration.defs.resources import WAREHOUSE_POOL, PipelineConfig, WarehouseResource

DBT_PROJECT = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> None:
    """dagster-dbt reads the manifest when definitions load: parse the project when the manifest
    is missing or older than any model, macro, seed, test or project file. Processes loading
    the definitions at once (test workers) parse one at a time, so none reads a manifest
    another is writing."""
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with open(project.manifest_path.parent / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not _manifest_current(project):
            _parse(project)


def _manifest_current(project: DbtProject) -> bool:
    return project.manifest_path.exists() and not _newer_than(project.manifest_path.stat().st_mtime, project)


def _parse(project: DbtProject) -> None:
    # Parse against the default warehouse the runs use: dbt hashes the profile's env vars, and a
    # different path there would make every run re-parse the whole project (about 5 s).
    env = {"CDP_WAREHOUSE": str(settings.warehouse_path()), **os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run(
        [
            settings.dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(project.project_dir),
            "--profiles-dir",
            str(project.profiles_dir),
        ],
        check=True,
        env=env,
        cwd=project.project_dir,
    )


def _newer_than(mtime: float, project: DbtProject) -> bool:
    root = project.project_dir
    sources = [root / "dbt_project.yml", root / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests", "snapshots", "analyses"):
        sources += [p for p in (root / folder).rglob("*") if p.is_file()]
    return any(p.exists() and p.stat().st_mtime > mtime for p in sources)


ensure_manifest()


# The erasure step that runs before dbt when the warehouse already knows who is who
# (orchestration/defs/privacy.py): every model reading raw waits for it.
ERASURE_BEFORE_DBT_KEY = dg.AssetKey(["privacy", "erasure_before_dbt"])


class CdpDbtTranslator(DagsterDbtTranslator):
    """Keys follow warehouse names: sources are ``<schema>/<table>`` (``raw/<table>``: the
    ingestion assets; ``privacy/suppression_list``), models ``<schema>/<model>``; groups
    follow the dbt layer folders. Models reading raw come after the erasure before dbt."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = manifest["sources"].get(unique_id) or manifest["nodes"][unique_id]
        if props["resource_type"] == "source":
            schema = props["schema"]
            return spec.replace_attributes(key=dg.AssetKey([schema, props["name"]]), group_name=schema)
        layer = props["fqn"][1] if len(props["fqn"]) > 2 else props["resource_type"]
        spec = spec.replace_attributes(key=dg.AssetKey([props["schema"], props["name"]]), group_name=layer)
        if any(parent.startswith("source.cdp_warehouse.landing.") for parent in manifest["parent_map"][unique_id]):
            spec = spec.merge_attributes(deps=[ERASURE_BEFORE_DBT_KEY])
        return spec


TRANSLATOR = CdpDbtTranslator(
    # dbt tests on sources (raw/<table>, audit/load_history) are checks of those assets too: without
    # this, a build that runs them logs each as an observation, with a warning
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True)
)


def dbt_vars(config: PipelineConfig) -> dict[str, Any]:
    extra = json.loads(config.dbt_vars_json) if config.dbt_vars_json else {}
    if not isinstance(extra, dict):
        raise ValueError(f"dbt_vars_json must be a JSON object, got {config.dbt_vars_json!r}")
    if config.churn_horizon_days is not None:
        extra = {**extra, "churn_horizon_days": config.churn_horizon_days}
    return {**extra, "as_of": config.as_of} if config.as_of else extra


# Models tagged `measurement` read what the ML and export assets write: they are built by
# their own asset after those (orchestration/defs/measurement.py).
MEASUREMENT_SELECTOR = "tag:measurement"


def dbt_build_args(config: PipelineConfig) -> list[str]:
    """`dbt build` with the run's vars; profiles.yml reads the warehouse path from the
    environment of the dbt process, set here too. Unit tests check SQL against fixed
    inputs, so they run in the test suite (tests/test_pipeline_e2e.py), not on every
    run's data, as dbt recommends; data tests run every time."""
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(dbt_vars(config))]


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    exclude=MEASUREMENT_SELECTOR,
    pool=WAREHOUSE_POOL,
)
def cdp_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: PipelineConfig
):
    """Build and test every dbt model and seed but the measurement ones, point-in-time as of ``config.as_of``."""
    warehouse.dbt_environment()
    yield from run_dbt(dbt, dbt_build_args(config), context)
