"""The HTML report reads the same content from Spark as from DuckDB.

Opt-in (CDP_SPARK_TEST=1, the spark extra, Java 17): about 2 minutes, most of it the JVM and the copy. The
report's test warehouse (tests/test_report.py: every table every section reads, at two as-of dates) is copied from
DuckDB into a local Spark catalogue (cdp.spark.handover), the report is read from each engine through the
Warehouse interface, and the two must hold the same tiles, notes, tables and chart data (floats to 9 significant
digits), at each as-of. An empty catalogue must give the same notes as an empty DuckDB warehouse.

With CDP_REPORT_WAREHOUSE=<a pipeline-built DuckDB warehouse> (e.g. a copy of `make demo`'s), that warehouse is
compared too, as of its latest date."""

from __future__ import annotations

import base64
import math
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from test_report import AS_OF, EARLIER, EXPECTED_CHARTS, build_warehouse

from cdp.report import read_report
from cdp.report.model import Report
from cdp.warehouse import as_warehouse

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1 (make test-spark)"),
]
pyspark = pytest.importorskip("pyspark", reason="needs the spark extra: pip install -e '.[spark]'")

# Every table of these schemas is copied: the report reads marts.*, ml.* and audit.* tables.
REPORT_SCHEMAS = ("marts", "ml", "audit")
SIGNIFICANT_DIGITS = 9


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from cdp.spark.session import get_session

    return get_session(tmp_path_factory.mktemp("spark"))


def copy_to_spark(warehouse: Path, spark, work: Path) -> None:
    """Make the Spark catalogue's report schemas hold exactly the DuckDB warehouse's tables."""
    from cdp.spark.handover import SourceTable, export_parquet, load_into_spark

    for schema in REPORT_SCHEMAS:
        spark.sql(f"drop database if exists {schema} cascade")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = as_warehouse(con).tables(REPORT_SCHEMAS)
    work.mkdir(parents=True, exist_ok=True)
    files = export_parquet(warehouse, [SourceTable(*table.split(".")) for table in tables], work)
    assert len(files) == len(tables)
    load_into_spark(spark, files)


def report_content(report: Report) -> dict[str, Any]:
    """What the page shows, as plain values: the Plotly figures as their data and layout."""
    def section(s) -> dict[str, Any]:
        return {
            "key": s.key, "title": s.title, "intro": s.intro, "notes": s.notes, "items": s.items,
            "tiles": [vars(tile) for tile in s.tiles], "tables": [vars(table) for table in s.tables],
            "charts": [{"key": c.key, "caption": c.caption, "wide": c.wide, "figure": c.figure.to_plotly_json()}
                       for c in s.charts],
        }

    return plain({"as_of": report.as_of, "run_id": report.run_id,
                  "top_tiles": [vars(tile) for tile in report.top_tiles],
                  "sections": [section(s) for s in report.sections]})


def plain(value: Any) -> Any:
    """Numbers as floats (None for NaN), dates and timestamps as ISO text, arrays (Plotly's base64 ones too) as
    lists: the engines may hand back an integer where the other gives a float, or a date of another unit."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return plain(array)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray | pd.Series | pd.Index):
        return plain(np.asarray(value).tolist())
    if isinstance(value, np.datetime64 | pd.Timestamp | datetime | date):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating | Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    return value


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())} in one only"]
        return [d for key in a for d in differences(a[key], b[key], f"{path}.{key}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items: {str(a)[:300]} vs {str(b)[:300]}"]
        return [d for n, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{n}]")]
    if isinstance(a, float) and isinstance(b, float):
        same = math.isclose(a, b, rel_tol=10.0 ** -SIGNIFICANT_DIGITS, abs_tol=1e-12)
        return [] if same else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {str(a)[:300]!r} vs {str(b)[:300]!r}"]


def failed_sections(content: dict[str, Any]) -> list[str]:
    return [note for s in content["sections"] for note in s["notes"] if "could not be drawn" in note]


def assert_same_report(warehouse: Path, spark, as_of: date | None) -> dict[str, Any]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        on_duckdb = report_content(read_report(con, as_of))
    on_spark = report_content(read_report(as_warehouse(spark), as_of))
    assert not failed_sections(on_duckdb) and not failed_sections(on_spark)
    found = differences(on_duckdb, on_spark)
    assert not found, "DuckDB vs Spark:\n" + "\n".join(found[:20])
    return on_duckdb


def test_report_on_spark_equals_report_on_duckdb(spark, tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        build_warehouse(con)
    copy_to_spark(warehouse, spark, tmp_path / "parquet")

    latest = assert_same_report(warehouse, spark, None)
    # not two empty pages: every section drew every chart it draws on DuckDB
    assert latest["as_of"] == pd.Timestamp(AS_OF).isoformat()
    assert {s["key"]: [c["key"] for c in s["charts"]] for s in latest["sections"]} == EXPECTED_CHARTS
    assert_same_report(warehouse, spark, EARLIER)
    # a date the warehouse holds nothing for: the same notes on both engines
    assert_same_report(warehouse, spark, date(2026, 1, 1))


def test_the_command_reads_the_spark_catalogue_with_engine_spark(spark, tmp_path: Path, monkeypatch):
    from click.testing import CliRunner

    import cdp.spark.session as session
    from cdp.report.__main__ import main as report_cli

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        build_warehouse(con)
    copy_to_spark(warehouse, spark, tmp_path / "parquet")
    warehouse.unlink()  # the page can only come from Spark
    monkeypatch.setattr(session, "get_session", lambda directory=None: spark)
    monkeypatch.setattr(session, "release_session", lambda: None)  # the module's session serves later tests
    result = CliRunner().invoke(report_cli, ["--engine", "spark", "--warehouse", str(warehouse),
                                             "--out", str(tmp_path / "out"), "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / f"cdp_report_{AS_OF.isoformat()}.html").read_text(encoding="utf-8")
    assert "Champions" in page and "could not be drawn" not in page


def test_empty_catalogue_gives_the_same_notes_as_an_empty_duckdb_warehouse(spark, tmp_path: Path):
    for schema in REPORT_SCHEMAS:
        spark.sql(f"drop database if exists {schema} cascade")
    warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(warehouse)).close()
    content = assert_same_report(warehouse, spark, AS_OF)
    assert all(not s["charts"] for s in content["sections"])


@pytest.mark.skipif(not os.environ.get("CDP_REPORT_WAREHOUSE"),
                    reason="set CDP_REPORT_WAREHOUSE to a pipeline-built DuckDB warehouse to compare it too")
def test_pipeline_warehouse_report_on_spark_equals_duckdb(spark, tmp_path: Path):
    warehouse = Path(os.environ["CDP_REPORT_WAREHOUSE"])
    copy_to_spark(warehouse, spark, tmp_path / "parquet")
    content = assert_same_report(warehouse, spark, None)
    assert sum(len(s["charts"]) for s in content["sections"]) > 10
