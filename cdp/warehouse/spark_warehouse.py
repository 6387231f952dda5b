"""The warehouse as Spark tables (dbt's `spark` target: Parquet tables in a metastore).

Reads run in Spark and pull their result to the driver as Arrow; ``batches`` pulls one
partition at a time, so the driver holds a batch, not the table. Writes turn a frame into a
DataFrame and save it as a managed Parquet table. Parquet tables take no ``delete``: a delete
writes the rows that stay to a scratch table and overwrites the table from it (on a cluster
with Delta Lake, a ``delete from`` would do). There are no transactions (see base.py)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence

import pandas as pd
import pyarrow as pa

from cdp.warehouse.base import Params, Warehouse, arrow_table, plain, split_name

SCRATCH_SCHEMA = "cdp_scratch"
BATCH_COLUMN = "__cdp_batch"


class SparkWarehouse(Warehouse):
    engine = "spark"

    def __init__(self, spark):
        self.spark = spark
        self._temp_tables: dict = {}  # name -> its checkpointed DataFrame

    def _sql(self, sql: str, params: Params = None):
        # a naive datetime is UTC here (DuckDB's TIMESTAMP); py4j would read it in the host's zone
        values = [value.replace(tzinfo=dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo is None
                  else value for value in plain(params) or []]
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
        # pinned once, so each partition is the same rows however often Spark recomputes the plan; the
        # batch number is a cached column, so the scan of one batch skips the others' cached blocks
        pinned = (query.repartition(parts).withColumn(BATCH_COLUMN, F.spark_partition_id())
                  .persist(StorageLevel.MEMORY_AND_DISK))
        try:
            for part in range(parts):
                table = _naive_utc(pinned.filter(F.col(BATCH_COLUMN) == part).drop(BATCH_COLUMN).toArrow())
                if table.num_rows:
                    yield table.to_pandas()
        finally:
            pinned.unpersist()

    def has_table(self, table: str) -> bool:
        return self.spark.catalog.tableExists(table)

    def columns(self, table: str) -> list[str]:
        return self.spark.table(table).columns

    def tables(self, schemas: Sequence[str]) -> list[str]:
        found = []
        for schema in schemas:
            if self.spark.catalog.databaseExists(schema):
                found += [f"{schema}.{table.name}" for table in self.spark.catalog.listTables(schema)
                          if table.tableType != "VIEW" and not table.isTemporary]
        return sorted(found)

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
        unknown = set(arrow_table(frame).column_names) - {field.name for field in existing}
        if unknown:  # as DuckDB's insert by name: a value is never dropped silently
            raise ValueError(f"{table} has no column {sorted(unknown)}")
        data = self._typed_frame(arrow_table(frame), {f.name: f.dataType.simpleString() for f in existing})
        data.write.insertInto(table)  # by position: _typed_frame put the columns in the table's order
        return len(frame)

    def delete(self, table: str, where: str, params: Params = None) -> int:
        condition = f"coalesce(({where}), false)"
        matched = self._sql(f"select count(*) from {table} where {condition}", params).collect()[0][0]
        if matched:
            self._rewrite(table, self._sql(f"select * from {table} where not {condition}", params))
        return matched

    def update(self, table: str, assignments: Mapping[str, str], where: str, params: Params = None) -> int:
        condition = f"coalesce(({where}), false)"
        matched = self._sql(f"select count(*) from {table} where {condition}", params).collect()[0][0]
        if not matched:
            return 0
        columns = self.spark.table(table).schema
        unknown = set(assignments) - {field.name for field in columns}
        if unknown:
            raise ValueError(f"{table} has no column {sorted(unknown)}")
        # the condition is repeated once per assigned column, and its placeholders with it
        select, values = [], []
        for field in columns:
            if field.name in assignments:
                select.append(f"case when {condition} then cast({assignments[field.name]} as "
                              f"{field.dataType.simpleString()}) else `{field.name}` end as `{field.name}`")
                values += list(params or [])
            else:
                select.append(f"`{field.name}`")
        self._rewrite(table, self._sql(f"select {', '.join(select)} from {table}", values))
        return matched

    def _rewrite(self, table: str, rows) -> None:
        """Overwrite ``table`` with ``rows`` computed from it: Spark reads a table lazily, so the rows
        go to a scratch table first (a table cannot be overwritten while it is being read)."""
        scratch = f"{SCRATCH_SCHEMA}.rewrite_{uuid.uuid4().hex}"
        self.create_schema(SCRATCH_SCHEMA)
        try:
            rows.write.mode("overwrite").format("parquet").saveAsTable(scratch)
        except Exception:
            self.spark.sql(f"drop table if exists {scratch}")
            raise
        # static: a dynamic overwrite (dbt-spark's incremental models set it) would keep every
        # partition the new rows do not touch, so a partition whose rows were all deleted would stay
        mode_key = "spark.sql.sources.partitionOverwriteMode"
        mode = self.spark.conf.get(mode_key)
        self.spark.conf.set(mode_key, "STATIC")
        try:
            self.spark.table(scratch).write.insertInto(table, overwrite=True)
        except Exception as error:
            # an overwrite that failed midway may have emptied the table: the scratch keeps its rows
            raise RuntimeError(f"rewriting {table} failed; its new rows are kept in {scratch}: "
                               f"insert overwrite table {table} select * from {scratch}") from error
        finally:
            self.spark.conf.set(mode_key, mode)
        self.spark.sql(f"drop table if exists {scratch}")

    def temp_table(self, name: str, sql: str, params: Params = None) -> int:
        # checkpointed, not cached: a cache may be dropped and recomputed from tables changed since,
        # a local checkpoint has no lineage to recompute from. Its blocks live in the session, never
        # in the catalogue: erasure's work tables hold plain identifiers, and must not outlive a
        # process that dies (as a scratch Parquet table would)
        self.drop_temp_table(name)
        frame = self._sql(sql, params).localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)
        self._temp_tables[name] = frame
        return frame.count()

    def drop_temp_table(self, name: str) -> None:
        frame = self._temp_tables.pop(name, None)
        if frame is not None:
            self.spark.catalog.dropTempView(name)
            frame.unpersist()

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
