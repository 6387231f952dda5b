"""Ingestion guarantees: nothing lost, every rejection explained, re-runs are no-ops, files load atomically."""

from __future__ import annotations

import gzip
import json
import os
import string
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import rows, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.ingest import ingest_landing
from cdp.ingest import load as load_module
from cdp.ingest.reconcile import reconcile_source

ORDERS_HEADER = "source_system,order_id,source_customer_id,ordered_at,status,currency,total_amount,channel\n"


def history(con, source=None):
    sql = "select file_path, status, rows_in, rows_loaded, rows_rejected, message from audit.load_history"
    return rows(con, sql + (" where source = ?" if source else "") + " order by load_id", [source] if source else [])


def quarantine(con):
    return rows(
        con, "select file_path, record_number, line_number, reason, raw_content from audit.quarantine order by 1, 2"
    )


def test_valid_csv_loads_typed_rows_with_lineage(con, landing):
    write(
        landing,
        "orders/shop_2026-07-01.csv",
        ORDERS_HEADER
        + "shop,o1,c1,2026-07-01T10:00:00Z,completed,GBP,10.50,web\n"
        + "shop,o2,c1,2026-07-01 12:00:00+02:00,Returned,GBP,3,app\n",
    )
    report = ingest_landing(con, landing)
    assert [f.status for f in report.files] == ["loaded"]
    got = rows(
        con,
        "select order_id, ordered_at, status, total_amount, _source_file, _record_number from raw.orders order by 6",
    )
    assert [(r[0], r[1].isoformat(), r[2], float(r[3]), r[4], r[5]) for r in got] == [
        ("o1", "2026-07-01T10:00:00+00:00", "completed", 10.5, "orders/shop_2026-07-01.csv", 1),
        ("o2", "2026-07-01T10:00:00+00:00", "Returned", 3.0, "orders/shop_2026-07-01.csv", 2),
    ]
    assert reconcile_source(con, "orders").passed


def test_bad_rows_are_quarantined_with_reason_line_and_content(con, landing):
    write(
        landing,
        "orders/bad.csv",
        ORDERS_HEADER
        + "shop,o1,c1,2026-07-01T10:00:00Z,completed,GBP,10,web\n"  # good
        + "shop,,c1,2026-07-01T10:00:00Z,completed,GBP,10,web\n"  # empty key
        + "shop,o3,c1,yesterday,completed,GBP,10,web\n"  # bad timestamp
        + "shop,o4,c1,2026-07-01T10:00:00Z,shipped,GBP,10,web\n"  # bad enum
        + "shop,o5,c1,2026-07-01T10:00:00Z,completed,GBP,-5,web\n"  # negative amount
        + "shop,o6,c1\n"  # too few fields
        + "shop,o7,c1,2999-01-01T00:00:00Z,completed,GBP,1,web\n"  # future
        + "shop,o8,c1,1900-01-01,completed,GBP,1,web\n"  # 1900
        + "shop,o9,c1,2026-07-02T10:00:00Z,completed,GBP,7,web\n",  # good, after the bad ones
    )
    ingest_landing(con, landing)
    assert history(con)[0][1:5] == ("loaded_with_rejects", 9, 2, 7)
    reasons = {r[1]: (r[2], r[3]) for r in quarantine(con)}
    assert reasons[2] == (3, "order_id: required value is empty")
    assert "ordered_at: 'yesterday' is not a valid timestamp" in reasons[3][1]
    assert "status: 'shipped' is not one of completed, cancelled, returned" in reasons[4][1]
    assert "total_amount: '-5' is below minimum 0" in reasons[5][1]
    assert "MISSING COLUMNS" in reasons[6][1]
    assert "after maximum" in reasons[7][1]
    assert "before minimum" in reasons[8][1]
    # Record numbers of good rows skip the rejected records correctly.
    assert rows(con, "select order_id, _record_number from raw.orders order by 2") == [("o1", 1), ("o9", 9)]
    # Raw content is kept so a person can see and fix the row.
    content = {r[1]: r[4] for r in quarantine(con)}
    assert json.loads(content[4])["status"] == "shipped"
    assert content[6].startswith("shop,o6,c1")
    assert reconcile_source(con, "orders").passed


def test_file_missing_required_column_is_rejected_whole_and_the_run_goes_on(con, landing):
    write(
        landing, "orders/a_missing.csv", "source_system,order_id,ordered_at\nshop,o1,2026-07-01\nshop,o2,2026-07-01\n"
    )
    write(landing, "orders/b_good.csv", ORDERS_HEADER + "shop,o3,c1,2026-07-01,completed,GBP,1,web\n")
    report = ingest_landing(con, landing)
    assert [f.status for f in report.files] == ["rejected", "loaded"]
    path, status, rows_in, loaded, rejected, message = history(con)[0]
    assert (status, rows_in, loaded, rejected) == ("rejected", 2, 0, 2)
    assert "required column(s) missing: status, total_amount" in message
    assert rows(con, "select order_id from raw.orders") == [("o3",)]
    assert reconcile_source(con, "orders").passed


def test_rerun_skips_processed_files_and_changes_nothing(con, landing):
    write(landing, "orders/a.csv", ORDERS_HEADER + "shop,o1,c1,2026-07-01,completed,GBP,1,web\nshop,,c,x,y,z,w,v\n")
    write(landing, "orders/b.csv", "order_id\n1\n")
    ingest_landing(con, landing)
    before = [rows(con, f"select * from {t} order by all") for t in ("raw.orders", "audit.quarantine")]
    before_history = history(con)
    second = ingest_landing(con, landing)
    assert {f.status for f in second.files} == {"skipped"}
    assert [rows(con, f"select * from {t} order by all") for t in ("raw.orders", "audit.quarantine")] == before
    assert history(con) == before_history
    # The same bytes under another name are the same file.
    write(landing, "orders/c_copy_of_a.csv", (landing / "orders/a.csv").read_text())
    assert [f.status for f in ingest_landing(con, landing).files if f.file_path.endswith("c_copy_of_a.csv")] == [
        "skipped"
    ]


def test_a_loaded_file_is_not_read_again_while_it_keeps_its_path_size_and_time(con, landing, monkeypatch):
    hour_ago = time.time() - 3600
    a = write(landing, "orders/a.csv", ORDERS_HEADER + "shop,o1,c1,2026-07-01,completed,GBP,1,web\n")
    b = write(landing, "orders/b.csv", ORDERS_HEADER + "shop,o2,c1,2026-07-01,completed,GBP,1,web\n")
    for path in (a, b):
        os.utime(path, (hour_ago, hour_ago))
    ingest_landing(con, landing)
    read = []
    fingerprint_file = load_module.fingerprint_file
    monkeypatch.setattr(load_module, "fingerprint_file",
                        lambda contract, path: read.append(path.name) or fingerprint_file(contract, path))
    second = ingest_landing(con, landing)
    assert read == []
    assert {(f.file_path, f.status, f.message) for f in second.files} == {
        ("orders/a.csv", "skipped", load_module.UNCHANGED), ("orders/b.csv", "skipped", load_module.UNCHANGED)}
    # rewritten with the same size: a new time, so read and loaded
    b.write_text(ORDERS_HEADER + "shop,o2,c1,2026-07-01,cancelled,GBP,1,web\n")
    os.utime(b, (hour_ago + 60, hour_ago + 60))
    third = ingest_landing(con, landing)
    assert read == ["b.csv"]
    assert {f.file_path: f.status for f in third.files} == {"orders/a.csv": "skipped", "orders/b.csv": "loaded"}
    # a file modified moments before it was read may change again within one tick of the clock:
    # its time is kept but not trusted, so every run reads it again, and a re-run changes nothing
    write(landing, "orders/c.csv", ORDERS_HEADER + "shop,o3,c1,2026-07-01,completed,GBP,1,web\n")
    ingest_landing(con, landing)
    history = rows(con, "select * from audit.load_history order by load_id")
    for _ in range(2):
        read.clear()
        assert {f.file_path: f.status for f in ingest_landing(con, landing).files}["orders/c.csv"] == "skipped"
        assert read == ["c.csv"]
    assert rows(con, "select * from audit.load_history order by load_id") == history
    # a history written before times were kept: each file is read once more, then no more
    os.utime(landing / "orders/c.csv", (hour_ago, hour_ago))
    con.execute("update audit.load_history set file_modified_ns = null")
    read.clear()
    ingest_landing(con, landing)
    assert sorted(read) == ["a.csv", "b.csv", "c.csv"]
    read.clear()
    assert {f.status for f in ingest_landing(con, landing).files} == {"skipped"}
    assert read == []
    assert rows(con, "select count(*) from raw.orders") == [(4,)]


def test_changed_file_is_loaded_again_and_keeps_both_versions_in_raw(con, landing):
    path = write(landing, "orders/a.csv", ORDERS_HEADER + "shop,o1,c1,2026-07-01,completed,GBP,1,web\n")
    ingest_landing(con, landing)
    path.write_text(ORDERS_HEADER + "shop,o1,c1,2026-07-01,cancelled,GBP,1,web\n")
    ingest_landing(con, landing)
    assert rows(con, "select status, _load_id from raw.orders order by _load_id") == [
        ("completed", 1),
        ("cancelled", 2),
    ]


def test_json_lines_broken_lines_are_quarantined(con, landing):
    lines = [
        {
            "event_id": "e1",
            "event_type": "page_view",
            "occurred_at": "2026-07-01T10:00:00Z",
            "anonymous_id": "a1",
            "properties": {"path": "/"},
        },
        '{"event_id": "e2", broken',
        {"event_id": "e3", "event_type": "login", "occurred_at": "2026-07-01T10:00:00Z"},  # no identifier
        "[1, 2]",
        {
            "event_id": "e5",
            "event_type": "search",
            "occurred_at": "2026-07-01T10:00:00Z",
            "anonymous_id": "a1",
            "properties": "{not json",
            "unexpected": 1,
        },
    ]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    write(landing, "events/web.jsonl", text)
    report = ingest_landing(con, landing)
    assert (report.files[0].rows_in, report.files[0].rows_loaded, report.files[0].rows_rejected) == (5, 2, 3)
    assert "ignored extra column(s): unexpected" in report.files[0].message
    assert [(r[1], r[3]) for r in quarantine(con)] == [
        (2, "invalid JSON"),
        (3, "one of anonymous_id, source_customer_id is required"),
        (4, "JSON value is not an object"),
    ]
    # Nested JSON stays JSON; an invalid optional JSON value is nulled and recorded as a field issue.
    assert rows(con, "select event_id, properties from raw.events order by 1") == [("e1", '{"path":"/"}'), ("e5", None)]
    assert rows(con, "select record_number, column_name, raw_value from audit.field_issues") == [
        (5, "properties", "{not json")
    ]
    assert reconcile_source(con, "events").passed


def test_gzipped_json_lines_load(con, landing):
    line = {"event_id": "e1", "event_type": "login", "occurred_at": "2026-07-01", "source_customer_id": "c1"}
    write(landing, "events/web.jsonl.gz", gzip.compress((json.dumps(line) + "\n").encode()))
    assert [f.rows_loaded for f in ingest_landing(con, landing).files] == [1]


def test_parquet_with_different_schema_loads_by_column_name(con, landing, tmp_path):
    table = pa.table(
        {
            "total_amount": pa.array([12.5, -1.0]),  # typed, out of contract order
            "order_id": ["p1", "p2"],
            "source_system": ["pos", "pos"],
            "ordered_at": pa.array([1782900000, 1782900000], pa.timestamp("s", tz="UTC")),
            "status": ["completed", "completed"],
            "till_number": [3, 4],  # extra
        }
    )
    (landing / "orders").mkdir()
    pq.write_table(table, landing / "orders/pos.parquet")
    report = ingest_landing(con, landing)
    assert (report.files[0].status, report.files[0].rows_loaded, report.files[0].rows_rejected) == (
        "loaded_with_rejects",
        1,
        1,
    )
    assert "till_number" in report.files[0].message
    assert rows(con, "select order_id, cast(total_amount as double), channel from raw.orders") == [("p1", 12.5, None)]
    assert rows(con, "select record_number, reason from audit.quarantine") == [
        (2, "total_amount: '-1.0' is below minimum 0")
    ]


def test_unreadable_file_is_recorded_as_failed_and_retried(con, landing):
    write(landing, "orders/broken.parquet", b"PAR1 this is not parquet")
    first = ingest_landing(con, landing)
    assert first.files[0].status == "failed" and "Parquet" in first.files[0].message
    # 'failed' is not final: the next run tries again (the file may have been half-written).
    second = ingest_landing(con, landing)
    assert second.files[0].status == "failed"
    assert [r[1] for r in history(con)] == ["failed", "failed"]


def test_encodings_delimiters_and_empty_files(con, landing):
    write(
        landing,
        "products/a_latin1.csv",
        "product_id,name,category,price\np1,Caf\xe9 cr\xe8me,food,2.5\n".encode("latin-1"),
    )
    write(landing, "products/b_bom.csv", "\ufeffproduct_id,name,category,price\np2,Tea,food,1\n".encode("utf-8"))
    write(landing, "products/c_semicolon.csv", "product_id;name;category;price\np3;Mug;home;4,5\n")
    write(landing, "products/d_empty.csv", "")
    write(landing, "products/e_header_only.csv", "product_id,name,category,price\n")
    write(landing, "products/.f_in_progress.csv", "product_id\nx\n")
    write(landing, "products/g_notes.txt", "hello")
    report = ingest_landing(con, landing)
    by_file = {f.file_path.split("/")[-1]: f for f in report.files}
    assert ".f_in_progress.csv" not in by_file
    assert by_file["a_latin1.csv"].status == "loaded" and "latin-1" in by_file["a_latin1.csv"].message
    # ';' is detected; price '4,5' is not a decimal, and price is nulled rather than the row rejected.
    assert by_file["c_semicolon.csv"].status == "loaded" and "';' detected" in by_file["c_semicolon.csv"].message
    assert rows(con, "select raw_value from audit.field_issues where column_name = 'price'") == [("4,5",)]
    assert by_file["d_empty.csv"].status == "empty" and by_file["e_header_only.csv"].status == "empty"
    assert by_file["g_notes.txt"].status == "rejected" and "unsupported file type" in by_file["g_notes.txt"].message
    assert rows(con, "select product_id, name from raw.products order by 1") == [
        ("p1", "Café crème"),
        ("p2", "Tea"),
        ("p3", "Mug"),
    ]
    assert reconcile_source(con, "products").passed


def test_invalid_optional_value_is_nulled_and_recorded(con, landing):
    write(
        landing,
        "customers/crm.csv",
        "source_system,source_customer_id,email,birth_date\ncrm,1,a@b.com,31/02/1990\ncrm,2,,1899-05-05\n",
    )
    ingest_landing(con, landing)
    assert rows(con, "select source_customer_id, birth_date from raw.customers order by 1") == [
        ("1", None),
        ("2", None),
    ]
    issues = rows(con, "select record_number, column_name, raw_value, reason from audit.field_issues order by 1")
    assert issues[0][:3] == (1, "birth_date", "31/02/1990") and "not a valid date" in issues[0][3]
    assert issues[1][:3] == (2, "birth_date", "1899-05-05") and "before minimum" in issues[1][3]


def test_a_failing_load_rolls_back_everything_it_wrote(con, landing, monkeypatch):
    write(landing, "orders/a.csv", ORDERS_HEADER + "shop,o1,c1,2026-07-01,completed,GBP,1,web\n")
    original = load_module.SourceLoader._write_batch

    def write_then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(load_module.SourceLoader, "_write_batch", write_then_fail)
    report = ingest_landing(con, landing)
    assert report.files[0].status == "failed" and "disk full" in report.files[0].message
    assert rows(con, "select count(*) from raw.orders") == [(0,)]
    assert rows(con, "select count(*) from audit.quarantine") == [(0,)]
    monkeypatch.setattr(load_module.SourceLoader, "_write_batch", original)
    assert ingest_landing(con, landing).files[0].status == "loaded"
    assert rows(con, "select count(*) from raw.orders") == [(1,)]


cell = st.one_of(
    st.text(alphabet=string.printable, max_size=12),
    st.sampled_from(["", "completed", "returned", "2026-07-01", "-1", "1e3", "x,y", '"', "é", "\r"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.lists(st.lists(cell, min_size=6, max_size=9), min_size=0, max_size=15))
def test_any_csv_reconciles(tmp_path_factory, table):
    """Whatever the rows hold, every record is loaded or quarantined and the counts add up."""
    import duckdb

    root = tmp_path_factory.mktemp("prop")
    lines = [ORDERS_HEADER.rstrip("\n")] + [",".join(row) for row in table]
    write(root / "landing", "orders/x.csv", "\n".join(lines) + "\n")
    with duckdb.connect(str(root / "w.duckdb")) as db:
        report = ingest_landing(db, root / "landing")
        f = report.files[0]
        assert f.status in ("loaded", "loaded_with_rejects", "empty")
        assert f.rows_in == f.rows_loaded + f.rows_rejected
        assert reconcile_source(db, "orders").passed


@pytest.mark.parametrize("name", ["x.tmp", "x.csv.part", "_meta.csv"])
def test_temporary_files_are_never_read(con, landing, name):
    write(landing, f"orders/{name}", ORDERS_HEADER)
    assert ingest_landing(con, landing).files == []


def test_a_file_that_breaks_its_batch_fails_alone(con, landing, monkeypatch):
    for name in ("a", "b", "c"):
        write(landing, f"orders/{name}.csv", ORDERS_HEADER + f"shop,{name}1,c1,2026-07-01,completed,GBP,1,web\n")
    original = load_module.SourceLoader._write_batch

    def fail_when_b_included(self, indexes):
        if any(self.pending[i].result.file_path.endswith("b.csv") for i in indexes):
            raise RuntimeError("b is poisoned")
        original(self, indexes)

    monkeypatch.setattr(load_module.SourceLoader, "_write_batch", fail_when_b_included)
    report = ingest_landing(con, landing)
    assert [(f.file_path, f.status) for f in report.files] == [
        ("orders/a.csv", "loaded"),
        ("orders/b.csv", "failed"),
        ("orders/c.csv", "loaded"),
    ]
    assert rows(con, "select order_id from raw.orders order by 1") == [("a1",), ("c1",)]
    assert reconcile_source(con, "orders").passed
