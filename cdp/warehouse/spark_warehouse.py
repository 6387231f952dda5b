"""The warehouse as Spark tables (dbt's `spark` target: Parquet tables in a metastore).

Reads run in Spark and pull their result to the driver as Arrow; ``batches`` pulls one
partition at a time, so the driver holds a batch, not the table. Writes turn a frame into a
DataFrame and save it as a managed Parquet table. Parquet tables take no ``delete``: a delete
writes the rows that stay to a scratch table and overwrites the table from it (on a cluster
with Delta Lake, a ``delete from`` would do). There are no transactions (see base.py)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping

import pandas as pd
import pyarrow as pa

from cdp.warehouse.base import Params, Warehouse, arrow_table, plain, split_name

SCRATCH_SCHEMA = "cdp_scratch"


class SparkWarehouse(Warehouse):
    engine = "spark"

    def __init__(self, spark):
        self.spark = spark

    def _sql(self, sql: str, params: Params = None):
        values = plain(params)
        return self.spark.sql(sql, args=values) if values else self.spark.sql(sql)

    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        return _naive_utc(self._sql(sql, params).toArrow())

    def batches(self, sql: str, params: Params = None, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        query = self._sql(sql, params)
        total = query.count()
        if not total:
            return
        parts = max(1, math.ceil(total / rows))
        # pinned once, so each partition is the same rows however often Spark recomputes the plan
        pinned = query.repartition(parts).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            for part in range(parts):
                table = _naive_utc(pinned.filter(F.spark_partition_id() == part).toArrow())
                if table.num_rows:
                    yield table.to_pandas()
        finally:
            pinned.unpersist()

    def has_table(self, table: str) -> bool:
        return self.spark.catalog.tableExists(table)

    def columns(self, table: str) -> list[str]:
        return self.spark.table(table).columns

    def execute(self, sql: str, params: Params = None) -> None:
        self._sql(sql, params).collect()

    def replace(self, table: str, frame: pd.DataFrame | pa.Table, columns: Mapping[str, str]) -> int:
        schema, _ = split_name(table)
        self.create_schema(schema)
        data = self._typed_frame(arrow_table(frame), columns)
        data.write.mode("overwrite").format("parquet").saveAsTable(table)
        return len(frame)

    def append(self, table: str, frame: pd.DataFrame | pa.Table) -> int:
        if not len(frame):
            return 0
        existing = self.spark.table(table).schema
        data = self._typed_frame(arrow_table(frame), {f.name: f.dataType.simpleString() for f in existing})
        data.write.insertInto(table)  # by position: _typed_frame put the columns in the table's order
        return len(frame)

    def delete(self, table: str, where: str, params: Params = None) -> None:
        condition = f"coalesce(({where}), false)"
        if not self._sql(f"select count(*) from {table} where {condition}", params).collect()[0][0]:
            return
        scratch = f"{SCRATCH_SCHEMA}.kept_{uuid.uuid4().hex}"
        self.create_schema(SCRATCH_SCHEMA)
        try:
            self._sql(f"select * from {table} where not {condition}", params) \
                .write.mode("overwrite").format("parquet").saveAsTable(scratch)
            self.spark.table(scratch).write.insertInto(table, overwrite=True)
        finally:
            self.spark.sql(f"drop table if exists {scratch}")

    def register(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        self._frame(arrow_table(frame)).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def _frame(self, table: pa.Table):
        # null-typed columns (all values missing) have no Spark type: make them strings first
        table = pa.table({name: column.cast(pa.string()) if pa.types.is_null(column.type) else column
                          for name, column in zip(table.column_names, table.columns, strict=True)})
        if table.num_rows:
            return self.spark.createDataFrame(table)
        from pyspark.sql.pandas.types import from_arrow_schema

        return self.spark.createDataFrame([], schema=from_arrow_schema(table.schema))

    def _typed_frame(self, table: pa.Table, columns: Mapping[str, str]):
        """A DataFrame with exactly ``columns``, in their order, cast to their types (missing ones null)."""
        from pyspark.sql import functions as F

        data = self._frame(table)
        present = set(table.column_names)
        return data.select(*[
            (F.col(f"`{name}`") if name in present else F.lit(None)).cast(kind).alias(name)
            for name, kind in columns.items()
        ])



def _naive_utc(table: pa.Table) -> pa.Table:
    """Spark's timestamps arrive as instants in UTC; the project's convention (DuckDB's TIMESTAMP) is
    UTC without a zone, so both engines hand the stages the same values."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            table = table.set_column(index, field.name, table.column(index).cast(pa.timestamp(field.type.unit)))
    return table
