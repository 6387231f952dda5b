"""The exporter and the experiment readouts on Spark write what they write on DuckDB.

Opt-in (CDP_SPARK_TEST=1 and the `spark` extra). The pipeline fills a DuckDB warehouse from
the sample once (about 2 minutes; or give one already filled as CDP_SPARK_TEST_WAREHOUSE).
The tables the exporter reads are copied into a fresh DuckDB warehouse and into a Spark
warehouse, and every bundled audience (plus one whose selection holds quotes and
backslashes) is exported from each: on day 1, again on day 1 (a re-run), and on day 2, when
customers left the segments, changed their names and asked to be suppressed. After each run
the files must be the same bytes and the state tables the same rows. The readouts are then
written on both from the same outcomes. Measured on two shared cores: 3.5 minutes after the
pipeline (load average 5), 5.5 under load average 11; the pipeline another 2.5.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cdp import settings
from cdp.export import export_audience, load_audiences, parse_audience
from cdp.export.state import TABLES
from cdp.measure.readouts import write_experiment_readouts
from cdp.warehouse import DuckDBWarehouse, Warehouse

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("CDP_SPARK_TEST") != "1", reason="slow: set CDP_SPARK_TEST=1 (make test-spark)"),
]
pyspark = pytest.importorskip("pyspark", reason="needs the spark extra: pip install -e '.[spark]'")

AS_OF = "2026-09-30"
# what the activation profile, the suppression and the as-of date are read from
INPUTS = ("intermediate.int_customer_profile", "marts.dim_customers", "marts.customer_marketing_permissions",
          "marts.customer_segment_membership", "marts.customer_identity_map", "ml.customer_clusters",
          "ml.churn_scores", "ml.purchase_propensity_scores", "ml.clv_predictions", "privacy.suppression_list",
          "marts.fct_customer_rfm")
# what day 2 changes
DAY_2_CHANGES = ("intermediate.int_customer_profile", "marts.dim_customers", "marts.customer_segment_membership",
                 "privacy.suppression_list")
STATE_TABLES = (*TABLES, "marts.experiment_readouts")
# values that differ between any two runs, whatever the engine
VOLATILE = {"export_id", "logged_at"}

QUOTED_AUDIENCE = """
name: quoted_literals
description: a selection whose text values need escaping, in the SQL of each engine
owner: tests
consent_purpose: email_marketing
selection:
  any:
    - {field: rfm_segment, op: in, value: ["Can't Lose", 'back\\slash', "Champions"]}
    - {field: preferred_category, op: '=', value: "it's \\\\ 'quoted'"}
destinations:
  csv:
    fields: [customer_id, rfm_segment, preferred_category, segments, total_spend, last_order_date, persona_id,
             purchase_probability]
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    given = os.environ.get("CDP_SPARK_TEST_WAREHOUSE")
    if given:
        return Path(given)
    from cdp.pipeline import run_pipeline

    work = tmp_path_factory.mktemp("pipeline")
    outcome = run_pipeline(settings.REPO_ROOT / "seeds" / "sample", work / "cdp.duckdb", work / "exports", as_of=AS_OF)
    assert outcome.success, outcome.summary()
    return work / "cdp.duckdb"


@pytest.fixture(scope="module")
def inputs(sample, tmp_path_factory) -> dict[str, Path]:
    """The exporter's input tables as of day 1, and as of day 2 after customers changed."""
    work = tmp_path_factory.mktemp("inputs")
    days = {"day_1": work / "day_1.duckdb", "day_2": work / "day_2.duckdb"}
    for path in days.values():
        with duckdb.connect(str(path)) as con:
            con.execute(f"attach '{sample}' as origin (read_only)")
            for table in INPUTS:
                con.execute(f"create schema if not exists {table.split('.')[0]}")
                con.execute(f"create table {table} as select * from origin.{table}")
            # values only a correctly escaped literal matches (QUOTED_AUDIENCE)
            con.execute("update intermediate.int_customer_profile set preferred_category = ? "
                        "where customer_id like '%5'", ["it's \\ 'quoted'"])
            con.execute("update intermediate.int_customer_profile set rfm_segment = ? "
                        "where customer_id like '%6'", ["back\\slash"])
    with duckdb.connect(str(days["day_2"])) as con:
        con.execute("update intermediate.int_customer_profile set as_of_date = as_of_date + 1")
        con.execute("delete from marts.customer_segment_membership where customer_id like '%1'")
        con.execute("update marts.dim_customers set first_name = upper(first_name), city = 'Zürich' "
                    "where customer_id like '%2'")
        # suppressed by e-mail and by source record
        con.execute("""
            insert into privacy.suppression_list by name
            select 'email' as identifier_type, sha256(email) as identifier_sha256, 'test' as reason,
                   timestamp '2026-10-01 08:00:00' as added_at
            from marts.dim_customers where customer_id like '%3' and email is not null
            union
            select 'source_record', sha256(source_system || ':' || source_customer_id), 'test',
                   timestamp '2026-10-01 08:00:00'
            from marts.customer_identity_map where customer_id like '%4'
        """)
    return days


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from cdp.spark.session import get_session

    session = get_session(tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def engines(spark, tmp_path_factory) -> dict[str, Warehouse]:
    from cdp.warehouse.spark_warehouse import SparkWarehouse

    con = duckdb.connect(str(tmp_path_factory.mktemp("duckdb") / "cdp.duckdb"))
    con.execute("set TimeZone = 'UTC'")
    yield {"duckdb": DuckDBWarehouse(con), "spark": SparkWarehouse(spark)}
    con.close()


def load(warehouse: Warehouse, source: Path, tables: tuple[str, ...], tmp_path: Path) -> None:
    """Replace ``tables`` in ``warehouse`` with those of the DuckDB file ``source``."""
    from cdp.spark.handover import SourceTable, export_parquet, load_into_spark

    if warehouse.engine == "spark":
        tmp_path.mkdir(parents=True)
        files = export_parquet(source, [SourceTable(*table.split(".")) for table in tables], tmp_path)
        load_into_spark(warehouse.spark, files)
        return
    con = warehouse.con
    con.execute(f"attach '{source}' as origin (read_only)")
    for table in tables:
        con.execute(f"create schema if not exists {table.split('.')[0]}")
        con.execute(f"create or replace table {table} as select * from origin.{table}")
    con.execute("detach origin")


def export_all(warehouse: Warehouse, audiences, export_dir: Path, run_id: str) -> list[dict]:
    outcomes = []
    for audience in audiences:
        for result in export_audience(warehouse, audience, export_dir, run_id):
            outcome = {k: v for k, v in vars(result).items() if k not in ("path", "manifest_path")}
            outcome["file"] = str(Path(result.path).relative_to(export_dir)) if result.path else None
            outcomes.append(outcome)
    return outcomes


def files(export_dir: Path) -> dict[str, bytes | dict]:
    """Every file's bytes; manifests as documents without the time they were written."""
    out = {}
    for path in sorted(p for p in export_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(export_dir))
        if name.endswith(".manifest.json"):
            manifest = json.loads(path.read_text())
            manifest.pop("created_at")
            out[name] = manifest
        else:
            out[name] = path.read_bytes()
    return out


def comparable(value, export_dir: Path):
    """Floats to 9 significant digits (Spark may sum in another order), paths without their folder."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, str):
        return value.replace(str(export_dir), "<exports>")
    return value


def table_rows(warehouse: Warehouse, table: str, export_dir: Path) -> list[tuple]:
    columns = [c for c in warehouse.columns(table) if c not in VOLATILE]
    rows = warehouse.rows(f"select {', '.join(columns)} from {table}")
    return sorted((tuple(comparable(v, export_dir) for v in row) for row in rows), key=repr)


def assert_same_state(engines: dict[str, Warehouse], export_dirs: dict[str, Path]) -> None:
    for table in STATE_TABLES:
        if not engines["duckdb"].has_table(table):
            continue
        duck, spark = (table_rows(engines[e], table, export_dirs[e]) for e in ("duckdb", "spark"))
        assert engines["spark"].columns(table) == engines["duckdb"].columns(table), table
        assert len(duck) == len(spark) and duck == spark, table


def test_exports_and_readouts_on_spark_equal_duckdbs(inputs, engines, tmp_path):
    audiences = load_audiences(settings.AUDIENCES_DIR)
    definition = tmp_path / "quoted_literals.yml"
    definition.write_text(QUOTED_AUDIENCE)
    audiences.append(parse_audience(definition))
    export_dirs = {engine: tmp_path / engine / "exports" for engine in engines}

    # (inputs, the tables to load first, run id)
    runs = (("day_1", INPUTS, "run-1"), ("day_1", (), "run-2"), ("day_2", DAY_2_CHANGES, "run-3"))
    statuses = []
    for day, tables, run_id in runs:
        outcomes = {}
        for engine, warehouse in engines.items():
            load(warehouse, inputs[day], tables, tmp_path / f"{engine}-{run_id}")
            outcomes[engine] = export_all(warehouse, audiences, export_dirs[engine], run_id)
        assert outcomes["spark"] == outcomes["duckdb"], run_id
        assert files(export_dirs["spark"]) == files(export_dirs["duckdb"]), run_id
        assert_same_state(engines, export_dirs)
        statuses.append({(o["audience"], o["destination"]): o["status"] for o in outcomes["duckdb"]})

    # the runs did what they are meant to: exported, changed nothing, exported the changes
    selected = pd.read_csv(next(export_dirs["spark"].glob("quoted_literals/*/quoted_literals__csv.csv")))
    assert {"Champions", "back\\slash"} <= set(selected["rfm_segment"])  # escaped values selected too
    assert "it's \\ 'quoted'" in set(selected["preferred_category"])
    assert set(statuses[1].values()) <= {"unchanged", "below_destination_minimum"}
    assert statuses[2][("champions_newsletter", "mailchimp")] == "exported"
    log = engines["duckdb"].frame("select * from audit.export_log where run_id = 'run-3' and status = 'exported'")
    assert (log["added_count"] > 0).any() and (log["removed_count"] > 0).any()

    # readouts: the same outcomes per arm of the arms just assigned, on both engines
    outcomes = synthetic_outcomes(engines["duckdb"])
    written = {}
    for engine, warehouse in engines.items():
        warehouse.replace("marts.experiment_outcomes", outcomes, OUTCOME_COLUMNS)
        written[engine] = write_experiment_readouts(warehouse)
        write_experiment_readouts(warehouse, date(2026, 10, 31))  # a re-run of one date changes nothing
    assert written["spark"] == written["duckdb"] == len(outcomes[outcomes["arm"] != "holdout"])
    assert_same_state(engines, export_dirs)
    statuses = engines["duckdb"].frame("select distinct status from marts.experiment_readouts")["status"]
    assert {"ok", "insufficient_data"} & set(statuses)


OUTCOME_COLUMNS = {"as_of_date": "date", "experiment_id": "string", "audience_name": "string", "arm": "string",
                   "customers": "bigint", "converting_customers": "bigint", "revenue_sum": "double",
                   "revenue_mean": "double", "revenue_variance": "double", "first_assigned_as_of": "date",
                   "days_observed": "integer"}


def synthetic_outcomes(warehouse: Warehouse) -> pd.DataFrame:
    """Per-arm aggregates 31 days after the recorded assignments, made up but deterministic."""
    arms = warehouse.frame("select experiment_id, audience_name, arm, count(*) as customers "
                           "from marts.experiment_assignments group by 1, 2, 3 order by 1, 2, 3")
    arms["as_of_date"] = date(2026, 10, 31)
    arms["converting_customers"] = (arms["customers"] * [0.05 + 0.01 * (i % 3) for i in range(len(arms))]).round()
    arms["revenue_mean"] = [3.0 + 0.7 * (i % 4) for i in range(len(arms))]
    arms["revenue_sum"] = arms["revenue_mean"] * arms["customers"]
    arms["revenue_variance"] = arms["revenue_mean"] * 20
    arms["first_assigned_as_of"] = date(2026, 9, 30)
    arms["days_observed"] = 31
    return arms[list(OUTCOME_COLUMNS)]

