"""Time and memory of the ML stage at scale: train and score every model on N customers.

    python -m benchmarks.ml.run --customers 1000000 --work-dir /tmp/ml-1m

Builds a synthetic warehouse with what the ML stage reads (benchmarks/ml/synthetic_warehouse.py,
one year of history), builds the point-in-time feature and label tables with the real dbt models
(timed), then runs every model runner in one process (timed, peak memory of the process tree)
with benchmarks/measure.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

from benchmarks.measure import measure
from benchmarks.ml.synthetic_warehouse import FEATURE_MODELS, build

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--churn-horizon-days", type=int, default=90)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="ml-scale-"))
    warehouse = work / "cdp.duckdb"
    if not warehouse.exists():
        build(warehouse, args.customers, days=365, end=date(2026, 9, 30))
    os.environ.update(CDP_WAREHOUSE=str(warehouse), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    dbt_vars = json.dumps({"as_of": "2026-09-30", "churn_horizon_days": args.churn_horizon_days})
    features = measure([
        str(ROOT / ".venv" / "bin" / "dbt"), "run", "--project-dir", str(ROOT / "dbt_project"),
        "--profiles-dir", str(ROOT / "dbt_project"), "--target-path", str(work / "dbt_target"),
        "--select", *FEATURE_MODELS, "--vars", dbt_vars, "--quiet",
    ])
    if features["exit_code"] != 0:
        raise SystemExit(f"feature tables failed: {features}")
    stage = measure([sys.executable, "-m", "benchmarks.ml.stage", "--warehouse", str(warehouse)])
    if stage["exit_code"] != 0:
        raise SystemExit(f"ML stage failed: {stage}")
    print(json.dumps({"customers": args.customers, "feature_tables": features, "ml_stage": stage}, indent=2))
    print(
        f"{args.customers:,} customers: feature tables {features['wall_seconds']} s "
        f"(peak {features['peak_tree_rss_mib']} MiB); train + score every model {stage['wall_seconds']} s "
        f"(peak {stage['peak_tree_rss_mib']} MiB)"
    )


if __name__ == "__main__":
    main()
