"""The audit schema: what was loaded, from where, and what was rejected and why."""

from __future__ import annotations

import duckdb

AUDIT_DDL = [
    "create schema if not exists audit",
    "create schema if not exists raw",
    "create sequence if not exists audit.load_id_seq start 1",
    """
    create table if not exists audit.load_history (
        load_id bigint primary key,
        run_id varchar,
        source varchar not null,
        file_path varchar not null,
        file_format varchar,
        file_size_bytes bigint,
        file_checksum varchar not null,
        encoding varchar,
        status varchar not null,
        rows_in bigint,
        rows_loaded bigint,
        rows_rejected bigint,
        fields_nulled bigint,
        message varchar,
        started_at timestamptz not null,
        finished_at timestamptz,
        file_modified_ns bigint
    )
    """,
    # added after the table: warehouses created before have it null until the next run (SourceLoader._record_stats)
    "alter table audit.load_history add column if not exists file_modified_ns bigint",
    """
    create table if not exists audit.quarantine (
        load_id bigint not null,
        source varchar not null,
        file_path varchar not null,
        record_number bigint,
        line_number bigint,
        reason varchar not null,
        raw_content varchar,
        quarantined_at timestamptz not null
    )
    """,
    """
    create table if not exists audit.field_issues (
        load_id bigint not null,
        source varchar not null,
        file_path varchar not null,
        record_number bigint,
        column_name varchar not null,
        raw_value varchar,
        reason varchar not null
    )
    """,
]

# Statuses a file can end in. A file whose checksum already has one of the
# final statuses is not loaded again; 'failed' (an internal error) is retried.
FINAL_STATUSES = ("loaded", "loaded_with_rejects", "rejected", "empty")


def ensure_audit_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in AUDIT_DDL:
        con.execute(statement)
