"""Hand-over of the tables dbt reads but Python writes, from a DuckDB warehouse to Spark.

dbt's sources (raw.*, audit.*, privacy.suppression_list, ml.customer_clusters,
marts.experiment_assignments) are written by ingestion, erasure, the ML models and the
exporter, which work on DuckDB. Each source table is exported to Parquet by DuckDB and
saved as a managed Parquet table of the same schema.name in the Spark catalogue, with the
same columns. DuckDB's TIMESTAMP (no time zone, UTC by this project's convention) reaches
Spark as TIMESTAMP_NTZ and is cast to Spark's TIMESTAMP (session time zone UTC), the type
dbt-spark models compute with.

    python -m cdp.spark.handover --warehouse warehouse/cdp.duckdb [--spark-dir warehouse/spark]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from cdp import settings


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def source_tables(project_dir: Path = settings.DBT_PROJECT_DIR) -> list[SourceTable]:
    """Every table the dbt project declares as a source (its *sources.yml files), in file order."""
    tables: list[SourceTable] = []
    for path in sorted((project_dir / "models").rglob("*sources.yml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("sources", []):
            schema = source.get("schema", source["name"])
            for table in source.get("tables", []):
                tables.append(SourceTable(schema, table.get("identifier", table["name"])))
    return tables


def export_parquet(warehouse: Path | str, tables: list[SourceTable], out_dir: Path) -> dict[SourceTable, Path]:
    """One Parquet file per table present in the DuckDB warehouse; tables it lacks are skipped."""
    files = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        present = set(con.execute("select schema_name, table_name from duckdb_tables()").fetchall())
        for table in tables:
            if (table.schema, table.name) not in present:
                continue
            path = out_dir / f"{table.schema}__{table.name}.parquet"
            con.execute(f'copy (select * from "{table.schema}"."{table.name}") to \'{path}\' (format parquet)')
            files[table] = path
    return files


def load_into_spark(spark, files: dict[SourceTable, Path]) -> dict[str, int]:
    """Replace each table in the Spark catalogue with the Parquet file's rows; rows per table."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType

    counts = {}
    for table, path in files.items():
        frame = spark.read.parquet(str(path))
        frame = frame.select(*[
            F.col(f"`{field.name}`").cast("timestamp").alias(field.name)
            if isinstance(field.dataType, TimestampNTZType) else F.col(f"`{field.name}`")
            for field in frame.schema.fields
        ])
        spark.sql(f"create database if not exists `{table.schema}`")
        spark.sql(f"drop table if exists `{table.schema}`.`{table.name}`")
        frame.write.format("parquet").saveAsTable(f"`{table.schema}`.`{table.name}`")
        counts[table.qualified] = frame.count()
    return counts


def hand_over(warehouse: Path | str, spark, project_dir: Path = settings.DBT_PROJECT_DIR) -> dict[str, int]:
    """Copy every dbt source table from the DuckDB warehouse into the Spark session's catalogue."""
    with tempfile.TemporaryDirectory(prefix="cdp-handover-") as tmp:
        files = export_parquet(warehouse, source_tables(project_dir), Path(tmp))
        return load_into_spark(spark, files)


def copy_sources_duckdb(warehouse: Path | str, target: Path | str,
                        project_dir: Path = settings.DBT_PROJECT_DIR) -> None:
    """A new DuckDB warehouse holding only the dbt sources of `warehouse`: what a build on
    DuckDB starts from, as the hand-over is what a build on Spark starts from."""
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{warehouse}' as origin (read_only)")
        present = set(con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'origin'").fetchall())
        for table in source_tables(project_dir):
            if (table.schema, table.name) in present:
                con.execute(f'create schema if not exists "{table.schema}"')
                con.execute(f'create table "{table.schema}"."{table.name}" as '
                            f'select * from origin."{table.schema}"."{table.name}"')


def main(argv: list[str] | None = None) -> None:
    from cdp.spark.session import get_session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=settings.warehouse_path(), help="DuckDB warehouse file")
    parser.add_argument("--spark-dir", type=Path, default=None, help="Spark warehouse and metastore (CDP_SPARK_DIR)")
    args = parser.parse_args(argv)
    counts = hand_over(args.warehouse, get_session(args.spark_dir))
    for name, rows in counts.items():
        print(f"{name}: {rows} rows")


if __name__ == "__main__":
    main()
