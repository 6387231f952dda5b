"""What every section reads through: the warehouse connection, the report's as-of date and run id,
and small helpers that tell a missing table from an empty one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import duckdb
import pandas as pd
import yaml

from cdp import settings

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
    con: duckdb.DuckDBPyConnection
    as_of: date
    run_id: str | None
    currency: str | None = None
    _tables: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._tables = existing_tables(self.con)

    def has_table(self, name: str) -> bool:
        return name.lower() in self._tables

    def has_column(self, table: str, column: str) -> bool:
        schema, name = table.split(".")
        rows = self.con.execute(
            "select count(*) from information_schema.columns where table_schema = ? and table_name = ? "
            "and column_name = ?",
            [schema, name, column],
        ).fetchall()
        return rows[0][0] > 0

    def df(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def money(self, value: Any, decimals: int = 0) -> str:
        """An amount in the reporting currency: "€1,234" (or "1,234 SEK" for a currency without a symbol here)."""
        if value is None or pd.isna(value):
            return "n/a"
        amount = f"{float(value):,.{decimals}f}"
        symbol = CURRENCY_SYMBOLS.get(self.currency or "")
        if symbol:
            return f"{symbol}{amount}"
        return f"{amount} {self.currency}" if self.currency else amount


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = current_database()"
    ).fetchall()
    return {name.lower() for (name,) in rows}


def default_as_of(con: duckdb.DuckDBPyConnection) -> date:
    """The latest as-of date the warehouse holds (that of the last run), else the last order date, else today."""
    tables = existing_tables(con)
    for table in AS_OF_TABLES:
        if table in tables:
            value = con.execute(f"select max(as_of_date) from {table}").fetchall()[0][0]
            if value is not None:
                return value
    if "marts.fct_orders" in tables:
        value = con.execute("select max(ordered_date) from marts.fct_orders").fetchall()[0][0]
        if value is not None:
            return value
    return date.today()


def default_run_id(con: duckdb.DuckDBPyConnection, as_of: date) -> str | None:
    """The pipeline run that last wrote this as-of's model runs or exports, when the caller does not say."""
    tables = existing_tables(con)
    candidates = []
    if "ml.model_runs" in tables:
        candidates.append(
            "select pipeline_run_id as run_id, finished_at as written_at from ml.model_runs where as_of_date = ?"
        )
    if "audit.export_log" in tables:
        candidates.append("select run_id, logged_at as written_at from audit.export_log where as_of_date = ?")
    if not candidates:
        return None
    sql = " union all ".join(candidates)
    rows = con.execute(
        f"select run_id from ({sql}) where run_id is not null order by written_at desc limit 1",
        [as_of] * len(candidates),
    ).fetchall()
    return rows[0][0] if rows else None


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
    dates = [row[0] for row in ctx.con.execute(
        f"select distinct as_of_date from {table} where as_of_date is not null order by 1"
    ).fetchall()]
    if not dates:
        return f"{table} is empty: no {what} yet."
    held = dates[0].isoformat() if len(dates) == 1 else f"{dates[0].isoformat()} to {dates[-1].isoformat()}"
    return f"{table} has no {what} for as-of {ctx.as_of.isoformat()} (it holds {held})."
