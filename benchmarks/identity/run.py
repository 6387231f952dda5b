"""Identity-resolution benchmark: pairwise precision / recall / F1 and the largest cluster.

    python -m benchmarks.identity.run [--generator-persons 2000] [--datasets generator febrl3 febrl4]

Each dataset goes through the normal landing contract and the whole pipeline
(ingestion, dbt, exports) into its own warehouse; ``marts.customer_identity_map``
is then scored against the dataset's truth (shared/specs/reference-data.md).

When ``.venv-splink`` exists (``make bench-splink-setup``), Splink 5 is run on the
same landing directory (``splink_reference.py``, link_only for FEBRL4, dedupe
otherwise) and scored the same way, as a reference row ``splink 5``.

What is timed, each ``--repeat`` times (once above 50,000 records), ours and
Splink's runs taking turns:

* ours: a fresh ``dbt run --select tag:identity`` process on the loaded warehouse,
  with the dataset's dbt vars: dbt start-up (Python imports, reading the project
  and checking it against its parsed state), every identity model from match
  keys to the identity marts, and dbt's artifacts. The project is parsed once
  beforehand into the dataset's own target directory, as a scheduled run finds
  it; that full parse is reported apart (``parse s``). ``models s`` is dbt's own
  elapsed time for the models (the identity stage's share of a pipeline run,
  whose dbt start-up is paid once for every stage). ``start-up s`` is a dbt run
  of the smallest identity model alone: what any dbt invocation costs here.
* Splink: a fresh Python process running ``splink_reference.py``: imports,
  reading and cleaning the landing files, training (u from 1e7 random pairs,
  EM), prediction, clustering and writing the clusters. ``models s`` is its
  training, prediction and clustering.

The table shows medians; the JSON has every run and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.identity.reference_data import write_febrl_landing
from cdp.identity.metrics import pairwise_metrics
from cdp.pipeline import run_pipeline

DATASETS = ("generator", "febrl3", "febrl4")
# FEBRL4 links two lists, each free of duplicates: declared as exclusive source
# systems (no pairs within one, one-to-one across), like Splink's link_only.
DBT_VARS = {"febrl4": {"identity_exclusive_source_systems": ["febrl4a", "febrl4b"]}}
ROOT = Path(__file__).resolve().parents[2]
SPLINK_PYTHON = ROOT / ".venv-splink" / "bin" / "python"
SPLINK_SCRIPT = Path(__file__).resolve().parent / "splink_reference.py"


def build_landing(dataset: str, work: Path, generator_persons: int) -> Path:
    landing = work / dataset / "landing"
    if dataset == "generator":
        from cdp.generate import generate_landing

        generate_landing(landing, customers=generator_persons, days=90, seed=42, progress=False)
    elif dataset == "febrl3":
        write_febrl_landing(landing, {"febrl3": "dataset3"})
    elif dataset == "febrl4":
        write_febrl_landing(landing, {"febrl4a": "dataset4a", "febrl4b": "dataset4b"})
    else:
        raise ValueError(dataset)
    return landing


def evaluate(warehouse: Path, truth_csv: Path) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(
            f"""
            create temp view scored as
            select m.customer_id as predicted_cluster, cast(t.person_id as varchar) as true_entity
            from read_csv('{truth_csv}', all_varchar = true) t
            join marts.customer_identity_map m
              on m.source_system = t.source_system and m.source_customer_id = t.source_customer_id
            """
        )
        metrics = pairwise_metrics(con, "scored").as_dict()
        truth_records = con.execute(f"select count(*) from read_csv('{truth_csv}', all_varchar = true)").fetchall()
        metrics["truth_records"] = truth_records[0][0]
    return metrics


def evaluate_clusters(clusters_csv: Path, truth_csv: Path) -> dict:
    """Score a ``source_system, source_customer_id, cluster_id`` CSV; truth records it lacks are singletons."""
    with duckdb.connect() as con:
        con.execute(
            f"""
            create temp view scored as
            select coalesce(c.cluster_id, t.source_system || ':' || t.source_customer_id) as predicted_cluster,
                   cast(t.person_id as varchar) as true_entity
            from read_csv('{truth_csv}', all_varchar = true) t
            left join read_csv('{clusters_csv}', all_varchar = true) c
              on c.source_system = t.source_system and c.source_customer_id = t.source_customer_id
            """
        )
        metrics = pairwise_metrics(con, "scored").as_dict()
        metrics["truth_records"] = metrics["records"]
    return metrics


# Larger sets are timed once: their runs take minutes (Splink's 20 at 100,000 persons), not seconds
# that noise can turn.
REPEAT_UP_TO_RECORDS = 50_000
# the smallest identity model: a dbt run of it alone is what any dbt invocation costs here
SMALLEST_MODEL = "int_identity_blocking_rules"


def _dbt_command(command: str, target: Path, dbt_vars: dict | None, select: str | None = None) -> list[str]:
    args = [str(ROOT / ".venv" / "bin" / "dbt"), command, "--project-dir", str(ROOT / "dbt_project"),
            "--profiles-dir", str(ROOT / "dbt_project"), "--target-path", str(target), "--quiet"]
    if select:
        args += ["--select", select]
    return args + (["--vars", json.dumps(dbt_vars)] if dbt_vars else [])


def _dbt_env(warehouse: Path) -> dict[str, str]:
    return {**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def parse_project(warehouse: Path, target: Path, dbt_vars: dict | None) -> float:
    """Seconds of a full ``dbt parse`` into ``target``: what the first run after a project change pays."""
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(_dbt_command("parse", target, dbt_vars), env=_dbt_env(warehouse),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"dbt parse failed\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return time.perf_counter() - started


def time_dbt_run(warehouse: Path, target: Path, dbt_vars: dict | None, select: str = "tag:identity") -> dict:
    """One fresh ``dbt run --select SELECT`` process: its wall seconds and dbt's elapsed seconds for the
    models (run_results.json)."""
    started = time.perf_counter()
    done = subprocess.run(_dbt_command("run", target, dbt_vars, select), env=_dbt_env(warehouse),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"dbt run --select {select} failed\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    run_results = json.loads((target / "run_results.json").read_text())
    return {"seconds": round(seconds, 2), "models_seconds": round(run_results["elapsed_time"], 2)}


def run_splink(dataset: str, landing: Path, work: Path) -> dict:
    """Splink 5 on the same landing directory, in its own venv: wall seconds of the process and its own timings."""
    out = work / dataset / "splink_clusters.csv"
    mode = "link" if dataset == "febrl4" else "dedupe"
    started = time.perf_counter()
    done = subprocess.run(
        [str(SPLINK_PYTHON), str(SPLINK_SCRIPT), "--landing", str(landing), "--mode", mode, "--out", str(out)],
        capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{dataset}: splink failed\n{done.stderr[-4000:]}")
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    models = timings["training_seconds"] + timings["predict_seconds"] + timings["cluster_seconds"]
    return {"seconds": round(seconds, 2), "models_seconds": round(models, 2), "splink": timings}


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _summary(runs: list[dict]) -> dict:
    walls = [r["seconds"] for r in runs]
    return {"identity_seconds": round(statistics.median(walls), 2),
            "identity_seconds_range": [min(walls), max(walls)],
            "models_seconds": round(statistics.median(r["models_seconds"] for r in runs), 2),
            "runs": runs}


def run(datasets: list[str], generator_persons: int, work: Path, repeat: int = 3, splink: bool = True,
        extra_vars: dict | None = None) -> list[dict]:
    with_splink = splink and SPLINK_PYTHON.exists()
    if splink and not with_splink:
        print("splink reference skipped: no .venv-splink (create it with `make bench-splink-setup`)")
    results = []
    for dataset in datasets:
        landing = build_landing(dataset, work, generator_persons)
        warehouse = work / dataset / "cdp.duckdb"
        dbt_vars = {**DBT_VARS.get(dataset, {}), **(extra_vars or {})} or None
        started = time.perf_counter()
        outcome = run_pipeline(landing, warehouse, work / dataset / "exports", dbt_vars=dbt_vars)
        pipeline_seconds = time.perf_counter() - started
        if not outcome.success:
            raise SystemExit(f"{dataset}: pipeline failed\n{outcome.summary()}")
        target = work / dataset / "dbt_target"
        parse_seconds = parse_project(warehouse, target, dbt_vars)
        ours, theirs, start_up, load = [], [], [], [_load_average()]
        records = outcome.table_rows.get("marts.customer_identity_map", 0)
        for _ in range(repeat if records <= REPEAT_UP_TO_RECORDS else 1):
            start_up.append(time_dbt_run(warehouse, target, dbt_vars, SMALLEST_MODEL)["seconds"])
            ours.append(time_dbt_run(warehouse, target, dbt_vars))
            if with_splink:
                theirs.append(run_splink(dataset, landing, work))
            load.append(_load_average())
        # scored after the timed runs: the customers of the stage that was timed
        metrics = evaluate(warehouse, landing / "_truth" / "source_records.csv")
        results.append({"dataset": dataset, "method": "cdp (dbt)", "pipeline_seconds": round(pipeline_seconds, 1),
                        "parse_seconds": round(parse_seconds, 2), "start_up_seconds": statistics.median(start_up),
                        "load_average": load, **_summary(ours), **metrics})
        if with_splink:
            truth = landing / "_truth" / "source_records.csv"
            metrics = evaluate_clusters(work / dataset / "splink_clusters.csv", truth)
            results.append({"dataset": dataset, "method": "splink 5", "load_average": load, **_summary(theirs),
                            **metrics})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--generator-persons", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3,
                        help=f"timed runs of each side, taking turns (sets up to {REPEAT_UP_TO_RECORDS:,} records)")
    parser.add_argument("--without-splink", action="store_true",
                        help="ours only (Splink takes about 20 minutes and 17 GB on the generator at 100,000 persons)")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--dbt-vars", type=json.loads, default=None,
                        help='more dbt vars for every dataset, as JSON (e.g. \'{"identity_u_sample_order": "md5"}\')')
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="identity-bench-"))
    results = run(args.datasets, args.generator_persons, work, args.repeat, splink=not args.without_splink,
                  extra_vars=args.dbt_vars)
    print(json.dumps(results, indent=2))
    print(f"{'dataset':<10} {'method':<10} {'records':>8} {'precision':>9} {'recall':>7} {'F1':>6} "
          f"{'largest':>7} {'true max':>8} {'identity s':>10} {'range':>11} {'models s':>8} {'start-up s':>10} "
          f"{'parse s':>7} {'pipeline s':>10}")
    for r in results:
        low, high = r["identity_seconds_range"]
        print(f"{r['dataset']:<10} {r['method']:<10} {r['records']:>8} {r['precision']:>9.4f} {r['recall']:>7.4f} "
              f"{r['f1']:>6.4f} {r['largest_predicted_cluster']:>7} {r['largest_true_entity']:>8} "
              f"{r['identity_seconds']:>10} {f'{low}-{high}':>11} {r['models_seconds']:>8} "
              f"{r.get('start_up_seconds', ''):>10} {r.get('parse_seconds', ''):>7} "
              f"{r.get('pipeline_seconds', ''):>10}")
    print(f"medians of {args.repeat} runs each, ours and Splink's taking turns. identity s: a fresh process; "
          "cdp = `dbt run --select tag:identity` on the loaded warehouse (dbt start-up included, project parsed "
          "beforehand: parse s), splink = its whole script (imports, load, train, predict, cluster). models s: "
          "cdp = dbt's elapsed time for the models, splink = train + predict + cluster. start-up s: `dbt run "
          f"--select {SMALLEST_MODEL}`, dbt's cost of any run. pipeline s: cdp = the whole pipeline.")
    for r in results:
        print(f"{r['dataset']} {r['method']}: load average (1, 5, 15 min) before and after each run: "
              f"{' '.join('/'.join(str(x) for x in avg) for avg in r['load_average'])}")


if __name__ == "__main__":
    main()
