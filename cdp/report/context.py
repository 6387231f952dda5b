"""What every section reads through: the warehouse connection, the report's as-of date and run id,
and small helpers that tell a missing table from an empty one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import pandas as pd
import pyarrow as pa
import yaml

from cdp import settings
from cdp.warehouse import Warehouse

# Tables whose latest as_of_date is the report's default as-of, in order of preference.
AS_OF_TABLES = (
    "marts.fct_customer_rfm",
    "marts.identity_resolution_stats",
    "marts.segment_sizes",
    "ml.model_runs",
    "audit.export_log",
)

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF "}

# Free text from the warehouse (messages, check details) is shown as written, less anything that looks like
# a contact detail or a customer id: the report holds aggregates only.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"\+?\d{9,}")
_HEX_ID = re.compile(r"\b[0-9a-f]{32}\b", re.IGNORECASE)


def redact(text: Any) -> str:
    """``text`` with e-mail addresses, long numbers (phones, loyalty ids) and md5-style ids masked."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    masked = _EMAIL.sub("[e-mail]", str(text))
    masked = _HEX_ID.sub("[id]", masked)
    return _LONG_NUMBER.sub("[number]", masked)


@dataclass
class ReportContext:
    warehouse: Warehouse
    as_of: date
    run_id: str | None
    currency: str | None = None
    _tables: dict[str, bool] = field(default_factory=dict, repr=False)

    def has_table(self, name: str) -> bool:
        """Whether ``schema.name`` exists, asked of the catalogue once per table."""
        key = name.lower()
        if key not in self._tables:
            self._tables[key] = self.warehouse.has_table(key)
        return self._tables[key]

    def has_column(self, table: str, column: str) -> bool:
        return column in self.warehouse.columns(table)

    def df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        return frame(self.warehouse, sql, params)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self.warehouse.rows(sql, params)

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.warehouse.scalar(sql, params)

    def average(self, column: str) -> str:
        """SQL for the mean of a numeric column. Spark averages a decimal column as a decimal rounded to six places,
        DuckDB as a double: Spark is asked for a double too, DuckDB's expression is left as it was (a cast would move
        its figures by an ulp)."""
        return f"avg({column})" if self.warehouse.engine == "duckdb" else f"avg(cast({column} as double))"

    def money(self, value: Any, decimals: int = 0) -> str:
        """An amount in the reporting currency: "€1,234" (or "1,234 SEK" for a currency without a symbol here)."""
        if value is None or pd.isna(value):
            return "n/a"
        amount = f"{float(value):,.{decimals}f}"
        symbol = CURRENCY_SYMBOLS.get(self.currency or "")
        if symbol:
            return f"{symbol}{amount}"
        return f"{amount} {self.currency}" if self.currency else amount


def frame(warehouse: Warehouse, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """The query's rows as DuckDB's pandas conversion gives them, whatever the engine: the sections were written
    against it. Spark's result is shaped alike: decimals as floats (DuckDB converts them so, and Spark also
    keeps sums and averages of decimals as decimals) and dates as datetime64 rather than date objects."""
    if warehouse.engine == "duckdb":
        return warehouse.frame(sql, params)
    table = warehouse.arrow(sql, params)
    table = table.cast(pa.schema([
        pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f for f in table.schema
    ]))
    return table.to_pandas(date_as_object=False)


def default_as_of(warehouse: Warehouse) -> date:
    """The latest as-of date the warehouse holds (that of the last run), else the last order date, else today."""
    for table in AS_OF_TABLES:
        if warehouse.has_table(table):
            value = warehouse.scalar(f"select max(as_of_date) from {table}")
            if value is not None:
                return value
    if warehouse.has_table("marts.fct_orders"):
        value = warehouse.scalar("select max(ordered_date) from marts.fct_orders")
        if value is not None:
            return value
    return date.today()


def default_run_id(warehouse: Warehouse, as_of: date) -> str | None:
    """The pipeline run that last wrote this as-of's model runs or exports, when the caller does not say."""
    candidates = []
    if warehouse.has_table("ml.model_runs"):
        candidates.append(
            "select pipeline_run_id as run_id, finished_at as written_at from ml.model_runs where as_of_date = ?"
        )
    if warehouse.has_table("audit.export_log"):
        candidates.append("select run_id, logged_at as written_at from audit.export_log where as_of_date = ?")
    if not candidates:
        return None
    sql = " union all ".join(candidates)
    return warehouse.scalar(
        f"select run_id from ({sql}) as written where run_id is not null order by written_at desc nulls last limit 1",
        [as_of] * len(candidates),
    )


@cache
def reporting_currency() -> str | None:
    """dbt's ``reporting_currency`` var as shipped (amounts in the marts are in it)."""
    try:
        project = yaml.safe_load((settings.DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    except OSError:
        return None
    return (project.get("vars") or {}).get("reporting_currency")


def missing_table_note(table: str, written_by: str) -> str:
    return f"{table} is not in this warehouse: {written_by} writes it, and it has not run on this warehouse yet."


def no_rows_note(ctx: ReportContext, table: str, what: str) -> str:
    """Why a table with an as_of_date shows nothing for the report's as-of: empty, or other dates only."""
    dates = [row[0] for row in ctx.rows(
        f"select distinct as_of_date from {table} where as_of_date is not null order by 1"
    )]
    if not dates:
        return f"{table} is empty: no {what} yet."
    held = dates[0].isoformat() if len(dates) == 1 else f"{dates[0].isoformat()} to {dates[-1].isoformat()}"
    return f"{table} has no {what} for as-of {ctx.as_of.isoformat()} (it holds {held})."
