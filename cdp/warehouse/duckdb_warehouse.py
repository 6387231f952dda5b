"""The warehouse as a DuckDB file (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd
import pyarrow as pa

from cdp.warehouse.base import Params, Warehouse, arrow_table, plain, split_name


class DuckDBWarehouse(Warehouse):
    engine = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._transaction_depth = 0

    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        return self.con.sql(sql, params=plain(params)).to_arrow_table()

    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        return self.con.execute(sql, plain(params)).df()

    def rows(self, sql: str, params: Params = None) -> list[tuple]:
        return self.con.execute(sql, plain(params)).fetchall()

    def batches(self, sql: str, params: Params = None, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        # a cursor of its own, so the caller may write through this connection between batches
        cursor = self.con.cursor()
        try:
            reader = cursor.sql(sql, params=plain(params)).to_arrow_reader(rows)
            for batch in reader:
                if batch.num_rows:
                    yield batch.to_pandas()
        finally:
            cursor.close()

    def has_table(self, table: str) -> bool:
        schema, name = split_name(table)
        return bool(self.con.execute(
            "select count(*) from information_schema.tables where table_catalog = current_database() "
            "and table_schema = ? and table_name = ?",
            [schema, name]).fetchall()[0][0])

    def columns(self, table: str) -> list[str]:
        schema, name = split_name(table)
        return [row[0] for row in self.con.execute(
            "select column_name from information_schema.columns where table_catalog = current_database() "
            "and table_schema = ? and table_name = ? "
            "order by ordinal_position", [schema, name]).fetchall()]

    def tables(self, schemas: Sequence[str]) -> list[str]:
        if not schemas:
            return []
        marks = ", ".join("?" for _ in schemas)
        return [f"{schema}.{name}" for schema, name in self.con.execute(
            f"select table_schema, table_name from information_schema.tables where table_catalog = current_database() "
            f"and table_type = 'BASE TABLE' and table_schema in ({marks}) order by 1, 2", list(schemas)).fetchall()]

    def execute(self, sql: str, params: Params = None) -> None:
        self.con.execute(sql, plain(params))

    def replace(self, table: str, frame: pd.DataFrame | pa.Table, columns: Mapping[str, str]) -> int:
        schema, _ = split_name(table)
        self.create_schema(schema)
        self.con.execute(f"create or replace table {table} ({', '.join(f'{_q(c)} {t}' for c, t in columns.items())})")
        return self.append(table, frame) if len(frame) else 0

    def append(self, table: str, frame: pd.DataFrame | pa.Table) -> int:
        if not len(frame):
            return 0
        with self.registered("_cdp_append_rows", arrow_table(frame)):
            self.con.execute(f"insert into {table} by name select * from _cdp_append_rows")
        return len(frame)

    def delete(self, table: str, where: str, params: Params = None) -> int:
        return self.con.execute(f"delete from {table} where {where}", plain(params)).fetchall()[0][0]

    def update(self, table: str, assignments: Mapping[str, str], where: str, params: Params = None) -> int:
        setting = ", ".join(f"{_q(column)} = {expression}" for column, expression in assignments.items())
        return self.con.execute(f"update {table} set {setting} where {where}", plain(params)).fetchall()[0][0]

    def temp_table(self, name: str, sql: str, params: Params = None) -> int:
        self.con.execute(f"create or replace temp table {name} as {sql}", plain(params))
        return self.con.execute(f"select count(*) from {name}").fetchall()[0][0]

    def drop_temp_table(self, name: str) -> None:
        self.con.execute(f"drop table if exists {name}")

    def register(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        self.con.register(name, frame)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # nested use joins the outer transaction: DuckDB has no savepoints
        if self._transaction_depth:
            self._transaction_depth += 1
            try:
                yield
            finally:
                self._transaction_depth -= 1
            return
        self.con.execute("begin transaction")
        self._transaction_depth = 1
        try:
            yield
        except BaseException:
            self.con.execute("rollback")
            raise
        else:
            self.con.execute("commit")
        finally:
            self._transaction_depth = 0


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'
