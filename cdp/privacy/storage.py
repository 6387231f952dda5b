"""Deleted rows leave the file, not only the tables, within a configured delay.

DuckDB frees the blocks of deleted rows but does not overwrite them: the bytes of an erased
person's rows stay in the database file until the space is reused (a checkpoint or VACUUM
does not change that). Copying the database into a new file keeps only live rows.

That copy costs a pass over the whole warehouse, so it is not paid in every run that erases:
``storage.yml`` bounds how long erased bytes may remain (``max_delay_days``), and
``compact_if_due`` rewrites the file once the oldest erasure not yet covered is that old.
``audit.file_compactions`` records each rewrite; ``audit.privacy_runs`` says when rows were
erased.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

POLICY_PATH = Path(__file__).with_name("storage.yml")

COMPACTIONS_DDL = """
create table if not exists audit.file_compactions (
    compacted_at timestamp not null,
    reason varchar not null,                -- due | on_demand
    erased_since timestamp,                 -- oldest erasure this rewrite covered (null: none pending)
    bytes_before bigint not null,
    bytes_after bigint not null,
    seconds double not null
)
"""


@dataclass(frozen=True)
class CompactionPolicy:
    max_delay_days: int

    def due(self, erased_since: datetime | None, now: datetime) -> bool:
        """A rewrite is due when rows were erased since the last one, ``max_delay_days`` ago or more."""
        return erased_since is not None and now - erased_since >= timedelta(days=self.max_delay_days)

    def deadline(self, erased_since: datetime | None) -> datetime | None:
        return None if erased_since is None else erased_since + timedelta(days=self.max_delay_days)


@dataclass(frozen=True)
class Compaction:
    reason: str
    erased_since: datetime | None
    bytes_before: int
    bytes_after: int
    seconds: float


def load_policy(path: Path = POLICY_PATH, max_delay_days: int | None = None) -> CompactionPolicy:
    """The policy of ``storage.yml``; ``max_delay_days`` overrides it for one run (run config)."""
    configured = yaml.safe_load(path.read_text(encoding="utf-8"))["file_compaction"]["max_delay_days"]
    days = configured if max_delay_days is None else max_delay_days
    if not isinstance(days, int) or days < 0:
        raise ValueError(f"file_compaction.max_delay_days must be a whole number of days >= 0, not {days!r}")
    return CompactionPolicy(days)


def erased_since(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the oldest erasure not yet rewritten out of the file happened (UTC; None: nothing pending)."""
    if not _has_table(con, "privacy_runs"):
        return None
    last = None
    if _has_table(con, "file_compactions"):
        last = con.execute("select max(compacted_at) from audit.file_compactions").fetchone()[0]
    runs = con.execute(
        "select processed_at, rows_deleted, rows_updated from audit.privacy_runs "
        "where ? is null or processed_at > ? order by processed_at",
        [last, last],
    ).fetchall()
    for processed_at, deleted, updated in runs:
        if _any_rows(deleted) or _any_rows(updated):
            return processed_at
    return None


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute(
        "select count(*) from information_schema.tables where table_schema = 'audit' and table_name = ?", [name]
    ).fetchone()[0] > 0


def _any_rows(counts_json: str | None) -> bool:
    return bool(counts_json) and any(json.loads(counts_json).values())


def compact_if_due(
    path: Path | str, policy: CompactionPolicy, now: datetime | None = None, force: bool = False
) -> tuple[Compaction | None, datetime | None]:
    """Rewrite the warehouse when the policy says so (or ``force``): the rewrite, if any, and the
    oldest erasure still in the file afterwards (None when nothing is pending).

    No other connection may be open: the new file replaces the old one.
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(path), read_only=True) as con:
        since = erased_since(con)
    if not (force or policy.due(since, now)):
        return None, since
    compaction = compact_warehouse(path, reason="on_demand" if force else "due", erased_since=since, now=now)
    return compaction, None


def compact_warehouse(
    path: Path | str, reason: str = "on_demand", erased_since: datetime | None = None, now: datetime | None = None
) -> Compaction:
    """Rewrite the warehouse file with only its live data (tables, views, sequences, macros) and
    record the rewrite in ``audit.file_compactions``.

    No other connection may be open: the new file replaces the old one atomically.
    """
    path = Path(path)
    started = time.perf_counter()
    bytes_before = path.stat().st_size
    copy = path.with_name(path.name + ".compacting")
    copy.unlink(missing_ok=True)
    # a checkpoint first, so nothing is left in the write-ahead log
    with duckdb.connect(str(path)) as con:
        con.execute("checkpoint")
    with duckdb.connect() as con:
        con.execute(f"attach {_literal(path)} as source_db (read_only)")
        con.execute(f"attach {_literal(copy)} as compacted_db")
        con.execute("copy from database source_db to compacted_db")
    os.replace(copy, path)
    compaction = Compaction(reason, erased_since, bytes_before, path.stat().st_size, time.perf_counter() - started)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists audit")
        con.execute(COMPACTIONS_DDL)
        con.execute(
            "insert into audit.file_compactions values (?, ?, ?, ?, ?, ?)",
            [now or datetime.now(UTC).replace(tzinfo=None), compaction.reason, compaction.erased_since,
             compaction.bytes_before, compaction.bytes_after, round(compaction.seconds, 2)],
        )
    return compaction


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
