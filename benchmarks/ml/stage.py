"""The ML stage alone on an existing warehouse: every model runner in turn, as the Dagster assets
run them, printing per-model seconds, status and headline metrics as JSON.

    python -m benchmarks.ml.stage --warehouse /tmp/ml-1m/cdp.duckdb
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import duckdb

from ml.runners import RUNNERS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--models", nargs="*", default=list(RUNNERS))
    args = parser.parse_args()
    artifacts = args.warehouse.parent / "model_artifacts"
    results = {}
    with duckdb.connect(str(args.warehouse)) as con:
        for name in args.models:
            started = time.perf_counter()
            outcome = RUNNERS[name](con, artifacts, "benchmark")
            results[name] = {
                "seconds": round(time.perf_counter() - started, 1),
                "status": outcome.run.status,
                "message": outcome.run.message,
                "rows_trained": outcome.run.rows_trained,
                "rows_written": outcome.rows_written,
                "peak_rss_mib_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "metrics": {k: v for k, v in outcome.run.metrics.items() if isinstance(v, int | float | str)},
            }
            print(json.dumps({name: results[name]}), flush=True)


if __name__ == "__main__":
    main()
