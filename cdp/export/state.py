"""Tables the exporter keeps in the warehouse (created on first use).

- ``marts.experiment_assignments``: each customer's arm per experiment, recorded
  the first time the customer is eligible and never changed afterwards.
- ``marts.audience_membership_snapshots``: who was in each audience at each as-of
  date (eligible members with their arm); a re-run of the same date replaces it.
- ``marts.audience_export_rows``: the key and row fingerprint of every row of every
  exported file, the base of the next export's diffs.
- ``audit.export_log``: every export and every export not made, with the reason.
"""

from __future__ import annotations

import duckdb

DDL = (
    "create schema if not exists marts",
    "create schema if not exists audit",
    """
    create table if not exists marts.experiment_assignments (
        experiment_id varchar not null,
        audience_name varchar not null,
        customer_id varchar not null,
        arm varchar not null,
        holdout_share double not null,
        assigned_as_of date not null,
        assigned_run_id varchar,
        primary key (experiment_id, customer_id)
    )
    """,
    """
    create table if not exists marts.audience_membership_snapshots (
        audience_name varchar not null,
        as_of_date date not null,
        customer_id varchar not null,
        experiment_id varchar not null,
        arm varchar not null,
        is_exported boolean not null,
        primary key (audience_name, as_of_date, customer_id)
    )
    """,
    """
    create table if not exists marts.audience_export_rows (
        audience_name varchar not null,
        destination varchar not null,
        as_of_date date not null,
        customer_id varchar not null,
        row_key varchar not null,
        row_sha256 varchar not null,
        primary key (audience_name, destination, as_of_date, row_key)
    )
    """,
    """
    create table if not exists audit.export_log (
        export_id varchar primary key,
        run_id varchar,
        audience_name varchar not null,
        destination varchar not null,
        as_of_date date not null,
        status varchar not null,
        consent_purpose varchar not null,
        selected_count bigint,
        eligible_count bigint,
        holdout_count bigint,
        row_count bigint,
        added_count bigint,
        removed_count bigint,
        previous_as_of_date date,
        file_path varchar,
        sha256 varchar,
        manifest_path varchar,
        message varchar,
        logged_at timestamp not null
    )
    """,
)


def ensure_export_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def audience_size_change(con: duckdb.DuckDBPyConnection, audience_name: str, as_of: str) -> dict | None:
    """Eligible members in the audience's snapshot as of ``as_of`` (zero when nobody qualified)
    against the latest snapshot before it, or None when there is no earlier one. Holdout included:
    it is who the audience selected."""
    members = con.execute(
        "select count(*) from marts.audience_membership_snapshots where audience_name = ? and as_of_date = ?",
        [audience_name, as_of],
    ).fetchall()[0][0]
    previous = con.execute(
        """
        select as_of_date, count(*)
        from marts.audience_membership_snapshots
        where audience_name = ? and as_of_date < ?
        group by as_of_date
        order by as_of_date desc
        limit 1
        """,
        [audience_name, as_of],
    ).fetchall()
    if not previous:
        return None
    previous_as_of, previous_members = previous[0]
    return {"as_of": as_of, "members": members, "previous_as_of": str(previous_as_of),
            "previous_members": previous_members, "change": (members - previous_members) / previous_members}
