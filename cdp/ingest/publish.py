"""Ingestion into a warehouse on another engine (Spark): DuckDB parses, the warehouse keeps.

Reading a landing file (encodings, broken quotes, rejects with their reasons) is DuckDB's
CSV and JSON readers' work, done in-process wherever the warehouse lives. On DuckDB the
loader writes the warehouse file directly. On another engine it loads into a scratch DuckDB
file that starts with the warehouse's load history (so files already loaded are skipped
and load ids carry on), then appends the new loads' rows to the warehouse:

1. rows of loads beyond the warehouse's last committed load (audit.load_history) are
   deleted first: what a publish that died midway left behind;
2. raw.<source>, audit.quarantine and audit.field_issues get the new loads' rows;
3. audit.load_history gets its rows last: it is the commit marker. A run that dies before
   it leaves rows that step 1 of the next run removes, and the files are loaded again.

Tables the scratch holds and the warehouse lacks (the first run) are created with the
scratch's columns and types.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import duckdb

from cdp.contract import Contract, load_contract
from cdp.ingest.load import IngestReport, ingest_landing, prepare_warehouse
from cdp.warehouse import DuckDBWarehouse, Warehouse

HISTORY = "audit.load_history"
# the audit tables the loader appends to, and the column naming the load
AUDIT_TABLES = {"audit.quarantine": "load_id", "audit.field_issues": "load_id"}
RAW_LOAD_COLUMN = "_load_id"
# created when missing, never appended to here (erasure owns them)
OTHER_TABLES = ("privacy.suppression_list",)


def ingest_into(
    warehouse: Warehouse,
    landing_dir: str | Path,
    sources: list[str] | None = None,
    run_id: str | None = None,
    settle_seconds: float = 0,
    contract: Contract | None = None,
    scratch_dir: str | Path | None = None,
    via_scratch: bool | None = None,
) -> IngestReport:
    """Load every new landing file into the warehouse, whatever its engine (see the module's docstring).
    ``via_scratch``: None loads a DuckDB warehouse directly and any other through a scratch file."""
    contract = contract or load_contract()
    if via_scratch is None:
        via_scratch = not isinstance(warehouse, DuckDBWarehouse)
    if not via_scratch:
        return ingest_landing(warehouse.con, landing_dir, sources, run_id, settle_seconds, contract)
    with tempfile.TemporaryDirectory(prefix="cdp-ingest-", dir=scratch_dir) as tmp, \
            duckdb.connect(str(Path(tmp) / "scratch.duckdb")) as scratch:
        prepare_warehouse(scratch, contract)
        committed = _start_from_warehouse(scratch, warehouse, contract)
        report = ingest_landing(scratch, landing_dir, sources, run_id, settle_seconds, contract)
        publish(scratch, warehouse, contract, committed)
    return report


def published_tables(contract: Contract) -> dict[str, str]:
    """Every table a load appends to, with its load id column, the history last."""
    tables = {f"raw.{name}": RAW_LOAD_COLUMN for name in contract.sources}
    return {**tables, **AUDIT_TABLES, HISTORY: "load_id"}


def _start_from_warehouse(scratch: duckdb.DuckDBPyConnection, warehouse: Warehouse, contract: Contract) -> int:
    """Drop what a dead publish left; give the scratch the warehouse's load history and next load id.
    Returns the last committed load id."""
    committed = 0
    if warehouse.has_table(HISTORY):
        committed = int(warehouse.scalar(f"select coalesce(max(load_id), 0) from {HISTORY}") or 0)
        history = warehouse.arrow(f"select * from {HISTORY}")
        scratch.register("_warehouse_history", history)
        scratch.execute(f"insert into {HISTORY} by name select * from _warehouse_history")
        scratch.unregister("_warehouse_history")
    for table, load_column in published_tables(contract).items():
        if table != HISTORY and warehouse.has_table(table):
            warehouse.delete(table, f"{load_column} > ?", [committed])
    scratch.execute("drop sequence audit.load_id_seq")
    scratch.execute(f"create sequence audit.load_id_seq start {committed + 1}")
    return committed


def publish(scratch: duckdb.DuckDBPyConnection, warehouse: Warehouse, contract: Contract, committed: int) -> dict:
    """Append the loads after ``committed`` from the scratch to the warehouse; rows per table."""
    appended = {}
    for table in (*published_tables(contract), *OTHER_TABLES):
        if not warehouse.has_table(table):
            warehouse.replace(table, scratch.sql(f"select * from {table} limit 0").to_arrow_table(),
                              _portable_columns(scratch, table))
    for table, load_column in published_tables(contract).items():
        rows = scratch.sql(f"select * from {table} where {load_column} > {int(committed)}").to_arrow_table()
        appended[table] = warehouse.append(table, rows)
    return appended


def _portable_columns(scratch: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    schema, name = table.split(".")
    return {column: _portable_type(kind) for column, kind in scratch.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, name]).fetchall()}


def _portable_type(duckdb_type: str) -> str:
    """DuckDB's name of a column type as both engines spell it (a TIMESTAMPTZ is UTC: a Spark timestamp)."""
    kind = duckdb_type.upper()
    if kind in ("VARCHAR", "TEXT", "STRING") or kind.startswith("VARCHAR("):
        return "string"
    if kind.startswith("TIMESTAMP"):
        return "timestamp"
    if re.fullmatch(r"DECIMAL\(\d+,\s*\d+\)", kind):
        return kind.lower().replace(" ", "")
    simple = {"BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double", "FLOAT": "float",
              "BOOLEAN": "boolean", "DATE": "date", "SMALLINT": "smallint", "TINYINT": "tinyint"}
    if kind in simple:
        return simple[kind]
    raise ValueError(f"no portable type for DuckDB's {duckdb_type}")
