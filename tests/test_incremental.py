"""Incremental facts: a sequence of incremental builds gives the tables a full refresh gives.

Landing files arrive in two batches (daily drops up to a date, then the rest); the fact
staging models are built after each batch and at as-of dates moving forward and back,
and every time compared with a full refresh of the same warehouse.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from cdp.generate import generate_landing
from cdp.ingest import ingest_landing

ROOT = Path(__file__).resolve().parent.parent
FACTS = ("stg_landing__events", "stg_landing__email_events", "stg_landing__orders")
END = date(2026, 9, 30)
FIRST_BATCH_END = date(2026, 9, 10)


def dbt(warehouse: Path, target: Path, *args: str, as_of: str | None = None) -> str:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--target-path", str(target),
         "--vars", json.dumps({"as_of": as_of} if as_of else {})],
        cwd=ROOT / "dbt_project",
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def build_facts(warehouse: Path, target: Path, as_of: str | None = None, full_refresh: bool = False) -> None:
    dbt(warehouse, target, "run", "--select", *FACTS, *(["--full-refresh"] if full_refresh else []), as_of=as_of)


def fingerprints(warehouse: Path) -> dict[str, tuple[int, str]]:
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for model in FACTS:
            rows = con.execute(f"select * from staging.{model}").fetchall()
            out[model] = (len(rows), hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest())
    return out


def _file_date(path: Path) -> date | None:
    stem = path.name.split(".")[0]
    try:
        return date.fromisoformat(stem[-10:])
    except ValueError:
        return None


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, Path]:
    """The generated landing zone, and a copy holding only the files dated up to FIRST_BATCH_END."""
    root = tmp_path_factory.mktemp("incremental")
    full = root / "full"
    generate_landing(full, customers=250, days=45, seed=5, end_date=END, progress=False)
    first = root / "first"
    shutil.copytree(full, first)
    for path in first.rglob("*"):
        when = _file_date(path) if path.is_file() else None
        if when and when > FIRST_BATCH_END:
            path.unlink()
    return full, first


def test_incremental_builds_equal_a_full_refresh(landing, tmp_path):
    full_landing, first_landing = landing
    warehouse, target = tmp_path / "cdp.duckdb", tmp_path / "target"
    ingest_landing(warehouse, first_landing)
    dbt(warehouse, target, "seed")

    def assert_same_as_full_refresh(as_of: str | None) -> dict:
        incremental = fingerprints(warehouse)
        copy = tmp_path / "full_refresh.duckdb"
        shutil.copy(warehouse, copy)
        build_facts(copy, tmp_path / "target_full", as_of, full_refresh=True)
        assert incremental == fingerprints(copy), f"as of {as_of or 'the latest date'}"
        return incremental

    # the first batch as of a date inside it, then as of its last day: the cutoff moves forward
    build_facts(warehouse, target, "2026-09-01", full_refresh=True)
    assert_same_as_full_refresh("2026-09-01")
    build_facts(warehouse, target, FIRST_BATCH_END.isoformat())
    assert_same_as_full_refresh(FIRST_BATCH_END.isoformat())
    # the second batch lands (new versions of orders among it); the daily run reads it
    ingest_landing(warehouse, full_landing)
    build_facts(warehouse, target)
    latest = assert_same_as_full_refresh(None)
    assert all(rows > 0 for rows, _ in latest.values())
    # nothing new: the build changes nothing
    build_facts(warehouse, target)
    assert fingerprints(warehouse) == latest
    # a backfill of an earlier date: the tables are rebuilt as they were then
    build_facts(warehouse, target, "2026-09-05")
    assert_same_as_full_refresh("2026-09-05")


def test_a_daily_build_reads_only_the_new_loads(landing, tmp_path):
    """The compiled delta of an incremental build selects the loads after the table's latest, not the history."""
    full_landing, _ = landing
    warehouse, target = tmp_path / "cdp.duckdb", tmp_path / "target"
    ingest_landing(warehouse, full_landing)
    dbt(warehouse, target, "seed")
    build_facts(warehouse, target, full_refresh=True)
    build_facts(warehouse, target)
    compiled = (target / "compiled" / "cdp_warehouse" / "models" / "staging" / "landing"
                / "stg_landing__events.sql").read_text()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        latest_load = con.execute("select max(_load_id) from staging.stg_landing__events").fetchall()[0][0]
    assert f"_load_id > {latest_load}" in compiled
