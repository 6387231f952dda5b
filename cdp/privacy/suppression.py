"""The suppression list: hashed identifiers of people the warehouse must not hold again.

Ingestion creates the tables below (so they exist before dbt's staging models anti-join
the list); the erasure step fills them. Hashes are the lower-case hex SHA-256 of the
identifier in the warehouse's normalised form, so dbt (macro ``identifier_sha256``),
this module and the exporters compute the same value:

- email: trimmed, lower-cased, all whitespace removed (dbt macro ``normalise_email``);
  for Gmail the identity match key (dots and +tags removed) is suppressed as well;
- phone: E.164 with the leading '+';
- source_record: ``<source_system>:<source_customer_id>`` (system lower-cased, both trimmed);
- loyalty_id: upper-case, spaces and hyphens removed;
- anonymous_id: as sent, trimmed.
"""

from __future__ import annotations

import hashlib
import re

import duckdb

from cdp.privacy.storage import COMPACTIONS_DDL

IDENTIFIER_TYPES = ("email", "phone", "source_record", "loyalty_id", "anonymous_id")

PRIVACY_DDL = [
    "create schema if not exists privacy",
    "create schema if not exists audit",
    """
    create table if not exists privacy.suppression_list (
        identifier_type varchar not null,
        identifier_sha256 varchar not null,
        reason varchar not null,           -- erasure | opt_out | manual
        reference varchar,                 -- erasure request id or upload load id: never personal data
        added_at timestamp not null,
        primary key (identifier_type, identifier_sha256)
    )
    """,
    # One row per processed erasure request; no personal data.
    """
    create table if not exists audit.erasure_log (
        erasure_request_id varchar primary key,
        requested_at timestamp,
        processed_at timestamp not null,
        run_id varchar,
        customers_erased integer not null,
        identifiers_suppressed json,      -- per identifier type
        requests_in_run integer not null,
        rows_deleted json                 -- per table, for the whole run (requests_in_run share it)
    )
    """,
    # One row per run in which the erasure step changed anything or scanned new loads.
    """
    create table if not exists audit.privacy_runs (
        run_id varchar,
        processed_at timestamp not null,
        erasure_requests integer not null,
        suppressions_absorbed integer not null,
        customers_erased integer not null,
        identifiers_suppressed json,
        rows_deleted json,                -- per table; raw.<source> counts reconcile the load history
        rows_updated json,
        scanned_through_load_id bigint    -- raw rows up to this load were checked against the list
    )
    """,
]

_WHITESPACE = re.compile(r"\s+")
_LOYALTY_SEPARATORS = re.compile(r"[\s-]+")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def ensure_privacy_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in [*PRIVACY_DDL, COMPACTIONS_DDL]:
        con.execute(statement)


def identifier_sha256(identifier_type: str, value: str | None) -> str | None:
    """The hash the suppression list holds for an identifier (None for an empty value).

    Emails are normalised here as the warehouse does; a phone must already be E.164 and a
    source record ``system:id``, since reading a national number needs the record's country.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if identifier_type == "email":
        text = _WHITESPACE.sub("", text).lower()
    elif identifier_type == "loyalty_id":
        text = _LOYALTY_SEPARATORS.sub("", text).upper()
    elif identifier_type == "source_record":
        system, _, record = text.partition(":")
        text = f"{system.strip().lower()}:{record.strip()}"
    elif identifier_type not in IDENTIFIER_TYPES:
        raise ValueError(f"unknown identifier type {identifier_type!r}; expected one of {IDENTIFIER_TYPES}")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def suppressed_hashes(con: duckdb.DuckDBPyConnection, identifier_type: str) -> set[str]:
    """Every suppressed hash of one identifier type (for anti-joining an export)."""
    rows = con.execute(
        "select identifier_sha256 from privacy.suppression_list where identifier_type = ?", [identifier_type]
    ).fetchall()
    return {r[0] for r in rows}
