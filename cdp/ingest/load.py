"""Load landing files into the raw schema, one file per transaction.

Guarantees (each tested in tests/test_ingest.py):
- every record of a file is either in ``raw.<source>`` or in ``audit.quarantine``
  with a reason: rows_in = rows_loaded + rows_rejected in ``audit.load_history``;
- a file missing a required column is rejected whole, and the run goes on;
- a file whose checksum was already processed is skipped (re-runs are no-ops);
- a file loads atomically: an error rolls back everything it wrote.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cdp.contract import Contract, Source, load_contract, raw_table_ddl
from cdp.ingest.audit import FINAL_STATUSES, ensure_audit_schema
from cdp.ingest.readers import (
    FileUnreadable,
    ReadResult,
    fingerprint,
    read_csv_file,
    read_jsonl_file,
    read_parquet_file,
)
from cdp.ingest.validate import build_validation_select, quote_ident, quote_literal

log = logging.getLogger(__name__)

TEMP_TABLES = ("_landing_rows", "_parse_rejects", "_validated", "_read_rows", "_json_lines", "_numbered_lines")


@dataclass
class FileResult:
    source: str
    file_path: str
    status: str  # loaded | loaded_with_rejects | rejected | empty | failed | skipped
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    fields_nulled: int = 0
    message: str = ""
    load_id: int | None = None


@dataclass
class IngestReport:
    run_id: str
    files: list[FileResult] = field(default_factory=list)

    def totals(self, source: str | None = None) -> dict[str, int]:
        rows = [f for f in self.files if source is None or f.source == source]
        return {
            "files_loaded": sum(f.status in ("loaded", "loaded_with_rejects", "empty") for f in rows),
            "files_rejected": sum(f.status == "rejected" for f in rows),
            "files_failed": sum(f.status == "failed" for f in rows),
            "files_skipped": sum(f.status == "skipped" for f in rows),
            "rows_in": sum(f.rows_in for f in rows),
            "rows_loaded": sum(f.rows_loaded for f in rows),
            "rows_rejected": sum(f.rows_rejected for f in rows),
            "fields_nulled": sum(f.fields_nulled for f in rows),
        }

    def as_dicts(self) -> list[dict]:
        return [asdict(f) for f in self.files]


def prepare_warehouse(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create the audit schema and every raw table the contract defines (idempotent)."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    ensure_audit_schema(con)
    for source in contract.sources.values():
        con.execute(raw_table_ddl(source))


def discover_files(landing_dir: Path, source: Source, contract: Contract, settle_seconds: float = 0) -> list[Path]:
    """Landing files of a source in name order (daily drops sort by date), minus temporary
    files and files modified in the last ``settle_seconds`` (possibly still being written)."""
    folder = landing_dir / source.name
    if not folder.is_dir():
        return []
    now = time.time()
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel_parts = path.relative_to(folder).parts
        if any(contract.is_ignored(Path(part)) for part in rel_parts):
            continue
        if settle_seconds and now - path.stat().st_mtime < settle_seconds:
            continue
        files.append(path)
    return files


def unsupported_files(landing_dir: Path, contract: Contract) -> list[Path]:
    """Files in source folders that no reader handles (reported, never silently dropped)."""
    out = []
    for source in contract.sources.values():
        for path in discover_files(landing_dir, source, contract):
            if contract.file_format(path) is None:
                out.append(path)
    return out


def processed_checksums(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(source, checksum) of every file that reached a final status: these are never loaded again."""
    statuses = ", ".join(quote_literal(s) for s in FINAL_STATUSES)
    return set(
        con.execute(f"select source, file_checksum from audit.load_history where status in ({statuses})").fetchall()
    )


def _read(con, fmt: str, path: Path, encoding: str, tag: str, source: Source) -> ReadResult | None:
    if fmt == "csv":
        return read_csv_file(con, path, encoding, tag)
    if fmt == "jsonl":
        return read_jsonl_file(con, path, encoding, tag, source.column_names)
    return read_parquet_file(con, path, tag)


def _count(con, sql: str) -> int:
    return con.execute(sql).fetchall()[0][0]


def _write_rows(con, source: Source, result: FileResult, load_id: int, loaded_at: datetime) -> None:
    """Validate ``_landing_rows`` and split it into raw rows, quarantined rows and field issues."""
    file_columns = [c for c in _landing_columns(con) if not c.startswith("_")]
    contract_columns = source.column_names
    con.execute(
        "create or replace temp table _validated as "
        + build_validation_select(source, load_contract(), set(file_columns), "_landing_rows", now=loaded_at)
    )
    targets = ", ".join(quote_ident(c) for c in contract_columns)
    parsed = ", ".join(quote_ident("__" + c) for c in contract_columns)
    params = [load_id, result.file_path, loaded_at]
    con.execute(
        f"""
        insert into raw.{source.name} ({targets}, _load_id, _source_file, _record_number, _loaded_at)
        select {parsed}, ?, ?, _record_number, ? from _validated
        where len(_reject_reasons) = 0
        order by _record_number
        """,
        params,
    )
    fields = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in file_columns)
    content = f"cast(to_json(struct_pack({fields})) as varchar)"
    con.execute(
        f"""
        insert into audit.quarantine
        select ?, ?, ?, _record_number, _line_number, array_to_string(_reject_reasons, '; '), {content}, ?
        from _validated where len(_reject_reasons) > 0
        union all
        select ?, ?, ?, _record_number, _line_number, reason, raw_content, ? from _parse_rejects
        """,
        [load_id, source.name, result.file_path, loaded_at] * 2,
    )
    con.execute(
        """
        insert into audit.field_issues
        select ?, ?, ?, _record_number, issue.column_name, issue.raw_value, issue.reason
        from (select _record_number, unnest(_field_issues) as issue
              from _validated where len(_reject_reasons) = 0)
        """,
        [load_id, source.name, result.file_path],
    )
    loaded, rejected, nulled = con.execute(
        """
        select
            count(*) filter (where len(_reject_reasons) = 0),
            count(*) filter (where len(_reject_reasons) > 0) + (select count(*) from _parse_rejects),
            coalesce(sum(len(_field_issues)) filter (where len(_reject_reasons) = 0), 0)
        from _validated
        """
    ).fetchall()[0]
    result.rows_loaded, result.rows_rejected, result.fields_nulled = int(loaded), int(rejected), int(nulled)


def _landing_columns(con) -> list[str]:
    return [row[0] for row in con.execute("describe _landing_rows").fetchall()]


def load_file(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    source: Source,
    path: Path,
    landing_dir: Path,
    run_id: str,
    processed: set[tuple[str, str]],
) -> FileResult:
    """Load one file atomically; whatever happens, the outcome lands in audit.load_history.

    ``processed`` holds the (source, checksum) pairs already loaded; it is updated here."""
    rel = path.relative_to(landing_dir).as_posix()
    result = FileResult(source.name, rel, "failed")
    fmt = contract.file_format(path)
    started_at = datetime.now(UTC)
    fp = None
    try:
        fp = fingerprint(path, fmt or "binary")
    except FileUnreadable as exc:
        result.message = str(exc)
    checksum = fp.checksum if fp else sha256_of(path)
    if (source.name, checksum) in processed:
        result.status, result.message = "skipped", "already processed (same checksum)"
        return result
    result.load_id = _count(con, "select nextval('audit.load_id_seq')")
    encoding = fp.encoding if fp else None
    size = path.stat().st_size
    if fmt is None:
        result.status = "rejected"
        result.message = f"file rejected: unsupported file type; expected one of {sorted(contract.file_formats)}"
    elif fp is not None:
        _drop_temp_tables(con)
        try:
            # Parsing fills connection-local temp tables, outside any transaction:
            # a parser error must not abort the transaction that records it.
            read = _read(con, fmt, path, fp.encoding, str(result.load_id), source)
            con.execute("begin transaction")
            try:
                _load_content(con, source, read, result, started_at)
                _record_history(con, result, run_id, fmt, size, checksum, encoding, started_at)
                con.execute("commit")
                if result.status in FINAL_STATUSES:
                    processed.add((source.name, checksum))
                return _logged(result)
            except Exception:
                con.execute("rollback")
                raise
        except Exception as exc:  # noqa: BLE001 - any failure is recorded, and the run goes on
            log.warning("load of %s failed: %s", rel, type(exc).__name__)
            result.status = "failed"
            result.rows_in = result.rows_loaded = result.rows_rejected = result.fields_nulled = 0
            result.message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        finally:
            _drop_temp_tables(con)
    _record_history(con, result, run_id, fmt, size, checksum, encoding, started_at)
    if result.status in FINAL_STATUSES:
        processed.add((source.name, checksum))
    return _logged(result)


def _logged(result: FileResult) -> FileResult:
    # Counts and file names only: row content may hold personal data.
    log.info(
        "%s %s: %s, rows in %d, loaded %d, rejected %d",
        result.source,
        result.file_path,
        result.status,
        result.rows_in,
        result.rows_loaded,
        result.rows_rejected,
    )
    return result


def _load_content(con, source: Source, read: ReadResult | None, result: FileResult, started_at) -> None:
    """Check the parsed file's columns and write its rows; runs inside the file's transaction."""
    if read is None:
        result.status, result.message = "empty", "file has no header and no rows"
        return
    notes = list(read.notes)
    result.rows_in = _count(con, "select count(*) from _landing_rows") + _count(
        con, "select count(*) from _parse_rejects"
    )
    missing = [c for c in source.required_columns if c not in read.columns]
    if missing:
        result.status = "rejected"
        result.rows_rejected = result.rows_in
        result.message = "; ".join(
            [
                f"file rejected: required column(s) missing: {', '.join(missing)}",
                f"columns found: {', '.join(read.columns)}",
            ]
            + notes
        )
        return
    extra = [c for c in read.columns if c not in source.column_names]
    absent = [c for c in source.column_names if c not in read.columns]
    if extra:
        notes.append(f"ignored extra column(s): {', '.join(extra)}")
    if absent:
        notes.append(f"optional column(s) absent, loaded as empty: {', '.join(absent)}")
    if result.rows_in == 0:
        result.status = "empty"
        notes.insert(0, "header only, no rows")
    else:
        _write_rows(con, source, result, result.load_id, started_at)
        result.status = "loaded_with_rejects" if result.rows_rejected else "loaded"
    result.message = "; ".join(notes)


def _record_history(con, result: FileResult, run_id, fmt, size, checksum, encoding, started_at) -> None:
    con.execute(
        "insert into audit.load_history values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.load_id,
            run_id,
            result.source,
            result.file_path,
            fmt,
            size,
            checksum,
            encoding,
            result.status,
            result.rows_in,
            result.rows_loaded,
            result.rows_rejected,
            result.fields_nulled,
            result.message,
            started_at,
            datetime.now(UTC),
        ],
    )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _drop_temp_tables(con) -> None:
    for name in TEMP_TABLES:
        con.execute(f"drop table if exists {name}")


def ingest_landing(
    warehouse: duckdb.DuckDBPyConnection | str | Path,
    landing_dir: str | Path,
    sources: list[str] | None = None,
    run_id: str | None = None,
    settle_seconds: float = 0,
    contract: Contract | None = None,
) -> IngestReport:
    """Load every new landing file of the given sources (all by default) into ``raw``."""
    contract = contract or load_contract()
    landing_dir = Path(landing_dir).resolve()
    report = IngestReport(run_id or uuid.uuid4().hex)
    own = not isinstance(warehouse, duckdb.DuckDBPyConnection)
    if own:
        Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse)) if own else warehouse
    try:
        prepare_warehouse(con, contract)
        processed = processed_checksums(con)
        for name in sources or list(contract.sources):
            source = contract.sources[name]
            for path in discover_files(landing_dir, source, contract, settle_seconds):
                report.files.append(load_file(con, contract, source, path, landing_dir, report.run_id, processed))
    finally:
        if own:
            con.close()
    return report
