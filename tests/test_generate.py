"""Tests of the synthetic landing-data generator (cdp.generate).

One module-scoped landing directory (several chunks, a raised malformed-row
rate so every defect category shows up) serves most tests; the determinism
test makes its own small runs. An independent contract checker here re-reads
every file and must find exactly the rows _truth/malformed_rows lists.
"""

from __future__ import annotations

import csv
import filecmp
import json
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from cdp.contract import load_contract
from cdp.generate import generate_landing
from cdp.generate.settings import CONFIG_PATH

CONTRACT = load_contract()
END = date(2026, 9, 30)
PERSONS, DAYS = 700, 30
MALFORMED_RATE = 0.03  # raised from the default so every defect category shows up in a small run
START = (END - timedelta(days=DAYS - 1)).isoformat()


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    cfg = yaml.safe_load(CONFIG_PATH.read_text())
    cfg["malformed"]["rate"] = MALFORMED_RATE
    cfg["erasure"]["rate"] = 0.01
    root = tmp_path_factory.mktemp("gen")
    config = root / "config.yml"
    config.write_text(yaml.safe_dump(cfg))
    out = root / "landing"
    generate_landing(out, customers=PERSONS, days=DAYS, seed=7, end_date=END, chunk_size=300, progress=False,
                     config_path=config)
    return out


def landing_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith(CONTRACT.ignored_prefixes) for part in p.relative_to(root).parts))


def read_truth(root: Path, name: str) -> list[dict]:
    with open(root / "_truth" / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ independent contract checker


def raw_records(path: Path, columns: list[str]):
    """Yield (record_number, dict or None if the record itself does not parse)."""
    fmt = CONTRACT.file_format(path)
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            assert next(reader) == columns, f"{path}: header differs from the contract"
            for i, row in enumerate(reader, start=1):
                yield i, (dict(zip(columns, (v if v != "" else None for v in row), strict=True))
                          if len(row) == len(columns) else None)
    elif fmt == "jsonl":
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    yield i, None
                    continue
                assert list(obj) == columns, f"{path}:{i}: keys differ from the contract"
                yield i, {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in obj.items()}
    else:
        table = pq.read_table(path)
        assert table.column_names == columns, f"{path}: parquet columns differ from the contract"
        for i, row in enumerate(table.to_pylist(), start=1):
            yield i, {k: (None if v is None else str(v)) for k, v in row.items()}


def castable_timestamps(values: set[str]) -> set[str]:
    if not values:
        return set()
    rows = duckdb.execute("select s from (select unnest($v) as s) where try_cast(s as timestamptz) is not null "
                      "and try_cast(s as timestamptz) >= timestamptz '1970-01-01 00:00:00+00' "
                      "and try_cast(s as timestamptz) < now() + interval 1 day",
                      {"v": sorted(values)}).fetchall()
    return {r[0] for r in rows}


def contract_violations(root: Path) -> set[tuple[str, int, str]]:
    """(file, record_number, reason) of every row the contract rejects."""
    records = []
    stamps: set[str] = set()
    for path in landing_files(root):
        source = CONTRACT.sources[path.relative_to(root).parts[0]]
        for number, rec in raw_records(path, source.column_names):
            records.append((path.relative_to(root).as_posix(), number, source, rec))
            for col in source.columns:
                if rec is not None and col.type == "timestamp" and rec[col.name] is not None:
                    stamps.add(rec[col.name])
    good_stamps = castable_timestamps(stamps)
    bad = set()
    for file, number, source, rec in records:
        if rec is None:
            bad.add((file, number, "parse_error"))
            continue
        for col in source.columns:
            value = rec[col.name]
            if value is None or str(value).strip() == "":
                if col.required:
                    bad.add((file, number, "missing_required"))
                continue
            if col.on_invalid != "reject":
                continue
            if col.values and str(value).strip().lower() not in col.values:
                bad.add((file, number, "invalid_enum"))
            if col.type == "timestamp" and value not in good_stamps:
                bad.add((file, number, "invalid_type"))
            if col.type in ("decimal", "integer"):
                try:
                    number_value = Decimal(str(value))
                except InvalidOperation:
                    bad.add((file, number, "invalid_type"))
                    continue
                if col.min is not None and number_value < Decimal(str(col.min)):
                    bad.add((file, number, "out_of_range"))
        for group in source.require_any:
            if all(rec[c] is None for c in group):
                bad.add((file, number, "missing_required"))
    return bad


def all_events(root: Path) -> str:
    """SQL over every events file (web JSONL and app Parquet) with text columns."""
    cols = CONTRACT.sources["events"].column_names
    spec = ", ".join(f"{c}: 'VARCHAR'" for c in cols)
    return (f"select * from read_json('{root}/events/*.jsonl', format='newline_delimited', ignore_errors=true, "
            f"columns={{{spec}}}) union all by name "
            f"select {', '.join(f'cast({c} as varchar) as {c}' for c in cols)} "
            f"from read_parquet('{root}/events/*.parquet')")


# ------------------------------------------------------------------ tests


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        runs[name] = tmp_path / name
        generate_landing(runs[name], customers=150, days=10, seed=seed, end_date=END, chunk_size=60,
                         progress=False)
    # Several chunks, and the writer process: "a" and "b" must still be byte-identical.
    files_a = sorted(p.relative_to(runs["a"]) for p in runs["a"].rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(runs["b"]) for p in runs["b"].rglob("*") if p.is_file())
    assert files_a == files_b
    assert len(files_a) > 50
    for rel in files_a:
        assert filecmp.cmp(runs["a"] / rel, runs["b"] / rel, shallow=False), rel
    differs = [rel for rel in files_a
               if not (runs["c"] / rel).exists() or not filecmp.cmp(runs["a"] / rel, runs["c"] / rel, shallow=False)]
    assert len(differs) > len(files_a) // 2


def test_tiny_runs_work(tmp_path):
    summary = generate_landing(tmp_path / "tiny", customers=3, days=1, seed=1, end_date=END, chunk_size=2,
                               progress=False)
    assert summary["persons"] == 3 and summary["source_records"] >= 3
    assert (tmp_path / "tiny" / "_truth" / "malformed_rows.csv").exists()


def test_layout_names_and_formats(landing):
    files = landing_files(landing)
    sources = {p.relative_to(landing).parts[0] for p in files}
    # every source but compliance's suppression uploads, which no simulated system sends
    assert sources == set(CONTRACT.sources) - {"suppressions"}
    formats = Counter(CONTRACT.file_format(p) for p in files)
    assert formats["csv"] and formats["jsonl"] and formats["parquet"]
    names = {p.name for p in files}
    assert f"crm_customers_{START}.csv" in names
    assert "web_events_2026-09-30.jsonl" in names
    assert any(n.startswith("pos_orders_") and n.endswith(".parquet") for n in names)
    assert not list(landing.rglob("*.tmp")), "temporary files left behind"
    assert (landing / "_truth" / "README.md").exists()
    summary = json.loads((landing / "_truth" / "summary.json").read_text())
    assert summary["persons"] == PERSONS
    assert sum(summary["files_by_source"].values()) == len(files)


def test_every_file_matches_contract_columns_and_duckdb_casts_valid_rows(landing):
    truth = Counter()
    for row in read_truth(landing, "malformed_rows.csv"):
        truth[(row["file"], row["reason"])] += 1
    con = duckdb.connect()
    for path in landing_files(landing):
        rel = path.relative_to(landing).as_posix()
        source = CONTRACT.sources[rel.split("/")[0]]
        cols = source.column_names
        fmt = CONTRACT.file_format(path)
        if fmt == "csv":
            rel_sql = (f"read_csv('{path}', header=true, all_varchar=true, ignore_errors=true, "
                       f"columns={{{', '.join(repr(c) + ': ' + repr('VARCHAR') for c in cols)}}}, "
                       "auto_detect=false, quote='\"', escape='\"')")
        elif fmt == "jsonl":
            rel_sql = (f"read_json('{path}', format='newline_delimited', ignore_errors=true, "
                       f"columns={{{', '.join(repr(c) + ': ' + repr('VARCHAR') for c in cols)}}})")
        else:
            rel_sql = f"read_parquet('{path}')"
        described = [r[0] for r in con.execute(f"describe select * from {rel_sql}").fetchall()]
        assert described == cols, rel
        # DuckDB's read_json(ignore_errors) turns a broken line into an all-NULL row.
        n_rows = con.execute(f"select count(*) from {rel_sql} where not ({' is null and '.join(cols)} is null)"
                             ).fetchone()[0]
        records = sum(1 for _ in raw_records(path, cols))
        assert n_rows == records - truth[(rel, "parse_error")], rel
        # Every typed column casts, except the values truth says are broken.
        for col in source.columns:
            cast = {"integer": "bigint", "decimal": "decimal(18, 4)", "date": "date", "timestamp": "timestamptz",
                    "json": "json"}.get(col.type)
            if cast is None:
                continue
            failed = con.execute(f"select count(*) from {rel_sql} where {col.name} is not null "
                             f"and try_cast({col.name} as {cast}) is null").fetchone()[0]
            if col.type == "timestamp" and col.required:
                assert failed == truth[(rel, "invalid_type")], (rel, col.name)
            else:
                assert failed == 0, (rel, col.name)


def test_malformed_rows_in_truth_are_exactly_the_contract_violations(landing):
    truth = {(r["file"], int(r["record_number"]), r["reason"]) for r in read_truth(landing, "malformed_rows.csv")}
    found = contract_violations(landing)
    assert found == truth
    reasons = Counter(r for _, _, r in truth)
    for reason in ("missing_required", "invalid_type", "invalid_enum", "out_of_range", "parse_error"):
        assert reasons[reason] > 0, reason
    malformable = sum(v for k, v in json.loads((landing / "_truth" / "summary.json").read_text())[
        "rows_by_source"].items() if k not in ("products", "erasure_requests"))
    assert 0.7 * MALFORMED_RATE < len(truth) / malformable < 1.3 * MALFORMED_RATE


def test_keys_unique_except_resends(landing):
    bad = {(r["file"], int(r["record_number"])) for r in read_truth(landing, "malformed_rows.csv")}
    seen: dict[tuple, str] = {}
    for path in landing_files(landing):
        rel = path.relative_to(landing).as_posix()
        source_name = rel.split("/")[0]
        source = CONTRACT.sources[source_name]
        for number, rec in raw_records(path, source.column_names):
            if rec is None or (rel, number) in bad:
                continue
            key = (source_name, *(rec[k] for k in source.primary_key))
            if source_name in ("customers", "orders"):  # re-sent records: once per file
                assert seen.get(key) != rel, f"{rel}: key {key} twice in one file"
            else:
                assert key not in seen, f"{rel}: duplicate key {key} (also in {seen.get(key)})"
            seen[key] = rel


def test_truth_source_records_match_customer_files(landing):
    truth = {(r["source_system"], r["source_customer_id"]) for r in read_truth(landing, "source_records.csv")}
    bad = {(r["file"], int(r["record_number"])) for r in read_truth(landing, "malformed_rows.csv")}
    keys = set()
    resent = Counter()
    for path in landing_files(landing):
        rel = path.relative_to(landing).as_posix()
        if not rel.startswith("customers/"):
            continue
        for number, rec in raw_records(path, CONTRACT.sources["customers"].column_names):
            if rec is None or (rel, number) in bad:
                continue
            key = (rec["source_system"], rec["source_customer_id"])
            keys.add(key)
            resent[key] += 1
    assert keys == truth
    assert sum(1 for v in resent.values() if v > 1) > 0.02 * len(keys), "too few re-sent records"


def test_people_are_spread_over_systems_with_realistic_gaps(landing):
    records = read_truth(landing, "source_records.csv")
    per_person = Counter(r["person_id"] for r in records)
    persons = read_truth(landing, "persons.csv")
    assert len(per_person) == len(persons)
    assert sum(1 for v in per_person.values() if v >= 2) > 0.6 * len(persons)
    systems = Counter(r["source_system"] for r in records)
    assert set(systems) == {"crm", "webshop", "pos", "esp"}
    con = duckdb.connect()
    cust = f"read_csv('{landing}/customers/*.csv', all_varchar=true, ignore_errors=true)"
    no_contact = con.execute(f"select count(*) from {cust} where email is null and phone is null").fetchone()[0]
    pos_files = f"read_parquet('{landing}/customers/*.parquet')"
    pos_silent = con.execute(f"select count(*) from {pos_files} where email is null and phone is null "
                         "and loyalty_id is not null").fetchone()[0]
    assert no_contact + pos_silent > 0
    countries = {r[0] for r in con.execute(f"select distinct country from {cust}").fetchall()}
    assert {"GB", "UK", "United Kingdom"} & countries and len(countries) > 10
    shared = con.execute("select count(*) from (select email from read_csv($p, all_varchar=true) "
                     "group by email having count(*) > 1)", {"p": str(landing / "_truth" / "persons.csv")})
    assert shared.fetchone()[0] > 0, "no household shares an e-mail"


def test_events_tie_devices_to_people_and_purchases_to_orders(landing):
    devices = {r["anonymous_id"]: r["person_id"] for r in read_truth(landing, "devices.csv")}
    webshop = {r["source_customer_id"]: r["person_id"] for r in read_truth(landing, "source_records.csv")
               if r["source_system"] == "webshop"}
    con = duckdb.connect()
    events = f"({all_events(landing)})"
    anon = {r[0] for r in con.execute(f"select distinct anonymous_id from {events} where anonymous_id is not null")
            .fetchall()}
    assert anon <= set(devices)
    logins = con.execute(f"select anonymous_id, source_customer_id from {events} where event_type = 'login' "
                     "and source_customer_id is not null").fetchall()
    assert logins
    for anonymous_id, customer_id in logins:
        assert devices[anonymous_id] == webshop[customer_id]
    purchases = con.execute(f"select json_extract_string(properties, '$.order_id') as order_id, "
                        f"cast(json_extract_string(properties, '$.revenue') as decimal(18, 2)) as revenue "
                        f"from {events} where event_type = 'purchase' and properties is not null").fetchall()
    orders = dict(con.execute(f"select order_id, cast(total_amount as decimal(18, 2)) from read_csv("
                          f"'{landing}/orders/webshop_*.csv', all_varchar=true, ignore_errors=true)").fetchall())
    assert purchases
    for order_id, revenue in purchases:
        if order_id in orders:
            assert orders[order_id] == revenue
    assert sum(1 for o, _ in purchases if o in orders) > 0.95 * len(purchases)


def test_order_totals_equal_sum_of_lines(landing):
    con = duckdb.connect()
    for system, reader in (("webshop", "read_csv('{p}/{s}_*.csv', all_varchar=true, ignore_errors=true)"),
                           ("pos", "read_parquet('{p}/{s}_*.parquet')")):
        orders = reader.format(p=landing / "orders", s=f"{system}_orders")
        items = reader.format(p=landing / "order_items", s=f"{system}_order_items")
        mismatched = con.execute(f"""
            with o as (select distinct order_id, try_cast(total_amount as decimal(18, 2)) as total from {orders}
                       where try_cast(total_amount as decimal(18, 2)) >= 0 and order_id is not null),
                 i as (select order_id, sum(try_cast(quantity as bigint) * try_cast(unit_price as decimal(18, 2)))
                       as total from (select distinct * from {items}
                                      where try_cast(quantity as bigint) >= 1
                                        and try_cast(unit_price as decimal(18, 2)) >= 0
                                        and product_id is not null) group by order_id)
            select count(*) from o join i using (order_id) where o.total <> i.total""").fetchone()[0]
        assert mismatched == 0, system


def test_unsubscribes_become_consent_withdrawals(landing):
    con = duckdb.connect()
    unsub = con.execute(f"select count(*) from read_csv('{landing}/email_events/*.csv', all_varchar=true, "
                    "ignore_errors=true) where event_type = 'unsubscribe'").fetchone()[0]
    withdrawn = con.execute(f"select count(*) from read_csv('{landing}/consent/esp_*.csv', all_varchar=true, "
                        "ignore_errors=true) where status = 'withdrawn'").fetchone()[0]
    assert unsub > 0 and withdrawn >= unsub * 0.9


def test_personas_behave_differently(landing):
    con = duckdb.connect()
    t = landing / "_truth"
    con.execute(f"create view persons as select * from read_csv('{t}/persons.csv', all_varchar=true)")
    con.execute(f"create view devices as select * from read_csv('{t}/devices.csv', all_varchar=true)")
    con.execute(f"create view recs as select * from read_csv('{t}/source_records.csv', all_varchar=true)")
    con.execute(f"create view events as {all_events(landing)}")
    con.execute(f"""create view orders as select * from read_csv('{landing}/orders/webshop_*.csv', all_varchar=true,
        ignore_errors=true)""")
    stats = dict((r[0], r[1:]) for r in con.execute("""
        with views as (select p.persona, count(*) as n from events e join devices d using (anonymous_id)
                       join persons p using (person_id) where e.event_type = 'product_view' group by 1),
             ords as (select p.persona, count(distinct o.order_id) as n from orders o
                      join recs r on r.source_system = 'webshop' and r.source_customer_id = o.source_customer_id
                      join persons p using (person_id) group by 1),
             people as (select persona, count(*) as n from persons group by 1)
        select people.persona, coalesce(views.n, 0) / greatest(coalesce(ords.n, 0), 1),
               coalesce(ords.n, 0) / people.n
        from people left join views using (persona) left join ords using (persona)""").fetchall())
    views_per_order = {k: v[0] for k, v in stats.items()}
    orders_per_person = {k: v[1] for k, v in stats.items()}
    assert views_per_order["window_shopper"] > 2 * views_per_order["loyal_regular"]
    assert orders_per_person["vip"] > orders_per_person["dormant"] * 3
    churned = con.execute("select avg(case when is_churned = 'true' then 1 else 0 end) from persons "
                          "where persona = 'lapsing'").fetchone()[0]
    assert churned > 0.6
    future = f"read_csv('{t}/future_orders.csv', all_varchar=true)"
    after_churn = con.execute(f"select count(*) from {future} f join persons p using (person_id) "
                              "where p.is_churned = 'true'").fetchone()[0]
    assert after_churn == 0, "churned persons must not buy after the window"
    late = con.execute("select min(signup_at) from persons where persona = 'new_customer'").fetchone()[0]
    assert late >= START, "new customers sign up inside the window"
