"""A warehouse holding only what the ML stage reads, at any number of customers, built in SQL.

    python -m benchmarks.ml.synthetic_warehouse --customers 1000000 --out /tmp/ml-1m/cdp.duckdb

The landing generator plus the whole pipeline at a million customers is issue 8's benchmark;
the ML stage only needs the tables below, so they are drawn directly, with structure for the
models to find: six latent shopper types differ in order rate, basket value, browsing, e-mail
engagement, preferred categories and when they stop buying (churn).
Tables: marts.dim_customers, marts.fct_orders, staging.stg_landing__order_items,
staging.stg_landing__products, intermediate.int_events_identified (product views, add-to-carts,
page views), intermediate.int_email_events_identified. About 50 web events per customer per year.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb

# latent type: share, orders per year, mean basket (EUR), web sessions per week, e-mail open rate,
# first preferred category, chance of dropping out after each purchase
TYPES = [
    (0.30, 0.8, 45.0, 0.15, 0.10, 0, 0.45),
    (0.20, 2.5, 80.0, 0.35, 0.25, 2, 0.25),
    (0.15, 6.0, 60.0, 0.7, 0.40, 4, 0.10),
    (0.15, 1.5, 250.0, 0.25, 0.15, 6, 0.30),
    (0.12, 0.4, 30.0, 0.5, 0.05, 8, 0.60),
    (0.08, 10.0, 120.0, 1.1, 0.55, 10, 0.05),
]
CATEGORIES = 12
PRODUCTS_PER_CATEGORY = 250


def build(path: Path, customers: int, days: int, end: date, seed: float = 0.42) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    start = end - timedelta(days=days - 1)
    types = " union all ".join(
        f"select {i} as t, {share} as share, {orders} as orders_per_year, {basket} as basket, "
        f"{sessions} as sessions_per_week, {open_rate} as open_rate, {category} as category, {churn} as churn_share"
        for i, (share, orders, basket, sessions, open_rate, category, churn) in enumerate(TYPES)
    )
    with duckdb.connect(str(path)) as con:
        con.execute(f"select setseed({seed})")
        for schema in ("marts", "staging", "intermediate"):
            con.execute(f"create schema {schema}")
        con.execute(f"create temp table types as {types}")
        con.execute("""
            create temp table cumulative as
            select *, sum(share) over (order by t) - share as lo, sum(share) over (order by t) as hi from types
        """)
        con.execute(f"""
            create temp table people as
            select
                p.i,
                'c' || lpad(p.i::varchar, 8, '0') as customer_id,
                c.t,
                random() as u,
                -- within a type, purchase rates and spend differ by customer (BG/NBD's and Gamma-Gamma's
                -- heterogeneity); after each purchase a customer may drop out for good
                exp(0.7 * (random() + random() + random() - 1.5)) as rate_factor,
                1 + floor(ln(random()) / ln(1 - c.churn_share)) as purchases_before_dropout,
                -- customers of one type spend differently too (what Gamma-Gamma's q and gamma describe)
                exp(0.8 * (random() + random() + random() - 1.5)) as spend_factor
            from (select range as i, random() as r from range({customers})) as p
            join cumulative as c on p.r >= c.lo and p.r < c.hi
        """)
        con.execute(f"""
            create table staging.stg_landing__products as
            select 'p' || lpad(range::varchar, 5, '0') as product_id, 'product ' || range as product_name,
                   'category_' || (range // {PRODUCTS_PER_CATEGORY}) as product_category,
                   round(5 + 300 * random(), 2)::decimal(18, 4) as price, 0::bigint as _load_id,
                   now()::timestamp as _loaded_at
            from range({CATEGORIES * PRODUCTS_PER_CATEGORY})
        """)
        con.execute(f"""
            create table marts.dim_customers as
            select customer_id,
                   case when u < 0.45 then 'female' when u < 0.88 then 'male' end as gender,
                   case when random() < 0.7 then date '{start}' - cast(365 * (18 + 60 * random()) as integer) end
                       as birth_date,
                   (date '{start}' - cast(1500 * random() as integer))::timestamp as first_seen_at,
                   false as is_erased
            from people
        """)
        # orders: a Poisson-ish count over the whole history at the customer's rate, cut after the
        # purchase at which the customer drops out; a dropped customer stops browsing then too
        con.execute(f"""
            create temp table order_draws as
            with counts as (
                select p.customer_id, p.purchases_before_dropout, ty.basket * p.spend_factor as basket,
                       cast(floor(ty.orders_per_year * p.rate_factor * {days} / 365.0 * (0.5 + random())
                                  + random()) as integer) as n
                from people p join types ty using (t)
            ),
            draws as (
                select customer_id, purchases_before_dropout, basket, unnest(range(n)) as k,
                       cast(floor({days} * random()) as integer) as day
                from counts where n > 0
            )
            select *, row_number() over (partition by customer_id order by day, k) as seq from draws
        """)
        con.execute(f"""
            create or replace temp table people as
            select people.* exclude (active_days), coalesce(dropped.last_day + 1, {days}) as active_days
            from (select *, 0 as active_days from people) as people
            left join (
                select customer_id, max(day) filter (where seq <= purchases_before_dropout) as last_day
                from order_draws group by customer_id having max(seq) > max(purchases_before_dropout)
            ) as dropped using (customer_id)
        """)
        con.execute(f"""
            create table marts.fct_orders as
            select
                customer_id || '-' || k as order_id,
                customer_id,
                case when random() < 0.03 then 'returned' when random() < 0.02 then 'cancelled' else 'completed' end
                    as order_status,
                (basket * exp(0.5 * (random() + random() + random() - 1.5)))::decimal(18, 2) as total_amount_reporting,
                date '{start}' + day as ordered_date
            from order_draws
            where seq <= purchases_before_dropout
        """)
        con.execute("""
            create or replace table marts.fct_orders as
            select *, order_status = 'completed' as is_completed from marts.fct_orders
        """)
        con.execute(f"""
            create table staging.stg_landing__order_items as
            with lines as (
                select o.order_id, o.customer_id, unnest(range(1 + cast(floor(2.5 * random()) as integer))) as line
                from marts.fct_orders o
            )
            select
                order_id || '-' || line as order_item_id,
                order_id,
                -- mostly the type's two favourite categories, sometimes anything
                'p' || lpad(cast(
                    case when random() < 0.8
                        then ((ty.category + cast(floor(2 * random()) as integer)) % {CATEGORIES})
                             * {PRODUCTS_PER_CATEGORY}
                             + cast(floor({PRODUCTS_PER_CATEGORY} * random() * random()) as integer)
                        else cast(floor({CATEGORIES * PRODUCTS_PER_CATEGORY} * random()) as integer)
                    end as varchar), 5, '0') as product_id,
                1::bigint as quantity
            from lines join people p using (customer_id) join types ty using (t)
        """)
        con.execute(f"""
            create table intermediate.int_events_identified as
            with counts as (
                select p.customer_id, p.t, p.active_days,
                       cast(floor(ty.sessions_per_week * p.active_days / 7.0 * (0.5 + random())) as integer) as n
                from people p join types ty using (t)
            ),
            sessions as (
                select customer_id, t, unnest(range(n)) as s, active_days from counts where n > 0
            ),
            events as (
                select customer_id, t, s, active_days, unnest(range(1 + cast(floor(4 * random()) as integer))) as e
                from sessions
            )
            select
                customer_id || '-' || s || '-' || e as event_id,
                customer_id,
                customer_id || '-' || s as session_id,
                case when e = 0 then 'page_view' when random() < 0.12 then 'add_to_cart' else 'product_view' end
                    as event_type,
                case when e > 0 then 'p' || lpad(cast(
                    ((ty.category + cast(floor(2 * random()) as integer)) % {CATEGORIES}) * {PRODUCTS_PER_CATEGORY}
                    + cast(floor({PRODUCTS_PER_CATEGORY} * random() * random()) as integer) as varchar), 5, '0')
                end as product_id,
                date '{start}' + cast(floor(active_days * random()) as integer) as occurred_date
            from events join types ty using (t)
        """)
        con.execute("""
            create or replace table intermediate.int_events_identified as
            select *, occurred_date::timestamp + interval 12 hour as occurred_at from intermediate.int_events_identified
        """)
        weeks = days // 7
        con.execute(f"""
            create table intermediate.int_email_events_identified as
            with subscribers as (
                select p.customer_id, p.active_days, ty.open_rate from people p join types ty using (t)
                where p.u < 0.6
            ),
            sends as (
                select customer_id, active_days, open_rate, unnest(range({weeks})) as w from subscribers
            ),
            delivered as (
                select customer_id, open_rate * (case when w * 7 > active_days then 0.3 else 1 end) as p_open,
                       date '{start}' + cast(w * 7 as integer) as occurred_date, w
                from sends
            )
            select customer_id || '-' || w || '-d' as email_event_id, customer_id, 'delivered' as event_type,
                   occurred_date
            from delivered
            union all
            select customer_id || '-' || w || '-o', customer_id, 'open', occurred_date + 1
            from delivered where random() < p_open
        """)
        con.execute("""
            insert into intermediate.int_email_events_identified
            select replace(email_event_id, '-o', '-c'), customer_id, 'click', occurred_date
            from intermediate.int_email_events_identified where event_type = 'open' and random() < 0.2
        """)
        con.execute("""
            create or replace table intermediate.int_email_events_identified as
            select *, occurred_date::timestamp + interval 12 hour as occurred_at
            from intermediate.int_email_events_identified
        """)
        # the change-capture columns the per-customer day summaries read (as if built before them)
        for table in ("int_events_identified", "int_email_events_identified"):
            con.execute(f"alter table intermediate.{table} add column _built_at timestamp")
            con.execute(f"alter table intermediate.{table} add column _previous_customer_id varchar")


# the dbt models the ML stage reads, and the per-customer day summaries the features read
FEATURE_MODELS = ("int_customer_web_days", "int_customer_email_days", "feature_cutoffs", "customer_features",
                  "customer_labels")


def build_feature_tables(path: Path, as_of: date, churn_horizon_days: int, target_path: Path) -> None:
    """Run the dbt models the ML stage reads (its feature, cutoff and label tables) on a built warehouse."""
    project = Path(__file__).resolve().parents[2] / "dbt_project"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run", "--select", *FEATURE_MODELS,
         "--vars", json.dumps({"as_of": as_of.isoformat(), "churn_horizon_days": churn_horizon_days}),
         "--target-path", str(target_path)],
        cwd=project, env={**os.environ, "CDP_WAREHOUSE": str(path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the feature tables failed to build:\n{result.stdout[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 9, 30))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    build(args.out, args.customers, args.days, args.end)
    with duckdb.connect(str(args.out), read_only=True) as con:
        for table in ("marts.dim_customers", "marts.fct_orders", "staging.stg_landing__order_items",
                      "intermediate.int_events_identified", "intermediate.int_email_events_identified"):
            print(f"{table}: {con.execute(f'select count(*) from {table}').fetchone()[0]:,} rows")


if __name__ == "__main__":
    main()
