"""Ingestion into a warehouse on another engine: load in a scratch DuckDB, then publish.

The publish path runs here against a second DuckDB file (``via_scratch=True``), so the normal
suite covers it; with CDP_SPARK_TEST=1 the same load is published to Spark."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from cdp import settings
from cdp.contract import load_contract
from cdp.ingest.publish import HISTORY, ingest_into, published_tables
from cdp.warehouse import DuckDBWarehouse

SAMPLE = settings.REPO_ROOT / "seeds" / "sample"
# when the row was written, by each load: the only columns that differ between two loads of the same files
VOLATILE = ("_loaded_at", "started_at", "finished_at", "quarantined_at")


def table_rows(warehouse, table: str) -> list[tuple]:
    columns = [c for c in warehouse.columns(table) if c not in VOLATILE]
    select = ", ".join(f'"{c}"' if warehouse.engine == "duckdb" else f"`{c}`" for c in columns)
    return sorted((tuple(map(naive_utc, row)) for row in warehouse.rows(f"select {select} from {table}")), key=repr)


def naive_utc(value):
    # a published table's timestamps are plain UTC timestamps (the type both engines have)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def loaded(report) -> list:
    return [f for f in report.files if f.status != "skipped"]


@pytest.fixture(scope="module")
def direct(tmp_path_factory) -> Path:
    """The sample loaded straight into a DuckDB warehouse, as the pipeline does on DuckDB."""
    path = tmp_path_factory.mktemp("direct") / "cdp.duckdb"
    with duckdb.connect(str(path)) as con:
        ingest_into(DuckDBWarehouse(con), SAMPLE, run_id="run-1")
    return path


def test_publishing_through_a_scratch_gives_the_tables_a_direct_load_gives(direct, tmp_path):
    contract = load_contract()
    with duckdb.connect(str(direct), read_only=True) as con_direct, \
            duckdb.connect(str(tmp_path / "published.duckdb")) as con:
        expected, published = DuckDBWarehouse(con_direct), DuckDBWarehouse(con)
        report = ingest_into(published, SAMPLE, run_id="run-1", via_scratch=True)
        assert report.files and all(f.status != "failed" for f in report.files)
        for table in published_tables(contract):
            assert table_rows(published, table) == table_rows(expected, table), table
        assert published.scalar("select count(*) from raw.events") > 1000
        assert published.has_table("privacy.suppression_list")


def test_a_second_run_publishes_only_new_files_and_load_ids_carry_on(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE, landing)
    late = sorted(p for p in (landing / "events").iterdir() if p.is_file())[-1]
    held_back = tmp_path / late.name
    late.rename(held_back)
    with duckdb.connect(str(tmp_path / "published.duckdb")) as con:
        warehouse = DuckDBWarehouse(con)
        first = ingest_into(warehouse, landing, run_id="run-1", via_scratch=True)
        last_id = warehouse.scalar(f"select max(load_id) from {HISTORY}")
        assert last_id == len(loaded(first))
        assert loaded(ingest_into(warehouse, landing, run_id="run-2", via_scratch=True)) == []  # nothing new
        held_back.rename(late)
        second = ingest_into(warehouse, landing, run_id="run-3", via_scratch=True)
        assert [f.load_id for f in loaded(second)] == [last_id + 1]
        assert warehouse.scalar(f"select count(*) from {HISTORY}") == last_id + 1
        rows = warehouse.scalar("select count(*) from raw.events where _load_id = ?", [last_id + 1])
        assert rows == loaded(second)[0].rows_loaded > 0


def test_rows_a_dead_publish_left_are_removed_and_their_files_loaded_again(tmp_path):
    with duckdb.connect(str(tmp_path / "published.duckdb")) as con:
        warehouse = DuckDBWarehouse(con)
        ingest_into(warehouse, SAMPLE, run_id="run-1", via_scratch=True)
        before = {t: warehouse.scalar(f"select count(*) from {t}") for t in published_tables(load_contract())}
        # a publish that died after appending raw rows but before the history: its loads are not committed
        last = warehouse.scalar(f"select max(load_id) from {HISTORY}")
        victim = warehouse.scalar(f"select source from {HISTORY} where load_id = ?", [last])
        warehouse.delete(HISTORY, "load_id = ?", [last])
        assert warehouse.scalar(f"select count(*) from raw.{victim} where _load_id = ?", [last]) > 0
        rerun = ingest_into(warehouse, SAMPLE, run_id="run-2", via_scratch=True)
        assert [f.load_id for f in loaded(rerun)] == [last]  # the uncommitted file, loaded again under its id
        after = {t: warehouse.scalar(f"select count(*) from {t}") for t in before}
        assert after == before  # no row twice


@pytest.mark.spark
@pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1")
def test_publishing_to_spark_gives_the_tables_a_direct_duckdb_load_gives(direct, tmp_path):
    pytest.importorskip("pyspark")
    from cdp.spark.session import get_session, release_session
    from cdp.warehouse import as_warehouse

    release_session()  # another test's session may hold another metastore
    spark = as_warehouse(get_session(tmp_path / "spark"))
    try:
        ingest_into(spark, SAMPLE, run_id="run-1")
        assert loaded(ingest_into(spark, SAMPLE, run_id="run-2")) == []
        with duckdb.connect(str(direct), read_only=True) as con:
            expected = DuckDBWarehouse(con)
            for table in published_tables(load_contract()):
                assert table_rows(spark, table) == table_rows(expected, table), table
    finally:
        release_session()
