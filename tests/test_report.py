"""The static HTML report: a small synthetic warehouse with every table the report reads (built by SQL here,
the new data quality, experiment and KPI marts included) -> the page, its sections, charts, notes and privacy,
and the page opened in Debian's headless Chromium."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs
from sklearn.metrics import roc_curve

from cdp.export.state import ensure_export_tables
from cdp.ingest.audit import ensure_audit_schema
from cdp.privacy.suppression import ensure_privacy_schema
from cdp.report import write_report
from cdp.report.__main__ import main as report_cli
from cdp.report.browser import CHROMIUM, render
from cdp.report.context import redact
from ml.propensity import evaluate
from ml.registry import ModelRun, record_run

EARLIER, AS_OF = date(2026, 9, 23), date(2026, 9, 30)
FIRST_NAMES = ["Quillon", "Zephyrine", "Bartholomew", "Ottoline", "Peregrine", "Wilhelmina", "Thaddeus", "Isolde"]
CUSTOMERS = 48
SEGMENTS = ["champions", "win_back", "at_risk"]
RFM_SEGMENTS = ["Champions", "Loyal", "At Risk", "Lost"]
PERSONAS = ["Searching browsers", "Big-basket buyers", "Offline prospects"]
# Charts each section draws from the full fixture (section key -> chart keys).
EXPECTED_CHARTS = {
    "overview": ["revenue", "loads", "quarantine"],
    "data-quality": ["scores", "trend"],
    "identity": ["match-rates", "cluster-sizes", "links", "match-weights"],
    "rfm": ["grid", "segments"],
    "segments": ["current", "trend"],
    "personas": ["sizes", "profiles"],
    "models": ["roc", "calibration", "lift"],
    "clv": ["distribution", "by-segment"],
    "experiments": ["conversion", "revenue", "split"],
    "kpis": ["by-segment", "by-persona", "by-rfm-segment", "by-experiment-variant", "trend"],
    "audiences": ["funnel"],
}
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (make setup installs it)",
)


# --------------------------------------------------------------------------- the synthetic warehouse


def _customer_id(n: int) -> str:
    return hashlib.md5(f"report-test-customer-{n}".encode()).hexdigest()


def people() -> pd.DataFrame:
    """The fixture's personal data: none of it may appear on the page."""
    rows = []
    for n in range(CUSTOMERS):
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        rows.append({
            "customer_id": _customer_id(n), "first_name": first, "last_name": f"Vandermolen{n:02d}",
            "email": f"{first.lower()}.{n}@example.test", "phone": f"+49155501{n:04d}",
            "loyalty_id": f"LOY-{n:05d}-ZZ", "is_erased": n == 0,
        })
    return pd.DataFrame(rows)


def _create(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create or replace table {table} as select * from frame")
    con.unregister("frame")


def build_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    for schema in ("marts", "ml", "audit"):
        con.execute(f"create schema if not exists {schema}")
    ensure_audit_schema(con)
    ensure_privacy_schema(con)
    ensure_export_tables(con)
    rng = np.random.default_rng(7)
    persons = people()
    ids = persons["customer_id"].tolist()
    _create(con, "marts.dim_customers", persons)
    _audit(con, persons)
    _identity(con, persons, rng)
    _orders_and_rfm(con, ids, rng)
    _ml(con, ids, rng)
    _data_quality(con)
    _experiments(con)
    _kpis(con)
    _exports(con)


def _audit(con, persons) -> None:
    started = datetime(2026, 9, 30, 6)
    for load_id, (source, rows_in, rejected) in enumerate(
        [("customers", 120, 3), ("orders", 90, 2), ("events", 400, 0), ("email_events", 300, 5)], start=1
    ):
        con.execute(
            "insert into audit.load_history (load_id, run_id, source, file_path, file_format, file_size_bytes, "
            "file_checksum, encoding, status, rows_in, rows_loaded, rows_rejected, fields_nulled, message, "
            "started_at, finished_at) values (?, 'run-1', ?, ?, 'csv', 100, ?, 'utf-8', ?, ?, ?, ?, 0, null, ?, ?)",
            [load_id, source, f"{source}/2026-09-30.csv", f"sum{load_id}",
             "loaded_with_rejects" if rejected else "loaded", rows_in, rows_in - rejected, rejected, started, started],
        )
    email = persons.loc[1, "email"]
    for load_id, reason, raw in [
        (1, f"email: '{email}' is not a valid e-mail address", f'{{"email": "{email}"}}'),
        (1, "source_customer_id: required value is empty", "{}"),
        (1, "invalid JSON", "{oops"),
        (2, "ordered_at: 'N/A' is not a valid timestamp", "x"),
        (2, "total_amount: required value is empty", "y"),
    ] + [(4, "event_type: 'scroll' is not one of sent, delivered", "z")] * 5:
        con.execute("insert into audit.quarantine values (?, 'src', 'f.csv', 1, 2, ?, ?, ?)",
                    [load_id, reason, raw, started])
    con.execute("update audit.quarantine set source = case load_id when 1 then 'customers' when 2 then 'orders' "
                "else 'email_events' end")
    con.execute("insert into audit.erasure_log values ('erasure-1', null, ?, 'run-1', 1, '{\"email\": 1}', 1, '{}')",
                [started])


def _identity(con, persons, rng) -> None:
    ids = persons["customer_id"].tolist()
    records, links = [], []
    for n, customer in enumerate(ids):
        size = 1 + n % 4
        for r in range(size):
            records.append({
                "customer_record_id": hashlib.md5(f"{customer}-{r}".encode()).hexdigest(), "customer_id": customer,
                "source_system": ["crm", "webshop", "pos", "esp"][r], "source_customer_id": f"SRC-{n:03d}-{r}",
                "matched_on": "none" if size == 1 else ["email", "phone", "probabilistic", "email"][r],
            })
            if r:
                rule = ["shared_email", "shared_phone", "probabilistic"][(n + r) % 3]
                probability = 1.0 if rule != "probabilistic" else float(rng.uniform(0.9, 0.9999))
                links.append({
                    "customer_identity_link_id": f"link-{n}-{r}", "customer_id": customer,
                    "from_customer_record_id": records[-2]["customer_record_id"],
                    "to_customer_record_id": records[-1]["customer_record_id"], "link_rule": rule,
                    "match_probability": probability, "match_weight": float(np.log2(probability / (1 - probability)))
                    if probability < 1 else 40.0, "is_strong": rule != "probabilistic" or probability > 0.95,
                })
    _create(con, "marts.customer_identity_map", pd.DataFrame(records))
    _create(con, "marts.customer_identity_links", pd.DataFrame(links))
    stats = [{
        "as_of_date": as_of, "source_record_count": len(records), "customer_count": len(ids),
        "multi_record_customer_count": len(ids) * 3 // 4, "largest_customer_records": 4,
        "avg_records_per_customer": len(records) / len(ids), "record_reduction_rate": 1 - len(ids) / len(records),
        "deterministic_link_count": sum(link["link_rule"] != "probabilistic" for link in links),
        "probabilistic_link_count": sum(link["link_rule"] == "probabilistic" for link in links),
        "weak_link_count": sum(not link["is_strong"] for link in links),
    } for as_of in (EARLIER, AS_OF)]
    _create(con, "marts.identity_resolution_stats", pd.DataFrame(stats))


def _orders_and_rfm(con, ids, rng) -> None:
    orders = [{
        "order_id": f"order-{k}", "customer_id": ids[k % len(ids)], "is_completed": k % 9 != 0,
        "ordered_date": AS_OF - timedelta(days=int(k % 60)), "total_amount_reporting": round(float(20 + k * 3.5), 2),
    } for k in range(150)]
    _create(con, "marts.fct_orders", pd.DataFrame(orders))
    rfm = []
    for as_of in (EARLIER, AS_OF):
        for n, customer in enumerate(ids):
            bought = n % 5 != 0
            rfm.append({
                "customer_id": customer, "rfm_segment": RFM_SEGMENTS[n % 4] if bought else "No Purchases",
                "recency_days": n, "frequency": n % 6 if bought else 0, "monetary": float(n * 12.5) if bought else 0.0,
                "recency_score": 1 + n % 5 if bought else None, "frequency_score": 1 + (n // 5) % 5 if bought else None,
                "monetary_score": 1 + n % 5 if bought else None, "as_of_date": as_of,
            })
    _create(con, "marts.fct_customer_rfm", pd.DataFrame(rfm))
    sizes = [{"as_of_date": as_of, "segment_name": segment, "member_count": 10 + 5 * s + 3 * d,
              "entered_count": 2 + s, "exited_count": d, "change_since_previous": None if d == 0 else 3}
             for d, as_of in enumerate((EARLIER, AS_OF)) for s, segment in enumerate(SEGMENTS)]
    _create(con, "marts.segment_sizes", pd.DataFrame(sizes))


def _ml(con, ids, rng) -> None:
    label = rng.random(400) < 0.2
    probability = np.clip(0.2 + 0.25 * (label - 0.2) + rng.normal(0, 0.15, 400), 0.01, 0.99)
    metrics = evaluate(label, probability)
    fpr, tpr, thresholds = roc_curve(label, probability)
    metrics["roc_curve"] = [{"false_positive_rate": float(f), "true_positive_rate": float(t),
                             "threshold": float(min(h, 1.0))} for f, t, h in zip(fpr, tpr, thresholds, strict=True)]
    trained = ModelRun("purchase_propensity", AS_OF, pipeline_run_id="run-1", model_version="v1",
                       metrics={"winner": "logistic_regression", "candidates": {"logistic_regression": metrics}})
    record_run(con, trained)
    skipped = ModelRun("churn", AS_OF, pipeline_run_id="run-1")
    skipped.skip("churn: the best candidate reaches ROC AUC 0.46, under min_roc_auc 0.55")
    record_run(con, skipped)
    personas = [{
        "cluster_id": c, "persona_name": name, "description": f"{name} differ from the rest.",
        "customer_count": 16, "customer_share": 1 / 3,
        "centroid": json.dumps({"frequency": c, "monetary": 100.0 * c, "sessions_30d": 3 - c}),
        "distinguishing_features": json.dumps({"frequency": c - 1.0, "monetary": 1.5 - c, "sessions_30d": 0.3 * c}),
        "model_version": "v1", "as_of_date": AS_OF,
    } for c, name in enumerate(PERSONAS)]
    _create(con, "ml.personas", pd.DataFrame(personas))
    clusters = [{"customer_id": customer, "cluster_id": n % 3, "persona_name": PERSONAS[n % 3],
                 "distance_to_centroid": 1.0, "model_version": "v1", "as_of_date": AS_OF}
                for n, customer in enumerate(ids)]
    _create(con, "ml.customer_clusters", pd.DataFrame(clusters))
    clv = [{"customer_id": customer, "clv_12m": float(rng.lognormal(5, 1.5)), "probability_alive": 0.8,
            "as_of_date": AS_OF} for n, customer in enumerate(ids) if n % 5]
    _create(con, "ml.clv_predictions", pd.DataFrame(clv))


def _data_quality(con) -> None:
    scores, checks = [], []
    for d, as_of in enumerate((EARLIER, AS_OF)):
        for s, source in enumerate(["customers", "orders", "events"]):
            values = [0.99 - 0.1 * s, 0.95, 0.9 + 0.03 * s, 0.97 - 0.2 * d * s, 1.0]
            scores.append({
                "as_of_date": as_of, "source": source, "completeness": values[0], "validity": values[1],
                "consistency": values[2], "timeliness": values[3], "uniqueness": values[4],
                "quarantine_rate": 0.01 * s, "overall_score": sum(values) / 5, "rows_in": 100, "rows_loaded": 99 - s,
                "rows_rejected": 1 + s, "status": "warn" if s == 2 else "pass",
            })
    for as_of in (EARLIER, AS_OF):
        for check, status, score in [("email_valid", "fail", 0.81), ("phone_e164", "warn", 0.93),
                                     ("order_total_positive", "pass", 1.0)]:
            checks.append({
                "as_of_date": as_of, "source": "customers", "criterion": "validity", "check_name": check,
                "attribute": check.split("_")[0], "checked": 100, "passed": int(score * 100), "score": score,
                "threshold": 0.95, "status": status,
                "detail": f"e.g. {people().loc[2, 'email']} is not valid" if status == "fail" else "",
            })
    _create(con, "marts.data_quality_source_scores", pd.DataFrame(scores))
    _create(con, "marts.data_quality_scorecard", pd.DataFrame(checks))


def readout(audience: str, arm: str, lift: float | None, srm: bool, status: str = "ok", message: str = "") -> dict:
    measured = lift is not None
    return {
        "as_of_date": AS_OF, "experiment_id": f"{audience}-exp", "audience_name": audience, "arm": arm,
        "control_arm": "holdout", "first_assigned_as_of": EARLIER, "days_observed": 7, "customers": 900,
        "control_customers": 100, "expected_share": 0.9, "observed_share": 0.84 if srm else 0.9,
        "conversion_rate": 0.05 + (lift or 0), "control_conversion_rate": 0.05,
        "conversion_lift_abs": lift, "conversion_lift_abs_ci_low": lift - 0.02 if measured else None,
        "conversion_lift_abs_ci_high": lift + 0.02 if measured else None,
        "conversion_lift_rel": lift / 0.05 if measured else None, "conversion_lift_rel_ci_low": None,
        "conversion_lift_rel_ci_high": None, "conversion_p_value": 0.04 if measured else None,
        "revenue_per_customer": 12.0, "control_revenue_per_customer": 10.0,
        "revenue_lift_abs": 2.0 if measured else None, "revenue_lift_abs_ci_low": -1.0 if measured else None,
        "revenue_lift_abs_ci_high": 5.0 if measured else None, "revenue_lift_rel": 0.2 if measured else None,
        "revenue_lift_rel_ci_low": None, "revenue_lift_rel_ci_high": None,
        "revenue_p_value": 0.3 if measured else None, "srm_p_value": 0.0001 if srm else 0.6, "srm_detected": srm,
        "mde_conversion_abs": 0.015, "mde_revenue_abs": 3.0, "status": status, "message": message,
    }


def _experiments(con) -> None:
    _create(con, "marts.experiment_readouts", pd.DataFrame([
        readout("champions_newsletter", "treatment", 0.03, srm=False),
        readout("win_back_klaviyo", "treatment", -0.025, srm=True),
        readout("purchase_intent_google", "treatment", None, srm=False, status="waiting",
                message="no outcomes after the first send yet"),
    ]))


def _kpis(con) -> None:
    rows = []
    dimensions = {"overall": ["all"], "segment": SEGMENTS, "persona": PERSONAS, "rfm_segment": RFM_SEGMENTS,
                  "experiment_variant": ["treatment", "holdout"]}
    for d, as_of in enumerate((EARLIER, AS_OF)):
        for window in (30,) if d == 0 else (7, 30):
            for dimension, values in dimensions.items():
                for v, value in enumerate(values):
                    customers, converting = 200 - 20 * v, 20 + 20 * d - v
                    rows.append({
                        "as_of_date": as_of, "dimension": dimension, "dimension_value": value, "window_days": window,
                        "customers": customers, "converting_customers": converting,
                        "conversion_rate": converting / customers, "orders": converting + 5,
                        "revenue": 1000.0 * (v + 1), "average_order_value": 1000.0 * (v + 1) / (converting + 5),
                        "revenue_per_customer": 1000.0 * (v + 1) / customers, "emails_delivered": 500,
                        "emails_clicked": 25 + v, "email_click_through_rate": (25 + v) / 500,
                    })
    _create(con, "marts.kpi_by_dimension", pd.DataFrame(rows))


def _exports(con) -> None:
    logged = datetime(2026, 9, 30, 7)
    for n, (audience, destination, status, counts, message) in enumerate([
        ("champions_newsletter", "mailchimp", "exported", (95, 63, 3, 60), "60 rows (60 added or changed)"),
        ("win_back_klaviyo", "klaviyo", "exported", (94, 60, 3, 57), "57 rows"),
        ("tiny_audience", "meta", "below_min_size", (12, 8, 1, None),
         f"7 members to export, below min_size 100: not exported (first: {people().loc[3, 'email']})"),
    ]):
        con.execute(
            "insert into audit.export_log values (?, 'run-1', ?, ?, ?, ?, 'email_marketing', ?, ?, ?, ?, null, null, "
            "null, null, null, null, ?, ?)",
            [f"export-{n}", audience, destination, AS_OF, status, *counts, message, logged],
        )


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        build_warehouse(con)
    return path


def report(warehouse: Path, out: Path, as_of: date | None = AS_OF) -> tuple[Path, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        path = write_report(con, out, as_of, "run-1")
    return path, path.read_text(encoding="utf-8")


def section_html(html: str, key: str) -> str:
    match = re.search(rf'<section id="{key}">(.*?)</section>', html, re.S)
    assert match, f"section {key} missing"
    return match.group(1)


def chart_keys(html: str, key: str) -> list[str]:
    return [k.removeprefix(f"{key}-") for k in re.findall(r'data-chart="([^"]+)"', section_html(html, key))]


def notes(html: str, key: str) -> list[str]:
    return re.findall(r'<p class="note">(.*?)</p>', section_html(html, key), re.S)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


# --------------------------------------------------------------------------- the page


def test_report_has_every_section_with_its_charts(warehouse: Path, tmp_path: Path):
    path, html = report(warehouse, tmp_path / "reports")

    assert path == tmp_path / "reports" / "cdp_report_2026-09-30.html"
    assert (tmp_path / "reports" / "latest.html").read_text(encoding="utf-8") == html
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    for key, charts in EXPECTED_CHARTS.items():
        assert chart_keys(html, key) == charts, key
        assert not any("could not be drawn" in note for note in notes(html, key)), notes(html, key)
    total = sum(len(charts) for charts in EXPECTED_CHARTS.values())
    assert f'data-chart-count="{total}"' in html
    assert html.count("Plotly.newPlot(") == total
    # every section is in the table of contents, and every chart has its caption
    assert re.findall(r'<li><a href="#([^"]+)"', html) == list(EXPECTED_CHARTS)
    assert html.count("<figcaption>") == total


def test_report_is_self_contained(warehouse: Path, tmp_path: Path):
    _, html = report(warehouse, tmp_path)

    # plotly.js inline exactly once (its own source mentions web addresses it only uses for map charts)
    assert html.count(get_plotlyjs()) == 1
    page = html.replace(get_plotlyjs(), "")
    assert "<script src" not in page and "<link" not in page
    assert re.search(r"https?://", page) is None
    assert "default-src 'none'" in page


def test_report_shows_the_values_of_its_as_of(warehouse: Path, tmp_path: Path):
    _, latest = report(warehouse, tmp_path / "latest")
    earlier_path, earlier = report(warehouse, tmp_path / "earlier", EARLIER)

    assert earlier_path.name == "cdp_report_2026-09-23.html"
    # overall conversion: 20 of 200 customers as of the earlier date, 40 of 200 as of the later one (30-day window)
    assert '<div class="value">10.0%</div>' in earlier
    assert '<div class="value">20.0%</div>' in latest
    assert "KPIs are computed over 7, 30 days; the charts show the 30-day window." in notes(latest, "kpis")
    # history charts need more than one date: the earlier report has only its own
    assert "trend" not in chart_keys(earlier, "segments")
    assert "trend" in chart_keys(latest, "segments")
    # no model, persona or experiment row exists for the earlier date: notes say so
    assert any("has no personas for as-of 2026-09-23" in note for note in notes(earlier, "personas"))
    assert any("No purchase propensity model run is recorded up to 2026-09-23" in note
               for note in notes(earlier, "models"))


def test_missing_tables_give_notes_not_errors(tmp_path: Path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()

    _, html = report(path, tmp_path / "reports", as_of=None)

    assert 'data-chart-count="0"' in html
    for key in EXPECTED_CHARTS:
        assert chart_keys(html, key) == []
        assert notes(html, key) or key == "overview", key
    assert "marts.experiment_readouts is not in this warehouse" in section_html(html, "experiments")
    assert "marts.data_quality_source_scores is not in this warehouse" in section_html(html, "data-quality")
    assert "marts.kpi_by_dimension is not in this warehouse" in section_html(html, "kpis")
    assert "No order or load history" in section_html(html, "overview")
    assert html.count('<span class="empty">(no data)</span>') == len(EXPECTED_CHARTS)


def test_experiments_without_outcomes_say_so(warehouse: Path, tmp_path: Path):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update marts.experiment_readouts set conversion_lift_abs = null, revenue_lift_abs = null, "
                    "status = 'waiting', message = 'no outcomes after the first send yet'")

    _, html = report(warehouse, tmp_path)

    assert chart_keys(html, "experiments") == []
    assert "No experiment has outcomes after its send yet" in section_html(html, "experiments")


def test_failing_checks_srm_and_refused_exports_are_listed(warehouse: Path, tmp_path: Path):
    _, html = report(warehouse, tmp_path)

    quality = section_html(html, "data-quality")
    assert "2 of 3 checks warn or fail" in quality
    assert quality.index("email_valid") < quality.index("phone_e164")  # failures first
    assert "order_total_positive" not in quality
    assert any("Sample ratio mismatch in 1 arm(s)" in note for note in notes(html, "experiments"))
    assert any("no outcomes after the first send yet" in note for note in notes(html, "experiments"))
    assert "below_min_size" in section_html(html, "audiences")
    assert any("Purchase propensity" not in note and "Churn was skipped as of 2026-09-30: the best candidate" in note
               for note in notes(html, "models"))


def test_report_holds_no_personal_data(warehouse: Path, tmp_path: Path):
    _, html = report(warehouse, tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        source_ids = [row[0] for row in con.execute(
            "select source_customer_id from marts.customer_identity_map").fetchall()]
        record_ids = [row[0] for row in con.execute(
            "select customer_record_id from marts.customer_identity_map").fetchall()]

    page = html.lower()
    persons = people()
    for column in ("customer_id", "first_name", "last_name", "email", "phone", "loyalty_id"):
        for value in persons[column]:
            assert str(value).lower() not in page, (column, value)
    for value in source_ids + record_ids:
        assert value.lower() not in page
    # free text that quoted an address (a check's detail, an export's message) is shown masked
    assert "[e-mail]" in html


def test_redact_masks_contact_details_and_ids():
    text = "bad value ann.lee@example.com, phone +491551234567, id 0cc175b9c0f1b6a831c399e269772661 on 2026-09-30"
    assert redact(text) == "bad value [e-mail], phone [number], id [id] on 2026-09-30"
    assert redact(None) == ""


def test_cli_writes_the_report(warehouse: Path, tmp_path: Path):
    result = CliRunner().invoke(report_cli, ["--warehouse", str(warehouse), "--out", str(tmp_path / "out"),
                                             "--as-of", "2026-09-30"])

    assert result.exit_code == 0, result.output
    assert "cdp_report_2026-09-30.html" in result.output
    assert (tmp_path / "out" / "latest.html").exists()


# --------------------------------------------------------------------------- in headless Chromium


@NEEDS_CHROMIUM
def test_report_renders_in_chromium_without_errors(warehouse: Path, tmp_path: Path):
    path, _ = report(warehouse, tmp_path)
    screenshot = tmp_path / "report.png"

    errors = render(path, screenshot)

    assert errors == []
    width, height = png_size(screenshot)
    assert width >= 1300 and height > 5000  # the whole page, not the first screen
    assert screenshot.stat().st_size > 200_000


@NEEDS_CHROMIUM
def test_chromium_check_reports_network_requests_and_script_errors(tmp_path: Path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><html><body data-chart-count="0"><img src="http://127.0.0.1:9/pixel.png">'
        "<script>console.error('broken chart'); undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )

    errors = render(page, tmp_path / "bad.png", timeout_seconds=10)

    assert any(e.startswith("network request: GET http://127.0.0.1:9/pixel.png") for e in errors), errors
    assert any("broken chart" in e for e in errors), errors
    assert any(e.startswith("page error:") and "undefinedFunction" in e for e in errors), errors
    assert (tmp_path / "bad.png").exists()
