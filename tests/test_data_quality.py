"""The data quality scorecard (marts.data_quality_scorecard, marts.data_quality_source_scores) on a
small generated warehouse, through the real ingestion and dbt: history per as-of date, idempotent
re-runs, and landing files with known faults moving exactly the checks they should."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import write

from cdp.contract import load_contract
from cdp.generate import generate_landing
from cdp.ingest.load import ingest_landing

ROOT = Path(__file__).resolve().parent.parent
END_DATE = date(2026, 9, 30)
EARLIER = END_DATE - timedelta(days=10)
# the faulty files' facts fall between the two as-of dates
FAULT_TIME = f"{EARLIER + timedelta(days=3)}T12:00:00Z"
MARTS = ("marts.data_quality_scorecard", "marts.data_quality_source_scores")


def build_scorecard(warehouse: Path, as_of: date) -> None:
    """dbt build of the scorecard and everything it reads, as of a date (tests of models
    outside the selection left out)."""
    work = warehouse.parent
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--select", "+data_quality_source_scores",
         "--exclude", "test_type:unit", "--indirect-selection", "cautious",
         "--vars", json.dumps({"as_of": as_of.isoformat()}),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        cwd=ROOT / "dbt_project",
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def scorecard(warehouse: Path, as_of: date) -> dict[tuple[str, str], tuple]:
    """(source, check_name) -> (checked, passed, score, status) on one as-of date."""
    rows = query(
        warehouse,
        "select source, check_name, checked, passed, score, status from marts.data_quality_scorecard "
        "where as_of_date = ?",
        [as_of],
    )
    return {(source, check): (checked, passed, score, status) for source, check, checked, passed, score, status in rows}


def table_contents(warehouse: Path, table: str) -> list[tuple]:
    return sorted(query(warehouse, f"select * from {table}"), key=repr)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """A warehouse scored as of an earlier date and then the last one."""
    work = tmp_path_factory.mktemp("dq")
    landing = work / "landing"
    generate_landing(landing, customers=120, days=30, seed=7, end_date=END_DATE, progress=False)
    warehouse = work / "cdp.duckdb"
    ingest_landing(warehouse, landing)
    for as_of in (EARLIER, END_DATE):
        build_scorecard(warehouse, as_of)
    return warehouse


@pytest.fixture
def faulty(history, tmp_path) -> tuple[Path, Path]:
    """A copy of the warehouse, and a landing folder of files with known faults (dated between
    the two as-of dates) loaded into it; dbt not yet run."""
    warehouse = tmp_path / "cdp.duckdb"
    shutil.copy(history, warehouse)
    landing = tmp_path / "faults"
    customer_columns = "source_system,source_customer_id,email,first_name,last_name,birth_date,postcode,country," \
                       "created_at,updated_at\n"
    # three addresses nobody can write to, one that works
    write(landing, "customers/crm_customers_faults.csv", customer_columns + "".join(
        f"crm,DQ-{n},{email},Quirinus{n},Zorbatova{n},198{n}-01-0{n},ZZ{n} 1AA,United Kingdom,"
        f"{FAULT_TIME},{FAULT_TIME}\n"
        for n, email in enumerate(["not-an-email", "someone@", "nobody at home", "quirinus3@fastmail.com"], start=1)
    ))
    # one person in three systems: crm and pos agree on the postcode, the web shop does not
    person = "{system},DQP-{system},ottilie.quastenberg@fastmail.com,Ottilie,Quastenberg,1971-05-17,{postcode}," \
             f"United Kingdom,{FAULT_TIME},{FAULT_TIME}\n"
    write(landing, "customers/crm_person.csv", customer_columns + person.format(system="crm", postcode="QX1 1QQ"))
    write(landing, "customers/pos_person.csv", customer_columns + person.format(system="pos", postcode="QX1 1QQ"))
    write(landing, "customers/webshop_person.csv",
          customer_columns + person.format(system="webshop", postcode="QX9 9QQ"))
    # two malformed tracker events and one good one
    write(landing, "events/web_events_faults.csv",
          "event_id,event_type,occurred_at,anonymous_id\n"
          f"dq-e1,teleport,{FAULT_TIME},anon-dq\n"
          f"dq-e2,page_view,yesterday,anon-dq\n"
          f"dq-e3,page_view,{FAULT_TIME},anon-dq\n")
    # an event already loaded, sent again as it was
    event_id, occurred_at, anonymous_id = query(
        history,
        "select event_id, strftime(occurred_at at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ'), anonymous_id "
        "from raw.events where occurred_at at time zone 'UTC' > ? and occurred_at at time zone 'UTC' < ? "
        "and anonymous_id is not null "
        "order by event_id limit 1",
        [datetime(EARLIER.year, EARLIER.month, EARLIER.day) + timedelta(days=1),
         datetime(END_DATE.year, END_DATE.month, END_DATE.day)],
    )[0]
    write(landing, "events/web_events_resent.csv",
          f"event_id,event_type,occurred_at,anonymous_id\n{event_id},page_view,{occurred_at},{anonymous_id}\n")
    report = ingest_landing(warehouse, landing)
    assert report.totals()["rows_rejected"] == 2
    return warehouse, landing


def test_each_as_of_date_keeps_its_rows_and_a_rerun_changes_nothing(history, tmp_path):
    assert query(history, "select distinct as_of_date from marts.data_quality_scorecard order by 1") == [
        (EARLIER,), (END_DATE,)
    ]
    per_date = query(history, "select as_of_date, count(*), count(distinct source) "
                              "from marts.data_quality_source_scores group by 1 order by 1")
    assert [row[0] for row in per_date] == [EARLIER, END_DATE]
    assert all(count == sources > 5 for _, count, sources in per_date)
    # every source row sums the scorecard's quarantine check of its date
    assert query(history, """
        select count(*) from marts.data_quality_source_scores scores
        join marts.data_quality_scorecard card
            on card.as_of_date = scores.as_of_date and card.source = scores.source
            and card.check_name = 'quarantined_rows'
        where scores.rows_in <> card.checked or scores.rows_loaded <> card.passed
            or scores.rows_rejected <> scores.rows_in - scores.rows_loaded
    """) == [(0,)]

    warehouse = tmp_path / "cdp.duckdb"
    shutil.copy(history, warehouse)
    before = {table: table_contents(warehouse, table) for table in MARTS}
    build_scorecard(warehouse, END_DATE)
    assert {table: table_contents(warehouse, table) for table in MARTS} == before


def test_timeliness_is_the_age_of_the_newest_row_at_the_end_of_the_as_of_date(history):
    cutoff = datetime(EARLIER.year, EARLIER.month, EARLIER.day) + timedelta(days=1)
    newest = query(history, "select max(occurred_at at time zone 'UTC') from raw.events "
                            "where occurred_at at time zone 'UTC' < ?", [cutoff])[0][0]
    hours, limit, score = query(
        history,
        "select measured_value, limit_value, score from marts.data_quality_scorecard "
        "where as_of_date = ? and source = 'events' and check_name = 'hours_since_latest_record'",
        [EARLIER],
    )[0]
    assert hours == pytest.approx((cutoff - newest).total_seconds() / 3600, abs=0.05)
    assert score == pytest.approx(min(1.0, limit / hours) if hours else 1.0)


def test_faulty_files_move_exactly_their_checks(history, faulty):
    warehouse, _ = faulty
    before = scorecard(history, END_DATE)
    build_scorecard(warehouse, END_DATE)
    after = scorecard(warehouse, END_DATE)

    def delta(source: str, check: str) -> tuple[int, int]:
        return after[source, check][0] - before[source, check][0], after[source, check][1] - before[source, check][1]

    # five new crm records, one with a usable address: validity and completeness of email
    # count three more failures; the four Zorbatovas are new people, one record each
    assert delta("customers:crm", "email_valid") == (5, 2)
    assert delta("customers:crm", "email_present") == (5, 2)
    assert delta("customers:crm", "duplicate_persons") == (5, 5)
    checked, passed = after["customers:crm", "email_valid"][:2]
    assert after["customers:crm", "email_valid"][2] == pytest.approx(passed / checked)
    # the web shop's postcode is contradicted by crm and pos, which confirm each other
    assert delta("customers:crm", "postcode_conflicts_across_sources") == (1, 1)
    assert delta("customers:pos", "postcode_conflicts_across_sources") == (1, 1)
    assert delta("customers:webshop", "postcode_conflicts_across_sources") == (1, 0)
    assert delta("customers:webshop", "email_conflicts_across_sources") == (1, 1)
    # four event rows in, two quarantined; the re-sent event is a duplicate raw row
    assert delta("events", "quarantined_rows") == (4, 2)
    assert delta("events", "duplicate_keys") == (2, 1)
    assert after["events", "duplicate_keys"][3] == "warn"  # one duplicate warns
    scores = dict(query(warehouse, "select source, rows_rejected from marts.data_quality_source_scores "
                                   "where as_of_date = ?", [END_DATE]))
    baseline = dict(query(history, "select source, rows_rejected from marts.data_quality_source_scores "
                                   "where as_of_date = ?", [END_DATE]))
    assert scores["events"] - baseline["events"] == 2
    detail = query(warehouse, "select detail from marts.data_quality_scorecard where as_of_date = ? "
                              "and source = 'events' and check_name = 'quarantined_rows'", [END_DATE])[0][0]
    assert "event_type" in detail and "occurred_at" in detail


def test_files_sent_after_an_as_of_date_do_not_change_its_scores(history, faulty):
    warehouse, _ = faulty
    build_scorecard(warehouse, EARLIER)
    assert scorecard(warehouse, EARLIER) == scorecard(history, EARLIER)
    assert query(warehouse, "select * from marts.data_quality_source_scores where as_of_date = ? order by all",
                 [EARLIER]) == query(history, "select * from marts.data_quality_source_scores "
                                              "where as_of_date = ? order by all", [EARLIER])


def test_the_scorecard_holds_counts_never_values(faulty):
    warehouse, landing = faulty
    build_scorecard(warehouse, END_DATE)
    sent = ["not-an-email", "someone@", "nobody at home", "quirinus3@fastmail.com", "Quirinus", "Zorbatova",
            "ottilie.quastenberg", "Quastenberg", "QX1 1QQ", "QX9 9QQ", "teleport", "anon-dq", "yesterday"]
    for table in MARTS:
        text = repr(query(warehouse, f"select * from {table}"))
        assert not [value for value in sent if value.lower() in text.lower()], table


def test_quality_settings_follow_the_contract():
    """Keys, time and nulled-on-load columns in var data_quality are the contract's (a contract
    change must reach the scorecard)."""
    settings = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]["data_quality"]
    contract = load_contract()
    assert set(settings["sources"]) == set(contract.sources)
    for name, source in settings["sources"].items():
        spec = contract.sources[name]
        columns = {column.name: column for column in spec.columns}
        assert source["key"] == list(spec.primary_key), name
        assert all(columns[c].type == "timestamp" for c in source["time_columns"]), name
        nulled = [c for c, column in columns.items() if column.on_invalid == "null"]
        assert sorted(source.get("nulled_on_load", [])) == sorted(nulled), name
        if "time_from" in source:  # rows timed by a parent: its key is in both, its column a time
            parent = contract.sources[source["time_from"]["source"]]
            assert set(source["time_from"]["key"]) <= set(columns) & set(parent.column_names), name
            assert parent.column(source["time_from"]["time_column"]).type == "timestamp", name
    assert set(settings["criteria"]) == {"completeness", "validity", "consistency", "timeliness", "uniqueness",
                                         "quarantine"}
