"""A dbt invocation whose nodes ran out of memory builds them, and what they held back, again one at a time.

A small dbt project of its own: ``first`` and its test pass, ``second`` fails on its first build with the
error the ``fault`` var names (out of memory, or any other), ``third`` reads ``second``. Every build of
``first`` and ``second`` is counted in a table written before the model's transaction, which a failure
does not roll back."""


import json
import logging
import os
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtProject, dbt_assets

from cdp import settings
from orchestration.defs.dbt_invocation import (
    one_node_at_a_time_args,
    out_of_memory_only,
    run_dbt,
    run_dbt_to_end,
)
from orchestration.defs.resources import DbtResource

OOM = "Out of Memory Error: could not allocate block of size 256.0 KiB (5.5 GiB/5.5 GiB used)"

COUNT_BUILD = "{{{{ config(pre_hook=before_begin(\"create table if not exists builds(model varchar); " \
    "insert into builds values ('{name}')\")) }}}}\n"
MODELS = {
    "first.sql": COUNT_BUILD.format(name="first") + "select 1 as id",
    # fails until it has been built once before: the CASE evaluates error() only on that condition
    "second.sql": COUNT_BUILD.format(name="second")
    + "select case when (select count(*) from builds where model = 'second') > 1 then id "
    "else error('{{ var(\"fault\") }}') end as id from {{ ref('first') }}",
    "third.sql": "select id from {{ ref('second') }}",
    "schema.yml": "version: 2\nmodels:\n  - name: first\n    columns:\n      - name: id\n"
    "        data_tests: [not_null]\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> DbtProject:
    root = tmp_path_factory.mktemp("oom_project")
    (root / "models").mkdir()
    for name, text in MODELS.items():
        (root / "models" / name).write_text(text)
    (root / "dbt_project.yml").write_text(
        "name: oom_retry\nversion: '1.0'\nprofile: oom_retry\nmodel-paths: [models]\n"
        "vars:\n  fault: none\nmodels:\n  oom_retry:\n    +materialized: table\n")
    (root / "profiles.yml").write_text(
        "oom_retry:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('OOM_TEST_WAREHOUSE') }}\"\n      threads: 2\n")
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "OOM_TEST_WAREHOUSE": str(root / "unused.duckdb")}
    subprocess.run([settings.dbt_executable(), "parse", "--quiet", "--project-dir", str(root),
                    "--profiles-dir", str(root)], check=True, env=env, cwd=root)
    return DbtProject(project_dir=root, profiles_dir=root)


def _builds(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.execute("select model, count(*) from builds group by 1").fetchall())


def _materialize(
    project: DbtProject, warehouse: Path, fault: str, in_dbt_assets: bool
) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """The run's result and its warnings."""
    os.environ["OOM_TEST_WAREHOUSE"] = str(warehouse)
    args = ["build", "--vars", json.dumps({"fault": fault})]

    @dbt_assets(manifest=project.manifest_path, project=project)
    def oom_models(context: dg.AssetExecutionContext, dbt: DbtResource):
        yield from run_dbt(dbt, args, context)

    @dg.asset
    def builds_dbt_as_a_means(context: dg.AssetExecutionContext, dbt: DbtResource) -> None:
        run_dbt_to_end(dbt, args, context, manifest=project.manifest_path)

    dbt = DbtResource(project_dir=str(project.project_dir), profiles_dir=str(project.profiles_dir),
                      dbt_executable=settings.dbt_executable())
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([oom_models if in_dbt_assets else builds_dbt_as_a_means], resources={"dbt": dbt},
                            instance=instance, raise_on_error=False)
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == logging.WARNING]
    return result, warnings


@pytest.mark.parametrize("in_dbt_assets", [True, False], ids=["dbt_assets", "other_asset"])
def test_nodes_out_of_memory_are_built_again_with_what_they_held_back_and_nothing_else(
    project, tmp_path, in_dbt_assets
):
    result, warnings = _materialize(project, tmp_path / "w.duckdb", OOM, in_dbt_assets)

    assert result.success
    # `second` failed, then passed; `first`, which passed, was not built again
    assert _builds(tmp_path / "w.duckdb") == {"first": 1, "second": 2}
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select id from third").fetchall() == [(1,)]
    if in_dbt_assets:
        # each model one materialisation, the test on `first` one check result: no event twice
        materialized = [event.asset_key.path[-1] for event in result.get_asset_materialization_events()]
        assert sorted(materialized) == ["first", "second", "third"]
        evaluations = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert len(evaluations) == 1 and evaluations[0].event_specific_data.passed
    retries = [warning for warning in warnings if "ran out of memory" in warning]
    assert len(retries) == 1 and "(model.oom_retry.second)" in retries[0]


@pytest.mark.parametrize("in_dbt_assets", [True, False], ids=["dbt_assets", "other_asset"])
def test_any_other_failure_fails_the_step_without_building_again(project, tmp_path, in_dbt_assets):
    result, warnings = _materialize(project, tmp_path / "w.duckdb", "Conversion Error: could not convert 'x'",
                                    in_dbt_assets)

    assert not result.success
    assert _builds(tmp_path / "w.duckdb") == {"first": 1, "second": 1}
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "Conversion Error" in str(failure.event_specific_data.error)
    assert not [warning for warning in warnings if "ran out of memory" in warning]


def test_a_failure_mixing_out_of_memory_with_another_error_is_not_retried():
    oom = {"unique_id": "model.p.a", "status": "error", "message": f"Runtime Error in model a\n  {OOM}"}
    other = {"unique_id": "test.p.b", "status": "fail", "message": "Got 3 results, configured to fail if != 0"}
    passed = {"unique_id": "model.p.c", "status": "success", "message": "OK"}
    assert out_of_memory_only({"results": [oom, passed]})
    assert not out_of_memory_only({"results": [oom, other]})
    assert not out_of_memory_only({"results": [passed]})
    assert not out_of_memory_only({})


def test_the_second_invocation_excludes_what_passed_from_the_first_ones_state(tmp_path):
    args = one_node_at_a_time_args(["build", "--exclude", "tag:measurement", "--threads", "2"], tmp_path)
    # dbt takes the last --threads and every --exclude
    assert args[-2:] == ["--threads", "1"]
    assert args[args.index("--state") + 1] == str(tmp_path)
    excluded = [args[i + 1] for i, arg in enumerate(args) if arg == "--exclude"]
    assert excluded == ["tag:measurement", "result:success", "result:pass", "result:warn"]
