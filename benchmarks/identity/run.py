"""Identity-resolution benchmark: pairwise precision / recall / F1 and the largest cluster.

    python -m benchmarks.identity.run [--generator-persons 2000] [--datasets generator febrl3 febrl4]

Each dataset goes through the normal landing contract and the whole pipeline
(ingestion, dbt, exports) into its own warehouse; ``marts.customer_identity_map``
is then scored against the dataset's truth (shared/specs/reference-data.md).

When ``.venv-splink`` exists (``make bench-splink-setup``), Splink 5 is run on the
same landing directory (``splink_reference.py``, link_only for FEBRL4, dedupe
otherwise) and scored the same way, as a reference row ``splink 5``.
"""

from __future__ import annotations

import argparse
import json
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


def time_identity_stage(warehouse: Path) -> float:
    """Seconds of the identity stage alone (``dbt run --select tag:identity``) on the loaded warehouse:
    the part comparable with Splink's load, train, predict and cluster."""
    import os

    from benchmarks.measure import measure

    os.environ.update(CDP_WAREHOUSE=str(warehouse), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    figures = measure([str(ROOT / ".venv" / "bin" / "dbt"), "run", "--project-dir", str(ROOT / "dbt_project"),
                       "--profiles-dir", str(ROOT / "dbt_project"), "--select", "tag:identity", "--quiet"])
    if figures["exit_code"] != 0:
        raise SystemExit(f"identity stage failed: {figures}")
    return figures["wall_seconds"]


def run_splink(dataset: str, landing: Path, work: Path) -> dict | None:
    """Splink 5 on the same landing directory, in its own venv; None when that venv is absent."""
    if not SPLINK_PYTHON.exists():
        return None
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
    metrics = evaluate_clusters(out, landing / "_truth" / "source_records.csv")
    return {"dataset": dataset, "method": "splink 5", "pipeline_seconds": round(seconds, 1),
            "identity_seconds": round(seconds, 1), **metrics, "splink": timings}


def run(datasets: list[str], generator_persons: int, work: Path) -> list[dict]:
    results = []
    for dataset in datasets:
        landing = build_landing(dataset, work, generator_persons)
        started = time.perf_counter()
        outcome = run_pipeline(
            landing, work / dataset / "cdp.duckdb", work / dataset / "exports", dbt_vars=DBT_VARS.get(dataset)
        )
        seconds = time.perf_counter() - started
        if not outcome.success:
            raise SystemExit(f"{dataset}: pipeline failed\n{outcome.summary()}")
        metrics = evaluate(work / dataset / "cdp.duckdb", landing / "_truth" / "source_records.csv")
        identity_seconds = time_identity_stage(work / dataset / "cdp.duckdb")
        results.append({"dataset": dataset, "method": "cdp (dbt)", "pipeline_seconds": round(seconds, 1),
                        "identity_seconds": identity_seconds, **metrics})
        splink = run_splink(dataset, landing, work)
        if splink is None:
            if dataset == datasets[0]:
                print("splink reference skipped: no .venv-splink (create it with `make bench-splink-setup`)")
        else:
            results.append(splink)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--generator-persons", type=int, default=2000)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="identity-bench-"))
    results = run(args.datasets, args.generator_persons, work)
    print(f"{'dataset':<10} {'method':<10} {'records':>8} {'precision':>9} {'recall':>7} {'F1':>6} "
          f"{'largest':>7} {'true max':>8} {'identity s':>10} {'pipeline s':>10}")
    for r in results:
        print(f"{r['dataset']:<10} {r['method']:<10} {r['records']:>8} {r['precision']:>9.4f} {r['recall']:>7.4f} "
              f"{r['f1']:>6.4f} {r['largest_predicted_cluster']:>7} {r['largest_true_entity']:>8} "
              f"{r['identity_seconds']:>10} {r['pipeline_seconds']:>10}")
    print("identity s: cdp = `dbt run --select tag:identity` on the loaded warehouse (dbt start-up included); "
          "splink = its whole script (load, train, predict, cluster). pipeline s: cdp = the whole pipeline.")
    for r in results:
        if "splink" in r:
            t = r["splink"]
            print(f"{r['dataset']}: splink 5 train {t['training_seconds']} s, predict {t['predict_seconds']} s, "
                  f"{t['pairs_predicted']} pairs at p >= {t['threshold_match_probability']}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
