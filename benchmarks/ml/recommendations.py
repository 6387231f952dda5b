"""Recommendation figures: holdout evaluation on a warehouse, and fit + recommend time on synthetic data.

    python -m benchmarks.ml.recommendations evaluate --warehouse W --as-of 2026-09-30
    python -m benchmarks.ml.recommendations benchmark --customers 1000000 [--evaluate]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.ml.synthetic_interactions import synthetic_interactions
from ml.recommendations import ItemToItemRecommender, evaluate, recommend_products
from ml.settings import load_model_config


def _benchmark(customers: int, products: int, per_customer: float, with_evaluation: bool) -> dict[str, Any]:
    """Fit + recommend time (wall and CPU, all threads) and peak memory on synthetic data.

    The peak resident set size is reset after generating the data, so it is the peak during the run
    (the input frame included). ``with_evaluation`` first runs the holdout evaluation on the last 30 days,
    as ``recommend_products`` does.
    """
    generated = time.perf_counter()
    interactions = synthetic_interactions(customers, products, per_customer)
    generated = time.perf_counter() - generated
    status = Path("/proc/self/status")
    rss_input = _status_mb(status, "VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # Linux: resets the peak (VmHWM) to the current size
    settings = load_model_config("recommendations")["model"]
    report: dict[str, Any] = {}
    if with_evaluation:
        started = time.perf_counter()
        metrics = evaluate(interactions, "2026-09-01", "2026-09-30", **settings)
        report["evaluate_seconds"] = round(time.perf_counter() - started, 1)
        report["hit_rate_item_to_item"] = metrics["item_to_item"]["hit_rate"]
        report["hit_rate_popular"] = metrics["popular"]["hit_rate"]
    started, cpu_started = time.perf_counter(), time.process_time()
    model = ItemToItemRecommender(**settings)
    recommendations = model.fit_recommend(interactions)
    finished, cpu_finished = time.perf_counter(), time.process_time()
    return report | {
        "customers": customers,
        "products": products,
        "interaction_rows": len(interactions),
        "generate_seconds": round(generated, 1),
        "fit_seconds": round(model.metrics["fit_seconds"], 1),
        "fit_recommend_seconds": round(finished - started, 1),
        "fit_recommend_cpu_seconds": round(cpu_finished - cpu_started, 1),
        "recommendation_rows": len(recommendations),
        "item_to_item_share": round(float((recommendations["source"] == "item_to_item").mean()), 4),
        "rss_with_input_mb": rss_input,
        "peak_rss_mb": _status_mb(status, "VmHWM"),
    }


def _status_mb(status: Path, key: str) -> int:
    line = next(line for line in status.read_text().splitlines() if line.startswith(key + ":"))
    return int(line.split()[1]) // 1024


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.ml.recommendations evaluate|benchmark``: the figures in docs/recommendations.md."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ml.recommendations")
    commands = parser.add_subparsers(dest="command", required=True)
    on_warehouse = commands.add_parser("evaluate", help="holdout evaluation and a full run on a warehouse")
    on_warehouse.add_argument("--warehouse", required=True, help="DuckDB file, opened read-only")
    on_warehouse.add_argument("--as-of", required=True, help="cutoff date, YYYY-MM-DD")
    scale = commands.add_parser("benchmark", help="fit + recommend on synthetic data")
    scale.add_argument("--customers", type=int, default=1_000_000)
    scale.add_argument("--products", type=int, default=3_000)
    scale.add_argument("--per-customer", type=float, default=20.0)
    scale.add_argument("--evaluate", action="store_true", help="also time the holdout evaluation")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        with duckdb.connect(args.warehouse, read_only=True) as con:
            run = recommend_products(con, args.as_of)
        sources = run.recommendations["source"].value_counts().to_dict()
        report = {"params": run.params, "metrics": run.metrics, "rows_by_source": sources}
    else:
        report = _benchmark(args.customers, args.products, args.per_customer, args.evaluate)
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
