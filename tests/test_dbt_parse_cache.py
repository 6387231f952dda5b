"""A run's dbt invocations parse the project once, whichever warehouse they point at."""

from __future__ import annotations

import json
from pathlib import Path

from cdp import settings
from orchestration.defs.dbt_parse_cache import PARTIAL_PARSE, parse_cache_key, target_reusing_parse
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

    with target_reusing_parse(dbt, name="first") as first:
        dbt.cli(args, target_path=first).wait()
    # the default parse (another warehouse) did not fit: dbt parsed again and the cache keeps that parse
    assert _reparse_reasons(first) == ["profile has changed"]
    cached = list((settings.DBT_PROJECT_DIR / "target" / "parse_cache").glob(
        f"{parse_cache_key(PROFILES_YML, dbt.dbt_executable, dbt.target)}.msgpack"
    ))
    assert cached and cached[0].read_bytes() == (first / PARTIAL_PARSE).read_bytes()

    with target_reusing_parse(dbt, name="second") as second:
        dbt.cli(args, target_path=second).wait()
    assert _reparse_reasons(second) == []
