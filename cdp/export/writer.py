"""Write audience files: consent-checked, atomic, owner-only, each with a manifest."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cdp.export.audiences import Audience
from cdp.export.destinations import DESTINATIONS

FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass
class ExportResult:
    audience: str
    destination: str
    status: str  # exported | below_min_size
    as_of: str | None
    rows: int
    path: str | None = None
    manifest_path: str | None = None
    sha256: str | None = None
    message: str = ""


def read_members(con: duckdb.DuckDBPyConnection, audience: Audience) -> tuple[pd.DataFrame, int]:
    """Audience members whose current consent for the audience's purpose is granted.

    The audience model already filters on consent; checking again here means a
    wrongly written model can never export someone who did not agree.
    Returns the members and how many rows the check removed.
    """
    if not audience.model.isidentifier():
        raise ValueError(f"{audience.source_file}: model: {audience.model!r} is not a table name")
    members = con.execute(f"select * from marts.{audience.model}").df()
    consented = con.execute(
        "select customer_id from marts.customer_consent where purpose = ? and consent_status = 'granted'",
        [audience.consent_purpose],
    ).df()
    allowed = members["customer_id"].isin(set(consented["customer_id"]))
    return members[allowed].reset_index(drop=True), int((~allowed).sum())


def resolve_as_of(con: duckdb.DuckDBPyConnection, members: pd.DataFrame) -> str:
    if "as_of_date" in members.columns and len(members):
        return str(members["as_of_date"].iloc[0])[:10]
    return str(con.execute("select max(as_of_date) from marts.fct_customer_rfm").fetchall()[0][0])[:10]


def _atomic_write(target: Path, write) -> str:
    """Write via a temporary file in the same folder, then rename: readers never see half a file."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(frame.columns)
        for row in frame.itertuples(index=False):
            writer.writerow(["" if v is None or (isinstance(v, float) and pd.isna(v)) else v for v in row])


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path)


def export_audience(
    con: duckdb.DuckDBPyConnection, audience: Audience, export_dir: Path, run_id: str
) -> list[ExportResult]:
    members, dropped = read_members(con, audience)
    as_of = resolve_as_of(con, members)
    if len(members) < audience.min_size:
        message = f"{len(members)} members, below min_size {audience.min_size}: not exported"
        return [
            ExportResult(audience.name, d.name, "below_min_size", as_of, len(members), message=message)
            for d in audience.destinations
        ]
    results = []
    folder = Path(export_dir) / audience.name / as_of
    for config in audience.destinations:
        destination = DESTINATIONS[config.name]
        rows = destination.render(members, config.fields, config.options)
        extension = "csv" if destination.file_format == "csv" else "parquet"
        path = folder / f"{audience.name}__{destination.name}.{extension}"
        writer = _write_csv if destination.file_format == "csv" else _write_parquet
        digest = _atomic_write(path, lambda tmp, w=writer, r=rows: w(r, tmp))
        manifest = {
            "audience": audience.name,
            "description": audience.description,
            "owner": audience.owner,
            "destination": destination.name,
            "file": path.name,
            "format": destination.file_format,
            "columns": list(rows.columns),
            "row_count": len(rows),
            "sha256": digest,
            "as_of": as_of,
            "run_id": run_id,
            "consent_purpose": audience.consent_purpose,
            "members_dropped_without_consent": dropped,
            "definition": audience.definition,
            "definition_file": Path(audience.source_file).name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        manifest_path = path.with_name(path.name + ".manifest.json")
        _atomic_write(manifest_path, lambda tmp, m=manifest: tmp.write_text(json.dumps(m, indent=2, default=_json)))
        results.append(
            ExportResult(
                audience.name, destination.name, "exported", as_of, len(rows), str(path), str(manifest_path), digest
            )
        )
    return results


def _json(value: object) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)
