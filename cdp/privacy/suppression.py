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

from cdp.privacy.storage import COMPACTIONS_DDL
from cdp.warehouse import Warehouse, as_warehouse

IDENTIFIER_TYPES = ("email", "phone", "source_record", "loyalty_id", "anonymous_id")

# The tables the erasure step owns: name -> (columns as (name, DuckDB type), primary key).
PRIVACY_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "privacy.suppression_list": (
        (
            ("identifier_type", "varchar not null"),
            ("identifier_sha256", "varchar not null"),
            ("reason", "varchar not null"),  # erasure | opt_out | manual
            ("reference", "varchar"),  # erasure request id or upload load id: never personal data
            ("added_at", "timestamp not null"),
        ),
        ("identifier_type", "identifier_sha256"),
    ),
    # One row per processed erasure request; no personal data.
    "audit.erasure_log": (
        (
            ("erasure_request_id", "varchar"),
            ("requested_at", "timestamp"),
            ("processed_at", "timestamp not null"),
            ("run_id", "varchar"),
            ("customers_erased", "integer not null"),
            ("identifiers_suppressed", "json"),  # per identifier type
            ("requests_in_run", "integer not null"),
            ("rows_deleted", "json"),  # per table, for the whole run (requests_in_run share it)
        ),
        ("erasure_request_id",),
    ),
    # One row per run in which the erasure step changed anything or scanned new loads.
    "audit.privacy_runs": (
        (
            ("run_id", "varchar"),
            ("processed_at", "timestamp not null"),
            ("erasure_requests", "integer not null"),
            ("suppressions_absorbed", "integer not null"),
            ("customers_erased", "integer not null"),
            ("identifiers_suppressed", "json"),
            ("rows_deleted", "json"),  # per table; raw.<source> counts reconcile the load history
            ("rows_updated", "json"),
            ("scanned_through_load_id", "bigint"),  # raw rows up to this load were checked against the list
        ),
        (),
    ),
}

# Spark's Parquet tables take no constraints and have no JSON type: the JSON columns hold text,
# and the erasure step's inserts skip what a table holds already.
_SPARK_TYPES = {"varchar": "string", "json": "string", "integer": "int"}


def privacy_ddl(engine: str = "duckdb") -> list[str]:
    """The statements that create the privacy and audit tables the erasure step writes, if missing."""
    statements = ["create schema if not exists privacy", "create schema if not exists audit"]
    for table, (columns, key) in PRIVACY_TABLES.items():
        if engine == "spark":
            lines = [f"{name} {_SPARK_TYPES.get(kind.split()[0], kind.split()[0])}" for name, kind in columns]
            statements.append(f"create table if not exists {table} ({', '.join(lines)}) using parquet")
        else:
            lines = [f"{name} {kind}" for name, kind in columns] + ([f"primary key ({', '.join(key)})"] if key else [])
            statements.append(f"create table if not exists {table} ({', '.join(lines)})")
    return statements


_WHITESPACE = re.compile(r"\s+")
_LOYALTY_SEPARATORS = re.compile(r"[\s-]+")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def ensure_privacy_schema(warehouse: Warehouse) -> None:
    """Create the suppression list and the erasure audit tables (and, on DuckDB, the record of
    file rewrites, cdp/privacy/storage.py) where they are missing."""
    warehouse = as_warehouse(warehouse)
    for statement in privacy_ddl(warehouse.engine):
        warehouse.execute(statement)
    if warehouse.engine == "duckdb":
        warehouse.execute(COMPACTIONS_DDL)


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


def suppressed_hashes(warehouse: Warehouse, identifier_type: str) -> set[str]:
    """Every suppressed hash of one identifier type (for anti-joining an export)."""
    rows = as_warehouse(warehouse).rows(
        "select identifier_sha256 from privacy.suppression_list where identifier_type = ?", [identifier_type]
    )
    return {r[0] for r in rows}
