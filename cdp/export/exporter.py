"""Export one audience: select, keep only the consented and unsuppressed, assign
experiment arms, snapshot the membership, then write each destination's full file,
its added / removed diffs against the previous export, and a manifest.

Applying the diffs: take the previous export's rows, drop those whose key is in
``removed`` or in ``added``, append ``added``: the result is the new full file.
``added`` holds new and changed rows (an upsert), ``removed`` only the keys of rows
that left. The previous export's rows are read from the warehouse
(marts.audience_export_rows), so an erased person, purged there, is never listed
again in a later diff.

The warehouse is a ``cdp.warehouse.Warehouse`` on DuckDB or Spark. Selection, consent and
suppression are one query in the warehouse, which returns only the columns the files need;
the rest (arms, normalisation, hashing, files) runs in Python. On DuckDB one audience's
writes are all or nothing; on Spark, which has no transactions, each write is idempotent
(docs/activation.md#on-spark).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from cdp.export import selection as rules
from cdp.export.assignment import HOLDOUT, assign
from cdp.export.audiences import Audience, DestinationConfig
from cdp.export.destinations import DESTINATIONS, Destination
from cdp.export.profile import profile_sql
from cdp.export.state import column_types, ensure_export_tables
from cdp.export.writer import file_bytes, json_bytes, row_fingerprints, sha256_hex, write_atomically
from cdp.warehouse import Warehouse, as_warehouse
from cdp.warehouse.dialect import sha256_hex as sql_sha256

EXPORTED, UNCHANGED = "exported", "unchanged"
NOT_DUE, BELOW_MIN_SIZE, BELOW_DESTINATION_MINIMUM, TOO_LARGE = (
    "not_due", "below_min_size", "below_destination_minimum", "too_large",
)


@dataclass
class Counts:
    selected: int = 0
    consented: int = 0
    suppressed: int = 0
    eligible: int = 0
    holdout: int = 0
    treated: int = 0


@dataclass
class ExportResult:
    audience: str
    destination: str
    status: str
    as_of: str
    rows: int = 0
    added: int = 0
    removed: int = 0
    path: str | None = None
    manifest_path: str | None = None
    sha256: str | None = None
    message: str = ""
    counts: dict = field(default_factory=dict)


def export_audience(warehouse: Warehouse | duckdb.DuckDBPyConnection, audience: Audience, export_dir: Path,
                    run_id: str) -> list[ExportResult]:
    """Export one audience to each of its destinations; every outcome is logged.

    ``warehouse`` is a ``Warehouse`` (either engine) or a DuckDB connection."""
    warehouse = as_warehouse(warehouse)
    ensure_export_tables(warehouse)
    as_of = _as_of(warehouse)
    members, counts = select_members(warehouse, audience)
    history = ExportHistory.read(warehouse, audience.name)
    with warehouse.transaction():
        members = _assign_arms(warehouse, audience, members, as_of, run_id, counts)
        _snapshot(warehouse, audience, members, as_of)
        treated = members[members["arm"] != HOLDOUT]
        return [
            _export_destination(warehouse, history, audience, config, treated, counts, as_of, Path(export_dir),
                                run_id)
            for config in audience.destinations
        ]


@dataclass
class ExportHistory:
    """The audience's rows of audit.export_log, read once per export (one query, not one per
    question: each costs a Spark job), as dicts of the log's columns."""

    records: list[dict]

    @classmethod
    def read(cls, warehouse: Warehouse, audience_name: str) -> ExportHistory:
        return cls(warehouse.arrow("select * from audit.export_log where audience_name = ?",
                                   [audience_name]).to_pylist())

    def previous_export(self, destination: str, as_of: date) -> dict | None:
        """The latest export before this as-of date: the base of diffs and of the refresh interval."""
        return self._latest(destination, lambda r: r["status"] == EXPORTED and r["as_of_date"] < as_of)

    def same_day_export(self, destination: str, as_of: date) -> dict | None:
        return self._latest(destination, lambda r: r["status"] == EXPORTED and r["as_of_date"] == as_of)

    def last_outcome(self, destination: str, as_of: date) -> dict | None:
        return self._latest(destination, lambda r: r["as_of_date"] == as_of)

    def _latest(self, destination: str, keep) -> dict | None:
        rows = [r for r in self.records if r["destination"] == destination and keep(r)]
        return max(rows, key=lambda r: (r["as_of_date"], r["logged_at"]), default=None)


def member_columns(audience: Audience) -> list[str]:
    """The profile columns the audience's files are made from: its destinations' fields, the
    columns their normalisation reads (a postcode's country), the permission flag."""
    columns = ["customer_id", audience.permission_flag]
    for config in audience.destinations:
        mappings = DESTINATIONS[config.name].fields
        for name in config.fields:
            columns.append(name)
            columns.extend(mappings[name].context if name in mappings else ())
    return list(dict.fromkeys(columns))


def select_members(warehouse: Warehouse | duckdb.DuckDBPyConnection,
                   audience: Audience) -> tuple[pd.DataFrame, Counts]:
    """Selected customers who may be contacted for the audience's purpose and are not suppressed,
    with the columns of ``member_columns``.

    Order decides who keeps a destination key two customers share (a household's
    email): the bigger spender, then the lower id.
    """
    warehouse = as_warehouse(warehouse)
    engine = warehouse.engine
    predicate = rules.compile_condition(audience.selection, lambda name: _segment_members(name, engine), engine)
    columns = ", ".join(f"selected.{c}" for c in member_columns(audience))
    # one Arrow result, not ``batches``: Spark's batches do not keep the query's order, and the
    # files are made from every member at once (one row per key, sorted by the rendered key)
    selected = _duckdb_frame(warehouse.arrow(f"""
        with profile as ({profile_sql(engine=engine)}),
        selected as (select * from profile where {predicate}),
        suppressed as ({_suppressed_customers('selected', engine)})
        select {columns}, suppressed.customer_id is not null as _suppressed
        from selected
        left join suppressed on suppressed.customer_id = selected.customer_id
        order by selected.total_spend desc nulls last, selected.customer_id
    """))
    consented = selected[audience.permission_flag].fillna(False).astype(bool)
    suppressed = selected["_suppressed"].astype(bool)
    members = selected[consented & ~suppressed].drop(columns="_suppressed").reset_index(drop=True)
    counts = Counts(selected=len(selected), consented=int(consented.sum()),
                    suppressed=int((consented & suppressed).sum()), eligible=len(members))
    return members, counts


def _duckdb_frame(table: pa.Table) -> pd.DataFrame:
    """The rows as DuckDB's ``df()`` types them (dates as datetime64, decimals as float64,
    integers with nulls as Int64), whichever engine read them: the files' bytes depend on
    these types, and they are the ones the files have always been made from."""
    with duckdb.connect() as con:
        return con.from_arrow(table).df()


def _segment_members(name: str, engine: str) -> str:
    return ("select customer_id from marts.customer_segment_membership "
            f"where segment_name = {rules.literal(name, engine)}")


def _suppressed_customers(relation: str, engine: str) -> str:
    """Customers any of whose identifiers (email, phone, a source record) is on the suppression list."""
    source_record = "identity_map.source_system || ':' || identity_map.source_customer_id"
    return f"""
        select {relation}.customer_id from {relation}
        inner join privacy.suppression_list as s
            on s.identifier_type = 'email' and s.identifier_sha256 = {sql_sha256(f'{relation}.email', engine)}
        union
        select {relation}.customer_id from {relation}
        inner join privacy.suppression_list as s
            on s.identifier_type = 'phone' and s.identifier_sha256 = {sql_sha256(f'{relation}.phone', engine)}
        union
        select identity_map.customer_id from marts.customer_identity_map as identity_map
        inner join privacy.suppression_list as s
            on s.identifier_type = 'source_record'
            and s.identifier_sha256 = {sql_sha256(source_record, engine)}
        where identity_map.customer_id in (select customer_id from {relation})
    """


def _as_of(warehouse: Warehouse) -> date:
    value = warehouse.scalar("select max(as_of_date) from intermediate.int_customer_profile")
    if value is None:
        value = warehouse.scalar("select max(as_of_date) from marts.fct_customer_rfm")
    return pd.Timestamp(value).date()


def _assign_arms(warehouse: Warehouse, audience: Audience, members: pd.DataFrame, as_of: date, run_id: str,
                 counts: Counts) -> pd.DataFrame:
    """Each member's arm: the recorded one, else a new deterministic draw, recorded now
    (only customers without a recorded arm are inserted: a re-run inserts nothing twice)."""
    recorded = dict(warehouse.rows(
        "select customer_id, arm from marts.experiment_assignments where experiment_id = ?", [audience.experiment]
    ))
    new = [c for c in members["customer_id"] if c not in recorded]
    drawn = {c: assign(c, audience.experiment, audience.holdout_share, audience.variants) for c in new}
    if drawn:
        warehouse.append("marts.experiment_assignments", pa.table({
            "experiment_id": pa.array([audience.experiment] * len(drawn), pa.string()),
            "audience_name": pa.array([audience.name] * len(drawn), pa.string()),
            "customer_id": pa.array(list(drawn), pa.string()),
            "arm": pa.array(list(drawn.values()), pa.string()),
            "holdout_share": pa.array([audience.holdout_share] * len(drawn), pa.float64()),
            "assigned_as_of": pa.array([as_of] * len(drawn), pa.date32()),
            "assigned_run_id": pa.array([run_id] * len(drawn), pa.string()),
        }))
    arms = {**recorded, **drawn}
    members = members.assign(arm=members["customer_id"].map(arms))
    counts.holdout = int((members["arm"] == HOLDOUT).sum())
    counts.treated = len(members) - counts.holdout
    return members


def _snapshot(warehouse: Warehouse, audience: Audience, members: pd.DataFrame, as_of: date) -> None:
    """Replace the audience's snapshot of this as-of date (delete, then insert: idempotent)."""
    warehouse.delete("marts.audience_membership_snapshots", "audience_name = ? and as_of_date = ?",
                     [audience.name, as_of])
    n = len(members)
    warehouse.append("marts.audience_membership_snapshots", pa.table({
        "audience_name": pa.array([audience.name] * n, pa.string()),
        "as_of_date": pa.array([as_of] * n, pa.date32()),
        "customer_id": pa.array(members["customer_id"].tolist(), pa.string()),
        "experiment_id": pa.array([audience.experiment] * n, pa.string()),
        "arm": pa.array(members["arm"].tolist(), pa.string()),
        "is_exported": pa.array((members["arm"] != HOLDOUT).tolist(), pa.bool_()),
    }))


def _export_destination(warehouse: Warehouse, history: ExportHistory, audience: Audience, config: DestinationConfig,
                        treated: pd.DataFrame, counts: Counts, as_of: date, export_dir: Path,
                        run_id: str) -> ExportResult:
    destination = DESTINATIONS[config.name]
    result = ExportResult(audience.name, destination.name, "", as_of.isoformat(), counts=asdict(counts))
    previous = history.previous_export(destination.name, as_of)
    if len(treated) < audience.min_size:
        return _log(warehouse, history, result, audience, run_id, BELOW_MIN_SIZE, previous,
                    f"{len(treated)} members to export, below min_size {audience.min_size}: not exported")
    if previous and previous["as_of_date"] < as_of and (as_of - previous["as_of_date"]).days < audience.refresh_days:
        return _log(warehouse, history, result, audience, run_id, NOT_DUE, previous,
                    f"refresh {audience.refresh}: last exported as of {previous['as_of_date']}")
    rows, customers = _render(destination, config, treated)
    if len(rows) < destination.min_rows:
        return _log(warehouse, history, result, audience, run_id, BELOW_DESTINATION_MINIMUM, previous,
                    f"{len(rows)} rows, below {destination.name}'s minimum of {destination.min_rows}: not exported")
    full = file_bytes(rows, destination.file_format)
    if destination.max_file_bytes and len(full) > destination.max_file_bytes:
        return _log(warehouse, history, result, audience, run_id, TOO_LARGE, previous,
                    f"{len(full)} bytes, over {destination.name}'s limit of {destination.max_file_bytes}")
    digest = sha256_hex(full)
    same_day = history.same_day_export(destination.name, as_of)
    if same_day and same_day["sha256"] == digest:
        result.status, result.rows, result.sha256 = UNCHANGED, len(rows), digest
        result.path, result.manifest_path = same_day["file_path"], same_day["manifest_path"]
        result.message = "already exported as of this date with the same content"
        return result
    return _write_export(warehouse, history, result, audience, destination, rows, customers, full, previous,
                         export_dir, run_id)


def _render(destination: Destination, config: DestinationConfig,
            treated: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The destination's rows, one per key (the first member holding it), with each row's customer."""
    keys = destination.key_values(treated)
    keep = keys.notna() & ~keys.duplicated(keep="first")
    members = treated[keep].assign(_key=keys[keep]).sort_values("_key", kind="stable")
    rows = destination.render(members.drop(columns="_key"), config.fields, config.options)
    if len(rows) != len(members) or list(rows[destination.key_header()]) != list(members["_key"]):
        raise RuntimeError(f"{destination.name}: rendered rows do not line up with members by key")
    return rows, list(members["customer_id"])


def _write_export(warehouse: Warehouse, history: ExportHistory, result: ExportResult, audience: Audience,
                  destination: Destination, rows: pd.DataFrame, customers: list[str], full: bytes,
                  previous: dict | None, export_dir: Path, run_id: str) -> ExportResult:
    key = destination.key_header()
    fingerprints = row_fingerprints(rows)
    base = dict(warehouse.rows(
        "select row_key, row_sha256 from marts.audience_export_rows "
        "where audience_name = ? and destination = ? and as_of_date = ?",
        [audience.name, destination.name, previous["as_of_date"]],
    )) if previous else {}
    keys = [str(k) for k in rows[key]]
    changed = [base.get(k) != f for k, f in zip(keys, fingerprints, strict=True)]
    added = rows[changed].reset_index(drop=True)
    removed = pd.DataFrame({key: sorted(set(base) - set(keys))})

    as_of = date.fromisoformat(result.as_of)
    folder = export_dir / audience.name / result.as_of
    extension = destination.file_format
    stem = f"{audience.name}__{destination.name}"
    files = {
        "full": (folder / f"{stem}.{extension}", full, len(rows)),
        "added": (folder / f"{stem}.added.{extension}", file_bytes(added, extension), len(added)),
        "removed": (folder / f"{stem}.removed.{extension}", file_bytes(removed, extension), len(removed)),
    }
    for path, data, _ in files.values():
        write_atomically(path, data)
    manifest = {
        "audience": audience.name,
        "description": audience.description,
        "owner": audience.owner,
        "destination": destination.name,
        "format": destination.file_format,
        "columns": list(rows.columns),
        "key": key,
        "row_count": len(rows),
        "sha256": sha256_hex(full),
        "files": {kind: {"file": p.name, "rows": n, "sha256": sha256_hex(d)} for kind, (p, d, n) in files.items()},
        "diff_base_as_of": previous["as_of_date"].isoformat() if previous else None,
        "apply_diffs": "previous rows whose key is in removed or added are dropped, then added is appended",
        "as_of": result.as_of,
        "run_id": run_id,
        "consent_purpose": audience.consent_purpose,
        "counts": result.counts,
        "experiment": {"id": audience.experiment, "holdout_share": audience.holdout_share,
                       "variants": audience.variants},
        "definition": audience.definition,
        "definition_file": Path(audience.source_file).name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    full_path = files["full"][0]
    manifest_path = full_path.with_name(full_path.name + ".manifest.json")
    write_atomically(manifest_path, json_bytes(manifest))

    # delete, then insert: a re-run of this date replaces the rows (idempotent on Spark)
    warehouse.delete("marts.audience_export_rows", "audience_name = ? and destination = ? and as_of_date = ?",
                     [audience.name, destination.name, as_of])
    n = len(keys)
    warehouse.append("marts.audience_export_rows", pa.table({
        "audience_name": pa.array([audience.name] * n, pa.string()),
        "destination": pa.array([destination.name] * n, pa.string()),
        "as_of_date": pa.array([as_of] * n, pa.date32()),
        "customer_id": pa.array(customers, pa.string()),
        "row_key": pa.array(keys, pa.string()),
        "row_sha256": pa.array(fingerprints, pa.string()),
    }))
    result.rows, result.added, result.removed = len(rows), len(added), len(removed)
    result.path, result.manifest_path, result.sha256 = str(full_path), str(manifest_path), manifest["sha256"]
    return _log(warehouse, history, result, audience, run_id, EXPORTED, previous,
                f"{len(rows)} rows ({len(added)} added or changed, {len(removed)} removed)")


def _log(warehouse: Warehouse, history: ExportHistory, result: ExportResult, audience: Audience, run_id: str,
         status: str, previous: dict | None, message: str) -> ExportResult:
    """Record the outcome, unless the same non-export was already recorded for this date (re-runs add nothing)."""
    result.status, result.message = status, message
    if status != EXPORTED:
        last = history.last_outcome(result.destination, date.fromisoformat(result.as_of))
        if last and last["status"] == status and last["message"] == message:
            return result
    c = result.counts
    values = {
        "export_id": str(uuid.uuid4()), "run_id": run_id, "audience_name": audience.name,
        "destination": result.destination, "as_of_date": date.fromisoformat(result.as_of), "status": status,
        "consent_purpose": audience.consent_purpose, "selected_count": c.get("selected"),
        "eligible_count": c.get("eligible"), "holdout_count": c.get("holdout"), "row_count": result.rows,
        "added_count": result.added, "removed_count": result.removed,
        "previous_as_of_date": previous["as_of_date"] if previous else None, "file_path": result.path,
        "sha256": result.sha256, "manifest_path": result.manifest_path, "message": message,
        "logged_at": datetime.now(UTC).replace(tzinfo=None),
    }
    types = {"string": pa.string(), "bigint": pa.int64(), "date": pa.date32(), "timestamp": pa.timestamp("us")}
    warehouse.append("audit.export_log", pa.table({
        name: pa.array([values[name]], types[kind]) for name, kind in column_types("audit.export_log").items()
    }))
    return result
