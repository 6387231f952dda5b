"""What the Python stages may ask of the warehouse, whatever engine holds it.

dbt reaches DuckDB or Spark through its adapter; the Python stages (ML, exports, readouts)
reach them through a ``Warehouse``. It offers the few operations they need, each with the
same meaning on both engines:

- reading: a query's rows pulled to the process (``rows``, ``scalar``, ``frame``,
  ``arrow``), or in batches of a bounded size (``batches``) for scoring large tables;
- writing: replace a table with a frame, append a frame, delete the rows matching a
  condition, register a frame under a name for SQL;
- ``transaction()``: all or nothing on DuckDB. Spark's Parquet tables have no transactions;
  every write of the Python stages is idempotent (a replace, or a delete then an insert
  by key), so a step that fails midway is repaired by running it again.

SQL passed in is the subset both engines read alike: ``?`` placeholders, ``cast(x as t)``
or ``x::t``, ``qualify``, ``filter (where ...)``, standard functions. Column types are
written as both engines spell them: ``string``, ``bigint``, ``integer``, ``double``,
``boolean``, ``date``, ``timestamp``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

Params = Sequence[Any] | None


class Warehouse(ABC):
    """A connection to the warehouse, on one engine."""

    engine: str  # "duckdb" | "spark"

    # -- reading ---------------------------------------------------------------------------------
    @abstractmethod
    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        """The query's result, pulled into this process."""

    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        return self.arrow(sql, params).to_pandas()

    def rows(self, sql: str, params: Params = None) -> list[tuple]:
        table = self.arrow(sql, params)
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True)) if table.num_columns else []

    def scalar(self, sql: str, params: Params = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    @abstractmethod
    def batches(self, sql: str, params: Params = None, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """The query's result in frames of about ``rows`` rows, in no particular order: memory bounded by
        the batch, not the table. On DuckDB the query runs on its own cursor, which sees committed
        tables only: not temp tables, registered frames or this connection's open transaction."""

    # -- catalogue ---------------------------------------------------------------------------------
    @abstractmethod
    def has_table(self, table: str) -> bool:
        """Whether ``schema.name`` exists (as a table or a view)."""

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """The column names of ``schema.name``, in order."""

    @abstractmethod
    def tables(self, schemas: Sequence[str]) -> list[str]:
        """The tables (not views) in these schemas, as ``schema.name``, sorted."""

    # -- writing -----------------------------------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Params = None) -> None:
        """A statement whose result is not needed (DDL, insert ... select)."""

    @abstractmethod
    def replace(self, table: str, frame: pd.DataFrame | pa.Table, columns: Mapping[str, str]) -> int:
        """Make ``table`` hold exactly ``frame``'s rows, with ``columns`` (name -> type) in that order."""

    @abstractmethod
    def append(self, table: str, frame: pd.DataFrame | pa.Table) -> int:
        """Add ``frame``'s rows to an existing ``table``, columns matched by name."""

    @abstractmethod
    def delete(self, table: str, where: str, params: Params = None) -> int:
        """Remove the rows of ``table`` for which ``where`` is true; how many went."""

    @abstractmethod
    def update(self, table: str, assignments: Mapping[str, str], where: str, params: Params = None) -> int:
        """Set columns (name -> SQL expression over the row, no placeholders) on the rows for which
        ``where`` (placeholders: ``params``) is true; how many rows changed."""

    @abstractmethod
    def register(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        """Make ``frame`` readable by SQL as ``name`` until ``unregister`` (or the connection ends)."""

    @abstractmethod
    def unregister(self, name: str) -> None: ...

    @contextmanager
    def registered(self, name: str, frame: pd.DataFrame | pa.Table) -> Iterator[None]:
        self.register(name, frame)
        try:
            yield
        finally:
            self.unregister(name)

    @abstractmethod
    def temp_table(self, name: str, sql: str, params: Params = None) -> int:
        """Compute the query once and keep its rows as ``name`` (unqualified) for this connection:
        later changes to the tables it read do not change them. Replaces one of the same name;
        returns its row count."""

    @abstractmethod
    def drop_temp_table(self, name: str) -> None:
        """Drop a temp_table (nothing if there is none)."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing where the engine offers it (see the module's docstring)."""
        yield

    def create_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {schema}")


def arrow_table(frame: pd.DataFrame | pa.Table) -> pa.Table:
    """The rows as Arrow, categorical (dictionary) columns as their values: both engines write those as they
    would the plain column, and decoding here is C++, where ``astype(str)`` took 3.5 s on the three categorical
    columns of 10 M recommendations."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    decoded = table
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            decoded = decoded.set_column(index, field.name, table.column(index).cast(field.type.value_type))
    # pandas' metadata would still call the decoded columns categorical
    return table if decoded is table else decoded.replace_schema_metadata(None)


def split_name(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    if not schema:
        raise ValueError(f"table names are schema-qualified here: {table!r}")
    return schema, name


def plain(params: Params) -> list:
    """Parameters as plain Python values: NumPy scalars and pandas timestamps are not SQL literals to either engine."""
    values = []
    for value in params or []:
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        elif isinstance(value, np.generic):
            value = value.item()
        values.append(value)
    return values
