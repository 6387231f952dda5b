"""Per-customer lifetime value from the warehouse: the body of the ``ml.clv_predictions`` table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from cdp.warehouse import Warehouse, as_warehouse
from ml.clv import BetaGeoModel, FitReport, GammaGammaModel, customer_lifetime_value, rfm_summary
from ml.registry import JoblibArtifact
from ml.scale import date_literal, sample_clause

MODEL_VERSION = "bgnbd-gamma-gamma-1"
CLV_MONTHS = 12  # the horizon is part of the column names (clv_12m)
COLUMNS = [
    "customer_id", "frequency", "recency", "T", "monetary",
    "expected_purchases_12m", "probability_alive", "expected_order_value", "clv_12m",
]

# Completed, priced orders of customers up to the as-of date: who counts as a buyer.
PRICED_PURCHASES = """
    is_completed
    and customer_id is not null
    and total_amount_reporting is not null
    and ordered_date <= ?
"""
# One row per customer and UTC day (ordered_date is the UTC date): the set-based work stays in SQL.
# {customers} narrows it to a sample or a batch of customers.
PURCHASE_DAYS_SQL = f"""
select
    customer_id,
    ordered_date as purchase_date,
    sum(total_amount_reporting) as amount
from marts.fct_orders
where {PRICED_PURCHASES} {{customers}}
group by customer_id, ordered_date
"""
UNPRICED_ORDERS_SQL = """
select count(*) from marts.fct_orders
where is_completed and customer_id is not null and total_amount_reporting is null and ordered_date <= ?
"""
BATCH_VIEW = "ml_clv_batch_customers"


@dataclass
class ClvModel(JoblibArtifact):
    """The two fitted models and the horizon they forecast: what is saved, reloaded and scored."""

    purchases: BetaGeoModel
    spend: GammaGammaModel
    time_unit: str
    months: int
    monthly_discount_rate: float

    def predict(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``COLUMNS`` for customers of an ``rfm_summary`` (indexed by customer_id)."""
        scores = customer_lifetime_value(
            self.purchases, self.spend, summary, self.time_unit, self.months, self.monthly_discount_rate
        )
        return summary.join(scores).rename_axis("customer_id").reset_index()[COLUMNS]


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
    model: ClvModel
    summary: pd.DataFrame
    model_version: str = MODEL_VERSION


def purchase_summary(
    warehouse: Warehouse, as_of: date, time_unit: str = "W", max_customers: int | None = None
) -> tuple[pd.DataFrame, int]:
    """Every buyer's frequency, recency, age (T) and mean spend at ``as_of`` (an ``rfm_summary``), and the
    count of completed orders left out for having no reporting amount. What a fitted model scores. With
    ``max_customers``, more buyers than that are sampled in the warehouse (ml/scale.py)."""
    warehouse = as_warehouse(warehouse)
    customers = ""
    if max_customers is not None and count_buyers(warehouse, as_of) > max_customers:
        customers = (f"and customer_id in (select customer_id from (select distinct customer_id from "
                     f"marts.fct_orders where {PRICED_PURCHASES}) as buyers "
                     f"{sample_clause(max_customers, cutoff_sql=date_literal(as_of))})")
    params = [as_of, as_of] if customers else [as_of]
    days = warehouse.frame(PURCHASE_DAYS_SQL.format(customers=customers), params)
    return rfm_summary(days, as_of, time_unit, at_col="purchase_date"), unpriced_orders(warehouse, as_of)


def count_buyers(warehouse: Warehouse, as_of: date) -> int:
    """Customers with a completed, priced order on or before ``as_of``: the population BG/NBD is fitted on."""
    return int(as_warehouse(warehouse).scalar(
        f"select count(distinct customer_id) from marts.fct_orders where {PRICED_PURCHASES}", [as_of]))


def unpriced_orders(warehouse: Warehouse, as_of: date) -> int:
    """Completed orders up to ``as_of`` left out of CLV for having no reporting amount."""
    return int(as_warehouse(warehouse).scalar(UNPRICED_ORDERS_SQL, [as_of]))


def purchase_days_of(warehouse: Warehouse, as_of: date, customers: pd.Series) -> pd.DataFrame:
    """The purchase days up to ``as_of`` of the ``customers`` (a batch of ids) only."""
    with warehouse.registered(BATCH_VIEW, pd.DataFrame({"customer_id": customers.astype(str)})):
        return warehouse.frame(PURCHASE_DAYS_SQL.format(
            customers=f"and customer_id in (select customer_id from {BATCH_VIEW})"), [as_of])


def fit_clv(summary: pd.DataFrame, time_unit: str = "W", monthly_discount_rate: float = 0.0) -> ClvModel:
    """BG/NBD on every buyer's purchase days, Gamma-Gamma on repeat buyers with a positive mean spend."""
    purchases = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    spenders = summary[(summary["frequency"] > 0) & (summary["monetary"] > 0)]
    spend = GammaGammaModel().fit(spenders["frequency"], spenders["monetary"])
    return ClvModel(purchases, spend, time_unit, CLV_MONTHS, monthly_discount_rate)


def predict_clv(
    warehouse: Warehouse,
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
    summary, unpriced = purchase_summary(warehouse, as_of_date, time_unit)
    model = fit_clv(summary, time_unit, monthly_discount_rate)
    return ClvPredictions(
        model.predict(summary), model.purchases.report_, model.spend.report_, as_of_date, time_unit, CLV_MONTHS,
        monthly_discount_rate, unpriced, model, summary,
    )
