"""Compare tables built by dbt on DuckDB with the same tables built on Spark.

Rows are compared as multisets of normalised values: columns by name (Spark moves
partition columns last), timestamps as naive UTC, decimals and floats to a number of
significant digits (the engines sum in different orders), arrays as tuples; columns that
are each engine's own by design (ENGINE_COLUMNS) are left out. What differs is reported
per table: missing tables or columns, and rows only on one side."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

SIGNIFICANT_DIGITS = 9
# Columns that are by design each engine's own, whatever the data: never compared.
ENGINE_COLUMNS = (
    # the md5 of the engine's compiled comparison SQL (identity keeps comparisons of one version)
    "intermediate.int_identity_pair_comparisons.comparison_version",
)
# Row digests (row_digest, dbt_project/macros/surrogate_key.sql): DuckDB keeps the md5 as a
# 128-bit number, Spark as its 32 hex characters. DuckDB's are compared as that text.
DIGEST_COLUMNS = (
    "intermediate.int_quality_raw_row_versions.row_version_key",
)


def md5_text(number) -> str | None:
    """The hex text of an md5 that DuckDB's md5_number holds as a number (its bytes little-endian)."""
    return None if number is None else int(number).to_bytes(16, "little").hex()


@dataclass
class TableDifference:
    table: str
    problem: str
    only_in_duckdb: list = field(default_factory=list)
    only_in_spark: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.table}: {self.problem}"]
        lines += [f"  duckdb only: {row}" for row in self.only_in_duckdb[:5]]
        lines += [f"  spark only:  {row}" for row in self.only_in_spark[:5]]
        return "\n".join(lines)


def normalise(value, digits: int = SIGNIFICANT_DIGITS):
    """One value in a form both engines' results agree on."""
    if isinstance(value, float | decimal.Decimal):
        number = float(value)
        if math.isnan(number) or math.isinf(number) or number == 0:
            return number
        return round(number, digits - 1 - int(math.floor(math.log10(abs(number)))))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, list | tuple):
        return tuple(normalise(item, digits) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, normalise(item, digits)) for key, item in value.items()))
    return value


def _rows(columns: list[str], records: list[dict], digits: int) -> Counter:
    return Counter(tuple(normalise(record[c], digits) for c in columns) for record in records)


def compare_table(duckdb_con, spark, table: str, ignore_columns: tuple[str, ...] = (),
                  digits: int = SIGNIFICANT_DIGITS) -> TableDifference | None:
    """None when `table` (schema.name) holds the same rows on both engines. `ignore_columns`
    names columns of every table (`run_id`) or of one (`privacy.suppression_list.added_at`)."""
    schema, name = table.split(".")
    if not spark.catalog.tableExists(table):
        return TableDifference(table, "missing on Spark")
    duck_columns = [row[0] for row in duckdb_con.execute(f'describe "{schema}"."{name}"').fetchall()]
    spark_columns = spark.table(table).columns
    if set(duck_columns) != set(spark_columns):
        return TableDifference(table, f"columns differ: duckdb {sorted(set(duck_columns) - set(spark_columns))}, "
                                      f"spark {sorted(set(spark_columns) - set(duck_columns))}")
    ignored = (*ignore_columns, *ENGINE_COLUMNS)
    columns = [c for c in duck_columns if c not in ignored and f"{table}.{c}" not in ignored]
    digests = [c for c in columns if f"{table}.{c}" in DIGEST_COLUMNS]
    select = ", ".join(f'cast("{c}" as varchar) as "{c}"' if c in digests else f'"{c}"' for c in columns)
    duck_records = duckdb_con.sql(f'select {select} from "{schema}"."{name}"').to_arrow_table().to_pylist()
    for record in duck_records:
        record.update({c: md5_text(record[c]) for c in digests})
    spark_records = spark.table(table).select(*[f"`{c}`" for c in columns]).toArrow().to_pylist()
    duck_rows, spark_rows = _rows(columns, duck_records, digits), _rows(columns, spark_records, digits)
    if duck_rows == spark_rows:
        return None
    only_duck, only_spark = duck_rows - spark_rows, spark_rows - duck_rows
    return TableDifference(
        table, f"{sum(only_duck.values())} of {len(duck_records)} rows only on DuckDB, "
               f"{sum(only_spark.values())} of {len(spark_records)} only on Spark ({columns})",
        sorted(only_duck.elements(), key=repr), sorted(only_spark.elements(), key=repr))


def compare_warehouses(warehouse: Path | str, spark, tables: list[str], ignore_columns: tuple[str, ...] = (),
                       digits: int = SIGNIFICANT_DIGITS) -> list[TableDifference]:
    """The tables whose rows differ between the DuckDB warehouse and the Spark catalogue."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        differences = [compare_table(con, spark, table, ignore_columns, digits) for table in tables]
    return [difference for difference in differences if difference is not None]
