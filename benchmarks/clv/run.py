"""CDNOW lifetime-value benchmark: the published BG/NBD and Gamma-Gamma fits, measured through the warehouse.

    python -m benchmarks.clv.run [--work DIR]

The 2,357-customer CDNOW sample goes through the landing contract and the whole pipeline; the
completed orders are read back from ``marts.fct_orders`` (dollar amounts), summarised for the
39-week calibration period and fitted. Prints measured values next to the published ones.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.clv.reference_data import (
    CALIBRATION_END,
    HOLDOUT_END,
    PUBLISHED_BGNBD,
    PUBLISHED_BGNBD_LOG_LIKELIHOOD,
    PUBLISHED_GAMMA_GAMMA,
    write_cdnow_landing,
)
from cdp.pipeline import run_pipeline
from ml.clv import BetaGeoModel, GammaGammaModel, calibration_holdout_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="working directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        outcome = run_pipeline(write_cdnow_landing(work / "landing"), work / "cdp.duckdb", work / "exports",
                               as_of=HOLDOUT_END)
        print(outcome.summary())
        with duckdb.connect(str(work / "cdp.duckdb"), read_only=True) as con:
            orders = con.execute(
                "select customer_id, ordered_at, total_amount as amount from marts.fct_orders where is_completed"
            ).df()
    summary = calibration_holdout_summary(orders, CALIBRATION_END, HOLDOUT_END, time_unit="W")
    purchases = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    spend = GammaGammaModel().fit(summary["frequency"], summary["monetary"])
    print(f"\n{len(summary)} customers, {(summary.frequency > 0).sum()} repeat buyers, "
          f"{summary.frequency.sum()} repeat purchases in calibration, {summary.frequency_holdout.sum()} in holdout")
    print(f"{'parameter':<16}{'published':>12}{'measured':>22}")
    for name, published in PUBLISHED_BGNBD.items():
        print(f"BG/NBD {name:<9}{published:>12}{purchases.params_[name]:>22.10f}")
    print(f"BG/NBD LL       {PUBLISHED_BGNBD_LOG_LIKELIHOOD:>12}{purchases.report_.log_likelihood:>22.6f}")
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        print(f"Gamma-Gamma {name:<4}{published:>12}{spend.params_[name]:>22.10f}")
    print(f"fit seconds: BG/NBD {purchases.report_.seconds:.3f} ({purchases.report_.iterations} iterations), "
          f"Gamma-Gamma {spend.report_.seconds:.3f} ({spend.report_.iterations} iterations)")
    first_week = (summary.first_purchase_date - pd.Timestamp("1997-01-01")).dt.days / 7
    actual = summary.frequency.sum() + summary.frequency_holdout.sum()
    forecast = purchases.population_repeat_purchases(first_week, [78.0])[0]
    print(f"cumulative repeat purchases at week 78: actual {actual}, BG/NBD {forecast:.1f} "
          f"({forecast / actual - 1:+.1%})")


if __name__ == "__main__":
    main()
