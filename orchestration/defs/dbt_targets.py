"""The target folder of each dbt invocation: seeded with a reusable parse, pruned after a week.

**One parse per run.** dbt skips re-parsing the project (about 5 s) when the
``partial_parse.msgpack`` of an earlier parse is in its target folder and the profile's connection
settings and the vars are the same. dagster-dbt gives every invocation a fresh target folder seeded
from ``target/partial_parse.msgpack``, which ``dbt parse`` wrote for the default warehouse: a run
on any other warehouse (``cdp run --warehouse``, ``CDP_WAREHOUSE``, the benchmark, each test)
re-parsed in every invocation, three times a run. Here each folder is seeded from a cache keyed by
what the profile reads from the environment (profiles.yml's ``env_var`` names and their values)
and the dbt executable and target, and the parse the invocation leaves is stored back. A stale or
mismatched file costs one re-parse only: dbt checks it against the project, profile and vars.

**Pruning.** Each folder keeps its invocation's manifest, compiled SQL, logs and run results (about
35 MB a run): kept for ``CDP_DBT_TARGET_RETENTION_DAYS`` (7) days to look into a failure, then
deleted, so a daily schedule does not fill the disk (13 GB a year).
"""

import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

PARTIAL_PARSE = "partial_parse.msgpack"
PROFILE_ENV_VAR = re.compile(r"""env_var\(\s*['"]([A-Za-z0-9_]+)['"]""")
# dagster-dbt's folder names (<op>-<run id>-<id>, or <id> alone) and ours: never the project's own
# target/compiled, target/run or the parse cache
INVOCATION_FOLDER = re.compile(r"^([A-Za-z0-9_]+-)*[0-9a-f]{7}$")
DEFAULT_RETENTION_DAYS = 7


def parse_cache_key(profiles_yml: Path, dbt_executable: str, target: str | None) -> str:
    """What decides whether a parse can be reused: the profile's environment, the executable, the target."""
    names = sorted(set(PROFILE_ENV_VAR.findall(profiles_yml.read_text())))
    parts = [f"{name}={os.environ.get(name, '')}" for name in names]
    parts += [f"executable={dbt_executable}", f"target={target or ''}"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@contextmanager
def invocation_target(
    dbt: DbtCliResource, context: dg.AssetExecutionContext | None = None, name: str = "dbt"
) -> Iterator[Path]:
    """A new target folder for one dbt invocation, seeded with the last parse under the same profile
    environment; on leaving, the parse the invocation wrote becomes the cached one and folders past
    their retention go. Call after the step has set the environment (``WarehouseResource.dbt_environment``)."""
    targets = Path(dbt.project_dir) / "target"
    profiles_yml = Path(dbt.profiles_dir or dbt.project_dir) / "profiles.yml"
    cached = targets / "parse_cache" / f"{parse_cache_key(profiles_yml, dbt.dbt_executable, dbt.target)}.msgpack"
    if context is not None:
        name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}"
    target_path = targets / f"{name}-{uuid.uuid4().hex[:7]}"
    target_path.mkdir(parents=True)
    if cached.exists():
        # dagster-dbt seeds from target/ only when the folder holds no parse yet
        shutil.copyfile(cached, target_path / PARTIAL_PARSE)
    try:
        yield target_path
    finally:
        written = target_path / PARTIAL_PARSE
        if written.exists():
            cached.parent.mkdir(exist_ok=True)
            # another process may be reading the cached file: write beside it, then swap in one step
            staging = cached.with_name(f"{cached.stem}.{uuid.uuid4().hex[:7]}.tmp")
            shutil.copyfile(written, staging)
            os.replace(staging, cached)
        prune_invocation_folders(targets)


def prune_invocation_folders(targets: Path, retention_days: float | None = None) -> list[Path]:
    """Delete the invocation folders under ``targets`` untouched for longer than the retention."""
    if retention_days is None:
        retention_days = float(os.environ.get("CDP_DBT_TARGET_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    cutoff = time.time() - retention_days * 86400
    pruned = []
    for folder in targets.iterdir():
        if folder.is_dir() and INVOCATION_FOLDER.match(folder.name) and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            pruned.append(folder)
    return pruned
