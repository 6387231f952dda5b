"""Interactions for product recommendations: the warehouse loader, and a synthetic generator with planted structure.

An interaction is one row per customer, product, kind and UTC day: ``customer_id``, ``product_id``,
``interaction_type`` (``purchase`` / ``cart`` / ``view``), ``occurred_date`` and ``interaction_count``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

INTERACTION_TYPES = ("purchase", "cart", "view")
INTERACTION_COLUMNS = ["customer_id", "product_id", "interaction_type", "occurred_date", "interaction_count"]

# Purchases are lines of completed orders (all channels, returns and cancellations left out), counted as
# distinct orders; carts and views are identified web/app events. Both filters bound the UTC date on
# both sides, so nothing after the cutoff is read.
INTERACTIONS_SQL = """
with

orders as (
    select order_id, customer_id, ordered_date
    from marts.fct_orders
    where is_completed
        and customer_id is not null
        and ordered_date between $window_start and $cutoff_date
),

order_items as (
    select order_id, product_id
    from staging.stg_landing__order_items
    where product_id is not null
),

purchases as (
    select
        orders.customer_id,
        order_items.product_id,
        'purchase' as interaction_type,
        orders.ordered_date as occurred_date,
        count(distinct orders.order_id) as interaction_count,
    from orders
    inner join order_items on order_items.order_id = orders.order_id
    group by all
),

product_events as (
    select
        customer_id,
        product_id,
        case event_type when 'add_to_cart' then 'cart' else 'view' end as interaction_type,
        occurred_date,
        count(*) as interaction_count,
    from intermediate.int_events_identified
    where event_type in ('product_view', 'add_to_cart')
        and customer_id is not null
        and product_id is not null
        and occurred_date between $window_start and $cutoff_date
    group by all
),

final as (
    select * from purchases
    union all
    select * from product_events
)

select * from final
"""


def as_date(value: str | date | datetime) -> date:
    """A ``date`` from an ISO string, a ``date`` or a ``datetime`` (its calendar day)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.strptime(value, "%Y-%m-%d").date()


def load_interactions(
    con: duckdb.DuckDBPyConnection, cutoff_date: str | date, lookback_days: int | None = 365
) -> pd.DataFrame:
    """Product interactions of identified customers in the ``lookback_days`` UTC days ending on ``cutoff_date``.

    Point-in-time: the SQL reads nothing dated after ``cutoff_date`` (inclusive). ``lookback_days=None``
    reads all history. Ids come back as categoricals (cheap at millions of rows), dates as datetime64.
    """
    cutoff = as_date(cutoff_date)
    if lookback_days is not None and lookback_days < 1:
        raise ValueError(f"lookback_days must be at least 1, got {lookback_days}")
    window_start = date.min if lookback_days is None else cutoff - timedelta(days=lookback_days - 1)
    params = {"window_start": window_start, "cutoff_date": cutoff}
    table = con.sql(INTERACTIONS_SQL, params=params).to_arrow_table()
    frame = table.to_pandas(strings_to_categorical=True, date_as_object=False)
    frame["interaction_count"] = frame["interaction_count"].astype(np.int32)
    return frame[INTERACTION_COLUMNS]


def synthetic_interactions(
    n_customers: int,
    n_products: int,
    interactions_per_customer: float = 20.0,
    n_clusters: int | None = None,
    days: int = 90,
    start_date: str | date = "2026-07-03",
    in_cluster_share: float = 0.8,
    seed: int = 0,
) -> pd.DataFrame:
    """Interactions of shoppers who each favour one cluster of products, for tests and the scale benchmark.

    Products are split into ``n_clusters`` contiguous clusters; each customer picks one cluster and draws
    ``in_cluster_share`` of their interactions from it, the rest from a Zipf-like popularity over the whole
    catalogue. Kinds are 70% views, 15% carts, 15% purchases; days are uniform over ``days`` days.
    """
    rng = np.random.default_rng(seed)
    n_clusters = n_clusters or max(1, n_products // 30)
    cluster_size = n_products // n_clusters
    counts = rng.poisson(interactions_per_customer, n_customers).clip(1)
    customer = np.repeat(np.arange(n_customers, dtype=np.int32), counts)
    n = len(customer)
    home = rng.integers(0, n_clusters, n_customers, dtype=np.int32)[customer]
    in_cluster = rng.random(n) < in_cluster_share
    # within a cluster, earlier products are more popular (rank weights 1/(r+1))
    within = _zipf_draw(rng, cluster_size, n)
    anywhere = _zipf_draw(rng, n_products, n)
    product = np.where(in_cluster, home * cluster_size + within, anywhere).astype(np.int32)
    kind = rng.choice(3, size=n, p=[0.15, 0.15, 0.70]).astype(np.int8)
    occurred = np.datetime64(as_date(start_date), "D") + rng.integers(0, days, n)
    width = len(str(max(n_customers, n_products) - 1))
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(customer, [f"c{i:0{width}d}" for i in range(n_customers)]),
            "product_id": pd.Categorical.from_codes(product, [f"p{i:0{width}d}" for i in range(n_products)]),
            "interaction_type": pd.Categorical.from_codes(kind, list(INTERACTION_TYPES)),
            "occurred_date": occurred.astype("datetime64[us]"),
            "interaction_count": np.ones(n, dtype=np.int32),
        }
    )


def _zipf_draw(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    """``n`` draws from 0..size-1 with probability proportional to 1/(rank+1)."""
    weights = 1.0 / np.arange(1, size + 1)
    return np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n)).clip(max=size - 1)
