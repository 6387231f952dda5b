"""End to end: generated landing data -> Dagster (ingest, dbt build, export) -> marts and audience files."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import table_fingerprints

from cdp import settings
from cdp.export import load_audiences
from cdp.generate import generate_landing
from cdp.pipeline import run_pipeline

pytestmark = pytest.mark.e2e

END_DATE = date(2026, 9, 30)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "landing"
    generate_landing(root, customers=300, days=60, seed=11, end_date=END_DATE, progress=False)
    # Beside the generator's malformed rows: a whole file missing a required column.
    (root / "orders" / "zz_export_without_amounts.csv").write_text(
        "source_system,order_id,source_customer_id,ordered_at,status\nwebshop,x1,c1,2026-09-01T10:00:00Z,completed\n"
    )
    return root


@pytest.fixture(scope="module")
def first_run(landing, tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    outcome = run_pipeline(landing, work / "cdp.duckdb", work / "exports")
    assert outcome.success, outcome.summary()
    return outcome, work


def test_dbt_unit_tests_pass(first_run, tmp_path):
    """The pipeline's builds leave unit tests out (they check SQL on fixed inputs, not the day's data):
    they run here, on a copy of a built warehouse, so the relations they introspect exist."""
    _, work = first_run
    warehouse = tmp_path / "cdp.duckdb"
    shutil.copy(work / "cdp.duckdb", warehouse)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "test", "--select", "test_type:unit",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=Path(__file__).resolve().parent.parent / "dbt_project",
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    passed = re.search(r"PASS=(\d+)", result.stdout)
    assert passed and int(passed.group(1)) >= 30, result.stdout[-1000:]


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_marts_are_built_and_consistent(first_run):
    outcome, work = first_run
    wh = work / "cdp.duckdb"
    for table in ("dim_customers", "customer_identity_map", "fct_orders", "fct_customer_rfm", "customer_consent"):
        assert query(wh, f"select count(*) from marts.{table}")[0][0] > 0, table
    # One row per customer, every customer scored, every identity-mapped record points at a customer.
    assert query(wh, "select count(*) = count(distinct customer_id) from marts.dim_customers") == [(True,)]
    assert query(
        wh, "select count(*) from marts.dim_customers d anti join marts.fct_customer_rfm r using (customer_id)"
    ) == [(0,)]
    assert query(
        wh, "select count(*) from marts.customer_identity_map m anti join marts.dim_customers d using (customer_id)"
    ) == [(0,)]
    # Customers share records across systems, so there are fewer customers than source records.
    customers, records = query(
        wh, "select (select count(*) from marts.dim_customers), (select count(*) from marts.customer_identity_map)"
    )[0]
    assert customers < records
    # RFM: scores 1-5 for buyers; explicit segment for customers without purchases.
    assert query(
        wh,
        "select count(*) from marts.fct_customer_rfm where frequency > 0 and "
        "(recency_score not between 1 and 5 or frequency_score not between 1 and 5 "
        "or monetary_score not between 1 and 5 or rfm_segment is null)",
    ) == [(0,)]
    assert query(wh, "select distinct rfm_segment from marts.fct_customer_rfm where frequency = 0") == [
        ("No Purchases",)
    ]
    assert query(wh, "select max(as_of_date) from marts.fct_customer_rfm")[0][0] == END_DATE
    # The run reports how identity resolution went, consistent with the identity map.
    largest = query(
        wh, "select max(n) from (select count(*) as n from marts.customer_identity_map group by customer_id)"
    )
    assert outcome.identity["largest_customer_records"] == largest[0][0]
    assert outcome.identity["customer_count"] == customers and outcome.identity["source_record_count"] == records


def test_identity_links_explain_every_multi_record_customer(first_run):
    from click.testing import CliRunner

    from cdp.cli import main
    from cdp.identity.explain import explain_customer

    wh = first_run[1] / "cdp.duckdb"
    customers = [
        r[0] for r in query(wh, "select customer_id from marts.customer_identity_map group by 1 having count(*) > 1")
    ]
    assert customers
    with duckdb.connect(str(wh), read_only=True) as con:
        for customer_id in customers:
            explanation = explain_customer(con, customer_id)
            first = explanation.records[0]["customer_record_id"]
            for record in explanation.records[1:]:
                assert explanation.path(first, record["customer_record_id"]), customer_id
    system, source_id = query(
        wh,
        "select source_system, source_customer_id from marts.customer_identity_map "
        f"where customer_id = '{customers[0]}'",
    )[0]
    result = CliRunner().invoke(main, ["explain", "--warehouse", str(wh), "--record", f"{system}:{source_id}"])
    assert result.exit_code == 0, result.output
    assert "links:" in result.output and "@" not in result.output.replace("***@", "")  # emails masked


def test_explain_gives_the_verdict_on_two_compared_records_of_different_customers(first_run):
    """Scored pairs hold record ranks, not ids: the verdict must still find the pair by its records."""
    from click.testing import CliRunner

    from cdp.cli import main

    wh = first_run[1] / "cdp.duckdb"
    (left, right, probability, reason), *_ = query(
        wh,
        """
        select l.source_system || ':' || l.source_customer_id, r.source_system || ':' || r.source_customer_id,
               pairs.match_probability, pairs.not_linked_reason
        from intermediate.int_identity_pair_scores as pairs
        join intermediate.int_identity_match_records as l on l.record_rank = pairs.record_rank_l
        join intermediate.int_identity_match_records as r on r.record_rank = pairs.record_rank_r
        join marts.customer_identity_map as lc on lc.customer_record_id = l.customer_record_id
        join marts.customer_identity_map as rc on rc.customer_record_id = r.customer_record_id
        where pairs.proposed_rule is null and lc.customer_id <> rc.customer_id
        order by pairs.match_probability desc, 1, 2
        """,
    )
    result = CliRunner().invoke(main, ["explain", "--warehouse", str(wh), "--record", left, "--record", right])
    assert result.exit_code == 1, result.output
    assert "compared (blocked by " in result.output and f"p={probability:.6f}" in result.output, result.output
    assert f"not linked: {reason}" in result.output


def test_every_landing_row_is_accounted_for(first_run, landing):
    _, work = first_run
    wh = work / "cdp.duckdb"
    assert query(wh, "select count(*) from audit.load_history where rows_in <> rows_loaded + rows_rejected") == [(0,)]
    assert query(wh, "select count(*) from audit.load_history where status = 'failed'") == [(0,)]
    # The file missing a required column is rejected whole, with the reason, and the run went on.
    assert query(
        wh,
        "select status, rows_in, rows_rejected, message like '%required column(s) missing: total_amount%' "
        "from audit.load_history where file_path = 'orders/zz_export_without_amounts.csv'",
    ) == [("rejected", 1, 1, True)]
    # The generator's deliberately malformed rows are exactly what was quarantined.
    truth = landing / "_truth"
    malformed = next(truth.glob("malformed_rows.*"))
    reader = "read_csv" if malformed.suffix == ".csv" else "read_parquet"
    expected = query(wh, f"select count(*) from {reader}('{malformed}')")[0][0]
    assert expected > 0
    assert query(wh, "select count(*) from audit.quarantine")[0][0] == expected
    missing = query(
        wh,
        f"select count(*) from {reader}('{malformed}') t anti join audit.quarantine q "
        "on q.file_path = t.file and q.record_number = t.record_number",
    )
    assert missing == [(0,)]


def test_exports_hold_only_consented_unsuppressed_treated_members(first_run):
    """Every audience is exported or refused with a reason; an exported row is a customer with the
    audience's permission, not suppressed, not in the holdout, and the files match their manifest."""
    outcome, work = first_run
    wh = work / "cdp.duckdb"
    audiences = {a.name: a for a in load_audiences(settings.AUDIENCES_DIR)}
    logged = {(e["audience"], e["destination"]): e for e in outcome.exports}
    assert set(logged) == {(a.name, d.name) for a in audiences.values() for d in a.destinations}
    exported = [e for e in outcome.exports if e["status"] == "exported"]
    assert exported, outcome.summary()
    for e in outcome.exports:
        assert e["status"] in ("exported", "below_min_size", "below_destination_minimum"), e
    for e in exported:
        audience = audiences[e["audience"]]
        offenders = query(wh, f"""
            select rows.customer_id
            from marts.audience_export_rows as rows
            left join marts.customer_marketing_permissions as p on p.customer_id = rows.customer_id
            left join marts.experiment_assignments as a
                on a.customer_id = rows.customer_id and a.experiment_id = '{audience.experiment}'
            where rows.audience_name = '{audience.name}' and rows.destination = '{e["destination"]}'
                and (p.{audience.permission_flag} is distinct from true or a.arm is null or a.arm = 'holdout')
        """)
        assert offenders == []
        path = Path(e["path"])
        manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
        assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert manifest["as_of"] == END_DATE.isoformat() and manifest["consent_purpose"] == audience.consent_purpose
        if path.suffix == ".csv":
            with open(path, encoding="utf-8", newline="") as fh:
                table = list(csv.reader(fh))
            assert manifest["row_count"] == len(table) - 1 and all(len(r) == len(table[0]) for r in table)


def test_the_run_writes_a_report_that_renders_without_errors(first_run, tmp_path):
    """The report the run wrote covers its as-of date, holds no personal data and opens cleanly in
    headless Chromium (make setup installs Debian's chromium)."""
    from cdp.report.browser import render

    outcome, work = first_run
    report = Path(outcome.report_path)
    assert report.parent == work / "reports" and (work / "reports" / "latest.html").exists()
    html = report.read_text(encoding="utf-8")
    assert f"cdp_report_{END_DATE}" in report.name and outcome.run_id in html
    emails = [row[0] for row in query(work / "cdp.duckdb", "select email from marts.dim_customers "
                                                          "where email is not null limit 50")]
    assert emails and not [email for email in emails if email in html]
    errors = render(report, tmp_path / "report.png")
    assert errors == [] and (tmp_path / "report.png").stat().st_size > 100_000


def test_second_run_changes_no_table(first_run, landing):
    outcome, work = first_run
    wh = work / "cdp.duckdb"
    before = table_fingerprints(wh)
    second = run_pipeline(landing, wh, work / "exports")
    assert second.success, second.summary()
    assert second.loads["files"] == 0  # every file skipped by checksum
    assert table_fingerprints(wh) == before


def _write_future_data(landing: Path, after: date) -> None:
    """Files holding only facts after ``after``: a run as of ``after`` must not see any of them."""
    when = f"{after + timedelta(days=3)}T12:00:00Z"
    customers = landing / "customers" / "zz_future_customers.csv"
    customers.write_text(
        "source_system,source_customer_id,email,first_name,last_name,created_at,updated_at\n"
        f"crm,future-1,future.person@example.com,Future,Person,{when},{when}\n"
    )
    # An order and a consent withdrawal for an existing record, after the as-of date.
    with duckdb.connect() as con:
        record = con.execute(
            f"select source_system, source_customer_id from read_csv('{landing}/customers/*.csv', all_varchar=true, "
            "union_by_name=true) where source_customer_id is not null and source_system is not null limit 1"
        ).fetchall()[0]
        # A completed order from before the cut, re-sent as returned after it.
        returned = con.execute(
            f"select source_system, order_id, source_customer_id, ordered_at, currency, total_amount "
            f"from read_csv('{landing}/orders/*.csv', all_varchar=true, union_by_name=true) "
            f"where lower(status) = 'completed' and try_cast(ordered_at as timestamptz) < '{after}' "
            "and try_cast(total_amount as decimal(18, 4)) >= 0 and order_id <> '' "
            "order by order_id limit 1"
        ).fetchall()[0]
    (landing / "orders" / "zz_future_orders.csv").write_text(
        "source_system,order_id,source_customer_id,ordered_at,status,currency,total_amount,channel,updated_at\n"
        f"{record[0]},future-order-1,{record[1]},{when},completed,GBP,999.00,web,{when}\n"
        f"{returned[0]},{returned[1]},{returned[2]},{returned[3]},returned,{returned[4]},{returned[5]},web,{when}\n"
    )
    (landing / "consent" / "zz_future_consent.csv").write_text(
        "source_system,consent_id,source_customer_id,email,purpose,status,occurred_at\n"
        f"{record[0]},future-consent-1,{record[1]},,email_marketing,withdrawn,{when}\n"
    )


def test_run_as_of_a_date_ignores_later_data(landing, tmp_path):
    as_of = END_DATE - timedelta(days=20)
    plain = run_pipeline(landing, tmp_path / "a.duckdb", tmp_path / "exports_a", as_of=as_of.isoformat())
    assert plain.success, plain.summary()
    with_future = tmp_path / "landing_with_future"
    shutil.copytree(landing, with_future)
    _write_future_data(with_future, as_of)
    future = run_pipeline(with_future, tmp_path / "b.duckdb", tmp_path / "exports_b", as_of=as_of.isoformat())
    assert future.success, future.summary()
    marts_a = table_fingerprints(tmp_path / "a.duckdb", schemas=("marts", "ml"))
    marts_b = table_fingerprints(tmp_path / "b.duckdb", schemas=("marts", "ml"))
    assert "ml.customer_features" in marts_a and "ml.clv_predictions" in marts_a
    assert marts_a == marts_b
    assert query(tmp_path / "a.duckdb", "select max(as_of_date) from marts.fct_customer_rfm")[0][0] == as_of


def test_customer_ids_stay_stable_as_records_arrive(landing, tmp_path):
    """A run as of an earlier date, then one with the later records: customers keep
    their ids, and every record whose customer changed has a merge or split in the
    id history with its time and reason."""
    wh = tmp_path / "ids.duckdb"
    early = run_pipeline(landing, wh, tmp_path / "exports", as_of=(END_DATE - timedelta(days=45)).isoformat())
    assert early.success, early.summary()
    before = dict(query(wh, "select customer_record_id, customer_id from marts.customer_identity_map"))
    later = run_pipeline(landing, wh, tmp_path / "exports")
    assert later.success, later.summary()
    after = dict(query(wh, "select customer_record_id, customer_id from marts.customer_identity_map"))

    assert len(after) > len(before)  # records created since the early date arrived
    changed = {record for record, customer in before.items() if after[record] != customer}
    history = query(
        wh,
        "select customer_record_id, previous_customer_id, customer_id, change_type, change_reason, assigned_at "
        "from intermediate.int_customer_id_assignments where previous_customer_id is not null",
    )
    assert {row[0] for row in history} == changed
    for record, previous, current, change_type, reason, assigned_at in history:
        assert (previous, current) == (before[record], after[record])
        assert change_type in ("merged", "split") and reason and assigned_at is not None
    kept = set(before.values()) & set(after.values())
    assert len(kept) >= 0.95 * len(set(before.values()))
    new_records = set(after) - set(before)
    assert query(
        wh,
        "select count(*) from intermediate.int_customer_id_assignments where change_type = 'new_record'",
    )[0][0] == len(after)  # first run's records and the newcomers, once each
    assert new_records


@pytest.fixture(scope="module")
def two_dates(landing, tmp_path_factory):
    """Two runs on one warehouse, as of 30 days before the last date and then the last date,
    with an uploaded segment list beside the generator's files."""
    tmp_path = tmp_path_factory.mktemp("two_dates")
    with_list = tmp_path / "landing"
    shutil.copytree(landing, with_list)
    with duckdb.connect() as con:
        emails = [row[0] for row in con.execute(
            f"select distinct lower(trim(email)) from read_csv('{landing}/customers/crm*.csv', all_varchar=true, "
            "union_by_name=true) where email like '%_@_%.__%' order by 1 limit 5"
        ).fetchall()]
    (with_list / "segment_lists").mkdir(exist_ok=True)  # the generator writes a list too
    (with_list / "segment_lists" / "vip_accounts.csv").write_text(
        "list_name,identifier_type,identifier\n"
        + "".join(f"vip_accounts,email,{email}\n" for email in emails)
        + "vip_accounts,email,nobody.at.all@unknown-domain.example\nvip_accounts,phone,12\n"
    )
    warehouse, exports = tmp_path / "cdp.duckdb", tmp_path / "exports"
    earlier = END_DATE - timedelta(days=30)
    outcomes = []
    for as_of in (earlier, END_DATE):
        outcome = run_pipeline(with_list, warehouse, exports, as_of=as_of.isoformat())
        assert outcome.success, outcome.summary()
        outcomes.append(outcome)
    return warehouse, earlier, emails, outcomes


def test_segments_record_entries_and_exits_across_as_of_dates(two_dates):
    """The history shows customers entering and leaving segments, and sizes add up. A static
    segment takes its members from an uploaded list; entries naming nobody stay visible."""
    warehouse, earlier, emails, _ = two_dates
    sizes = query(warehouse, "select as_of_date, segment_name, member_count, entered_count, exited_count, "
                             "change_since_previous from marts.segment_sizes order by segment_name, as_of_date")
    assert {row[0] for row in sizes} == {earlier, END_DATE}
    for before, after in zip(sizes[::2], sizes[1::2], strict=True):
        assert before[1] == after[1]
        # members now = members before + entered - exited
        assert after[2] == before[2] + after[3] - after[4] and after[5] == after[2] - before[2]
    assert sum(row[3] for row in sizes if row[0] == END_DATE) > 0, "nobody entered a segment"
    assert sum(row[4] for row in sizes if row[0] == END_DATE) > 0, "nobody left a segment"
    # current membership agrees with the open stretches of the history
    open_stretches = query(warehouse, "select customer_id, segment_name, entered_at "
                                      "from marts.customer_segment_history where exited_at is null order by all")
    current = query(warehouse, "select customer_id, segment_name, entered_at from marts.customer_segment_membership "
                               "order by all")
    assert current == open_stretches and current

    vip = query(warehouse,
                "select count(*) from marts.customer_segment_membership where segment_name = 'vip_customers'")
    matched = query(warehouse, "select count(*) from intermediate.int_segment_list_entries_identified "
                               "where customer_id is not null")
    assert vip[0][0] == matched[0][0] > 0
    reasons = query(warehouse, "select unmatched_reason, count(*) "
                               "from intermediate.int_segment_list_entries_identified "
                               "where customer_id is null group by all order by all")
    assert ("invalid phone", 1) in reasons
    # every uploaded entry (ours and the generator's) is matched or says why not
    entries = query(warehouse, "select count(*) from staging.stg_landing__segment_lists")
    assert sum(count for _, count in reasons) + matched[0][0] == entries[0][0] >= len(emails) + 2


def test_experiments_read_out_thirty_days_after_the_send(two_dates):
    """Arms assigned as of the earlier date have 30 days of outcomes as of the last; each outcome row
    is recomputed here from the orders, and the readout compares every arm with its holdout."""
    warehouse, earlier, _, _ = two_dates
    outcomes = query(warehouse, "select experiment_id, arm, customers, converting_customers, round(revenue_sum, 2) "
                                f"from marts.experiment_outcomes where as_of_date = '{END_DATE}' order by all")
    assert outcomes, "no experiment has outcomes after its send"
    recomputed = query(warehouse, f"""
        select a.experiment_id, a.arm, count(distinct a.customer_id),
            count(distinct o.customer_id), round(coalesce(sum(o.total_amount_reporting), 0)::double, 2)
        from marts.experiment_assignments as a
        left join marts.fct_orders as o
            on o.customer_id = a.customer_id and o.is_completed
            and o.ordered_date > a.assigned_as_of and o.ordered_date <= '{END_DATE}'
            and o.ordered_date <= a.assigned_as_of + 30
        where a.assigned_as_of < '{END_DATE}'
        group by all order by all
    """)
    assert outcomes == recomputed
    assert {row[1] for row in outcomes} >= {"holdout", "treatment"}
    readouts = query(warehouse, "select audience_name, arm, control_arm, customers, control_customers, "
                                "conversion_lift_abs_ci_low, conversion_lift_abs_ci_high, conversion_p_value, "
                                f"srm_p_value, status from marts.experiment_readouts where as_of_date = '{END_DATE}'")
    assert readouts and all(row[1] != "holdout" for row in readouts)
    # every arm is compared with its holdout; an audience without one says so
    assert all(row[2] == "holdout" if row[9] != "no_holdout" else row[2] is None for row in readouts)
    assert any(row[2] == "holdout" for row in readouts)
    for row in readouts:
        if row[9] == "ok":
            assert row[5] <= row[6] and 0 <= row[7] <= 1 and 0 <= row[8] <= 1


def test_kpis_keep_a_history_and_match_the_orders(two_dates):
    warehouse, earlier, _, _ = two_dates
    dates = query(warehouse, "select distinct as_of_date from marts.kpi_by_dimension order by 1")
    assert [d[0] for d in dates] == [earlier, END_DATE]
    overall = query(warehouse, "select customers, converting_customers, round(revenue, 2) from marts.kpi_by_dimension "
                               f"where dimension = 'overall' and as_of_date = '{END_DATE}'")
    direct = query(warehouse, f"""
        select (select count(*) from marts.dim_customers where not is_erased),
            count(distinct customer_id), round(sum(total_amount_reporting)::double, 2)
        from marts.fct_orders
        where is_completed and customer_id is not null
            and ordered_date > date '{END_DATE}' - 30 and ordered_date <= '{END_DATE}'
    """)
    assert overall == direct
    dimensions = {row[0] for row in query(warehouse, "select distinct dimension from marts.kpi_by_dimension")}
    assert dimensions == {"overall", "segment", "persona", "rfm_segment", "experiment_variant"}


def test_features_at_a_cutoff_read_nothing_after_it(first_run, tmp_path):
    """Point in time: deleting all activity after a training/validation cutoff and rebuilding the
    feature table leaves that cutoff's features unchanged (while the as-of date's change)."""
    _, work = first_run
    warehouse = tmp_path / "cdp.duckdb"
    shutil.copy(work / "cdp.duckdb", warehouse)
    features_sql = "select * from ml.customer_features where cutoff_date = ? order by customer_id"
    with duckdb.connect(str(warehouse)) as con:
        cutoff, as_of = con.execute(
            "select cutoff_date, as_of_date from ml.feature_cutoffs "
            "where model_name = 'churn' and cutoff_role = 'validation'"
        ).fetchone()
        before = con.execute(features_sql, [cutoff]).fetchall()
        latest_before = con.execute(features_sql, [as_of]).fetchall()
        deleted = sum(
            con.execute(f"delete from {table} where {column} > ?", [cutoff]).fetchone()[0]
            for table, column in [
                ("marts.fct_orders", "ordered_date"),
                # the web and e-mail activity customer_features reads, per customer and day
                ("intermediate.int_customer_web_days", "occurred_date"),
                ("intermediate.int_customer_email_days", "occurred_date"),
            ]
        )
    assert before and deleted > 0
    dbt = Path(sys.executable).parent / "dbt"
    rebuilt = subprocess.run(
        [str(dbt), "run", "--select", "customer_features", "--vars", json.dumps({"as_of": as_of.isoformat()}),
         "--target-path", str(tmp_path / "target")],
        cwd=Path(__file__).resolve().parent.parent / "dbt_project",
        env={**os.environ, "CDP_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(features_sql, [cutoff]).fetchall() == before
        assert con.execute(features_sql, [as_of]).fetchall() != latest_before
