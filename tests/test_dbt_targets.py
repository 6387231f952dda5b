"""dbt invocation folders: a run parses the project once, whichever warehouse it points at; old folders go."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from cdp import settings
from orchestration.defs.dbt_targets import PARTIAL_PARSE, invocation_target, parse_cache_key, prune_invocation_folders
from orchestration.defs.resources import make_resources

PROFILES_YML = settings.DBT_PROJECT_DIR / "profiles.yml"


def _reparse_reasons(target_path: Path) -> list[str]:
    """Why dbt could not reuse the parse it was given, from the invocation's structured log."""
    reasons = []
    for line in (target_path / "dbt.log").read_text().splitlines():
        if line.startswith("{") and '"UnableToPartialParse"' in line:
            reasons.append(json.loads(line)["data"]["reason"])
    return reasons


def test_the_key_follows_the_warehouse_the_memory_cap_and_the_engine(monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE", "/a/cdp.duckdb")
    first = parse_cache_key(PROFILES_YML, "dbt", None)
    assert parse_cache_key(PROFILES_YML, "dbt", None) == first
    monkeypatch.setenv("CDP_WAREHOUSE", "/b/cdp.duckdb")
    other_warehouse = parse_cache_key(PROFILES_YML, "dbt", None)
    monkeypatch.setenv("CDP_DUCKDB_MEMORY_LIMIT", "2GB")
    other_cap = parse_cache_key(PROFILES_YML, "dbt", None)
    assert len({first, other_warehouse, other_cap, parse_cache_key(PROFILES_YML, "cdp-dbt-spark", "spark")}) == 4
    # an environment variable the profile does not read changes nothing
    monkeypatch.setenv("CDP_SOMETHING_ELSE", "x")
    assert parse_cache_key(PROFILES_YML, "dbt", None) == other_cap


def test_the_second_invocation_on_a_new_warehouse_reuses_the_first_ones_parse(tmp_path, monkeypatch):
    monkeypatch.setenv("CDP_WAREHOUSE", str(tmp_path / "cdp.duckdb"))
    dbt = make_resources(warehouse_path=str(tmp_path / "cdp.duckdb"))["dbt"]
    args = ["ls", "--select", "stg_landing__customers", "--quiet"]

    with invocation_target(dbt, name="first") as first:
        dbt.cli(args, target_path=first).wait()
    # the default parse (another warehouse) did not fit: dbt parsed again and the cache keeps that parse
    assert _reparse_reasons(first) == ["profile has changed"]
    cached = list((settings.DBT_PROJECT_DIR / "target" / "parse_cache").glob(
        f"{parse_cache_key(PROFILES_YML, dbt.dbt_executable, dbt.target)}.msgpack"
    ))
    assert cached and cached[0].read_bytes() == (first / PARTIAL_PARSE).read_bytes()

    with invocation_target(dbt, name="second") as second:
        dbt.cli(args, target_path=second).wait()
    assert _reparse_reasons(second) == []


def test_invocation_folders_past_their_retention_are_pruned_and_nothing_else(tmp_path):
    eight_days_ago = time.time() - 8 * 86400
    names = ["cdp_dbt_models-9731442-be6bf10", "db969e3", "first-ac0fdfd", "compiled", "run", "parse_cache"]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "dbt.log").write_text("x")
        os.utime(tmp_path / name, (eight_days_ago, eight_days_ago))
    (tmp_path / "manifest.json").write_text("{}")
    os.utime(tmp_path / "manifest.json", (eight_days_ago, eight_days_ago))
    (tmp_path / "cdp_measurement_models-9731442-061608e").mkdir()  # this week's

    pruned = prune_invocation_folders(tmp_path, retention_days=7)

    assert sorted(p.name for p in pruned) == sorted(names[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cdp_measurement_models-9731442-061608e", "compiled", "manifest.json", "parse_cache", "run"]


def test_the_dbt_resource_reads_the_version_dagster_dbt_would_ask_the_executable_for():
    """The run's dbt resource takes dbt's version from the installed dbt-core, not from `dbt --version` in a
    subprocess (3.7 s a run), and builds no adapter in the step's process: both give what dagster-dbt needs."""
    dbt = make_resources()["dbt"]
    printed = subprocess.check_output([dbt.dbt_executable, "--version"], text=True)
    assert str(dbt._cli_version) == re.search(r"installed:\s+(\S+)", printed).group(1)
    assert dbt._initialize_dbt_core_adapter([]) is None
