"""Identity resolution at scale: time and memory of the identity stage alone.

    python -m benchmarks.identity.scale --persons 400000 --work-dir /tmp/identity-scale

Generates ``--persons`` people (about 2.5 source customer records each), keeps
only their customer files (the identity stage reads nothing else), runs the
pipeline once to load them, then times ``dbt run --select tag:identity`` (every
identity model from match keys to the stable-id history and the identity marts)
with benchmarks/measure.py, and scores the result against the generator's truth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.identity.run import evaluate
from benchmarks.measure import measure
from cdp.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=400_000)
    parser.add_argument("--landing", type=Path, default=None, help="an existing generated landing directory")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="identity-scale-"))
    source = args.landing
    if source is None:
        from cdp.generate import generate_landing

        source = work / "generated"
        generate_landing(source, customers=args.persons, days=90, seed=42, progress=False)
    landing = work / "landing"
    if not landing.exists():
        landing.mkdir(parents=True)
        shutil.copytree(source / "customers", landing / "customers")
        shutil.copytree(source / "_truth", landing / "_truth")
    warehouse = work / "cdp.duckdb"
    if not warehouse.exists():
        outcome = run_pipeline(landing, warehouse, work / "exports")
        if not outcome.success:
            raise SystemExit(outcome.summary())
    env_command = [str(ROOT / ".venv" / "bin" / "dbt"), "run", "--project-dir", str(ROOT / "dbt_project"),
                   "--profiles-dir", str(ROOT / "dbt_project"), "--select", "tag:identity", "--quiet"]
    os.environ.update(CDP_WAREHOUSE=str(warehouse), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    figures = measure(env_command)
    if figures["exit_code"] != 0:
        raise SystemExit(f"identity stage failed: {figures}")
    metrics = evaluate(warehouse, landing / "_truth" / "source_records.csv")
    print(json.dumps({"identity_stage": figures, "metrics": metrics}, indent=2))
    print(f"{metrics['records']} source records: identity stage {figures['wall_seconds']} s, "
          f"peak {figures['peak_tree_rss_mib']} MiB; precision {metrics['precision']:.4f} "
          f"recall {metrics['recall']:.4f} F1 {metrics['f1']:.4f}, largest cluster "
          f"{metrics['largest_predicted_cluster']} (true {metrics['largest_true_entity']})", file=sys.stderr)


if __name__ == "__main__":
    main()
