"""Per-customer lifetime value from the warehouse: the body of the future ``ml.clv_predictions`` table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd

from ml.clv import BetaGeoModel, FitReport, GammaGammaModel, customer_lifetime_value, rfm_summary

MODEL_VERSION = "bgnbd-gamma-gamma-1"
COLUMNS = [
    "customer_id", "frequency", "recency", "T", "monetary",
    "expected_purchases_12m", "probability_alive", "expected_order_value", "clv_12m",
]

# Completed orders up to the as-of date, one row per customer and UTC day (ordered_date is the UTC
# date): the set-based work stays in SQL.
PURCHASE_DAYS_SQL = """
select
    customer_id,
    ordered_date as purchase_date,
    sum(total_amount_reporting) as amount
from marts.fct_orders
where is_completed
    and customer_id is not null
    and total_amount_reporting is not null
    and ordered_date <= ?
group by all
"""
UNPRICED_ORDERS_SQL = """
select count(*) from marts.fct_orders
where is_completed and customer_id is not null and total_amount_reporting is null and ordered_date <= ?
"""


@dataclass
class ClvPredictions:
    """A model run: predictions, both fits, and the data window, for the record the house style asks for."""

    predictions: pd.DataFrame
    purchases: FitReport
    spend: FitReport
    as_of: date
    time_unit: str
    months: int
    monthly_discount_rate: float
    unpriced_orders: int
    model_version: str = MODEL_VERSION


def predict_clv(
    con: duckdb.DuckDBPyConnection,
    as_of: str | date,
    time_unit: str = "W",
    monthly_discount_rate: float = 0.0,
) -> ClvPredictions:
    """Fit BG/NBD and Gamma-Gamma on completed orders up to ``as_of`` (inclusive, UTC) and score every buyer.

    Amounts are ``total_amount_reporting`` (the reporting currency), so CLV is comparable across
    currencies. Orders whose currency has no rate have no reporting amount and are left out, counted in
    ``unpriced_orders``, never guessed. Gamma-Gamma is fitted on repeat buyers with a positive mean spend.
    Raises ``ml.clv.NotEnoughData`` / ``ml.clv.FitFailed`` when the data cannot support the models.
    """
    as_of_date = as_of if isinstance(as_of, date) else datetime.strptime(as_of, "%Y-%m-%d").date()
    days = con.execute(PURCHASE_DAYS_SQL, [as_of_date]).df()
    unpriced = int(con.execute(UNPRICED_ORDERS_SQL, [as_of_date]).fetchone()[0])
    summary = rfm_summary(days, as_of_date, time_unit, at_col="purchase_date")
    purchases = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    spenders = summary[(summary["frequency"] > 0) & (summary["monetary"] > 0)]
    spend = GammaGammaModel().fit(spenders["frequency"], spenders["monetary"])
    scores = customer_lifetime_value(purchases, spend, summary, time_unit, 12, monthly_discount_rate)
    predictions = summary.join(scores).reset_index()[COLUMNS]
    return ClvPredictions(
        predictions, purchases.report_, spend.report_, as_of_date, time_unit, 12, monthly_discount_rate, unpriced
    )
