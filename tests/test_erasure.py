"""Erasure and the suppression list (docs/privacy.md).

A small hand-built warehouse shows each rule of the purge quickly; then one generated
landing zone with a distinctive person in every source, erased by e-mail, goes through
the whole pipeline twice (the second time a source sends the person again), and every
table and every export file is searched for them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cdp.contract import load_contract
from cdp.ingest import prepare_warehouse
from cdp.ingest.reconcile import reconcile_source
from cdp.privacy import apply_erasures, identifier_sha256
from cdp.privacy import erasure as erasure_module
from cdp.privacy.personal_columns import load_rules


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def table(con, name: str, columns: str, rows: list[tuple]) -> None:
    con.execute(f"create schema if not exists {name.split('.')[0]}")
    con.execute(f"create or replace table {name} ({columns})")
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"insert into {name} values ({marks})", rows)


def rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


# --- a small warehouse: Ann (crm c1 + webshop w1) asks to be erased; Bob (crm c2) shares her phone ---

ANN_EMAIL, ANN_PHONE, ANN_DEVICE = "ann.smith@mail.net", "+447700900123", "device-ann"


@pytest.fixture
def small(con):
    return build_small_warehouse(con)


def build_small_warehouse(con):
    """Raw, staging and identity tables for Ann, Bob and a request naming Ann (tests/test_erasure_spark.py
    copies them to Spark)."""
    prepare_warehouse(con, load_contract())
    con.execute("insert into audit.load_history (load_id, source, file_path, file_checksum, status, started_at) "
                "values (1, 'customers', 'customers/a.csv', 'x', 'loaded', now())")
    con.execute("insert into raw.customers (source_system, source_customer_id, email, phone, first_name, _load_id, "
                "_record_number) values ('CRM', ' c1', ' Ann.Smith@Mail.net', '07700 900123', 'Ann', 1, 1), "
                "('webshop', 'w1', null, null, 'Ann', 1, 2), "
                "('crm', 'c2', 'bob@mail.net', '07700 900123', 'Bob', 1, 3)")
    con.execute("insert into raw.orders (source_system, order_id, source_customer_id, total_amount, _load_id, "
                "_record_number) values ('crm', 'o1', 'c1', 12.5, 1, 1), ('crm', 'o2', 'c2', 3, 1, 2)")
    con.execute("insert into raw.events (event_id, anonymous_id, source_system, source_customer_id, _load_id, "
                f"_record_number) values ('e1', '{ANN_DEVICE}', null, null, 1, 1), "
                f"('e2', '{ANN_DEVICE}', 'webshop', 'w1', 1, 2), ('e3', 'device-bob', 'crm', 'c2', 1, 3)")
    con.execute("insert into raw.erasure_requests (request_id, email, requested_at, _load_id, _record_number) "
                "values ('r1', 'ANN.SMITH@mail.net', '2026-09-01', 1, 1)")
    con.execute("insert into audit.quarantine values (1, 'events', 'events/a.jsonl', 9, 10, 'bad event_type', "
                "'{\"event_id\": \"e9\", \"anonymous_id\": \"device-ann\"}', now())")
    table(con, "staging.stg_landing__erasure_requests", "erasure_request_id varchar, source_system varchar, "
          "source_customer_id varchar, email varchar, phone varchar, requested_at timestamp",
          [("r1", None, None, ANN_EMAIL, None, datetime(2026, 9, 1))])
    table(con, "staging.stg_landing__suppressions", "identifier_type varchar, reason varchar, "
          "identifier_sha256 varchar, email_match_key_sha256 varchar, _load_id bigint, _record_number bigint", [])
    table(con, "staging.stg_landing__customers", "customer_record_id varchar, source_system varchar, "
          "source_customer_id varchar, email varchar, phone varchar, first_name varchar",
          [("rc1", "crm", "c1", ANN_EMAIL, ANN_PHONE, "Ann"), ("rw1", "webshop", "w1", None, None, "Ann"),
           ("rc2", "crm", "c2", "bob@mail.net", ANN_PHONE, "Bob")])
    table(con, "staging.stg_landing__segment_lists", "list_name varchar, identifier_type varchar, "
          "identifier varchar, identifier_value varchar", [])
    table(con, "intermediate.int_customer_records_resolved", "customer_record_id varchar, customer_id varchar, "
          "source_system varchar, source_customer_id varchar",
          [("rc1", "A", "crm", "c1"), ("rw1", "A", "webshop", "w1"), ("rc2", "B", "crm", "c2")])
    table(con, "intermediate.int_identity_match_records", "customer_record_id varchar, comparison_fingerprint bigint",
          [("rc1", 11), ("rw1", 12), ("rc2", 13)])
    # identity's kept comparisons, by the fingerprints of the records compared (14: a record of someone else)
    table(con, "intermediate.int_identity_pair_comparisons", "comparison_fingerprint_l bigint, "
          "comparison_fingerprint_r bigint, gamma_first_name integer", [(11, 12, 7), (12, 13, 0), (13, 14, 3)])
    table(con, "intermediate.int_customer_identifiers_unioned", "customer_record_id varchar, "
          "identifier_type varchar, identifier_value varchar",
          [("rc1", "email", ANN_EMAIL), ("rc1", "phone", ANN_PHONE), ("rc2", "email", "bob@mail.net"),
           ("rc2", "phone", ANN_PHONE)])
    table(con, "intermediate.int_erasure_requests_identified", "erasure_request_id varchar, customer_id varchar",
          [("r1", "A")])
    table(con, "intermediate.int_anonymous_ids_identified", "anonymous_id varchar, customer_id varchar",
          [(ANN_DEVICE, "A"), ("device-bob", "B")])
    table(con, "intermediate.int_events_identified", "event_id varchar, customer_id varchar, "
          "anonymous_id varchar, identified_by varchar",
          [("e1", "A", ANN_DEVICE, "device"), ("e2", "A", ANN_DEVICE, "login"), ("e3", "B", "device-bob", "login")])
    table(con, "intermediate.int_customer_id_assignments", "customer_record_id varchar, customer_id varchar, "
          "previous_customer_id varchar", [("rc1", "A", None), ("rc2", "B", "A")])
    # one row per raw row (the scorecard's kept hashes): a row goes with its raw row, though it names nobody
    table(con, "intermediate.int_quality_raw_row_versions", "landing_source varchar, load_id bigint, "
          "record_number bigint, row_version_key varchar",
          [("customers", 1, 1, "k1"), ("customers", 1, 2, "k2"), ("customers", 1, 3, "k3"), ("events", 1, 1, "k4"),
           ("events", 1, 2, "k5"), ("events", 1, 3, "k6"), ("orders", 1, 1, "k7")])
    # a table someone adds later, in a schema of its own: covered by its column names
    table(con, "activation.audience_members", "audience varchar, customer_id varchar, email varchar",
          [("news", "A", ANN_EMAIL), ("news", "B", "bob@mail.net")])
    return con


def test_erasure_removes_the_person_everywhere_and_keeps_the_rest(small):
    con = small
    report = apply_erasures(con, "run-1", now=datetime(2026, 10, 1))

    assert (report.erasure_requests, report.customers_erased) == (1, 1)
    # Ann's e-mail, records and device are suppressed; the phone Bob holds too is not
    assert report.identifiers_suppressed == {"email": 1, "source_record": 2, "anonymous_id": 1}
    listed = set(rows(con, "select identifier_type, identifier_sha256 from privacy.suppression_list"))
    assert ("email", sha(ANN_EMAIL)) in listed and ("source_record", sha("webshop:w1")) in listed
    assert ("phone", sha(ANN_PHONE)) not in listed
    # raw: Ann's records and events go, Bob's stay; her order stays for the accounts, without her
    assert rows(con, "select source_customer_id from raw.customers") == [("c2",)]
    assert rows(con, "select event_id from raw.events") == [("e3",)]
    assert rows(con, "select order_id, source_customer_id, total_amount from raw.orders order by 1") == [
        ("o1", None, 12.5), ("o2", "c2", 3)]
    assert rows(con, "select request_id, email, phone, source_customer_id from raw.erasure_requests") == [
        ("r1", None, None, None)]
    assert rows(con, "select raw_content, reason from audit.quarantine") == [(None, "bad event_type")]
    # every other table, found by column names; Bob's history keeps its row without Ann's id
    assert rows(con, "select customer_id from activation.audience_members") == [("B",)]
    assert rows(con, "select source_customer_id from staging.stg_landing__customers") == [("c2",)]
    assert rows(con, "select count(*) from staging.stg_landing__erasure_requests") == [(0,)]
    assert rows(con, "select customer_record_id, customer_id, previous_customer_id "
                     "from intermediate.int_customer_id_assignments") == [("rc2", "B", None)]
    assert rows(con, "select customer_id from intermediate.int_anonymous_ids_identified") == [("B",)]
    assert rows(con, "select comparison_fingerprint_l, comparison_fingerprint_r "
                     "from intermediate.int_identity_pair_comparisons") == [(13, 14)]
    # the rows of deleted raw rows; her order's stays, as the order does
    assert rows(con, "select landing_source, record_number from intermediate.int_quality_raw_row_versions "
                     "order by all") == [("customers", 3), ("events", 3), ("orders", 1)]
    # the log says what happened, with no personal data
    logged = rows(con, "select * from audit.erasure_log")
    assert len(logged) == 1 and logged[0][0] == "r1" and logged[0][4] == 1
    assert json.loads(logged[0][7])["raw.customers"] == 2
    text = repr(logged + rows(con, "select * from audit.privacy_runs")).lower()
    assert "ann" not in text and "7700" not in text and sha(ANN_EMAIL) not in text
    # raw rows erased are accounted for: loaded = in raw + erased
    recon = reconcile_source(con, "customers")
    assert (recon.raw_rows, recon.rows_erased) == (1, 2)
    assert report.models_stale


def test_a_warehouse_built_before_comparison_fingerprints_is_erased_all_the_same(small):
    """A warehouse whose last dbt build predates the fingerprints (an upgrade): its match records lack
    the column, and erasure works from record ids alone."""
    con = small
    con.execute("alter table intermediate.int_identity_match_records drop column comparison_fingerprint")
    con.execute("drop table intermediate.int_identity_pair_comparisons")
    report = apply_erasures(con, "run-1", now=datetime(2026, 10, 1))
    assert report.customers_erased == 1
    assert rows(con, "select customer_record_id from intermediate.int_identity_match_records") == [("rc2",)]


def test_a_second_run_changes_nothing_and_a_resent_record_is_purged_again(small):
    con = small
    apply_erasures(con, "run-1", now=datetime(2026, 10, 1))
    again = apply_erasures(con, "run-2", now=datetime(2026, 10, 2))
    assert not again.changed_anything
    assert rows(con, "select count(*) from audit.privacy_runs") == [(1,)]
    assert rows(con, "select count(*) from audit.erasure_log") == [(1,)]

    # the CRM sends Ann again, and the ESP her e-mail in another spelling
    con.execute("insert into audit.load_history (load_id, source, file_path, file_checksum, status, started_at) "
                "values (2, 'customers', 'customers/b.csv', 'y', 'loaded', now())")
    con.execute("insert into raw.customers (source_system, source_customer_id, email, first_name, _load_id, "
                "_record_number) values ('crm', 'c1', 'ann.smith@mail.net', 'Ann', 2, 1), "
                "('esp', 'new', ' ANN.SMITH@MAIL.NET', 'Ann', 2, 2)")
    resent = apply_erasures(con, "run-3", now=datetime(2026, 10, 3))
    assert rows(con, "select source_customer_id from raw.customers") == [("c2",)]
    assert resent.rows_deleted == {"raw.customers": 2} and resent.customers_erased == 0
    assert not resent.models_stale  # staging had left them out already: nothing to rebuild
    assert rows(con, "select count(*) from audit.privacy_runs") == [(2,)]


def test_a_resent_record_takes_the_rows_built_for_its_raw_row_along(small):
    """Nobody newly erased, but a re-sent raw row of someone erased before goes: so do the rows kept per raw
    row (a build after it arrived hashed it), and the models built from them are stale."""
    con = small
    apply_erasures(con, "run-1", now=datetime(2026, 10, 1))
    con.execute("insert into audit.load_history (load_id, source, file_path, file_checksum, status, started_at) "
                "values (2, 'customers', 'customers/b.csv', 'y', 'loaded', now())")
    con.execute("insert into raw.customers (source_system, source_customer_id, email, first_name, _load_id, "
                "_record_number) values ('crm', 'c1', 'ann.smith@mail.net', 'Ann', 2, 1), "
                "('crm', 'c3', 'cleo@mail.net', 'Cleo', 2, 2)")
    con.execute("insert into intermediate.int_quality_raw_row_versions values "
                "('customers', 2, 1, 'k8'), ('customers', 2, 2, 'k9')")
    resent = apply_erasures(con, "run-2", now=datetime(2026, 10, 2))
    assert resent.customers_erased == 0
    assert resent.rows_deleted == {"raw.customers": 1, "intermediate.int_quality_raw_row_versions": 1}
    assert rows(con, "select load_id, record_number from intermediate.int_quality_raw_row_versions "
                     "where load_id = 2") == [(2, 2)]
    assert resent.models_stale


def test_an_uploaded_suppression_erases_whoever_holds_it(small):
    con = small
    con.execute("delete from staging.stg_landing__erasure_requests")
    con.execute("delete from intermediate.int_erasure_requests_identified")
    con.execute("insert into raw.suppressions (identifier_type, identifier, _load_id, _record_number) "
                "values ('email', ' Bob@Mail.net ', 1, 1)")
    con.execute("insert into staging.stg_landing__suppressions values ('email', 'opt_out', ?, ?, 1, 1)",
                [sha("bob@mail.net"), sha("bob@mail.net")])
    report = apply_erasures(con, "run-1", now=datetime(2026, 10, 1))
    assert (report.suppressions_absorbed, report.customers_erased) == (1, 1)
    assert rows(con, "select source_customer_id from raw.customers order by 1") == [(" c1",), ("w1",)]
    # raw keeps the upload only as its hash
    assert rows(con, "select identifier from raw.suppressions") == [(sha("bob@mail.net"),)]
    assert ("email", sha("bob@mail.net"), "opt_out") in rows(
        con, "select identifier_type, identifier_sha256, reason from privacy.suppression_list")


def test_a_request_naming_no_customer_still_suppresses_and_purges_its_identifiers(small):
    """Someone known only as an e-mail address (newsletter events, no customer record)."""
    con = small
    con.execute("insert into raw.email_events (event_id, event_type, email, _load_id, _record_number) "
                "values ('m1', 'open', ' Nobody@Mail.net', 1, 1), ('m2', 'open', 'bob@mail.net', 1, 2)")
    table(con, "staging.stg_landing__email_events", "email_event_id varchar, email varchar",
          [("m1", "nobody@mail.net"), ("m2", "bob@mail.net")])
    con.execute("insert into staging.stg_landing__erasure_requests values "
                "('r2', null, null, 'nobody@mail.net', null, '2026-09-02')")
    report = apply_erasures(con, "run-1")
    assert report.erasure_requests == 2
    assert ("email", sha("nobody@mail.net")) in rows(
        con, "select identifier_type, identifier_sha256 from privacy.suppression_list")
    assert rows(con, "select event_id from raw.email_events") == [("m2",)]
    assert rows(con, "select email_event_id from staging.stg_landing__email_events") == [("m2",)]
    assert rows(con, "select erasure_request_id, customers_erased from audit.erasure_log order by 1") == [
        ("r1", 1), ("r2", 0)]


def test_a_failure_leaves_everything_as_it_was(small, monkeypatch):
    con = small
    before = rows(con, "select count(*) from raw.customers") + rows(con, "select count(*) from raw.events")

    def broken(con, report):
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure_module, "_purge_derived", broken)
    with pytest.raises(RuntimeError):
        apply_erasures(con, "run-1")
    assert rows(con, "select count(*) from raw.customers") + rows(con, "select count(*) from raw.events") == before
    assert rows(con, "select count(*) from privacy.suppression_list") == [(0,)]
    assert rows(con, "select count(*) from audit.erasure_log") == [(0,)]


def test_identifier_hashes_match_the_warehouse_normalisation():
    assert identifier_sha256("email", "  Ann.Smith @Mail.NET ") == sha(ANN_EMAIL)
    assert identifier_sha256("source_record", " CRM : c1 ") == sha("crm:c1")
    assert identifier_sha256("loyalty_id", "ab-12 34") == sha("AB1234")
    assert identifier_sha256("phone", ANN_PHONE) == sha(ANN_PHONE)
    assert identifier_sha256("email", "  ") is None


def test_erasure_runs_after_dbt_and_before_models_and_exports():
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.exports import AUDIENCE_EXPORTS
    from orchestration.defs.ml import ML_ASSETS
    from orchestration.defs.privacy import ERASURE_ASSET_KEY

    graph = defs.get_repository_def().asset_graph
    assert dg.AssetKey(["intermediate", "int_erasure_requests_identified"]) in graph.get(ERASURE_ASSET_KEY).parent_keys
    for asset in [*ML_ASSETS, *AUDIENCE_EXPORTS]:
        for key in asset.keys:
            assert ERASURE_ASSET_KEY in graph.get(key).parent_keys, key
    # staging reads the suppression list
    assert dg.AssetKey(["privacy", "suppression_list"]) in graph.get(
        dg.AssetKey(["staging", "stg_landing__customers"])).parent_keys


# --- the whole pipeline: Zebediah Quuxworth, in every source, erased by e-mail ---

END_DATE = date(2026, 9, 30)
FIRST, LAST = "Zebediah", "Quuxworth"
EMAIL = "zebediah.quuxworth@quuxmail.net"
PHONE_SENT, PHONE = "07700 900461", "+447700900461"
DEVICE = "anon-zq-7f3e9c"
CRM_ID, WEB_ID = "ZQ-CRM-001", "ZQ-WEB-001"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _add_person(landing: Path) -> None:
    """Zebediah in the CRM and the web shop, consenting, buying, browsing and reading e-mails."""
    _write(landing / "customers" / "zz_crm_customers_zq.csv",
           "source_system,source_customer_id,email,phone,first_name,last_name,birth_date,street,city,postcode,"
           "country,created_at,updated_at\n"
           f"crm,{CRM_ID},{EMAIL},{PHONE_SENT},{FIRST},{LAST},1980-02-29,1 Quux Lane,Leeds,LS1 4AP,GB,"
           "2026-08-05T10:00:00Z,2026-08-05T10:00:00Z\n")
    _write(landing / "customers" / "zz_webshop_customers_zq.csv",
           "source_system,source_customer_id,email,phone,first_name,last_name,country,created_at,updated_at\n"
           f"webshop,{WEB_ID}, {EMAIL.title()} ,{PHONE},{FIRST.upper()},{LAST},GB,"
           "2026-08-06T10:00:00Z,2026-08-06T10:00:00Z\n")
    _write(landing / "consent" / "zz_consent_zq.csv",
           "source_system,consent_id,source_customer_id,email,purpose,status,occurred_at\n"
           f"crm,zq-c1,{CRM_ID},,email_marketing,granted,2026-08-05T10:00:00Z\n"
           f"webshop,zq-c2,{WEB_ID},,ad_targeting,granted,2026-08-06T10:00:00Z\n"
           f"esp,zq-c3,,{EMAIL},email_marketing,granted,2026-08-07T10:00:00Z\n"
           # rejected (no such status): quarantined with the person's e-mail in it
           f"esp,zq-c4,,{EMAIL},email_marketing,maybe,2026-08-08T10:00:00Z\n")
    _write(landing / "orders" / "zz_orders_zq.csv",
           "source_system,order_id,source_customer_id,ordered_at,status,currency,total_amount,channel\n"
           f"webshop,ZQ-ORDER-1,{WEB_ID},2026-09-10T12:00:00Z,completed,GBP,123.45,web\n")
    _write(landing / "order_items" / "zz_order_items_zq.csv",
           "source_system,order_id,product_id,quantity,unit_price\nwebshop,ZQ-ORDER-1,SKU-100001,1,123.45\n")
    _write(landing / "events" / "zz_events_zq.csv",
           "event_id,event_type,occurred_at,anonymous_id,source_system,source_customer_id,session_id,product_id\n"
           f"zq-e1,page_view,2026-09-09T12:00:00Z,{DEVICE},,,zq-s1,\n"
           f"zq-e2,product_view,2026-09-09T12:01:00Z,{DEVICE},,,zq-s1,SKU-100001\n"
           f"zq-e3,login,2026-09-10T11:58:00Z,{DEVICE},webshop,{WEB_ID},zq-s2,\n"
           f"zq-e4,purchase,2026-09-10T12:00:00Z,{DEVICE},webshop,{WEB_ID},zq-s2,SKU-100001\n")
    _write(landing / "email_events" / "zz_email_events_zq.csv",
           "event_id,event_type,occurred_at,email,campaign_id,source_system\n"
           f"zq-m1,sent,2026-09-12T09:00:00Z,{EMAIL},cmp-zq,esp\n"
           f"zq-m2,open,2026-09-12T10:00:00Z,{EMAIL.upper()},cmp-zq,esp\n"
           # cannot be parsed (a field too many): quarantined as raw text
           f"zq-m3,click,2026-09-12T10:05:00Z,{EMAIL},cmp-zq,esp,extra\n")
    _write(landing / "segment_lists" / "zz_vip_zq.csv",
           f"list_name,identifier_type,identifier\nvip_accounts,phone,{PHONE_SENT}\n")
    _write(landing / "erasure_requests" / "zz_erasure_zq.csv",
           f"request_id,email,requested_at\nzq-request-1, {EMAIL.upper()} ,2026-09-20T08:00:00Z\n")


def _forbidden_text() -> list[str]:
    """What must appear in no table (compared lower-case)."""
    return [EMAIL, PHONE, PHONE_SENT, PHONE_SENT.replace(" ", ""), FIRST.lower(), LAST.lower(), DEVICE,
            CRM_ID.lower(), WEB_ID.lower()]


def _forbidden_in_exports() -> list[str]:
    """Plus the hashes destinations get: SHA-256 (Meta, Google), MD5 of the e-mail (Mailchimp)."""
    digits = PHONE.lstrip("+")
    return [*_forbidden_text(), sha(EMAIL), sha(PHONE), sha(digits), sha(FIRST.lower()), sha(LAST.lower()),
            hashlib.md5(EMAIL.encode()).hexdigest()]


def _customer_ids() -> list[str]:
    """Zebediah's customer and record ids as the warehouse mints them (md5 of the source key)."""
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()
    return [md5(f"customer-crm-{CRM_ID}"), md5(f"customer-webshop-{WEB_ID}"), md5(f"crm-{CRM_ID}"),
            md5(f"webshop-{WEB_ID}")]


def _find_in_warehouse(warehouse: Path, needles: list[str]) -> list[tuple[str, str]]:
    """(relation, needle) for every needle found in any column of any table or view."""
    found = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relations = rows(con, "select table_schema, table_name from information_schema.tables "
                              "where table_catalog = current_database()")
        for schema, name in relations:
            columns = [r[0] for r in rows(con, f'describe "{schema}"."{name}"')]
            text = " || chr(31) || ".join(f'coalesce(lower(cast("{c}" as varchar)), \'\')' for c in columns)
            for needle in needles:
                if rows(con, f'select count(*) from "{schema}"."{name}" where contains({text}, ?)', [needle])[0][0]:
                    found.append((f"{schema}.{name}", needle))
    return found


def _find_in_files(folder: Path, needles: list[str]) -> list[tuple[str, str]]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            with duckdb.connect() as con:
                content = repr(rows(con, f"select * from read_parquet('{path}')")).lower()
        else:
            content = path.read_text(encoding="utf-8", errors="replace").lower()
        found += [(str(path.relative_to(folder)), n) for n in needles if n in content]
    return found


@pytest.fixture(scope="module")
def erased_run(tmp_path_factory):
    from cdp.generate import generate_landing
    from cdp.pipeline import run_pipeline

    work = tmp_path_factory.mktemp("erasure")
    landing = work / "landing"
    generate_landing(landing, customers=200, days=60, seed=23, end_date=END_DATE, progress=False)
    _add_person(landing)
    # the strictest policy: erased bytes leave the file in the run that erased
    outcome = run_pipeline(landing, work / "cdp.duckdb", work / "exports", compaction_max_delay_days=0)
    assert outcome.success, outcome.summary()
    return outcome, work, landing


@pytest.fixture(scope="module")
def resent_run(erased_run):
    """The CRM sends Zebediah again, with a new e-mail event, after the erasure."""
    from cdp.pipeline import run_pipeline

    _, work, landing = erased_run
    before = {n: rows(duckdb.connect(str(work / "cdp.duckdb"), read_only=True), f"select count(*) from {n}")[0][0]
              for n in ("privacy.suppression_list", "audit.erasure_log")}
    header = (landing / "customers" / "zz_crm_customers_zq.csv").read_text(encoding="utf-8").splitlines()[0]
    _write(landing / "customers" / "zz_resent_zq.csv",
           f"{header}\ncrm,{CRM_ID},{EMAIL},{PHONE_SENT},{FIRST},{LAST},1980-02-29,1 Quux Lane,Leeds,LS1 4AP,GB,"
           "2026-08-05T10:00:00Z,2026-09-25T10:00:00Z\n")
    _write(landing / "email_events" / "zz_resent_zq.csv",
           f"event_id,event_type,occurred_at,email,campaign_id,source_system\nzq-m9,sent,2026-09-28T09:00:00Z,"
           f"{EMAIL},cmp-zq2,esp\n")
    outcome = run_pipeline(landing, work / "cdp.duckdb", work / "exports")
    assert outcome.success, outcome.summary()
    return outcome, work, before


@pytest.fixture(scope="module")
def later_erasure_run(tmp_path_factory):
    """Zebediah is a customer for one run; his request arrives before the next, which erases him
    before dbt (the warehouse knows who he is): one dbt build, no rebuild."""
    from cdp.generate import generate_landing
    from cdp.pipeline import run_pipeline

    work = tmp_path_factory.mktemp("later_erasure")
    landing = work / "landing"
    generate_landing(landing, customers=200, days=60, seed=29, end_date=END_DATE, progress=False)
    _add_person(landing)
    request = landing / "erasure_requests" / "zz_erasure_zq.csv"
    held_back = request.read_text(encoding="utf-8")
    request.unlink()
    first = run_pipeline(landing, work / "cdp.duckdb", work / "exports")
    assert first.success, first.summary()
    assert _find_in_warehouse(work / "cdp.duckdb", [EMAIL]), "Zebediah should be a customer before his request"
    request.write_text(held_back, encoding="utf-8")
    second = run_pipeline(landing, work / "cdp.duckdb", work / "exports")
    assert second.success, second.summary()
    return second, work, landing


def test_a_request_to_a_known_warehouse_is_erased_before_dbt_without_a_rebuild(later_erasure_run):
    from conftest import table_fingerprints

    from cdp.pipeline import run_pipeline

    outcome, work, landing = later_erasure_run
    wh = work / "cdp.duckdb"
    assert _find_in_warehouse(wh, _forbidden_text() + _customer_ids()) == []
    with duckdb.connect(str(wh), read_only=True) as con:
        steps = rows(con, "select erasure_requests, customers_erased from audit.privacy_runs where run_id = ?",
                     [outcome.run_id])
        # one step erased him, the one before dbt; the step after dbt found nothing left to do
        assert steps == [(1, 1)]
        assert rows(con, "select customers_erased from audit.erasure_log where erasure_request_id = 'zq-request-1'"
                    ) == [(1,)]
    # the whole project was built once: no rebuild after the erasure
    log = outcome.log_path.read_text(encoding="utf-8").splitlines()
    assert len([line for line in log if line.startswith("Finished running") and " seeds" in line]) == 1
    # what the rebuild after dbt used to guarantee: the next run, with nothing new, changes no table
    before = table_fingerprints(wh)
    again = run_pipeline(landing, wh, work / "exports")
    assert again.success, again.summary()
    assert table_fingerprints(wh) == before
    # the run with the request refreshed the requests in staging before dbt (one more dbt invocation);
    # with no request landed since, the next run's step before dbt did not start dbt
    def dbt_invocations(run):
        return [line for line in run.log_path.read_text(encoding="utf-8").splitlines()
                if line.startswith("Finished running")]
    assert len(dbt_invocations(again)) == len(dbt_invocations(outcome)) - 1


def test_erased_bytes_leave_the_file_once_the_policy_says_so(later_erasure_run):
    """storage.yml's 7 days: no table holds the person, his bytes may stay in freed blocks of the file
    until the first run 7 days after the erasure (or `cdp compact`) rewrites it."""
    from cdp.privacy.storage import compact_if_due, erased_since, load_policy

    outcome, work, _ = later_erasure_run
    wh = work / "cdp.duckdb"
    policy = load_policy()
    assert policy.max_delay_days == 7
    with duckdb.connect(str(wh), read_only=True) as con:
        pending = erased_since(con)
        erased_at = rows(con, "select processed_at from audit.privacy_runs where run_id = ?", [outcome.run_id])[0][0]
        assert rows(con, "select count(*) from audit.file_compactions") == [(0,)]
    assert pending == erased_at
    assert EMAIL.encode() in wh.read_bytes().lower(), "the deferral this policy allows: bytes still in freed blocks"
    # a day before the deadline nothing happens; at the deadline the file is rewritten
    day = timedelta(days=1)
    assert compact_if_due(wh, policy, now=erased_at + 6 * day) == (None, erased_at)
    compaction, left = compact_if_due(wh, policy, now=erased_at + 7 * day)
    assert compaction is not None and compaction.reason == "due" and left is None
    assert compaction.erased_since == erased_at and compaction.bytes_after < compaction.bytes_before
    content = wh.read_bytes().lower()
    assert EMAIL.encode() not in content and LAST.lower().encode() not in content
    with duckdb.connect(str(wh), read_only=True) as con:
        assert erased_since(con) is None
        assert rows(con, "select reason, erased_since from audit.file_compactions") == [("due", erased_at)]
    # covered: nothing is due any more
    assert compact_if_due(wh, policy, now=erased_at + 30 * day) == (None, None)


def test_pipeline_erases_the_person_from_every_table(erased_run):
    outcome, work, _ = erased_run
    wh = work / "cdp.duckdb"
    assert _find_in_warehouse(wh, _forbidden_text() + _customer_ids()) == []
    with duckdb.connect(str(wh), read_only=True) as con:
        # the person was in the warehouse before the purge: the log counts what went
        request = rows(con, "select erasure_request_id, requested_at, customers_erased, identifiers_suppressed, "
                            "rows_deleted, run_id from audit.erasure_log where erasure_request_id = 'zq-request-1'")
        assert len(request) == 1, rows(con, "select * from audit.erasure_log")
        _, requested_at, customers, suppressed, deleted, run_id = request[0]
        assert requested_at == datetime(2026, 9, 20, 8) and customers == 1 and run_id == outcome.run_id
        suppressed, deleted = json.loads(suppressed), json.loads(deleted)
        assert suppressed["source_record"] == 2 and suppressed["email"] >= 1 and suppressed["anonymous_id"] == 1
        # a first run: the step before dbt built staging and identity, erased him from them and from raw,
        # and the one build of the marts never held him
        for layer in ("raw.customers", "raw.consent", "raw.events", "raw.email_events", "raw.segment_lists",
                      "staging.stg_landing__customers", "intermediate.int_customer_records_resolved",
                      "intermediate.int_identity_clusters", "intermediate.int_events_identified",
                      # his two records were compared: the comparisons kept under their fingerprints go
                      "intermediate.int_identity_blocked_pairs", "intermediate.int_identity_pair_comparisons"):
            assert deleted.get(layer, 0) > 0, layer
        assert not [table for table in deleted if table.startswith("marts.")], deleted
        # the order stays for the accounts, without its buyer
        assert rows(con, "select source_customer_id, total_amount from raw.orders where order_id = 'ZQ-ORDER-1'") == [
            (None, Decimal("123.45"))]
        assert rows(con, "select customer_id, total_amount from marts.fct_orders where source_order_id = 'ZQ-ORDER-1'"
                    ) == [(None, Decimal("123.45"))]
        # staging orders is incremental: the row is unlinked in place, as a full build from raw would have it
        assert rows(con, "select source_customer_id, total_amount from staging.stg_landing__orders "
                         "where source_order_id = 'ZQ-ORDER-1'") == [(None, Decimal("123.45"))]
        assert deleted.get("staging.stg_landing__orders", 0) == 0
        # the suppression list holds the hashes, and only it does
        listed = set(rows(con, "select identifier_type, identifier_sha256 from privacy.suppression_list"))
        assert {("email", sha(EMAIL)), ("phone", sha(PHONE)), ("source_record", sha(f"crm:{CRM_ID}")),
                ("source_record", sha(f"webshop:{WEB_ID}")), ("anonymous_id", sha(DEVICE))} <= listed
        # the processed request keeps its id and time only
        assert rows(con, "select email, phone, source_customer_id from raw.erasure_requests "
                         "where request_id = 'zq-request-1'") == [(None, None, None)]
        # the columns of an identifier typed in personal_data.yml hold that type: the purge compares in it
        rules = load_rules()
        typed = rows(con, "select table_name, column_name, lower(data_type) from information_schema.columns")
        typed = [(column, kind, data_type) for _, column, data_type in typed
                 if (kind := rules.identifier_type(column, rules.delete)) in rules.types]
        assert {column for column, _, _ in typed} == {"comparison_fingerprint_l", "comparison_fingerprint_r"}
        assert all(data_type == rules.types[kind] for _, kind, data_type in typed), typed
        # every load still reconciles, with the erased rows counted
        for source in load_contract().sources:
            assert reconcile_source(con, source).passed, reconcile_source(con, source).explanation
    assert _find_in_warehouse(wh, [sha(EMAIL), sha(PHONE)]) == [
        ("privacy.suppression_list", sha(EMAIL)), ("privacy.suppression_list", sha(PHONE))]
    # nor in the blocks deleted rows leave behind: the erasure step rewrote the file
    content = wh.read_bytes().lower()
    assert EMAIL.encode() not in content and LAST.lower().encode() not in content


def _artifact_strings(obj, seen: set[int] | None = None) -> set[str]:
    """Every string inside a loaded model artifact (attributes, containers, text arrays)."""
    import numpy as np

    seen = set() if seen is None else seen
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if isinstance(obj, str):
        return {obj.lower()}
    if isinstance(obj, np.ndarray):
        items = obj.ravel().tolist() if obj.dtype.kind in "OUS" else []
    elif isinstance(obj, dict):
        items = [*obj.keys(), *obj.values()]
    elif isinstance(obj, list | tuple | set):
        items = list(obj)
    elif hasattr(obj, "__dict__"):
        items = [vars(obj)]
    else:
        return set()
    return set().union(*(_artifact_strings(v, seen) for v in items)) if items else set()


def test_model_artifacts_hold_no_customer(erased_run):
    """docs/privacy.md says the saved models hold no personal data: no customer id of anyone, no
    name or contact detail is inside them."""
    import joblib
    import numpy as np

    _, work, _ = erased_run
    with duckdb.connect(str(work / "cdp.duckdb"), read_only=True) as con:
        ids = {r[0] for r in rows(con, "select customer_id from marts.dim_customers union all "
                                       "select customer_record_id from marts.customer_identity_map")}
    artifacts = sorted(p for p in (work / "model_artifacts").rglob("*") if p.is_file())
    assert artifacts
    for path in artifacts:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as saved:
                strings = _artifact_strings({k: saved[k] for k in saved.files})
        else:
            strings = _artifact_strings(joblib.load(path))
        assert not strings & ids, path
        assert not [s for s in strings if any(n in s for n in _forbidden_text())], path


def test_no_export_file_holds_the_person(erased_run):
    outcome, work, _ = erased_run
    assert [e for e in outcome.exports if e["status"] == "exported"], outcome.summary()
    assert _find_in_files(work / "exports", _forbidden_in_exports() + _customer_ids()) == []


def test_raw_identifier_sql_reads_values_as_staging_does(erased_run):
    """The raw purge finds re-sent rows with SQL that mirrors staging's normalisation: check it
    agrees with staging on every generated customer record."""
    from cdp.privacy.raw_identifiers import email, phone_international, source_record

    _, work, _ = erased_run
    with duckdb.connect(str(work / "cdp.duckdb"), read_only=True) as con:
        pairs = rows(con, f"""
            select
                count(*) filter (where staged.email is not null),
                count(*) filter (where staged.email is distinct from {email('raw.email')} and staged.email is not null),
                count(*) filter (where {phone_international('raw.phone')} is not null),
                count(*) filter (where {phone_international('raw.phone')} is distinct from staged.phone
                                 and {phone_international('raw.phone')} is not null and staged.phone is not null)
            from raw.customers as raw
            inner join staging.stg_landing__customers as staged
                on staged.source_system || ':' || staged.source_customer_id
                    = {source_record('raw.source_system', 'raw.source_customer_id')}
                and staged._load_id = raw._load_id
        """)[0]
    emails, email_mismatches, phones, phone_mismatches = pairs
    assert emails > 100 and email_mismatches == 0
    assert phones > 10 and phone_mismatches == 0


def test_a_resent_person_is_purged_again_and_nothing_else_changes(resent_run):
    outcome, work, before = resent_run
    wh = work / "cdp.duckdb"
    assert _find_in_warehouse(wh, _forbidden_text() + _customer_ids()) == []
    assert _find_in_files(work / "exports", _forbidden_in_exports() + _customer_ids()) == []
    with duckdb.connect(str(wh), read_only=True) as con:
        after = {n: rows(con, f"select count(*) from {n}")[0][0] for n in before}
        assert after == before  # nothing new to suppress, the request is not processed twice
        run = rows(con, "select customers_erased, rows_deleted from audit.privacy_runs where run_id = ?",
                   [outcome.run_id])
        assert len(run) == 1
        customers, deleted = run[0][0], json.loads(run[0][1])
        assert customers == 0 and deleted == {"raw.customers": 1, "raw.email_events": 1}
        for source in ("customers", "email_events"):
            assert reconcile_source(con, source).passed


def test_suppressed_rows_are_found_per_distinct_value_as_per_row_hashing_finds_them():
    """suppressed() hashes each distinct value once and matches rows on the field as sent: every
    spelling of a listed address, a listed source record read from two fields, nothing with a null."""
    from cdp.privacy.raw_identifiers import RAW_IDENTIFIERS, raw_column, suppressed
    from cdp.privacy.suppression import ensure_privacy_schema, identifier_sha256
    from cdp.warehouse.dialect import sha256_hex

    con = duckdb.connect()
    ensure_privacy_schema(con)
    con.execute("create schema raw")
    con.execute(
        "create table raw.events (_load_id bigint, _record_number bigint, source_system varchar, "
        "source_customer_id varchar, anonymous_id varchar)"
    )
    con.execute(
        "insert into raw.events values "
        "(1, 1, 'web', 'C1', 'dev-a'), (1, 2, ' WEB ', 'C1 ', null), (2, 1, 'web', null, 'dev-b'), "
        "(2, 2, null, 'C1', null), (2, 3, 'app', 'C2', ' dev-b '), (3, 1, 'app', 'C3', 'dev-c'), "
        "(3, 2, 'web', 'C1', 'dev-c')"
    )
    con.execute("create table raw.email_events (_load_id bigint, _record_number bigint, email varchar)")
    con.execute(
        "insert into raw.email_events values (1, 1, 'Ann.Lee+news@GMAIL.com'), (1, 2, ' annlee@gmail.com'), "
        "(1, 3, 'bob@example.com'), (2, 1, null), (2, 2, 'ann.lee@gmail.com '), (2, 3, 'Bob@Example.com')"
    )
    listed = [("source_record", "web:C1"), ("anonymous_id", "dev-b"), ("email", "annlee@gmail.com")]
    for identifier_type, value in listed:
        con.execute(
            "insert into privacy.suppression_list values (?, ?, 'erasure', 'test', now())",
            [identifier_type, identifier_sha256(identifier_type, value)],
        )

    def per_row(source: str) -> str:  # the plain way: hash every row's identifiers
        return " or ".join(
            f"{sha256_hex(expression)} in (select identifier_sha256 from privacy.suppression_list "
            f"where identifier_type = '{identifier_type}')"
            for identifier_type, expression in RAW_IDENTIFIERS[source](raw_column, "duckdb")
        )

    expected = {"events": [(1, 1), (1, 2), (2, 1), (2, 3), (3, 2)], "email_events": [(1, 1), (1, 2), (2, 2)]}
    for source, rows in expected.items():
        for condition in (suppressed(RAW_IDENTIFIERS[source], f"raw.{source}"), per_row(source)):
            found = con.execute(
                f"select _load_id, _record_number from raw.{source} where {condition} order by all"
            ).fetchall()
            assert found == rows, (source, condition)
    # only values among the rows in question are looked up: load 2's spelling of the address is not in load 1
    first_load = suppressed(RAW_IDENTIFIERS["email_events"], "raw.email_events", "_load_id = 1")
    assert con.execute(
        f"select _load_id, _record_number from raw.email_events where {first_load} order by all"
    ).fetchall() == [(1, 1), (1, 2)]
