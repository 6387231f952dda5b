"""One pipeline run for the benchmark, in its own process: the run's facts and its steps' windows as JSON.

    python -m benchmarks.pipeline.pipeline_run --landing DIR --warehouse PATH --exports DIR --out FILE.json

run.py starts this in a subprocess per run, so the memory it samples is this run's alone.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import time
from pathlib import Path

import dagster as dg
import duckdb

from benchmarks.pipeline.stages import invocation_started_at, step_of, summarize_dbt_invocation
from cdp.pipeline import run_pipeline

STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


@contextlib.contextmanager
def kept_event_log():
    """run_pipeline materialises on an ephemeral Dagster instance and drops it with its event log;
    handing it one we hold keeps the log, whose entries carry each step's start and end time."""
    instance = dg.DagsterInstance.ephemeral()
    original = dg.materialize
    dg.materialize = functools.partial(original, instance=instance)
    try:
        yield instance
    finally:
        dg.materialize = original


def step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    started, windows = {}, {}
    for entry in instance.all_logs(run_id, of_type=STEP_EVENTS):
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif entry.step_key in started:
            windows[entry.step_key] = (started[entry.step_key], entry.timestamp)
    return windows


def dbt_invocations(target_dir: Path, windows: dict[str, tuple[float, float]]) -> list[dict]:
    """Every dbt invocation of this run (dagster-dbt leaves one target folder per invocation),
    attributed to the step it started in."""
    out = []
    for results_path in sorted(target_dir.glob("*/run_results.json")):
        run_results = json.loads(results_path.read_text())
        manifest_path = results_path.with_name("manifest.json")
        if not manifest_path.exists():
            continue
        step = step_of(invocation_started_at(run_results), windows)
        if step is None:
            continue  # another run's invocation
        manifest = json.loads(manifest_path.read_text())
        tags = {uid: node.get("tags", []) for uid, node in manifest["nodes"].items()}
        out.append({"step": step, "target": results_path.parent.name, **summarize_dbt_invocation(run_results, tags)})
    return sorted(out, key=lambda invocation: invocation["started_at"])


def raw_rows(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute("select table_name from duckdb_tables() where schema_name = 'raw'").fetchall()
        return sum(con.execute(f'select count(*) from raw."{name}"').fetchall()[0][0] for (name,) in tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--exports", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from orchestration.defs.dbt import DBT_PROJECT

    started = time.time()
    with kept_event_log() as instance:
        outcome = run_pipeline(args.landing, args.warehouse, args.exports)
    windows = step_windows(instance, outcome.run_id)
    facts = {
        "success": outcome.success,
        "run_id": outcome.run_id,
        "run_pipeline_seconds": round(outcome.seconds, 2),
        "run_pipeline_started_at": started,
        "failed_steps": outcome.failed_steps,
        "step_windows": windows,
        "dbt_invocations": dbt_invocations(Path(DBT_PROJECT.project_dir) / "target", windows),
        "loads": outcome.loads,
        "identity": outcome.identity,
        "privacy": outcome.privacy,
        "table_rows": outcome.table_rows,
        "models": [{k: str(v) for k, v in m.items()} for m in outcome.models],
        "exports": [{k: e[k] for k in ("audience", "destination", "status", "rows")} for e in outcome.exports],
        "raw_rows": raw_rows(args.warehouse) if args.warehouse.exists() else None,
        "warehouse_bytes": args.warehouse.stat().st_size if args.warehouse.exists() else None,
        "log": str(outcome.log_path),
    }
    args.out.write_text(json.dumps(facts, indent=2, default=str))


if __name__ == "__main__":
    main()
