"""Source freshness: the age of a source's last loaded rows against its dbt source expectation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from cdp.ingest.freshness import FreshnessRule, freshness_rules, source_freshness
from orchestration.defs.dbt import DBT_PROJECT

NOW = datetime(2026, 10, 1, 12, 0)


def _raw(con, loaded_at: list[datetime]):
    con.execute("create schema if not exists raw")
    con.execute("create or replace table raw.orders (order_id varchar, _loaded_at timestamptz)")
    for i, when in enumerate(loaded_at):
        con.execute("insert into raw.orders values (?, ?::timestamp at time zone 'UTC')", [str(i), when])


def test_the_rules_come_from_the_dbt_sources(tmp_path):
    rules = freshness_rules(DBT_PROJECT.manifest_path)
    assert rules["orders"] == FreshnessRule(timedelta(days=2), timedelta(days=7))  # the vars' defaults
    # event-driven sources declare no cadence
    assert rules["erasure_requests"] is None and rules["suppressions"] is None
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"sources": {"s": {
        "source_name": "landing", "name": "events",
        "freshness": {"warn_after": {"count": 6, "period": "hour"}, "error_after": {"count": None, "period": None}},
    }}}))
    assert freshness_rules(manifest) == {"events": FreshnessRule(timedelta(hours=6), None)}


def test_age_of_the_latest_load_decides(con):
    rule = FreshnessRule(timedelta(days=2), timedelta(days=7))
    _raw(con, [NOW - timedelta(days=10), NOW - timedelta(hours=30)])
    fresh = source_freshness(con, "orders", rule, NOW)
    assert fresh.state == "pass" and fresh.as_metadata()["age_hours"] == 30.0
    _raw(con, [NOW - timedelta(days=3)])
    assert source_freshness(con, "orders", rule, NOW).state == "warn"
    _raw(con, [NOW - timedelta(days=8)])
    late = source_freshness(con, "orders", rule, NOW)
    assert late.state == "error" and "192.0 h ago" in late.explanation


def test_never_loaded_warns_and_no_expectation_passes(con):
    _raw(con, [])
    assert source_freshness(con, "orders", FreshnessRule(timedelta(days=2), None), NOW).state == "warn"
    assert source_freshness(con, "orders", None, NOW).state == "pass"
