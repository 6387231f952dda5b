"""Time the erasure pass of one daily request, phase by phase, on a copy of a built warehouse.

    python -m benchmarks.erasure --warehouse DIR/customers_100000/warehouse/cdp.duckdb [--repeat 2]

The warehouse is one the pipeline benchmark kept (``--keep``). Each repeat copies it, stages one
erasure request naming a customer with an e-mail (as the day's request models would), and runs
``apply_erasures``, printing how long each phase took. The person is new to the suppression list,
so the raw purge reads every load, as a daily run with a request does.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

import cdp.privacy.erasure as erasure

PHASES = (
    "_suppress_requested_and_uploaded",
    "_find_erased_people",
    "_purge_raw",
    "_purge_derived",
    "_scrub_audit",
    "_log",
)


def stage_one_request(con: duckdb.DuckDBPyConnection) -> str:
    """Add a request naming one customer to the staged requests and whom they name; its customer."""
    customer_id, email, system, record_id = con.execute(
        f"""
        select records.customer_id, customers.email, customers.source_system, customers.source_customer_id
        from {erasure.RECORDS_RESOLVED} as records
        inner join {erasure.CUSTOMER_RECORDS} as customers using (customer_record_id)
        where customers.email is not null
        order by records.customer_id
        limit 1
        """
    ).fetchone()
    con.execute(
        f"insert into {erasure.ERASURE_REQUESTS} by name select 'benchmark-1' as erasure_request_id, "
        "? as source_system, ? as source_customer_id, ? as email, now() as requested_at",
        [system, record_id, email],
    )
    con.execute(
        f"insert into {erasure.REQUEST_CUSTOMERS} by name select 'benchmark-1:customer' as "
        "customer_erasure_request_id, 'benchmark-1' as erasure_request_id, ? as customer_id, "
        "'email' as matched_on, now() as requested_at",
        [customer_id],
    )
    return customer_id


def timed_pass(warehouse: Path) -> tuple[dict[str, float], int]:
    """Seconds per phase (and in all) of one erasure pass on a copy of ``warehouse``; rows it deleted."""
    seconds: dict[str, float] = {}
    originals = {name: getattr(erasure, name) for name in PHASES}

    def timing(name):
        def phase(*args, **kwargs):
            started = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                seconds[name.strip("_")] = time.perf_counter() - started
        return phase

    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "cdp.duckdb"
        shutil.copyfile(warehouse, copy)
        with duckdb.connect(str(copy)) as con:
            stage_one_request(con)
            for name in PHASES:
                setattr(erasure, name, timing(name))
            try:
                started = time.perf_counter()
                report = erasure.apply_erasures(con, "benchmark")
                seconds["total"] = time.perf_counter() - started
            finally:
                for name, original in originals.items():
                    setattr(erasure, name, original)
    return seconds, sum(report.rows_deleted.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    for run in range(1, args.repeat + 1):
        seconds, rows_deleted = timed_pass(args.warehouse)
        phases = ", ".join(f"{name} {value:.2f} s" for name, value in seconds.items())
        print(f"run {run}: {phases}; {rows_deleted} rows deleted")


if __name__ == "__main__":
    main()
