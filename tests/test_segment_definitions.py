"""Segment definitions (dbt_project/models/personalisation/segments.yml) are checked
when a dbt invocation starts: a mistake fails it before any SQL runs, naming the
file, the segment and the field."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
SEGMENTS_FILE = "models/personalisation/segments.yml"


def project_with_segments(tmp_path: Path, segments: list[dict]) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    path = project / SEGMENTS_FILE
    properties = yaml.safe_load(path.read_text())
    properties["models"][0]["config"]["meta"]["segments"] = segments
    path.write_text(yaml.safe_dump(properties, sort_keys=False))
    return project


def dbt_build(project: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).parent / "dbt"
    return subprocess.run(
        [str(dbt), "build", "--select", "int_segment_definitions", "--no-partial-parse"],
        cwd=project,
        env={**os.environ, "CDP_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
             "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        check=False,
    )


GOOD = {"name": "champions", "description": "RFM Champions", "owner": "crm",
        "rule": {"field": "rfm_segment", "op": "=", "value": "Champions"}}


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        (
            {"name": "vip", "description": "d", "owner": "o",
             "rule": {"field": "spend_30days", "op": ">", "value": 500}},
            "segment 'vip', field 'rule.field': unknown field 'spend_30days'",
        ),
        (
            {"name": "vip", "description": "d", "owner": "o",
             "rule": {"all": [{"segment": "champions"}, {"field": "frequency", "op": "=>", "value": 3}]}},
            "segment 'vip', field 'rule.all[1].op': unknown operator '=>'",
        ),
        (
            {"name": "vip", "description": "d", "owner": "o", "rule": {"not": {"segment": "champs"}}},
            "segment 'vip', field 'rule.not.segment': unknown segment 'champs'",
        ),
        (
            {"name": "vip", "description": "d", "rule": {"segment": "champions"}},
            "segment 'vip', field 'owner': required",
        ),
        (
            {"name": "vip", "description": "d", "owner": "o",
             "rule": {"field": "frequency", "op": "between", "value": [1]}},
            "segment 'vip', field 'rule.value': 'between' needs a list of two values [low, high]",
        ),
        (
            {"name": "vip", "description": "d", "owner": "o", "type": "static", "rule": {"segment": "champions"}},
            "segment 'vip', field 'list': a static segment has a list",
        ),
    ],
)
def test_wrong_segment_fails_before_any_sql_naming_file_segment_and_field(tmp_path, segment, message):
    project = project_with_segments(tmp_path, [GOOD, segment])
    result = dbt_build(project, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"dbt_project/{SEGMENTS_FILE}, {message}" in output, output
    # nothing ran: the model's table was never created
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        tables = con.execute("select table_name from information_schema.tables").fetchall()
    assert ("int_segment_definitions",) not in tables


def test_segments_referring_to_each_other_in_a_cycle_fail(tmp_path):
    a = {"name": "a", "description": "d", "owner": "o", "rule": {"segment": "b"}}
    b = {"name": "b", "description": "d", "owner": "o", "rule": {"any": [{"segment": "a"}, {"segment": "champions"}]}}
    result = dbt_build(project_with_segments(tmp_path, [GOOD, a, b]), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "segment 'a', field 'rule': refers to itself through other segments: b" in output, output
