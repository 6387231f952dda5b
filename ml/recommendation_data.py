"""Interactions for product recommendations, read from the warehouse.

An interaction is one row per customer, product, kind and UTC day: ``customer_id``, ``product_id``,
``interaction_type`` (``purchase`` / ``cart`` / ``view``), ``occurred_date`` and ``interaction_count``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from cdp.warehouse import Warehouse, as_warehouse

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
        and ordered_date between ? and ?
        {customers}
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
        count(distinct orders.order_id) as interaction_count
    from orders
    inner join order_items on order_items.order_id = orders.order_id
    group by orders.customer_id, order_items.product_id, orders.ordered_date
),

product_events as (
    select
        customer_id,
        product_id,
        case event_type when 'add_to_cart' then 'cart' else 'view' end as interaction_type,
        occurred_date,
        count(*) as interaction_count
    from intermediate.int_events_identified
    where event_type in ('product_view', 'add_to_cart')
        and customer_id is not null
        and product_id is not null
        and occurred_date between ? and ?
        {customers}
    group by customer_id, product_id, case event_type when 'add_to_cart' then 'cart' else 'view' end, occurred_date
),

final as (
    select * from purchases
    union all
    select * from product_events
)

select * from final
"""
# scoring's scratch tables: the customers to recommend for, numbered into batches, and their interactions
BATCH_CUSTOMERS = "_recommendation_batch_customers"
BATCH_INTERACTIONS = "_recommendation_batch_interactions"


def as_date(value: str | date | datetime) -> date:
    """A ``date`` from an ISO string, a ``date`` or a ``datetime`` (its calendar day)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.strptime(value, "%Y-%m-%d").date()


def load_interactions(warehouse: Warehouse, cutoff_date: str | date, lookback_days: int | None = 365) -> pd.DataFrame:
    """Product interactions of identified customers in the ``lookback_days`` UTC days ending on ``cutoff_date``.

    Point-in-time: the SQL reads nothing dated after ``cutoff_date`` (inclusive). ``lookback_days=None``
    reads all history. Ids come back as categoricals (cheap at millions of rows), dates as datetime64.
    """
    warehouse = as_warehouse(warehouse)
    return _frame(warehouse.arrow(INTERACTIONS_SQL.format(customers=""), _window(cutoff_date, lookback_days)))


def interaction_batches(
    warehouse: Warehouse, cutoff_date: str | date, lookback_days: int | None, customers_sql: str, batch_rows: int,
) -> Iterator[tuple[pd.Series, pd.DataFrame]]:
    """The customers ``customers_sql`` selects (one column, ``customer_id``), in batches of ``batch_rows`` by id,
    each with its interactions as ``load_interactions`` reads them.

    The interactions are aggregated once, each row tagged with its customer's batch, and each batch reads
    only its rows: aggregating them again per batch of customers (17 at 1,000,000) took 11 of the 29 s of a
    scoring run."""
    warehouse = as_warehouse(warehouse)
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    batches = warehouse.temp_table(
        BATCH_CUSTOMERS,
        # floor of a double, not an integer division: Spark has no //, and DuckDB's / is not integral
        f"select customer_id, cast(floor((row_number() over (order by customer_id) - 1) / {int(batch_rows)}) "
        "as bigint) as batch "
        f"from ({customers_sql}) as customers",
    )
    try:
        only = f"and customer_id in (select customer_id from {BATCH_CUSTOMERS})"
        warehouse.temp_table(
            BATCH_INTERACTIONS,
            f"select interactions.*, customers.batch from ({INTERACTIONS_SQL.format(customers=only)}) as interactions "
            f"inner join {BATCH_CUSTOMERS} as customers using (customer_id)",
            _window(cutoff_date, lookback_days),
        )
        columns = ", ".join(INTERACTION_COLUMNS)
        for batch in range(-(-batches // batch_rows)):
            ids = warehouse.frame(
                f"select customer_id from {BATCH_CUSTOMERS} where batch = ? order by customer_id", [batch]
            )["customer_id"].astype(str)
            yield ids, _frame(warehouse.arrow(f"select {columns} from {BATCH_INTERACTIONS} where batch = ?", [batch]))
    finally:
        warehouse.drop_temp_table(BATCH_INTERACTIONS)
        warehouse.drop_temp_table(BATCH_CUSTOMERS)


def _window(cutoff_date: str | date, lookback_days: int | None) -> list[date]:
    """INTERACTIONS_SQL's parameters: the first and last day read, for orders and for events."""
    cutoff = as_date(cutoff_date)
    if lookback_days is not None and lookback_days < 1:
        raise ValueError(f"lookback_days must be at least 1, got {lookback_days}")
    window_start = date.min if lookback_days is None else cutoff - timedelta(days=lookback_days - 1)
    return [window_start, cutoff, window_start, cutoff]


def _frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(strings_to_categorical=True, date_as_object=False)
    frame["interaction_count"] = frame["interaction_count"].astype(np.int32)
    return frame[INTERACTION_COLUMNS]
