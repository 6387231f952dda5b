"""The policy that bounds how long erased rows' bytes stay in the warehouse file (cdp/privacy/storage.py);
the whole-pipeline side is in test_erasure.py."""

from datetime import datetime, timedelta

import duckdb
import pytest

from cdp.privacy.storage import CompactionPolicy, compact_if_due, erased_since, load_policy
from cdp.privacy.suppression import ensure_privacy_schema

DAY = timedelta(days=1)
T0 = datetime(2026, 11, 1, 9)


def _warehouse(path, runs: list[tuple[datetime, str, str]]):
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists audit")
        ensure_privacy_schema(con)
        con.execute("create table main.customers as select 'Zebediah Quuxworth' as name")
        for at, deleted, updated in runs:
            con.execute("insert into audit.privacy_runs (processed_at, erasure_requests, suppressions_absorbed, "
                        "customers_erased, rows_deleted, rows_updated) values (?, 0, 0, 0, ?, ?)",
                        [at, deleted, updated])


def test_pending_erasure_is_the_oldest_run_that_deleted_or_changed_rows_since_the_last_rewrite(tmp_path):
    wh = tmp_path / "w.duckdb"
    _warehouse(wh, [(T0, "{}", "{}"), (T0 + DAY, '{"raw.customers": 0}', "{}"),
                    (T0 + 2 * DAY, "{}", '{"raw.orders": 1}'), (T0 + 3 * DAY, '{"raw.customers": 2}', "{}")])
    with duckdb.connect(str(wh), read_only=True) as con:
        assert erased_since(con) == T0 + 2 * DAY
    policy = CompactionPolicy(max_delay_days=3)
    assert policy.deadline(T0 + 2 * DAY) == T0 + 5 * DAY
    assert compact_if_due(wh, policy, now=T0 + 5 * DAY - timedelta(seconds=1)) == (None, T0 + 2 * DAY)
    compaction, left = compact_if_due(wh, policy, now=T0 + 5 * DAY)
    assert compaction.reason == "due" and compaction.erased_since == T0 + 2 * DAY and left is None
    with duckdb.connect(str(wh), read_only=True) as con:
        assert erased_since(con) is None
        # the rewrite kept the live data
        assert con.execute("select name from main.customers").fetchall() == [("Zebediah Quuxworth",)]
    # an erasure after the rewrite is pending again
    with duckdb.connect(str(wh)) as con:
        con.execute("insert into audit.privacy_runs (processed_at, erasure_requests, suppressions_absorbed, "
                    "customers_erased, rows_deleted, rows_updated) values (?, 0, 0, 0, '{\"raw.events\": 1}', '{}')",
                    [datetime.now() + DAY])
        assert erased_since(con) is not None


def test_nothing_erased_means_nothing_due_and_forcing_rewrites_anyway(tmp_path):
    wh = tmp_path / "w.duckdb"
    _warehouse(wh, [(T0, "{}", "{}")])
    policy = CompactionPolicy(max_delay_days=0)
    assert compact_if_due(wh, policy, now=T0 + 100 * DAY) == (None, None)
    compaction, _ = compact_if_due(wh, policy, force=True)
    assert compaction.reason == "on_demand" and compaction.erased_since is None


def test_the_policy_comes_from_yaml_and_a_run_may_override_it(tmp_path):
    assert load_policy().max_delay_days == 7
    assert load_policy(max_delay_days=0).max_delay_days == 0
    bad = tmp_path / "storage.yml"
    bad.write_text("file_compaction:\n  max_delay_days: -1\n")
    with pytest.raises(ValueError, match="max_delay_days"):
        load_policy(bad)
