"""The Warehouse interface means the same on DuckDB and on Spark.

Every test runs on DuckDB; with CDP_SPARK_TEST=1 and pyspark installed, also on a local Spark
session with its own warehouse directory (about 20 s to start)."""

from __future__ import annotations

import os
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

from cdp.warehouse import DuckDBWarehouse, Warehouse, as_warehouse

ENGINES = ["duckdb"]
if os.environ.get("CDP_SPARK_TEST") == "1":
    ENGINES.append(pytest.param("spark", marks=pytest.mark.spark))

COLUMNS = {"customer_id": "string", "score": "double", "rank": "bigint", "as_of_date": "date",
           "scored_at": "timestamp", "flag": "boolean"}


@pytest.fixture(scope="module")
def spark_dir(tmp_path_factory):
    pytest.importorskip("pyspark")
    return tmp_path_factory.mktemp("spark")


@pytest.fixture(params=ENGINES)
def warehouse(request, tmp_path) -> Warehouse:
    if request.param == "spark":
        from cdp.spark.session import get_session

        spark = get_session(request.getfixturevalue("spark_dir"))  # a new JVM if a test released it
        for schema in ("t", "u", "cdp_scratch"):
            spark.sql(f"drop database if exists {schema} cascade")
        yield as_warehouse(spark)
        return
    import duckdb

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("set TimeZone = 'UTC'")
    yield DuckDBWarehouse(con)
    con.close()


def scores(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(start, start + n)],
        "score": [i / 10 for i in range(start, start + n)],
        "rank": list(range(start, start + n)),
        "as_of_date": [date(2026, 9, 30)] * n,
        "scored_at": [datetime(2026, 9, 30, 12, 30)] * n,
        "flag": [i % 2 == 0 for i in range(start, start + n)],
    })


def test_replace_writes_declared_columns_and_types_and_replaces(warehouse):
    assert not warehouse.has_table("t.scores")
    # columns out of order, and one missing: the table has the declared order, the missing one null
    warehouse.replace("t.scores", scores(5)[["rank", "customer_id", "score", "as_of_date", "scored_at"]], COLUMNS)
    assert warehouse.has_table("t.scores")
    assert warehouse.columns("t.scores") == list(COLUMNS)
    rows = warehouse.rows("select customer_id, score, rank, as_of_date, scored_at, flag from t.scores "
                          "order by customer_id")
    assert rows[2] == ("c0002", 0.2, 2, date(2026, 9, 30), datetime(2026, 9, 30, 12, 30), None)
    warehouse.replace("t.scores", scores(3, start=10), COLUMNS)
    assert warehouse.scalar("select count(*) from t.scores") == 3
    assert warehouse.scalar("select min(customer_id) from t.scores") == "c0010"


def test_replace_with_no_rows_leaves_an_empty_table_with_the_columns(warehouse):
    warehouse.replace("t.scores", scores(4), COLUMNS)
    warehouse.replace("t.scores", pd.DataFrame(columns=list(COLUMNS)), COLUMNS)
    assert warehouse.columns("t.scores") == list(COLUMNS)
    assert warehouse.scalar("select count(*) from t.scores") == 0


def test_append_matches_columns_by_name_and_delete_removes_only_matching_rows(warehouse):
    warehouse.replace("t.scores", scores(4), COLUMNS)
    warehouse.append("t.scores", scores(2, start=4)[list(reversed(COLUMNS))])
    assert warehouse.scalar("select sum(rank) from t.scores") == sum(range(6))
    warehouse.delete("t.scores", "rank >= ? and flag", [2])  # ranks 2 and 4
    assert [r[0] for r in warehouse.rows("select rank from t.scores order by rank")] == [0, 1, 3, 5]
    warehouse.delete("t.scores", "customer_id = ?", ["nobody"])
    warehouse.delete("t.scores", "score > 100 or null")  # null is not true: nothing goes
    assert warehouse.scalar("select count(*) from t.scores") == 4


def test_append_refuses_a_column_the_table_does_not_have(warehouse):
    warehouse.replace("t.scores", scores(2), COLUMNS)
    with pytest.raises(Exception, match="(?i)nickname"):  # never dropped silently
        warehouse.append("t.scores", scores(1, start=2).assign(nickname="x"))
    assert warehouse.scalar("select count(*) from t.scores") == 2


def test_a_naive_datetime_parameter_is_utc_whatever_the_host_zone(warehouse, monkeypatch):
    import time

    warehouse.replace("t.scores", scores(3), COLUMNS)
    monkeypatch.setenv("TZ", "America/New_York")  # what py4j would read a naive datetime in
    time.tzset()
    try:
        assert warehouse.scalar("select count(*) from t.scores where scored_at = ?",
                                [datetime(2026, 9, 30, 12, 30)]) == 3
    finally:
        monkeypatch.undo()
        time.tzset()


def test_parameters_take_dates_and_numpy_values(warehouse):
    warehouse.replace("t.scores", scores(6), COLUMNS)
    frame = warehouse.frame("select customer_id from t.scores where as_of_date = ? and rank < ? order by 1",
                            [date(2026, 9, 30), pd.Series([3]).iloc[0]])
    assert frame["customer_id"].tolist() == ["c0000", "c0001", "c0002"]


def test_batches_cover_every_row_once_in_bounded_frames(warehouse):
    warehouse.replace("t.scores", scores(1000), COLUMNS)
    batches = list(warehouse.batches("select customer_id, rank from t.scores where rank >= ?", [100], rows=250))
    assert all(len(b) <= 250 for b in batches) and len(batches) >= 4
    seen = pd.concat(batches)["rank"].tolist()
    assert sorted(seen) == list(range(100, 1000))
    assert list(warehouse.batches("select * from t.scores where rank < 0")) == []


def test_batches_allow_writes_between_them(warehouse):
    warehouse.replace("t.scores", scores(300), COLUMNS)
    warehouse.replace("t.out", pd.DataFrame(columns=list(COLUMNS)), COLUMNS)
    for batch in warehouse.batches("select * from t.scores", rows=100):
        warehouse.append("t.out", batch.assign(score=batch["score"] * 2))
    assert warehouse.scalar("select sum(score) from t.out") == pytest.approx(2 * sum(i / 10 for i in range(300)))


def test_registered_frames_are_visible_to_sql_until_unregistered(warehouse):
    with warehouse.registered("new_rows", scores(3)):
        assert warehouse.scalar("select max(rank) from new_rows") == 2
    with pytest.raises(Exception, match="(?i)new_rows"):  # each engine's own error for an unknown table
        warehouse.scalar("select count(*) from new_rows")


def test_duckdb_transaction_is_all_or_nothing(tmp_path):
    import duckdb

    warehouse = DuckDBWarehouse(duckdb.connect(str(tmp_path / "w.duckdb")))
    warehouse.replace("t.scores", scores(3), COLUMNS)
    with pytest.raises(RuntimeError), warehouse.transaction():
        warehouse.delete("t.scores", "true")
        with warehouse.transaction():  # nested: part of the outer one
            warehouse.append("t.scores", scores(1, start=9))
        raise RuntimeError("fails before the end")
    assert warehouse.scalar("select count(*) from t.scores") == 3
    with warehouse.transaction():
        warehouse.delete("t.scores", "rank = 0")
    assert warehouse.scalar("select count(*) from t.scores") == 2


def test_duckdb_catalogue_is_the_warehouse_own_not_an_attached_database(tmp_path):
    import duckdb

    with duckdb.connect(str(tmp_path / "other.duckdb")) as other:
        other.execute("create schema t; create table t.scores (x int)")
    warehouse = DuckDBWarehouse(duckdb.connect(str(tmp_path / "w.duckdb")))
    warehouse.execute(f"attach '{tmp_path / 'other.duckdb'}' as other (read_only)")
    assert not warehouse.has_table("t.scores") and warehouse.tables(["t"]) == []
    warehouse.replace("t.scores", scores(1), COLUMNS)
    assert warehouse.has_table("t.scores") and warehouse.columns("t.scores") == list(COLUMNS)


def test_as_warehouse_wraps_connections_and_keeps_warehouses(tmp_path):
    import duckdb

    con = duckdb.connect()
    wrapped = as_warehouse(con)
    assert isinstance(wrapped, DuckDBWarehouse) and wrapped.con is con
    assert as_warehouse(wrapped) is wrapped


def test_delete_and_update_say_how_many_rows_they_touched(warehouse):
    warehouse.replace("t.scores", scores(6), COLUMNS)
    assert warehouse.delete("t.scores", "rank < ?", [2]) == 2
    assert warehouse.delete("t.scores", "rank < ?", [2]) == 0
    # clear a column on some rows, set another from the row itself; other rows and columns unchanged
    changed = warehouse.update("t.scores", {"customer_id": "null", "score": "score * 10"}, "rank >= ? and flag", [3])
    assert changed == 1  # rank 4 (ranks 2..5; flag on even ranks)
    rows = warehouse.rows("select rank, customer_id, score from t.scores order by rank")
    assert rows == [(2, "c0002", 0.2), (3, "c0003", 0.3), (4, None, 4.0),
                    (5, "c0005", 0.5)]
    assert warehouse.update("t.scores", {"customer_id": "null"}, "rank > ?", [100]) == 0
    assert warehouse.columns("t.scores") == list(COLUMNS)


def test_tables_lists_the_tables_of_the_schemas(warehouse):
    warehouse.replace("t.scores", scores(1), COLUMNS)
    warehouse.replace("t.other", scores(1), COLUMNS)
    warehouse.replace("u.more", scores(1), COLUMNS)
    assert warehouse.tables(["t"]) == ["t.other", "t.scores"]
    assert warehouse.tables(["t", "u", "missing"]) == ["t.other", "t.scores", "u.more"]


@pytest.mark.spark
@pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1")
def test_spark_resource_lets_go_of_the_local_metastore_for_the_next_process(tmp_path):
    """Local mode keeps its catalogue in embedded Derby, one JVM at a time: before a step starts dbt
    the resource's session must let go, or the dbt process cannot open the tables."""
    import subprocess
    import sys

    pytest.importorskip("pyspark")
    from cdp.spark.session import release_session
    from orchestration.defs.resources import WarehouseResource

    release_session()  # the other tests' session holds another directory's metastore
    resource = WarehouseResource(engine="spark", spark_dir=str(tmp_path / "spark"))
    with resource.open() as warehouse:
        assert warehouse.engine == "spark"
        warehouse.replace("t.scores", scores(7), COLUMNS)
    resource.dbt_environment()  # what a step does before it starts dbt
    read = subprocess.run(
        [sys.executable, "-c", "from cdp.spark.session import get_session; "
         f"print(get_session({str(tmp_path / 'spark')!r}).table('t.scores').count())"],
        capture_output=True, text=True, timeout=300)
    assert read.returncode == 0, read.stderr[-2000:]
    assert read.stdout.strip().splitlines()[-1] == "7"
    with resource.open() as warehouse:  # and this process can open it again
        assert warehouse.scalar("select count(*) from t.scores") == 7


def test_a_temp_table_keeps_its_rows_when_its_source_changes(warehouse):
    warehouse.replace("t.scores", scores(5), COLUMNS)
    assert warehouse.temp_table("_chosen", "select customer_id, rank from t.scores where rank >= ?", [2]) == 3
    assert warehouse.tables(["t", "cdp_scratch"]) == ["t.scores"]  # nothing in the catalogue outlives the process
    warehouse.delete("t.scores", "rank >= ?", [3])
    assert warehouse.scalar("select count(*) from _chosen") == 3  # computed once, not a view
    assert warehouse.delete("t.scores", "customer_id in (select customer_id from _chosen)") == 1
    assert warehouse.temp_table("_chosen", "select customer_id from t.scores") == 2  # replaced
    warehouse.drop_temp_table("_chosen")
    warehouse.drop_temp_table("_chosen")
    with pytest.raises(Exception, match="(?i)_chosen"):
        warehouse.scalar("select count(*) from _chosen")


@pytest.mark.spark
@pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1")
def test_spark_delete_empties_a_partition_even_under_dynamic_partition_overwrite(spark_dir):
    """dbt-spark's incremental models (and many clusters) set dynamic partition overwrite, which keeps
    the partitions an overwrite does not write: a delete of all of a partition's rows must still empty it."""
    from cdp.spark.session import get_session

    spark = get_session(spark_dir)
    spark.sql("drop database if exists t cascade")
    spark.sql("create database t")
    spark.sql("create table t.days (customer_id string, as_of_date date) using parquet partitioned by (as_of_date)")
    spark.sql("insert into t.days values ('a', date'2026-09-29'), ('b', date'2026-09-30'), ('c', date'2026-09-30')")
    key = "spark.sql.sources.partitionOverwriteMode"
    spark.conf.set(key, "dynamic")
    try:
        warehouse = as_warehouse(spark)
        assert warehouse.delete("t.days", "customer_id = ?", ["a"]) == 1
        assert warehouse.rows("select customer_id from t.days order by 1") == [("b",), ("c",)]
        assert spark.conf.get(key) == "dynamic"  # the session's setting is left as it was
    finally:
        spark.conf.set(key, "STATIC")


def test_the_python_stages_connections_take_the_memory_settings_dbt_takes(tmp_path, monkeypatch):
    """The steps' DuckDB connections cap the buffer pool as profiles.yml caps dbt's (CDP_DUCKDB_MEMORY_LIMIT);
    without it DuckDB takes 80 % of RAM (14.1 GiB in the erasure step at 1,000,000 customers). Both keep
    freed memory up to that limit instead of DuckDB's 128 MB flush threshold."""
    import yaml

    from cdp import settings
    from orchestration.defs.resources import WarehouseResource

    monkeypatch.setenv("CDP_DUCKDB_MEMORY_LIMIT", "1GB")
    expected = settings.duckdb_settings()
    assert set(expected) == {"memory_limit", "block_allocator_memory", "allocator_flush_threshold",
                             "allocator_bulk_deallocation_flush_threshold"}
    with duckdb.connect() as reference:
        defaults = {name: reference.execute(f"select current_setting('{name}')").fetchone()[0] for name in expected}
        for name, value in expected.items():
            reference.execute(f"set {name} = '{value}'")
        wanted = {name: reference.execute(f"select current_setting('{name}')").fetchone()[0] for name in expected}
    assert wanted["memory_limit"] == "953.6 MiB"
    assert all(wanted[name] != defaults[name] for name in expected), (wanted, defaults)
    resource = WarehouseResource(warehouse_path=str(tmp_path / "cdp.duckdb"))
    for read_only in (False, True):
        with resource.connect(read_only=read_only) as con:
            got = {name: con.execute(f"select current_setting('{name}')").fetchone()[0] for name in expected}
            assert got == wanted
    # dbt's connections: the same settings, from the same variable and default
    profile = yaml.safe_load((settings.DBT_PROJECT_DIR / "profiles.yml").read_text())
    dbt_settings = profile["cdp_warehouse"]["outputs"]["dev"]["settings"]
    for name in expected:
        assert dbt_settings[name] == "{{ env_var('CDP_DUCKDB_MEMORY_LIMIT', '6GB') }}", name
    monkeypatch.delenv("CDP_DUCKDB_MEMORY_LIMIT")
    assert set(settings.duckdb_settings().values()) == {"6GB"}
