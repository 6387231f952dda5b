"""The golden record's var survivorship is checked when dbt parses the project: a
mistake stops the run with a message naming the var, the entry and the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"


@pytest.mark.parametrize(
    ("survivorship", "message"),
    [
        (
            "{default: {rule: most_recent}, attributes: {email: {rule: latest}}}",
            "var survivorship: attributes.email.rule 'latest' is not a rule",
        ),
        (
            "{default: {rule: most_recent}, attributes: {emial: {rule: most_recent}}}",
            "var survivorship: attributes.emial is neither an attribute nor a group",
        ),
        (
            "{default: {rule: most_recent}, attributes: {birth_date: {rule: source_priority}}}",
            "var survivorship: attributes.birth_date.source_priority must list source systems",
        ),
    ],
)
def test_invalid_survivorship_fails_parsing_with_a_named_field(tmp_path, survivorship, message):
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "parse", "--no-partial-parse", "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs"), "--vars", f"{{survivorship: {survivorship}}}"],
        cwd=DBT_PROJECT,
        env={**os.environ, "CDP_WAREHOUSE": str(tmp_path / "warehouse.duckdb")},
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output, output
