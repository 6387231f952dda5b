"""Dagster wiring: every asset, check and schedule loads, with lineage from raw files to exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from cdp import settings
from cdp.contract import load_contract

REPO = Path(__file__).resolve().parent.parent


def _repo():
    from orchestration.definitions import defs

    dg.Definitions.validate_loadable(defs)
    return defs.get_repository_def()


def test_assets_cover_raw_dbt_and_exports():
    graph = _repo().asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {f"raw/{s}" for s in load_contract().sources} <= keys
    assert {"marts/dim_customers", "marts/fct_orders", "marts/fct_customer_rfm", "marts/customer_identity_map"} <= keys
    assert {f"exports/{p.stem}" for p in settings.AUDIENCES_DIR.glob("*.yml")} <= keys
    # Lineage reaches from the raw landing files to an exported audience, through the models and scores it reads.
    upstream = graph.get(dg.AssetKey(["exports", "engaged_browsers_braze"])).parent_keys
    assert {dg.AssetKey(["marts", "customer_marketing_permissions"]), dg.AssetKey(["ml", "churn_scores"])} <= upstream
    seen, frontier = set(), set(upstream)
    while frontier:
        key = frontier.pop()
        seen.add(key)
        frontier |= set(graph.get(key).parent_keys) - seen
    assert dg.AssetKey(["raw", "customers"]) in seen and dg.AssetKey(["raw", "orders"]) in seen


def test_checks_include_reconciliation_and_dbt_tests():
    checks = {(c.asset_key.to_user_string(), c.name) for c in _repo().asset_graph.asset_check_keys}
    for source in load_contract().sources:
        assert (f"raw/{source}", "rows_in_equal_loaded_plus_rejected") in checks
    assert any(key == "marts/dim_customers" and name.startswith("unique") for key, name in checks)
    # dbt tests on sources are checks of the source assets, not observations logged with a warning
    assert ("audit/load_history", "source_unique_audit_load_history_load_id") in checks


def test_a_run_of_every_asset_selects_the_dbt_tests_on_the_load_history():
    """A check runs in a job only when its asset is one the job materialises: audit/load_history is an output of
    the ingestion step, so a run of every asset (cdp run, the daily job) selects the dbt tests on it as checks
    (else Dagster lets their results through with a warning each run)."""
    from orchestration.definitions import ALL_ASSETS
    from orchestration.defs.resources import make_resources

    defs = dg.Definitions(jobs=[dg.define_asset_job("every_asset")], assets=ALL_ASSETS, resources=make_resources())
    job = defs.resolve_job_def("every_asset")
    dbt_assets = job.asset_layer.asset_graph.assets_def_for_key(dg.AssetKey(["marts", "dim_customers"]))
    load_history = dg.AssetKey(["audit", "load_history"])
    checks = {key.name for key in dbt_assets.check_keys if key.asset_key == load_history}
    assert {"source_unique_audit_load_history_load_id", "source_not_null_audit_load_history_load_id"} <= checks


def test_daily_schedule_runs_the_whole_pipeline():
    repo = _repo()
    schedule = repo.get_schedule_def("daily_pipeline_schedule")
    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.job_name == "daily_pipeline"


def test_dagster_cli_validates_the_workspace():
    env = {**os.environ, "DAGSTER_HOME": str(REPO / ".dagster")}
    (REPO / ".dagster").mkdir(exist_ok=True)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_instance_allows_one_run_and_one_warehouse_step_at_a_time(tmp_path, monkeypatch):
    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = dg.DagsterInstance.get()
    config = instance.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 1
    assert config.pool_config.default_pool_limit == 1
    assert instance.get_settings("telemetry") == {"enabled": False}


def test_ml_assets_follow_the_feature_tables_and_carry_monitoring_checks():
    graph = _repo().asset_graph
    features = dg.AssetKey(["ml", "customer_features"])
    for table in ("customer_clusters", "personas", "churn_scores", "purchase_propensity_scores",
                  "clv_predictions", "product_recommendations"):
        node = graph.get(dg.AssetKey(["ml", table]))
        assert features in node.parent_keys, table
    assert dg.AssetKey(["ml", "customer_labels"]) in graph.get(dg.AssetKey(["ml", "churn_scores"])).parent_keys
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for table in ("ml/churn_scores", "ml/purchase_propensity_scores"):
        assert {(table, "feature_drift"), (table, "score_distribution_shift"),
                (table, "top_decile_parity_gender"), (table, "top_decile_parity_age_band")} <= checks


def test_measurement_runs_after_exports_and_the_report_after_everything():
    graph = _repo().asset_graph

    def ancestors(key: dg.AssetKey) -> set[dg.AssetKey]:
        seen, frontier = set(), set(graph.get(key).parent_keys)
        while frontier:
            parent = frontier.pop()
            seen.add(parent)
            frontier |= set(graph.get(parent).parent_keys) - seen
        return seen

    outcomes = dg.AssetKey(["marts", "experiment_outcomes"])
    kpis = dg.AssetKey(["marts", "kpi_by_dimension"])
    exports = {dg.AssetKey(["exports", p.stem]) for p in settings.AUDIENCES_DIR.glob("*.yml")}
    # experiment arms are written by the exports, personas by the ML step
    assert exports <= ancestors(outcomes)
    assert dg.AssetKey(["ml", "customer_clusters"]) in ancestors(kpis)
    assert outcomes in graph.get(dg.AssetKey(["marts", "experiment_readouts"])).parent_keys
    report_key, compaction_key = dg.AssetKey(["reports", "html_report"]), dg.AssetKey(["privacy", "file_compaction"])
    report = ancestors(report_key)
    everything_else = graph.get_all_asset_keys() - {report_key, compaction_key}
    materialisable = {k for k in everything_else if graph.get(k).is_materializable}
    assert materialisable <= report
    # the file's rewrite needs every connection closed: it comes after everything, the report included
    assert materialisable | {report_key} <= ancestors(compaction_key)
    # the main dbt build leaves the measurement models to their own step
    from orchestration.defs.dbt import cdp_dbt_models

    assert not {outcomes, kpis} & set(cdp_dbt_models.keys)


def test_the_load_history_alone_loads_nothing_and_a_source_alone_loads_only_itself(tmp_path):
    """The ingestion step reads "no source" as "every source": selected alone, the load history (which changes
    only when sources load) loads nothing; one source selected loads that source's files only."""
    import duckdb

    from orchestration.defs.ingestion import LOAD_HISTORY_KEY, raw_asset_key, raw_landing_files
    from orchestration.defs.resources import make_resources

    warehouse = tmp_path / "cdp.duckdb"
    resources = make_resources(str(warehouse), str(settings.landing_dir()), str(tmp_path / "exports"))
    assert dg.materialize([raw_landing_files], selection=[LOAD_HISTORY_KEY], resources=resources).success
    assert not warehouse.exists()
    customers = raw_asset_key("customers")
    result = dg.materialize([raw_landing_files], selection=[customers, LOAD_HISTORY_KEY], resources=resources)
    assert result.success
    assert {event.asset_key for event in result.get_asset_materialization_events()} == {customers, LOAD_HISTORY_KEY}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select distinct source from audit.load_history").fetchall() == [("customers",)]
