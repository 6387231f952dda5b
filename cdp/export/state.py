"""Tables the exporter keeps in the warehouse (created on first use).

- ``marts.experiment_assignments``: each customer's arm per experiment, recorded
  the first time the customer is eligible and never changed afterwards.
- ``marts.audience_membership_snapshots``: who was in each audience at each as-of
  date (eligible members with their arm); a re-run of the same date replaces it.
- ``marts.audience_export_rows``: the key and row fingerprint of every row of every
  exported file, the base of the next export's diffs.
- ``audit.export_log``: every export and every export not made, with the reason.

On DuckDB the tables carry their primary keys and not-null constraints. Spark's Parquet
tables take no constraints; there every write of the exporter is a delete then an insert
by key, or an insert of what is not there yet, so keys stay unique however often a step runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdp.warehouse import Warehouse, as_warehouse

NOT_NULL = " not null"


# Each table: its columns (name -> type as both engines spell it, `not null` kept on DuckDB only)
# and its primary key.
TABLES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "marts.experiment_assignments": ({
        "experiment_id": "string not null",
        "audience_name": "string not null",
        "customer_id": "string not null",
        "arm": "string not null",
        "holdout_share": "double not null",
        "assigned_as_of": "date not null",
        "assigned_run_id": "string",
    }, ("experiment_id", "customer_id")),
    "marts.audience_membership_snapshots": ({
        "audience_name": "string not null",
        "as_of_date": "date not null",
        "customer_id": "string not null",
        "experiment_id": "string not null",
        "arm": "string not null",
        "is_exported": "boolean not null",
    }, ("audience_name", "as_of_date", "customer_id")),
    "marts.audience_export_rows": ({
        "audience_name": "string not null",
        "destination": "string not null",
        "as_of_date": "date not null",
        "customer_id": "string not null",
        "row_key": "string not null",
        "row_sha256": "string not null",
    }, ("audience_name", "destination", "as_of_date", "row_key")),
    "audit.export_log": ({
        "export_id": "string not null",
        "run_id": "string",
        "audience_name": "string not null",
        "destination": "string not null",
        "as_of_date": "date not null",
        "status": "string not null",
        "consent_purpose": "string not null",
        "selected_count": "bigint",
        "eligible_count": "bigint",
        "holdout_count": "bigint",
        "row_count": "bigint",
        "added_count": "bigint",
        "removed_count": "bigint",
        "previous_as_of_date": "date",
        "file_path": "string",
        "sha256": "string",
        "manifest_path": "string",
        "message": "string",
        "logged_at": "timestamp not null",
    }, ("export_id",)),
}


def column_types(table: str) -> dict[str, str]:
    """A state table's columns and their types, without constraints (for ``Warehouse.replace``)."""
    return {name: kind.removesuffix(NOT_NULL) for name, kind in TABLES[table][0].items()}


def create_table_if_missing(warehouse: Warehouse, table: str, columns: Mapping[str, str],
                            key: Sequence[str]) -> None:
    """``create table if not exists`` on either engine; constraints on DuckDB only (see the module's docstring)."""
    if warehouse.engine == "duckdb":
        warehouse.create_schema(table.rpartition(".")[0])
        body = [f"{name} {kind}" for name, kind in columns.items()] + [f"primary key ({', '.join(key)})"]
        warehouse.execute(f"create table if not exists {table} (\n    " + ",\n    ".join(body) + "\n)")
    elif not warehouse.has_table(table):  # a catalogue lookup: cheaper than two statements on Spark
        warehouse.create_schema(table.rpartition(".")[0])
        body = [f"{name} {kind.removesuffix(NOT_NULL)}" for name, kind in columns.items()]
        warehouse.execute(f"create table if not exists {table} ({', '.join(body)}) using parquet")


def ensure_export_tables(warehouse) -> None:
    """The exporter's tables; ``warehouse`` is a ``Warehouse`` or a DuckDB connection."""
    warehouse = as_warehouse(warehouse)
    for table, (columns, key) in TABLES.items():
        create_table_if_missing(warehouse, table, columns, key)


def audience_size_change(warehouse, audience_name: str, as_of: str) -> dict | None:
    """Eligible members in the audience's snapshot as of ``as_of`` (zero when nobody qualified)
    against the latest snapshot before it, or None when there is no earlier one. Holdout included:
    it is who the audience selected."""
    warehouse = as_warehouse(warehouse)
    members = warehouse.scalar(
        "select count(*) from marts.audience_membership_snapshots "
        "where audience_name = ? and as_of_date = cast(? as date)",
        [audience_name, as_of],
    )
    previous = warehouse.rows(
        """
        select as_of_date, count(*)
        from marts.audience_membership_snapshots
        where audience_name = ? and as_of_date < cast(? as date)
        group by as_of_date
        order by as_of_date desc
        limit 1
        """,
        [audience_name, as_of],
    )
    if not previous:
        return None
    previous_as_of, previous_members = previous[0]
    return {"as_of": as_of, "members": members, "previous_as_of": str(previous_as_of),
            "previous_members": previous_members, "change": (members - previous_members) / previous_members}
