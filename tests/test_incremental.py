"""Incremental facts: a sequence of incremental builds gives the tables a full refresh gives.

Landing files arrive in two batches (daily drops up to a date, then the rest); the fact
staging models, the identified events built on them, the golden record's ranked
candidates and identity's kept pair comparisons are built after each batch and at
as-of dates moving forward and back, and every time compared with a full refresh of the
same warehouse (the identity they read is the same in both).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import CHANGE_CAPTURE_COLUMNS

from cdp.generate import generate_landing
from cdp.ingest import ingest_landing

ROOT = Path(__file__).resolve().parent.parent
STAGED_FACTS = ("stg_landing__customers", "stg_landing__consent_events", "stg_landing__events",
                "stg_landing__email_events", "stg_landing__orders")
IDENTIFIED_FACTS = ("int_events_identified", "int_email_events_identified")
# built on identity too: a daily build ranks again only the customers whose records changed
GOLDEN_CANDIDATES = ("int_customer_attribute_candidates_ranked",)
# read from the candidates a build stamped: only the customers ranked again are read
GOLDEN_LINEAGE = ("customer_attribute_lineage",)
# identity's comparisons, kept between runs: a daily build compares only the pairs of new or changed records
PAIR_COMPARISONS = ("int_identity_pair_comparisons",)
# per customer and day, read from the identified events a build stamped: only their customer days are read
DAY_SUMMARIES = {"int_customer_web_days": "_events_built_at", "int_customer_email_days": "_email_events_built_at"}
FACTS = STAGED_FACTS + IDENTIFIED_FACTS + GOLDEN_CANDIDATES + GOLDEN_LINEAGE + PAIR_COMPARISONS + tuple(DAY_SUMMARIES)
SCHEMAS = {"stg": "staging", "int": "intermediate", "cus": "marts"}
END = date(2026, 9, 30)
FIRST_BATCH_END = date(2026, 9, 10)


def dbt(warehouse: Path, target: Path, *args: str, as_of: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--target-path", str(target),
         "--vars", json.dumps({"as_of": as_of} if as_of else {})],
        cwd=ROOT / "dbt_project",
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    assert (result.returncode == 0) == check, result.stdout[-3000:]
    return result.stdout


def build_facts(warehouse: Path, target: Path, as_of: str | None = None, full_refresh: bool = False,
                upstream: bool = True) -> None:
    """The incremental facts and, with upstream, the identity models the identified ones read."""
    selection = ((*STAGED_FACTS, *(f"+{model}" for model in FACTS[len(STAGED_FACTS):])) if upstream else FACTS)
    dbt(warehouse, target, "run", "--select", *selection, *(["--full-refresh"] if full_refresh else []), as_of=as_of)


def fingerprints(warehouse: Path) -> dict[str, tuple[int, str]]:
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for model in FACTS:
            relation = f"{SCHEMAS[model[:3]]}.{model}"
            columns = [row[0] for row in con.execute(f"describe {relation}").fetchall()
                       if row[0] not in CHANGE_CAPTURE_COLUMNS]
            rows = con.execute(f"select {', '.join(columns)} from {relation}").fetchall()
            out[model] = (len(rows), hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest())
    return out


def _event_customers(warehouse: Path) -> dict[str, dict[str, str | None]]:
    """Each identified fact's customer per event key."""
    keys = {"int_events_identified": "event_id", "int_email_events_identified": "email_event_id"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {model: dict(con.execute(f"select {keys[model]}, customer_id from intermediate.{model}").fetchall())
                for model in IDENTIFIED_FACTS}


def _record_customers(warehouse: Path) -> dict[str, str]:
    """The customer each record's golden record candidates are ranked under."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.execute(
            "select distinct customer_record_id, customer_id from intermediate.int_customer_attribute_candidates_ranked"
        ).fetchall())


def _record_loads(warehouse: Path) -> dict[str, int]:
    """The load each staged customer record's held version came in."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.execute("select customer_record_id, _load_id from staging.stg_landing__customers").fetchall())


def _summarised_customers(warehouse: Path) -> dict[str, set[str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {summary: {row[0] for row in con.execute(f"select distinct customer_id from intermediate.{summary}")
                          .fetchall()} for summary in DAY_SUMMARIES}


def _add_newcomer(landing: Path) -> None:
    """An address the ESP mails in the first batch that no customer holds until the second brings
    the CRM record holding it: its held e-mail events must move to that customer. So must a web
    login of the first batch that names that record before it exists (held unattributed; no
    device, so only the record can move it)."""
    (landing / "events" / "web_newcomer_2026-09-01.csv").write_text(
        "event_id,event_type,occurred_at,anonymous_id,source_system,source_customer_id\n"
        "newcomer-web-1,login,2026-09-01 10:05:00 UTC,,crm,C-NEWCOMER\n",
        encoding="utf-8")
    (landing / "email_events" / "esp_newcomer_2026-09-01.csv").write_text(
        "event_id,event_type,occurred_at,email,campaign_id,source_system\n"
        "newcomer-1,sent,2026-09-01 10:00:00 UTC,Nova.Newcomer@outlook.com,cmp-newcomer,esp\n"
        "newcomer-2,open,2026-09-01 11:00:00 UTC,nova.newcomer@outlook.com,cmp-newcomer,esp\n",
        encoding="utf-8")
    header = next((landing / "customers").glob("crm_customers_*.csv")).read_text(encoding="utf-8").splitlines()[0]
    (landing / "customers" / "crm_newcomer_2026-09-20.csv").write_text(
        f"{header}\ncrm,C-NEWCOMER,nova.newcomer@outlook.com,,Nova,Newcomer,1990-01-01,,,,,,,,,"
        "2026-09-20T09:00:00Z,2026-09-20T09:00:00Z\n", encoding="utf-8")


def _add_merger(landing: Path) -> None:
    """Two records of one person that nothing ties in the first batch (an e-mail-only CRM record, a
    phone-only webshop record) and, in the second, a record holding both identifiers: the two customers
    merge, so records move from one to the other."""
    header = next((landing / "customers").glob("crm_customers_*.csv")).read_text(encoding="utf-8").splitlines()[0]
    rows = {
        "crm_merger_2026-09-02.csv": "crm,C-MERGE-A,mira.stone@example.org,,Mira,Stone,,,,,,,,,,"
                                     "2026-09-02T09:00:00Z,2026-09-02T09:00:00Z",
        "crm_merger_2026-09-03.csv": "webshop,W-MERGE-B,,+44 7700 900123,,,,,,,,,United Kingdom,,,"
                                     "2026-09-03T09:00:00Z,2026-09-03T09:00:00Z",
        "crm_merger_2026-09-20.csv": "pos,P-MERGE-C,mira.stone@example.org,+44 7700 900123,Mira,Stone,,,,,,,"
                                     "United Kingdom,,,2026-09-20T09:00:00Z,2026-09-20T09:00:00Z",
    }
    for name, row in rows.items():
        (landing / "customers" / name).write_text(f"{header}\n{row}\n", encoding="utf-8")
    # e-mails to the CRM record's address and a login on the webshop record: whichever customer id
    # the merged customer keeps, the other one's events all move to it
    (landing / "email_events" / "esp_merger_2026-09-04.csv").write_text(
        "event_id,event_type,occurred_at,email,campaign_id,source_system\n"
        "merger-1,delivered,2026-09-04 10:00:00 UTC,mira.stone@example.org,cmp-merger,esp\n", encoding="utf-8")
    event = {"event_id": "merger-web-1", "event_type": "page_view", "occurred_at": "2026-09-04T10:00:00.000Z",
             "anonymous_id": "merger-device", "source_system": "webshop", "source_customer_id": "W-MERGE-B",
             "session_id": "merger-session", "product_id": None, "page_url": "https://shop.example.com/",
             "referrer": None, "device_type": "desktop", "properties": None}
    (landing / "events" / "web_events_merger_2026-09-04.jsonl").write_text(json.dumps(event) + "\n", encoding="utf-8")
    # the tracker sends the event again in the second batch, a day earlier and with a second
    # one: the day it was on loses it (the summaries read that day again too)
    resent = [{**event, "occurred_at": "2026-09-03T10:00:00.000Z"},
              {**event, "event_id": "merger-web-2", "occurred_at": "2026-09-03T10:05:00.000Z"}]
    (landing / "events" / "web_events_merger_2026-09-21.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in resent), encoding="utf-8")


def _add_stale_version(landing: Path) -> None:
    """A CRM record of the first batch sent again in the second in an older version (an earlier
    updated_at): the version the table holds stays, as in a full build."""
    header = next((landing / "customers").glob("crm_customers_*.csv")).read_text(encoding="utf-8").splitlines()[0]
    versions = {"crm_stale_2026-09-05.csv": ("Stella", "2026-09-05T09:00:00Z"),
                "crm_stale_2026-09-22.csv": ("Stale", "2026-08-01T09:00:00Z")}
    for name, (first_name, updated_at) in versions.items():
        (landing / "customers" / name).write_text(
            f"{header}\ncrm,C-STALE,stella.vance@example.org,,{first_name},Vance,1985-05-05,,,,,,,,,"
            f"2026-07-01T09:00:00Z,{updated_at}\n", encoding="utf-8")


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
    _add_newcomer(full)
    _add_merger(full)
    _add_stale_version(full)
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
        # the facts alone: the identity they read stays the one the incremental build read
        build_facts(copy, tmp_path / "target_full", as_of, full_refresh=True, upstream=False)
        assert incremental == fingerprints(copy), f"as of {as_of or 'the latest date'}"
        return incremental

    # the first batch as of a date inside it, then as of its last day: the cutoff moves forward
    build_facts(warehouse, target, "2026-09-01", full_refresh=True)
    assert_same_as_full_refresh("2026-09-01")
    build_facts(warehouse, target, FIRST_BATCH_END.isoformat())
    first_comparisons = assert_same_as_full_refresh(FIRST_BATCH_END.isoformat())["int_identity_pair_comparisons"][0]
    # the second batch lands (new versions of orders among it); the daily run reads it
    held, held_records = _event_customers(warehouse), _record_customers(warehouse)
    summarised, held_versions = _summarised_customers(warehouse), _record_loads(warehouse)
    ingest_landing(warehouse, full_landing)
    build_facts(warehouse, target)
    latest = assert_same_as_full_refresh(None)
    assert all(rows > 0 for rows, _ in latest.values())
    # held customer records came again in a newer version, which replaced the held one
    assert any(_record_loads(warehouse).get(record, load) != load for record, load in held_versions.items())
    # and one in an older version, which did not
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select first_name from staging.stg_landing__customers "
                           "where source_customer_id = 'C-STALE'").fetchall() == [("Stella",)]
    # the new records moved events already held to other customers: re-attribution was exercised
    now = _event_customers(warehouse)
    for model in IDENTIFIED_FACTS:
        moved = {key for key, customer in held[model].items() if key in now[model] and now[model][key] != customer}
        assert moved, f"no held row of {model} changed customer: the test does not exercise re-attribution"
    # the login held without a customer, its record arrived since: attributed by it now
    with duckdb.connect(str(warehouse), read_only=True) as con:
        newcomer = con.execute("select customer_id from intermediate.int_customer_records_resolved "
                               "where source_system = 'crm' and source_customer_id = 'C-NEWCOMER'").fetchone()[0]
        assert con.execute("select identified_by, customer_id from intermediate.int_events_identified "
                           "where event_id = 'newcomer-web-1'").fetchall() == [("login", newcomer)]
    assert held["int_events_identified"]["newcomer-web-1"] is None
    # and records moved between customers: ranked again on both sides
    now_records = _record_customers(warehouse)
    assert any(now_records.get(record, customer) != customer for record, customer in held_records.items())
    # the lineage read only the customers ranked again: the others keep the stamp of an earlier build
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stamps = dict(con.execute("select _candidates_built_at, count(distinct customer_id) "
                                  "from marts.customer_attribute_lineage group by all").fetchall())
    assert len(stamps) > 1 and stamps[max(stamps)] < sum(stamps.values()) / 2, stamps
    # so did the day summaries: the customers without new or moved events keep the first batch's stamp
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for summary, stamp in DAY_SUMMARIES.items():
            newest = dict(con.execute(f"select customer_id, max({stamp}) from intermediate.{summary} "
                                      "group by all").fetchall())
            latest_stamp = max(newest.values())
            assert 0 < sum(value == latest_stamp for value in newest.values()) < len(newest), summary
    # a customer whose events all moved to another leaves a summary (its placeholder row goes): the
    # merger's, in one summary or the other (the full-refresh comparison above finds a stale row)
    left = {summary: customers - _summarised_customers(warehouse)[summary] for summary, customers in summarised.items()}
    assert any(left.values()), left
    # the second batch's records were compared: the comparisons kept grew
    assert latest["int_identity_pair_comparisons"][0] > first_comparisons
    # nothing new: the build changes nothing
    build_facts(warehouse, target)
    assert fingerprints(warehouse) == latest
    _assert_unique_by_build_finds_a_key_the_latest_build_wrote_again(warehouse, tmp_path)
    # a held event lost from an old load (counted per load against the staged events): attributed again
    with duckdb.connect(str(warehouse)) as con:
        for model, key in (("int_events_identified", "event_id"), ("int_email_events_identified", "email_event_id")):
            con.execute(f"delete from intermediate.{model} where {key} = "
                        f"(select min({key}) from intermediate.{model} where _load_id = "
                        f"(select min(_load_id) from intermediate.{model}))")
    build_facts(warehouse, target)
    assert fingerprints(warehouse) == latest
    # comparisons stored by other comparison SQL are compared again
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update intermediate.int_identity_pair_comparisons "
                    "set comparison_version = 'earlier comparison SQL', gamma_first_name = -9")
    build_facts(warehouse, target)
    assert fingerprints(warehouse) == latest
    # a backfill of an earlier date: the tables are rebuilt as they were then (the records created
    # since leave their blocks: their comparisons go)
    build_facts(warehouse, target, "2026-09-05")
    earlier = assert_same_as_full_refresh("2026-09-05")
    assert earlier["int_identity_pair_comparisons"][0] < latest["int_identity_pair_comparisons"][0]


def _assert_unique_by_build_finds_a_key_the_latest_build_wrote_again(warehouse: Path, tmp_path: Path) -> None:
    """The unique_by_build tests (tests/generic/unique_by_build.sql) pass on incremental builds, and
    fail when the latest build wrote a key that a row of an earlier build holds."""
    copy, target = tmp_path / "unique_by_build.duckdb", tmp_path / "target_unique_by_build"
    shutil.copy(warehouse, copy)
    selection = ("--select", "test_name:unique_by_build")
    passed = dbt(copy, target, "test", *selection)
    assert "unique_by_build_int_events_identified_event_id" in passed
    table = "intermediate.int_events_identified"
    with duckdb.connect(str(copy)) as con:
        latest, written = con.execute(f"select max(_built_at), count(*) filter (_built_at = (select max(_built_at) "
                                      f"from {table})) from {table}").fetchone()
        assert 0 < written < con.execute(f"select count(*) from {table}").fetchone()[0], "no delta to test"
        con.execute(f"insert into {table} select * replace (cast(? as timestamp) as _built_at) from {table} "
                    "where _built_at < ? limit 1", [latest, latest])
    failed = dbt(copy, target, "test", *selection, check=False)
    assert re.search(r"FAIL 1 unique_by_build_int_events_identified_event_id", failed), failed[-3000:]


def test_a_daily_build_reads_only_the_new_loads(landing, tmp_path):
    """The compiled delta of an incremental build selects the loads after the table's latest, not the history."""
    full_landing, _ = landing
    warehouse, target = tmp_path / "cdp.duckdb", tmp_path / "target"
    ingest_landing(warehouse, full_landing)
    dbt(warehouse, target, "seed")
    build_facts(warehouse, target, full_refresh=True)
    build_facts(warehouse, target)
    for model in ("stg_landing__events", "stg_landing__customers"):
        compiled = (target / "compiled" / "cdp_warehouse" / "models" / "staging" / "landing"
                    / f"{model}.sql").read_text()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            latest_load = con.execute(f"select max(_load_id) from staging.{model}").fetchall()[0][0]
        assert f"_load_id > {latest_load}" in compiled, model


def _row_versions(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return sorted(con.execute("select * from intermediate.int_quality_raw_row_versions").fetchall(), key=repr)


def test_the_scorecard_row_hashes_kept_between_runs_equal_a_full_refresh(landing, tmp_path):
    """int_quality_raw_row_versions hashes only loads it does not hold, hashes again a load whose row count in raw
    changed, and marks every copy of a hash but the first, also after the first went: after each step it holds
    what a full refresh gives."""
    full_landing, shared_first_landing = landing
    first_landing = shutil.copytree(shared_first_landing, tmp_path / "first")  # the fixture is shared
    warehouse, target = tmp_path / "cdp.duckdb", tmp_path / "target"

    def build(full_refresh: bool = False, on: Path = warehouse) -> None:
        refresh = ["--full-refresh"] if full_refresh else []
        dbt(on, target, "run", "--select", "int_quality_raw_row_versions", *refresh)

    def assert_same_as_full_refresh() -> None:
        copy = tmp_path / "full_refresh.duckdb"
        shutil.copy(warehouse, copy)
        build(full_refresh=True, on=copy)
        assert _row_versions(warehouse) == _row_versions(copy)

    # a suppression upload: a source whose key an erasure rewrites in place, so never kept
    (first_landing / "suppressions").mkdir(exist_ok=True)
    (first_landing / "suppressions" / "compliance_2026-09-01.csv").write_text(
        "identifier_type,identifier,reason,added_at\nemail,gone@example.org,erasure,2026-09-01T00:00:00Z\n",
        encoding="utf-8")
    ingest_landing(warehouse, first_landing)
    build()
    first = _row_versions(warehouse)
    ingest_landing(warehouse, full_landing)
    build()
    assert_same_as_full_refresh()
    later = _row_versions(warehouse)
    assert len(later) > len(first) and set(first) <= set(later)
    # an erasure deletes raw rows: part of one load of events, all of one load of orders
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw.events where _load_id = (select min(_load_id) from raw.events) "
                    "and _record_number % 2 = 0")
        con.execute("delete from raw.orders where _load_id = (select max(_load_id) from raw.orders)")
        kept = con.execute("select count(*) from raw.events").fetchall()[0][0]
    build()
    assert_same_as_full_refresh()
    assert len(_row_versions(warehouse)) < len(later)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from intermediate.int_quality_raw_row_versions "
                           "where landing_source = 'events'").fetchall()[0][0] == kept
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.suppressions").fetchall()[0][0] == 1
    assert not any(row[0] == "suppressions" for row in later)

    # a re-sent copy of an event in a new load: marked, and the scorecard's first copies count it once
    with duckdb.connect(str(warehouse)) as con:
        con.execute("insert into raw.events select * replace (_load_id + 1000 as _load_id) from raw.events "
                    "where _load_id = (select max(_load_id) from raw.events) and _record_number = 1")
        copy_load = con.execute("select max(_load_id) from raw.events").fetchall()[0][0]
    build()
    assert_same_as_full_refresh()
    assert _copies(warehouse) == [(copy_load - 1000, False), (copy_load, True)]
    # an erasure deletes the first copy, in raw and (by load and record number) here: the copy left becomes
    # the first, and the first copy's load, whose count in raw still matches, is not hashed again
    first_load = copy_load - 1000
    with duckdb.connect(str(warehouse)) as con:
        for table, load in (("raw.events", "_load_id"), ("intermediate.int_quality_raw_row_versions", "load_id")):
            con.execute(f"delete from {table} where {load} = {first_load} and "
                        f"{'_record_number' if table.startswith('raw') else 'record_number'} = 1")
        # a mark on a row of that load that hashing it again would lose
        con.execute("update intermediate.int_quality_raw_row_versions set parent_key = 'held as it was' "
                    f"where landing_source = 'events' and load_id = {first_load} and record_number = 2")
    build()
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute("select count(*) from intermediate.int_quality_raw_row_versions "
                           "where parent_key = 'held as it was'").fetchall()[0][0] == 1
        con.execute("update intermediate.int_quality_raw_row_versions set parent_key = null "
                    "where parent_key = 'held as it was'")
    assert _copies(warehouse) == [(copy_load, False)]
    assert_same_as_full_refresh()

    # a table kept with hashes of another type (text, before they were numbers on DuckDB) is hashed again
    def hash_type() -> str:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute("select data_type from information_schema.columns where table_schema = 'intermediate' "
                               "and table_name = 'int_quality_raw_row_versions' "
                               "and column_name = 'row_version_key'").fetchone()[0]

    assert hash_type() == "UHUGEINT"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table intermediate.int_quality_raw_row_versions "
                    "alter column row_version_key set data type varchar")
    build()
    assert hash_type() == "UHUGEINT"
    assert_same_as_full_refresh()


def _copies(warehouse: Path) -> list[tuple]:
    """Load and mark of each row holding the hash of the event copied into a load of its own."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select load_id, repeats_earlier_copy from intermediate.int_quality_raw_row_versions "
            "where row_version_key in (select row_version_key from intermediate.int_quality_raw_row_versions "
            "where load_id = (select max(_load_id) from raw.events) and landing_source = 'events') "
            "order by load_id").fetchall()
