"""Shared fixtures: a fresh warehouse connection and a landing folder to write into."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


def write(landing: Path, relative: str, content: str | bytes) -> Path:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


# change capture between incremental models (dbt_project/macros/incremental_facts.sql): when a
# build wrote a row, and the customer and day an identified event had before it. They differ
# between builds of the same data by design (a full build has no previous customer).
CHANGE_CAPTURE_COLUMNS = ("_built_at", "_candidates_built_at", "_events_built_at", "_email_events_built_at",
                          "_previous_customer_id", "_previous_occurred_date")


def table_fingerprints(warehouse: Path, schemas=("raw", "audit", "staging", "intermediate", "marts")) -> dict:
    """Order-independent content hash of every table and view (lineage timestamps excluded)."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        relations = con.execute(
            "select schema_name, table_name from duckdb_tables() union all "
            "select schema_name, view_name from duckdb_views() where not internal"
        ).fetchall()
        for schema, name in relations:
            # the model-run log differs by design (ids, times); its outputs are compared
            if schema not in schemas or f"{schema}.{name}" == "ml.model_runs":
                continue
            columns = [r[0] for r in con.execute(f'describe "{schema}"."{name}"').fetchall()]
            volatile = ("_loaded_at", "quarantined_at", "started_at", "finished_at", "model_version", "assigned_run_id",
                        *CHANGE_CAPTURE_COLUMNS)
            kept = [c for c in columns if c not in volatile]
            select = ", ".join(f'"{c}"' for c in kept)
            content = con.execute(f'select {select} from "{schema}"."{name}"').fetchall()
            digest = hashlib.sha256(repr(sorted(map(repr, content))).encode()).hexdigest()
            out[f"{schema}.{name}"] = (len(content), digest)
    return out
