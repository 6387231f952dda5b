"""The pipeline benchmark's pure parts: stage attribution, the floor's queries, the held-back day."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.pipeline.floor import files_by_format, floor_sql, group_key, measure_floor, reader_sql
from benchmarks.pipeline.landing import release, stage_landing
from benchmarks.pipeline.stages import (
    growth,
    invocation_figures,
    project,
    stage_figures,
    stage_of,
    summarize_dbt_invocation,
)
from cdp.contract import load_contract
from tests.conftest import write


def _timing(start: str, end: str) -> list[dict]:
    return [{"name": "compile", "started_at": start, "completed_at": start},
            {"name": "execute", "started_at": start, "completed_at": end}]


RUN_RESULTS = {
    "metadata": {"invocation_started_at": "2026-01-01T00:00:10Z", "generated_at": "2026-01-01T00:00:59Z"},
    "elapsed_time": 50.0,
    "results": [
        {"unique_id": "model.p.stg_customers", "status": "success", "execution_time": 5.0,
         "timing": _timing("2026-01-01T00:00:12Z", "2026-01-01T00:00:17Z")},
        {"unique_id": "model.p.int_identity_clusters", "status": "success", "execution_time": 8.0,
         "timing": _timing("2026-01-01T00:00:20Z", "2026-01-01T00:00:28Z")},
        {"unique_id": "model.p.int_identity_links", "status": "success", "execution_time": 2.0,
         "timing": _timing("2026-01-01T00:00:28Z", "2026-01-01T00:00:30Z")},
        {"unique_id": "test.p.unique_x", "status": "fail", "execution_time": 1.0, "message": "1 failure",
         "timing": _timing("2026-01-01T00:00:31Z", "2026-01-01T00:00:32Z")},
        {"unique_id": "model.p.skipped", "status": "skipped", "execution_time": 0, "timing": []},
    ],
}
TAGS = {"model.p.int_identity_clusters": ["identity"], "model.p.int_identity_links": ["identity", "x"]}
T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def test_steps_map_to_stages():
    assert stage_of("raw_landing_files") == "ingest"
    assert stage_of("cdp_dbt_models") == "dbt"
    assert stage_of("train_personas") == "ml"
    assert stage_of("exports__win_back_klaviyo") == "export"
    assert stage_of("reports__html_report") == "measurement"
    assert stage_of("some_new_step") == "other"


def test_dbt_invocation_summary_sums_identity_models_and_lists_failures():
    summary = summarize_dbt_invocation(RUN_RESULTS, TAGS)
    assert summary["started_at"] == T0 + 10
    assert summary["identity_seconds"] == 10.0
    assert summary["identity_windows"] == [(T0 + 20, T0 + 28), (T0 + 28, T0 + 30)]
    slowest = [(n["node"], n["window"]) for n in summary["slowest_nodes"][:2]]
    assert slowest == [("model.p.int_identity_clusters", (T0 + 20, T0 + 28)),
                       ("model.p.stg_customers", (T0 + 12, T0 + 17))]
    assert [(n["node"], n["status"]) for n in summary["not_passed"]] == [
        ("test.p.unique_x", "fail"), ("model.p.skipped", "skipped")]


def test_stage_figures_split_identity_out_of_dbt_and_attribute_memory_by_window():
    windows = {"raw_landing_files": (T0 + 2, T0 + 8), "cdp_dbt_models": (T0 + 9, T0 + 60),
               "train_churn": (T0 + 61, T0 + 64), "train_clv": (T0 + 64, T0 + 66)}
    invocation = {"step": "cdp_dbt_models", **summarize_dbt_invocation(RUN_RESULTS, TAGS)}
    # (time, KiB): one sample per second, with a distinct level in each stage
    level = {"ingest": 1000, "identity": 9000, "dbt": 4000, "ml": 2000, "overhead": 500}
    samples = []
    for second in range(0, 70):
        t = T0 + second + 0.5
        stage = ("ingest" if 2 <= second < 8 else "identity" if 20 <= second < 30 else
                 "dbt" if 9 <= second < 60 else "ml" if 61 <= second < 66 else "overhead")
        samples.append((t, level[stage]))
    rows = {"ingest": 600, "identity": 100, "total": 600}
    figures = stage_figures(windows, [invocation], samples, total_seconds=70, stage_rows=rows)

    assert figures["ingest"] == {"seconds": 6, "peak_mib": round(1000 / 1024, 1), "rows": 600, "rows_per_second": 100}
    assert figures["identity"]["seconds"] == 10 and figures["identity"]["peak_mib"] == round(9000 / 1024, 1)
    assert figures["identity"]["rows_per_second"] == 10
    assert figures["dbt"]["seconds"] == 51 - 10
    assert figures["dbt"]["peak_mib"] == round(4000 / 1024, 1)  # the identity samples are identity's
    assert figures["ml"]["seconds"] == 5  # both model steps
    assert figures["overhead"]["seconds"] == 70 - (6 + 51 + 3 + 2)
    assert figures["overhead"]["peak_mib"] == round(500 / 1024, 1)
    assert figures["total"]["peak_mib"] == round(9000 / 1024, 1)
    assert figures["total"]["rows_per_second"] == round(600 / 70)


def test_a_dbt_invocation_splits_its_step_into_before_during_and_after():
    # the erasure step: erasing (peak 3 GiB), its dbt rebuild (5 GiB), then the compaction (7 GiB)
    windows = {"privacy__erasure": (T0, T0 + 100)}
    invocation = {"step": "privacy__erasure", "started_at": T0 + 30, "ended_at": T0 + 70, "slowest_nodes": [
        {"node": "model.p.big", "seconds": 10, "window": (T0 + 40, T0 + 50)},
        {"node": "model.p.small", "seconds": 5, "window": (T0 + 60, T0 + 65)}]}
    level = {range(0, 30): 3, range(30, 70): 5, range(70, 100): 7, range(45, 46): 6}
    samples = [(T0 + s + 0.5, max(gib for r, gib in level.items() if s in r) * 1024**2) for s in range(100)]
    assert invocation_figures(windows, [invocation], samples) == [{
        "step": "privacy__erasure", "before_seconds": 30, "seconds": 40, "after_seconds": 30,
        "peak_mib": 6 * 1024, "peak_mib_before": 3 * 1024, "peak_mib_after": 7 * 1024,
        "slowest_nodes": [{"node": "model.p.big", "seconds": 10, "peak_mib": 6 * 1024},
                          {"node": "model.p.small", "seconds": 5, "peak_mib": 5 * 1024}],
    }]


def test_growth_exponent_is_one_when_time_grows_as_size():
    small = {"total": {"seconds": 60.0}, "ml": {"seconds": 10.0}}
    large = {"total": {"seconds": 600.0}, "ml": {"seconds": 1000.0}}
    assert growth(small, large, 10) == {"total": {"ratio": 10.0, "exponent": 1.0},
                                        "ml": {"ratio": 100.0, "exponent": 2.0}}


def test_projection_is_fixed_plus_per_customer_cost_unless_growth_is_faster_than_linear():
    # ingest: 100 s fixed + 1 s per 1,000 customers; ml: grows with the square of the size
    small = {"ingest": {"seconds": 200.0}, "ml": {"seconds": 10.0}}
    large = {"ingest": {"seconds": 400.0}, "ml": {"seconds": 90.0}, "new_stage": {"seconds": 5.0}}
    projected = project(small, large, 100_000, 300_000, 1_000_000)
    assert projected == {"ingest": 1100.0, "ml": pytest.approx(1000.0)}  # ml: 90 x (10/3)^2, above the line


def _landing(landing):
    write(landing, "customers/crm_customers_2026-09-29.csv",
          "source_system,source_customer_id,email\ncrm,1,a@x\ncrm,1,a@y\ncrm,2\"broken,b@x,extra,fields\n")
    write(landing, "customers/crm_customers_2026-09-30.csv", "source_system,source_customer_id,email\ncrm,3,c@x\n")
    write(landing, "events/web_events_2026-09-30.jsonl",
          '{"event_id":"e1","event_type":"page_view","occurred_at":"2026-09-30T00:00:00Z","anonymous_id":"a1"}\n'
          '{"event_id":"e2","event_type":"login","occurred_at":"2026-09-30T00:01:00Z","anonymous_id":"a1",'
          '"source_customer_id":"1","unknown_key":1}\n'
          '{"event_id":"e3", "truncated\n')
    (landing / "orders").mkdir()
    orders = pa.table({"source_system": ["pos"] * 3, "order_id": ["o1", "o2", "o3"],
                       "source_customer_id": ["9", "9", "8"]})
    pq.write_table(orders, landing / "orders" / "pos_orders_2026-09-29.parquet")
    write(landing, "orders/_notes.txt", "ignored, as ingestion ignores it")
    write(landing, "_truth/persons.csv", "not a source\n")


def test_floor_reads_each_source_by_format_and_groups_by_customer(landing):
    _landing(landing)
    contract = load_contract()
    groups = {(s.name, fmt): files for s, fmt, files in files_by_format(landing, contract)}
    assert sorted(groups) == [("customers", "csv"), ("events", "jsonl"), ("orders", "parquet")]
    assert len(groups[("customers", "csv")]) == 2
    assert group_key(contract.sources["orders"]) == ("source_system", "source_customer_id")
    assert group_key(contract.sources["products"]) == ("product_id",)  # no customer: its primary key

    con = duckdb.connect()
    con.execute(floor_sql(contract.sources["events"], "jsonl", groups[("events", "jsonl")]))
    result = con.execute("select source_customer_id, anonymous_id, records from floor_result order by all").fetchall()
    # the truncated line is read as a row of nulls (ingestion quarantines it): still one scan of every line
    assert result == [("1", "a1", 1), (None, "a1", 1), (None, None, 1)]
    # every contract column is read, as text, and the file's extra key is not
    columns = {name: kind for name, kind, *_ in con.execute("describe floor_result").fetchall()}
    events = contract.sources["events"].column_names
    assert len(columns) == 2 + 1 + len(events)  # the key, the row count, a value count per contract column
    assert set(events) - {"source_customer_id", "anonymous_id"} <= set(columns) and "unknown_key" not in columns

    floor = measure_floor(landing)
    parts = {(p["source"], p["format"]): (p["files"], p["rows"], p["keys"]) for p in floor["parts"]}
    assert parts == {("customers", "csv"): (2, 3, 2), ("events", "jsonl"): (1, 3, 3), ("orders", "parquet"): (1, 3, 2)}
    assert floor["rows"] == 9 and floor["files"] == 4


def test_full_run_landing_holds_back_the_last_day_until_released(tmp_path):
    generated = tmp_path / "generated"
    _landing(generated)
    landing = tmp_path / "landing"
    last, held = stage_landing(generated, landing, ["customers", "events", "orders"])
    assert str(last) == "2026-09-30"
    assert sorted(map(str, held)) == ["customers/crm_customers_2026-09-30.csv", "events/web_events_2026-09-30.jsonl"]
    staged = sorted(str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file())
    assert staged == [
        "customers/crm_customers_2026-09-29.csv", "orders/_notes.txt", "orders/pos_orders_2026-09-29.parquet"]
    assert not (landing / "_truth").exists()
    release(generated, landing, held)
    assert (landing / "events" / "web_events_2026-09-30.jsonl").read_text() == (
        generated / "events" / "web_events_2026-09-30.jsonl").read_text()


def test_floor_refuses_a_format_it_cannot_read():
    with pytest.raises(ValueError, match="no floor reader"):
        reader_sql(load_contract().sources["customers"], "xml", [])
