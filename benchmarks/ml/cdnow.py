"""Churn and purchase propensity on real purchases: CDNOW through the whole pipeline.

    python -m benchmarks.ml.cdnow [--churn-horizon-days 90] [--work DIR]

CDNOW (2,357 customers, 18 months of orders; see benchmarks/clv) has no web or e-mail data, so the
models learn from order history alone (the other features are dropped as constant). Prints each
candidate's out-of-time validation metrics as the model runs recorded them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import duckdb

from benchmarks.clv.reference_data import HOLDOUT_END, write_cdnow_landing
from cdp.pipeline import run_pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--churn-horizon-days", type=int, default=90)
    parser.add_argument("--work", type=Path, help="working directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        outcome = run_pipeline(write_cdnow_landing(work / "landing"), work / "cdp.duckdb", work / "exports",
                               as_of=HOLDOUT_END, churn_horizon_days=args.churn_horizon_days)
        print(outcome.summary())
        with duckdb.connect(str(work / "cdp.duckdb"), read_only=True) as con:
            runs = con.execute(
                "select model_name, status, message, parameters, metrics from ml.model_runs "
                "where model_name in ('churn', 'purchase_propensity') order by model_name"
            ).fetchall()
    print(f"\n{'model':<21}{'candidate':<24}{'rows':>7}{'base':>7}{'ROC AUC':>9}{'PR AUC':>8}{'Brier':>8}"
          f"{'lift d1':>9}")
    for name, status, message, parameters, metrics in runs:
        if status != "trained":
            print(f"{name:<21}skipped: {message}")
            continue
        metrics, parameters = json.loads(metrics), json.loads(parameters)
        for candidate, m in metrics["candidates"].items():
            mark = " *" if candidate == metrics["winner"] else ""
            print(f"{name:<21}{candidate + mark:<24}{m['customers']:>7}{m['base_rate']:>7.3f}{m['roc_auc']:>9.3f}"
                  f"{m['pr_auc']:>8.3f}{m['brier']:>8.3f}{m['lift_by_decile'][0]['lift']:>9.2f}")
        print(f"{'':<21}cutoffs {parameters['cutoffs']}; features used: {', '.join(parameters['features'])}")
    print("* the winner, refit on the validation cutoff and scored as of", HOLDOUT_END)


if __name__ == "__main__":
    main()
