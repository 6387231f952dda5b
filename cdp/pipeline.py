"""Run every asset in-process through the Dagster definitions, and summarise the run."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from cdp.warehouse_lock import hold_warehouse

SUMMARY_TABLES = [
    "marts.dim_customers",
    "marts.customer_identity_map",
    "marts.fct_orders",
    "marts.fct_customer_rfm",
    "marts.customer_consent",
    "marts.customer_traits",
    "marts.customer_segment_membership",
    "marts.customer_offers",
    "marts.customer_marketing_permissions",
    "marts.experiment_assignments",
    "ml.customer_features",
    "ml.customer_clusters",
    "ml.personas",
    "ml.churn_scores",
    "ml.purchase_propensity_scores",
    "ml.clv_predictions",
    "ml.product_recommendations",
]


@dataclass
class PipelineOutcome:
    success: bool
    run_id: str
    seconds: float
    warehouse: Path
    log_path: Path
    failed_steps: list[str] = field(default_factory=list)
    loads: dict = field(default_factory=dict)
    table_rows: dict = field(default_factory=dict)
    exports: list[dict] = field(default_factory=list)
    identity: dict = field(default_factory=dict)
    privacy: dict = field(default_factory=dict)
    models: list[dict] = field(default_factory=list)
    report_path: str | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"run {self.run_id}: {'succeeded' if self.success else 'FAILED'} in {self.seconds:.1f}s"]
        for step in self.failed_steps:
            lines.append(f"  failed step: {step}")
        if self.loads:
            lines.append(
                "  ingestion: {files} new files ({rejected} rejected whole, {failed} failed); rows in {rows_in}, "
                "loaded {rows_loaded}, rejected {rows_rejected} (see audit.quarantine)".format(**self.loads)
            )
        if self.identity:
            lines.append(
                "  identity: {source_record_count} source records -> {customer_count} customers, "
                "largest customer {largest_customer_records} records".format(**self.identity)
            )
        if self.privacy:
            lines.append(
                "  privacy: {erasure_requests} erasure requests, {suppressions_absorbed} suppressions uploaded, "
                "{customers_erased} customers erased, {raw_rows_deleted} raw rows deleted "
                "(audit.erasure_log, audit.privacy_runs)".format(**self.privacy)
            )
        for table, rows in self.table_rows.items():
            lines.append(f"  {table}: {rows} rows")
        for m in self.models:
            detail = f"version {m['model_version']}" if m["status"] == "trained" else m["message"]
            lines.append(f"  model {m['model_name']}: {m['status']} ({detail})")
        for e in self.exports:
            where = f", {e['path']}" if e["status"] == "exported" else ""
            lines.append(f"  export {e['audience']} -> {e['destination']}: {e['status']}: {e['message']}{where}")
        if self.step_seconds:
            lines.append("  steps: " + ", ".join(f"{step} {secs:.1f}s" for step, secs in self.step_seconds.items()))
        if self.report_path:
            lines.append(f"  report: {self.report_path}")
        lines.append(f"  log: {self.log_path}")
        return "\n".join(lines)


def run_pipeline(
    landing_dir: Path,
    warehouse: Path,
    export_dir: Path,
    as_of: str | None = None,
    churn_horizon_days: int | None = None,
    log_level: str = "WARNING",
    dbt_vars: dict | None = None,
    wait_seconds: float = 600,
    compaction_max_delay_days: int | None = None,
    retrain: bool = False,
    engine: str | None = None,
    spark_dir: Path | str | None = None,
) -> PipelineOutcome:
    """Materialise every asset once, in this process; the run's detailed log goes to a file.

    ``dbt_vars`` overrides dbt project vars for this run (identity settings, say). Another run on
    the same warehouse is waited for up to ``wait_seconds``, then ``WarehouseBusy`` says who holds it.
    ``compaction_max_delay_days`` overrides cdp/privacy/storage.yml for this run (0: erased bytes
    leave the file in this run). ``retrain`` makes every model retrain, whatever its retraining policy.
    ``engine``: duckdb (default: CDP_ENGINE or duckdb) or spark, whose tables are under ``spark_dir``
    (docs/spark.md); the run lock is taken on ``warehouse`` either way.
    """
    config = {"as_of": as_of, "churn_horizon_days": churn_horizon_days,
              "dbt_vars_json": json.dumps(dbt_vars) if dbt_vars else None,
              "compaction_max_delay_days": compaction_max_delay_days, "retrain": retrain}
    from orchestration.defs.resources import make_resources

    resources = make_resources(str(warehouse), str(landing_dir), str(export_dir), engine,
                               str(spark_dir) if spark_dir else None)
    with hold_warehouse(Path(warehouse), wait_seconds):
        return _run(warehouse, resources, config, log_level)


def _run(warehouse, resources: dict, config: dict, log_level: str) -> PipelineOutcome:
    started = time.perf_counter()
    log_dir = Path(warehouse).parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.log"
    # dagster-dbt echoes every dbt line to stdout; they belong in the run's log file.
    with open(log_path, "w", encoding="utf-8") as log_file, contextlib.redirect_stdout(log_file):
        result = _materialize(resources, config, log_level)
    outcome = PipelineOutcome(result.success, result.run_id, time.perf_counter() - started, warehouse, log_path)
    outcome.failed_steps = [
        f"{e.step_key}: {e.event_specific_data.error.message.strip().splitlines()[0]}"
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE
    ]
    outcome.report_path = _report_path(result)
    outcome.step_seconds = _step_seconds(result)
    _collect_facts(outcome, resources)
    resources["warehouse"].release()
    return outcome


def _step_seconds(result) -> dict[str, float]:
    """Wall time of each step that succeeded (one per asset or multi-asset: ingestion, dbt, erasure,
    each model, each audience, measurement, report)."""
    return {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 2)
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS
    }


def _report_path(result) -> str | None:
    """The HTML report the run wrote (the report asset's materialisation), if it got that far."""
    from orchestration.defs.measurement import REPORT_KEY

    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            if materialization.asset_key == REPORT_KEY:
                return materialization.metadata["path"].value
    return None


def _materialize(resources: dict, config: dict, log_level: str):
    from orchestration.definitions import ALL_ASSETS
    from orchestration.defs.ml import MODELS

    return dg.materialize(
        ALL_ASSETS,
        resources=resources,
        run_config={
            # the erasure step rebuilds the dbt models with the same vars when it erased someone
            "ops": {
                op: {"config": config}
                for op in ("privacy__erasure_before_dbt", "cdp_dbt_models", "privacy__erasure",
                           "cdp_measurement_models", "reports__html_report", "privacy__file_compaction",
                           *(f"train_{model.model_name}" for model in MODELS))
            },
            # The summary is the run's report; step logs reach the console only when something is wrong.
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        raise_on_error=False,
    )


def _collect_facts(outcome: PipelineOutcome, resources: dict) -> None:
    resource = resources["warehouse"]
    if resource.engine == "duckdb" and not outcome.warehouse.exists():
        return
    with resource.open(read_only=True) as con:
        row = con.rows(
            """
            select count(*), count(*) filter (where status = 'rejected'), count(*) filter (where status = 'failed'),
                   coalesce(sum(rows_in), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_rejected), 0)
            from audit.load_history where run_id = ?
            """,
            [outcome.run_id],
        )[0]
        keys = ("files", "rejected", "failed", "rows_in", "rows_loaded", "rows_rejected")
        outcome.loads = dict(zip(keys, (int(v) for v in row), strict=True))
        for table in SUMMARY_TABLES:
            if con.has_table(table):
                outcome.table_rows[table] = con.scalar(f"select count(*) from {table}")
        if con.has_table("ml.model_runs"):
            runs = con.frame(
                "select model_name, status, model_version, message from ml.model_runs "
                "where pipeline_run_id = ? order by model_name",
                [outcome.run_id],
            )
            outcome.models = runs.to_dict("records")
        if con.has_table("audit.privacy_runs"):
            # the step before dbt and the one after may each have logged a row
            steps = con.rows(
                "select erasure_requests, suppressions_absorbed, customers_erased, rows_deleted "
                "from audit.privacy_runs where run_id = ?",
                [outcome.run_id],
            )
            if steps:
                outcome.privacy = {
                    "erasure_requests": sum(step[0] for step in steps),
                    "suppressions_absorbed": sum(step[1] for step in steps),
                    "customers_erased": sum(step[2] for step in steps),
                    "raw_rows_deleted": sum(n for step in steps for table, n in json.loads(step[3]).items()
                                            if table.startswith("raw.")),
                }
        if con.has_table("marts.identity_resolution_stats"):
            stats = con.frame("select * from marts.identity_resolution_stats")
            if len(stats):
                outcome.identity = {k: int(v) for k, v in stats.iloc[0].items() if k.endswith(("_count", "_records"))}
        if con.has_table("audit.export_log"):
            log = con.frame(
                "select audience_name as audience, destination, status, row_count as rows, file_path as path, "
                "message from audit.export_log where run_id = ? order by audience_name, destination",
                [outcome.run_id],
            )
            outcome.exports = log.to_dict("records")
