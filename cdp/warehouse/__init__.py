"""The warehouse as the Python stages see it: one interface, a DuckDB and a Spark implementation."""

from cdp.warehouse.base import Warehouse
from cdp.warehouse.duckdb_warehouse import DuckDBWarehouse


def as_warehouse(connection) -> Warehouse:
    """A ``Warehouse`` for a DuckDB connection, a Spark session, or a ``Warehouse`` (returned as it is)."""
    if isinstance(connection, Warehouse):
        return connection
    if type(connection).__module__.startswith("pyspark"):
        from cdp.warehouse.spark_warehouse import SparkWarehouse

        return SparkWarehouse(connection)
    return DuckDBWarehouse(connection)


__all__ = ["DuckDBWarehouse", "Warehouse", "as_warehouse"]
