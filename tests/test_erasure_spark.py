"""Erasure on Spark does what it does on DuckDB, and a run that dies midway on Spark is finished
by running it again (docs/privacy.md).

Opt-in: CDP_SPARK_TEST=1, the spark extra and Java 17. It took 6.5 minutes on two shared cores
at load average 5; Spark's per-job overhead dominates. Each case builds the small warehouse of
tests/test_erasure.py in a DuckDB file, copies every table to a local Spark catalogue
(cdp.spark.handover), runs ``apply_erasures`` on both and compares the reports and the rows of
every table.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from test_erasure import ANN_EMAIL, build_small_warehouse, sha, table

from cdp.privacy import apply_erasures
from cdp.privacy import erasure as erasure_module
from cdp.warehouse import as_warehouse

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1 (make test-spark)"),
]
pyspark = pytest.importorskip("pyspark", reason="needs the spark extra: pip install -e '.[spark]'")

# every schema the small warehouse has; the scratch schema of the Spark warehouse goes too
SCHEMAS = ("raw", "audit", "privacy", "staging", "intermediate", "activation")
RUN_AT = datetime(2026, 10, 1)


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from cdp.spark.session import get_session

    return get_session(tmp_path_factory.mktemp("spark"))


def base_tables(con) -> list[str]:
    marks = ", ".join("?" for _ in SCHEMAS)
    return [f"{schema}.{name}" for schema, name in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
        f"and schema_name in ({marks}) order by 1, 2", list(SCHEMAS)).fetchall()]


def on_both_engines(path: Path, spark, prepare=None) -> duckdb.DuckDBPyConnection:
    """The small warehouse (changed by ``prepare``) in a DuckDB file and copied to Spark."""
    from cdp.spark.handover import SourceTable, export_parquet, load_into_spark

    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        build_small_warehouse(con)
        if prepare:
            prepare(con)
        tables = [SourceTable(*name.split(".")) for name in base_tables(con)]
    for schema in (*SCHEMAS, "cdp_scratch"):
        spark.sql(f"drop database if exists {schema} cascade")
    export = path.parent / "parquet"
    export.mkdir()
    load_into_spark(spark, export_parquet(path, tables, export))
    con = duckdb.connect(str(path))
    con.execute("set TimeZone = 'UTC'")
    return con


def counts(report) -> dict:
    return {name: value for name, value in vars(report).items() if name != "run_id"}


def assert_same_rows(con, spark, ignore: dict[str, tuple[str, ...]] | None = None) -> None:
    """Every table holds the same rows on both engines (columns in ``ignore[table]`` left out)."""
    from cdp.spark.compare import compare_table

    tables = base_tables(con)
    assert as_warehouse(spark).tables(SCHEMAS) == tables
    # the small warehouse's row hashes are the same text on both engines, where compare_table reads
    # DuckDB's as the 128-bit numbers dbt writes: the rows are told apart by load and record number
    ignore = {"intermediate.int_quality_raw_row_versions": ("row_version_key",), **(ignore or {})}
    differences = [compare_table(con, spark, name, ignore.get(name, ())) for name in tables]
    assert [str(d) for d in differences if d] == []


def both(con, spark, run_id: str, now: datetime = RUN_AT):
    return apply_erasures(con, run_id, now=now), apply_erasures(spark, run_id, now=now)


def append(connection, name: str, rows: list[dict]) -> None:
    as_warehouse(connection).append(name, pd.DataFrame(rows))


def everyone_at_once(con) -> None:
    """Besides Ann's request: an uploaded opt-out of Bob's e-mail, a request for an address no customer
    holds, and rejected rows carrying them, as JSON and as a line that could not be parsed."""
    con.execute("insert into raw.suppressions (identifier_type, identifier, _load_id, _record_number) "
                "values ('email', ' Bob@Mail.net ', 1, 1)")
    con.execute("insert into staging.stg_landing__suppressions values ('email', 'opt_out', ?, ?, 1, 1)",
                [sha("bob@mail.net"), sha("bob@mail.net")])
    con.execute("insert into raw.email_events (event_id, event_type, email, _load_id, _record_number) "
                "values ('m1', 'open', ' Nobody@Mail.net', 1, 1), ('m2', 'open', 'carl@mail.net', 1, 2)")
    table(con, "staging.stg_landing__email_events", "email_event_id varchar, email varchar",
          [("m1", "nobody@mail.net"), ("m2", "carl@mail.net")])
    con.execute("insert into staging.stg_landing__erasure_requests values "
                "('r2', null, null, 'nobody@mail.net', null, '2026-09-02')")
    con.execute("insert into raw.segment_lists (list_name, identifier_type, identifier, _load_id, _record_number) "
                f"values ('vip', 'email', '{ANN_EMAIL.upper()}', 1, 1), ('vip', 'email', 'carl@mail.net', 1, 2)")
    con.execute("insert into audit.quarantine values "
                "(1, 'customers', 'customers/a.csv', 7, 8, 'bad date', "
                "'{\"source_system\": \"crm\", \"email\": \"BOB@mail.net\"}', now()), "
                "(1, 'email_events', 'email_events/a.csv', 3, 4, 'unparsable', 'm3,click,nobody@mail.net,x', now()), "
                "(1, 'email_events', 'email_events/a.csv', 5, 6, 'unparsable', 'm4,click,carl@mail.net,x', now())")


def test_erasure_on_spark_matches_duckdb_a_rerun_changes_nothing_and_a_resend_is_purged(tmp_path, spark):
    con = on_both_engines(tmp_path / "w.duckdb", spark, everyone_at_once)
    on_duckdb, on_spark = both(con, spark, "run-1")
    assert (on_duckdb.erasure_requests, on_duckdb.suppressions_absorbed, on_duckdb.customers_erased) == (2, 1, 2)
    assert {"raw.customers", "raw.email_events", "raw.segment_lists", "raw.suppressions", "raw.orders",
            "audit.quarantine", "activation.audience_members"} <= {*on_duckdb.rows_deleted, *on_duckdb.rows_updated}
    assert counts(on_spark) == counts(on_duckdb)
    assert_same_rows(con, spark)
    # rejected rows lose the content that names an erased person, as JSON or as an unparsable line
    assert con.execute(
        "select source, coalesce(raw_content, 'scrubbed') from audit.quarantine order by all"
    ).fetchall() == [("customers", "scrubbed"), ("email_events", "m4,click,carl@mail.net,x"),
                     ("email_events", "scrubbed"), ("events", "scrubbed")]

    on_duckdb, on_spark = both(con, spark, "run-2", datetime(2026, 10, 2))
    assert not on_duckdb.changed_anything and not on_spark.changed_anything
    assert_same_rows(con, spark)

    # the CRM sends Ann again, and the ESP her e-mail in another spelling
    for connection in (con, spark):
        append(connection, "audit.load_history", [{"load_id": 2, "source": "customers", "file_path": "customers/b.csv",
                                                   "file_checksum": "y", "status": "loaded", "started_at": RUN_AT}])
        append(connection, "raw.customers", [
            {"source_system": "crm", "source_customer_id": "c1", "email": "ann.smith@mail.net", "first_name": "Ann",
             "_load_id": 2, "_record_number": 1},
            {"source_system": "esp", "source_customer_id": "new", "email": " ANN.SMITH@MAIL.NET", "first_name": "Ann",
             "_load_id": 2, "_record_number": 2}])
    on_duckdb, on_spark = both(con, spark, "run-3", datetime(2026, 10, 3))
    assert on_duckdb.rows_deleted == {"raw.customers": 2}
    assert counts(on_spark) == counts(on_duckdb)
    assert_same_rows(con, spark)
    con.close()


def logged_scan(con) -> None:
    """A run before this one checked load 1: an erasure that only looked at new loads would miss it."""
    con.execute("insert into audit.privacy_runs values ('run-0', '2026-09-15', 0, 0, 0, '{}', '{}', '{}', 1)")


def dies_after_suppressing(monkeypatch) -> None:
    def broken(*args):
        raise RuntimeError("executor lost")

    monkeypatch.setattr(erasure_module, "_purge_raw", broken)


def dies_in_the_purge_of_the_tables_erasure_reads(monkeypatch) -> None:
    """After the hub of records and customers, before the requests' customers."""
    in_order = erasure_module._purge_order

    def dying(purges):
        for purge in in_order(purges):
            if purge.table == erasure_module.REQUEST_CUSTOMERS:
                raise RuntimeError("executor lost")
            yield purge

    monkeypatch.setattr(erasure_module, "_purge_order", dying)


@pytest.mark.parametrize("failure", [dies_after_suppressing, dies_in_the_purge_of_the_tables_erasure_reads])
def test_a_spark_run_that_dies_midway_is_finished_by_running_it_again(tmp_path, spark, monkeypatch, failure):
    con = on_both_engines(tmp_path / "w.duckdb", spark, logged_scan)
    apply_erasures(con, "run-1", now=RUN_AT)
    with monkeypatch.context() as patched:
        failure(patched)
        with pytest.raises(RuntimeError, match="executor lost"):
            apply_erasures(spark, "run-1", now=RUN_AT)
    assert spark.sql("select count(*) from privacy.suppression_list").collect()[0][0] > 0
    assert spark.sql("select count(*) from audit.erasure_log").collect()[0][0] == 0
    resumed = apply_erasures(spark, "run-1", now=RUN_AT)
    assert (resumed.erasure_requests, resumed.customers_erased) == (1, 1)
    assert resumed.resumed and resumed.models_stale
    # the same rows everywhere; the log counts what the run that finished did
    assert_same_rows(con, spark, {"audit.erasure_log": ("rows_deleted",),
                                  "audit.privacy_runs": ("identifiers_suppressed", "rows_deleted", "rows_updated")})
    con.close()
