"""Columns in and out of dbt Python models as NumPy arrays, on DuckDB or on Spark.

dbt hands a Python model its engine's own objects: DuckDB relations and connection with
dbt-duckdb, Spark DataFrames and session with dbt-spark. The identity models work on arrays
(no pandas: its import alone costs more than the clustering on small sets), so reading
columns, making a table of arrays and running SQL over them are all that differ."""

from __future__ import annotations


def is_spark(session) -> bool:
    """Whether dbt runs the model in a Spark session (else a DuckDB connection)."""
    return type(session).__module__.startswith("pyspark")


def column_arrays(frame, columns: list[str], where: str | None = None, order_by: str | None = None) -> dict:
    """The columns of a relation or DataFrame as arrays, rows filtered by a SQL condition and ordered."""
    if type(frame).__module__.startswith("pyspark"):
        if where:
            frame = frame.filter(where)
        frame = frame.select(*columns)
        if order_by:
            frame = frame.orderBy(order_by)
        table = frame.toArrow()
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in columns}
    if where:
        frame = frame.filter(where)
    frame = frame.project(", ".join(columns))
    if order_by:
        frame = frame.order(order_by)
    return frame.fetchnumpy()


def arrays_table(session, name: str, arrays: dict):
    """A table of equal-length arrays, registered under `name` for SQL, as the engine's frame."""
    if is_spark(session):
        import pyarrow as pa

        session.createDataFrame(pa.table(arrays)).createOrReplaceTempView(name)
    else:
        session.register(name, arrays)
    return session.table(name)


def run_sql(session, query: str, relations: dict):
    """A SQL query over the given relations or DataFrames, each visible under its key (tables
    made by arrays_table are visible under their name already)."""
    for name, frame in relations.items():
        if is_spark(session):
            frame.createOrReplaceTempView(name)
        else:
            frame.create_view(name, replace=True)
    return session.sql(query)
