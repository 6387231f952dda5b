"""Load landing files into the raw schema.

The files of a source that share a layout (format, encoding, compression and the CSV
header or Parquet schema) are read together in one DuckDB scan, which keeps each row's
file, record number and line; a file that cannot go that way (an odd header, or a scan
DuckDB's strict parser gives up on) is read on its own by the one-file readers, which
cope with more kinds of broken file. Rows are validated by one set-based statement as
they enter the source's batch, and the batch is written in one transaction.
Guarantees (tested in tests/test_ingest.py and tests/test_ingest_batch.py):
- every record of a file is either in ``raw.<source>`` or in ``audit.quarantine``
  with a reason: rows_in = rows_loaded + rows_rejected in ``audit.load_history``;
- a file missing a required column is rejected whole, and the run goes on;
- a file whose checksum was already processed is skipped (re-runs are no-ops), and one
  that keeps the path, size and modification time it was loaded with is not even read;
- a file loads atomically: its rows, rejects and history row commit together or
  not at all. If a batch fails to write, its files are retried one at a time so
  one bad file never holds back the others;
- reading files together gives the same rows, rejects, numbers and history as
  reading each alone, and load ids follow file order (staging keeps the latest).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from cdp.contract import Contract, Source, load_contract, raw_table_ddl
from cdp.ingest.audit import FINAL_STATUSES, ensure_audit_schema
from cdp.ingest.readers import (
    GROUP_RESERVED_COLUMNS,
    CsvHeader,
    FileFingerprint,
    FileUnreadable,
    ReadResult,
    csv_header,
    drop_group_tables,
    fingerprint,
    parquet_layouts,
    read_csv_file,
    read_csv_files,
    read_jsonl_file,
    read_jsonl_files,
    read_parquet_file,
    read_parquet_files,
)
from cdp.ingest.validate import ISSUE_TYPE, build_validation_select, quote_ident, quote_literal
from cdp.privacy.suppression import ensure_privacy_schema

log = logging.getLogger(__name__)

# A batch is written when it holds this many rows or files (bounds temp storage).
MAX_BATCH_ROWS = 2_000_000
MAX_BATCH_FILES = 1_000
# Files read in one scan hold at most this many bytes together (bounds the scan's temp storage).
MAX_GROUP_BYTES = 256 << 20
FINGERPRINT_THREADS = 2

FILE_TEMP_TABLES = ("_landing_rows", "_parse_rejects", "_read_rows", "_json_lines", "_numbered_lines")
BATCH_TEMP_TABLES = ("_batch_rows", "_batch_rejects")


@dataclass
class FileResult:
    source: str
    file_path: str
    status: str  # loaded | loaded_with_rejects | rejected | empty | failed | skipped (pending while loading)
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


@dataclass
class _FileLoad:
    """What load history needs to know about one file besides its result."""

    result: FileResult
    fmt: str | None
    size: int
    checksum: str
    encoding: str | None
    started_at: datetime
    notes: list[str] = field(default_factory=list)
    modified_ns: int | None = None  # the file's modification time before it was read
    path: Path | None = None
    readable: bool = True  # False: the file could not even be read to check its encoding
    header: CsvHeader | None = None  # a CSV file's header, once read
    quote_count: int | None = None  # '"' bytes of an uncompressed CSV file
    line_count: int | None = None  # its lines


@dataclass
class _Group:
    """Files of one source and layout, read in one scan."""

    key: tuple
    loads: list[_FileLoad]


def prepare_warehouse(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create the audit schema, every raw table the contract defines and the privacy tables
    (the suppression list staging reads) (idempotent)."""
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    ensure_audit_schema(con)
    ensure_privacy_schema(con)
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
        if any(contract.is_ignored(Path(part)) for part in path.relative_to(folder).parts):
            continue
        if settle_seconds and now - path.stat().st_mtime < settle_seconds:
            continue
        files.append(path)
    return files


@dataclass
class LandingState:
    """What the landing zone holds now, without reading a byte of it: a sensor compares
    ``fingerprint`` with the one of its last run (opening the warehouse would contend with
    a run writing it)."""

    fingerprint: str
    files: int
    unsettled: list[str]


def landing_state(landing_dir: Path, contract: Contract, settle_seconds: float) -> LandingState:
    """Fingerprint of every settled landing file (path, size, modification time); files modified
    in the last ``settle_seconds`` are listed as unsettled and left out until they stop changing."""
    settled, unsettled = [], []
    now = time.time()
    for source in contract.sources.values():
        for path in discover_files(landing_dir, source, contract):
            stat = path.stat()
            name = str(path.relative_to(landing_dir))
            if now - stat.st_mtime < settle_seconds:
                unsettled.append(name)
            else:
                settled.append(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}")
    fingerprint = hashlib.sha256("\n".join(sorted(settled)).encode()).hexdigest()
    return LandingState(fingerprint, len(settled), sorted(unsettled))


def processed_checksums(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(source, checksum) of every file that reached a final status: these are never loaded again."""
    statuses = ", ".join(quote_literal(s) for s in FINAL_STATUSES)
    return set(
        con.execute(f"select source, file_checksum from audit.load_history where status in ({statuses})").fetchall()
    )


def processed_file_stats(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, int, int]]:
    """(source, path, size, modification time in ns) of every file that reached a final status
    with a time to trust: a landing file that still has them is not read again, not even to
    checksum it."""
    statuses = ", ".join(quote_literal(s) for s in FINAL_STATUSES)
    return set(
        con.execute(
            "select source, file_path, file_size_bytes, file_modified_ns from audit.load_history "
            f"where status in ({statuses}) and file_modified_ns < epoch_ns(started_at) - {RACY_NS}"
        ).fetchall()
    )


UNCHANGED = "already processed (same path, size and modification time)"
# A file modified this close to being read may change again within one tick of the file system's
# clock and keep its time ("racy git"): its time is kept but not trusted, so every run checksums it.
RACY_NS = 2_000_000_000


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _scalar(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


def _insert_arrow(con, target: str, table: pa.Table) -> None:
    """Insert an Arrow table's rows (columns in the target's order) in one statement."""
    con.register("_arrow_rows", table)
    try:
        con.execute(f"insert into {target} select * from _arrow_rows")
    finally:
        con.unregister("_arrow_rows")


def _csv_ints(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)


def _drop(con, tables) -> None:
    for name in tables:
        con.execute(f"drop table if exists {name}")


class FileRead(NamedTuple):
    """One landing file as first read: its format, fingerprint (None if unreadable), checksum,
    why it is unreadable, and its size and modification time taken before the read began."""

    fmt: str | None
    fp: FileFingerprint | None
    checksum: str
    message: str
    size: int
    modified_ns: int
    read_at: datetime


def fingerprint_file(contract: Contract, path: Path) -> FileRead:
    """Read a file once to fingerprint it. Its time is taken first: a write during the read
    changes it, so the time kept never vouches for bytes the checksum did not see."""
    stat, read_at = path.stat(), datetime.now(UTC)
    fmt = contract.file_format(path)
    try:
        fp = fingerprint(path, fmt or "binary")
    except FileUnreadable as exc:
        return FileRead(fmt, None, sha256_of(path), str(exc), stat.st_size, stat.st_mtime_ns, read_at)
    return FileRead(fmt, fp, fp.checksum, "", stat.st_size, stat.st_mtime_ns, read_at)


class SourceLoader:
    """Loads the new files of one source: files sharing a layout are read together in one
    scan, the others one by one; then the batch is validated and written."""

    def __init__(
        self,
        con,
        contract: Contract,
        source: Source,
        landing_dir: Path,
        run_id: str,
        processed: set,
        fingerprints: dict[Path, Future] | None = None,
    ):
        self.con = con
        self.contract = contract
        self.source = source
        self.landing_dir = landing_dir
        self.run_id = run_id
        self.processed = processed
        self.fingerprints = fingerprints  # fingerprint_file results under way, by path (else computed here)
        self.pending: dict[int, _FileLoad] = {}  # batch file index -> file
        self.settled: list[_FileLoad] = []  # files that never reach a batch, their history not yet written
        self.next_index = 0
        self.batch_rows = 0
        self.now = datetime.now(UTC)  # 'now' in contract bounds

    def load(self, paths: list[Path]) -> list[FileResult]:
        """Load ``paths`` (in file order) and return one result per file, in that order."""
        loads = self._register(paths)
        for work in self._plan([load for load in loads if load.result.status == "pending"]):
            if isinstance(work, _Group):
                self._read_group(work)
            else:
                self._read_alone(work)
            if self.batch_rows >= MAX_BATCH_ROWS or len(self.pending) >= MAX_BATCH_FILES:
                self.flush()
        self.flush()
        return [load.result for load in loads]

    # -- which files, and how to read them --------------------------------------

    def _register(self, paths: list[Path]) -> list[_FileLoad]:
        """Checksum every file (in threads: hashing releases the GIL), skip the ones already
        processed and give the others load ids in file order (staging takes the latest load id)."""
        if self.fingerprints is None:
            with ThreadPoolExecutor(FINGERPRINT_THREADS) as pool:
                prints = list(pool.map(lambda path: fingerprint_file(self.contract, path), paths))
        else:
            prints = [self.fingerprints[path].result() for path in paths]
        loads = []
        first_with_bytes: dict[str, str] = {}  # checksum -> the first readable file of this run with it
        for path, read in zip(paths, prints, strict=True):
            fmt, fp, checksum = read.fmt, read.fp, read.checksum
            rel = path.relative_to(self.landing_dir).as_posix()
            result = FileResult(self.source.name, rel, "pending", message=read.message)
            load = _FileLoad(result, fmt, read.size, checksum, fp.encoding if fp else None, read.read_at)
            load.path, load.readable, load.modified_ns = path, fp is not None, read.modified_ns
            load.quote_count = fp.quote_count if fp else None
            load.line_count = fp.line_count if fp else None
            if (self.source.name, checksum) in self.processed:
                result.status, result.message = "skipped", "already processed (same checksum)"
            elif load.readable and fmt is not None and checksum in first_with_bytes:
                # a copy sent twice in one drop: the same bytes load once, as they would across runs
                result.status = "skipped"
                result.message = f"same bytes as {first_with_bytes[checksum]} in this run"
            elif load.readable and fmt is not None:
                first_with_bytes[checksum] = rel
            loads.append(load)
        self._record_stats([load for load in loads if load.result.status == "skipped"])
        new = [load for load in loads if load.result.status == "pending"]
        ids = self.con.execute("select nextval('audit.load_id_seq') from range(?)", [len(new)]).fetchall()
        for load, (load_id,) in zip(new, sorted(ids), strict=True):
            load.result.load_id = load_id
            if load.fmt is None:
                load.result.status = "rejected"
                load.result.message = (
                    f"file rejected: unsupported file type; expected one of {sorted(self.contract.file_formats)}"
                )
                self._settle(load)
            elif not load.readable:
                load.result.status = "failed"
                self._settle(load)
        return loads

    def _record_stats(self, skipped: list[_FileLoad]) -> None:
        """Give the history rows of these files (loaded before under the same path and checksum,
        in a warehouse that did not keep file times yet) the time they have, where that time is
        older than the load (so the file has not been touched since): the next run skips them
        without reading them. Rows that have a time keep it."""
        rows = [(load.modified_ns, self.source.name, load.result.file_path, load.size, load.checksum, load.modified_ns)
                for load in skipped]
        if rows:
            self.con.executemany(
                "update audit.load_history set file_modified_ns = ? where source = ? and file_path = ? "
                "and file_size_bytes = ? and file_checksum = ? and file_modified_ns is null "
                f"and ? < epoch_ns(started_at) - {RACY_NS}",
                rows,
            )

    def _plan(self, loads: list[_FileLoad]) -> list[_Group | _FileLoad]:
        """Files that share a layout in groups (bounded in bytes and files), the rest alone;
        in the order of each one's first file."""
        groups: dict[tuple, list[_FileLoad]] = {}
        alone: list[_FileLoad] = []
        parquet = [load.path for load in loads if load.fmt == "parquet"]
        layouts = parquet_layouts(self.con, parquet) if parquet else {}
        for load in loads:
            key = self._layout(load, layouts)
            if key is None:
                alone.append(load)
            else:
                groups.setdefault(key, []).append(load)
        work: list[tuple[int, _Group | _FileLoad]] = [(load.result.load_id, load) for load in alone]
        for key, members in groups.items():
            chunk: list[_FileLoad] = []
            size = 0
            for load in members:
                if chunk and (size + load.size > MAX_GROUP_BYTES or len(chunk) >= MAX_BATCH_FILES):
                    work.append((chunk[0].result.load_id, _Group(key, chunk)))
                    chunk, size = [], 0
                chunk.append(load)
                size += load.size
            work.append((chunk[0].result.load_id, _Group(key, chunk)))
        return [item for _, item in sorted(work, key=lambda pair: pair[0])]

    def _layout(self, load: _FileLoad, parquet_layouts: dict[Path, tuple]) -> tuple | None:
        """What files must share to be read in one scan, or None to read this one alone."""
        compressed = load.path.name.lower().endswith(".gz")
        if load.fmt == "csv":
            if load.quote_count is not None and load.quote_count % 2:
                # a quote left open: DuckDB 2.0 drops that record without a reject when it scans five
                # or more files together (tests/test_ingest_batch.py); alone it is rejected as it should be
                return None
            try:
                header = csv_header(load.path, load.encoding)
            except Exception:  # noqa: BLE001 - the one-file reader records why
                return None
            if header is None or set(header.names) & set(GROUP_RESERVED_COLUMNS):
                return None
            load.header = header
            return ("csv", load.encoding, compressed, header.delimiter, tuple(header.names))
        if load.fmt == "jsonl":
            return ("jsonl", load.encoding, compressed)
        layout = parquet_layouts.get(load.path)
        if layout is None or any(column[0] in GROUP_RESERVED_COLUMNS for column in layout):
            return None
        return ("parquet", layout)

    # -- reading ------------------------------------------------------------------

    def _read_group(self, group: _Group) -> None:
        """Read the group's files in one scan into the batch; if DuckDB cannot, read them one by one."""
        fmt = group.key[0]
        paths = [load.path for load in group.loads]
        drop_group_tables(self.con)
        tag = "group"
        try:
            if fmt == "csv":
                read = read_csv_files(self.con, paths, group.loads[0].header, group.key[1], tag)
            elif fmt == "jsonl":
                read = read_jsonl_files(self.con, paths, group.key[1], tag, self.source.column_names)
            else:
                read = read_parquet_files(self.con, paths)
        except Exception as exc:  # noqa: BLE001 - the one-file path accounts for each file
            log.info(
                "%d %s files could not be read together (%s); reading them one by one",
                len(paths),
                self.source.name,
                type(exc).__name__,
            )
            drop_group_tables(self.con)
            for name in (f"_rej_err_{tag}", f"_rej_scan_{tag}"):
                self.con.execute(f"drop table if exists {name}")
            for load in group.loads:
                self._read_alone(load)
            return
        base = self.next_index
        self.next_index += len(paths)
        # DuckDB 2.0 drops a record with an open quote, reject and all, from a scan of five or more
        # files: a CSV file the scan found fewer records in than it has lines after the header is read
        # again on its own, which accounts for every record (quoted line breaks land here too)
        recount = {
            position
            for position, load in enumerate(group.loads)
            if fmt == "csv" and load.line_count is not None and read.rows_in[position] != load.line_count - 1
        }
        kept = [
            position
            for position, load in enumerate(group.loads)
            if position not in recount
            and self._admit(load, read.columns[position], read.notes, read.rows_in[position])
        ]
        try:
            if kept:
                self._ensure_batch_tables()
                self._insert_rows(read.relation, read.fields, f"{base} + _file_position", kept)
                self.con.execute(
                    f"insert into _batch_rejects select {base} + _file_position, _record_number, _line_number, "
                    f"reason, raw_content from _group_rejects where _file_position in ({_csv_ints(kept)})"
                )
        except Exception as exc:  # noqa: BLE001 - the one-file path accounts for each file
            log.info(
                "%d %s files could not be validated together (%s); reading them one by one",
                len(kept),
                self.source.name,
                type(exc).__name__,
            )
            self._discard([base + position for position in kept])
            drop_group_tables(self.con)
            for position in kept:
                self._read_alone(group.loads[position])
            return
        self._add_pending({base + position: group.loads[position] for position in kept})
        drop_group_tables(self.con)
        for position in sorted(recount):
            self._read_alone(group.loads[position])

    def _read_alone(self, load: _FileLoad) -> None:
        """Parse one file with the one-file readers (they cope with more kinds of broken file)."""
        result = load.result
        _drop(self.con, FILE_TEMP_TABLES)
        try:
            read = self._read(load.fmt, load.path, load.encoding, str(result.load_id))
        except Exception as exc:  # noqa: BLE001 - a file that cannot be parsed is recorded, the run goes on
            result.status = "failed"
            result.message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            self._settle(load)
            return
        if read is None:
            result.status, result.message = "empty", "file has no header and no rows"
            self._settle(load)
            return
        rows_in = _scalar(
            self.con, "select (select count(*) from _landing_rows) + (select count(*) from _parse_rejects)"
        )
        if self._admit(load, read.columns, read.notes, rows_in):
            try:
                self._append(load, read)
            except Exception as exc:  # noqa: BLE001 - the file is recorded as failed, the run goes on
                self._discard([self.next_index - 1])
                result.status = "failed"
                result.rows_in = result.rows_loaded = result.rows_rejected = result.fields_nulled = 0
                result.message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                self._settle(load)
        _drop(self.con, FILE_TEMP_TABLES)

    def _read(self, fmt: str, path: Path, encoding: str, tag: str) -> ReadResult | None:
        if fmt == "csv":
            return read_csv_file(self.con, path, encoding, tag)
        if fmt == "jsonl":
            return read_jsonl_file(self.con, path, encoding, tag, self.source.column_names)
        return read_parquet_file(self.con, path, tag)

    def _admit(self, load: _FileLoad, columns: list[str], notes: list[str], rows_in: int) -> bool:
        """Check a parsed file's columns and size: settle it (rejected whole, empty) or admit it to the batch."""
        result = load.result
        result.rows_in = rows_in
        if rows_in == 0 and load.fmt != "csv":
            result.status, result.message = "empty", "file has no header and no rows"
            self._settle(load)
            return False
        load.notes = list(notes)
        missing = [c for c in self.source.required_columns if c not in columns]
        if missing:
            result.status, result.rows_rejected = "rejected", result.rows_in
            load.notes[:0] = [
                "file rejected: no line is a JSON object" if load.fmt == "jsonl" and not columns
                else f"file rejected: required column(s) missing: {', '.join(missing)}",
                f"columns found: {', '.join(columns) or 'none'}",
            ]
            result.message = "; ".join(load.notes)
            self._settle(load)
            return False
        extra = [c for c in columns if c not in self.source.column_names]
        absent = [c for c in self.source.column_names if c not in columns]
        if extra:
            load.notes.append(f"ignored extra column(s): {', '.join(extra)}")
        if absent:
            load.notes.append(f"optional column(s) absent, loaded as empty: {', '.join(absent)}")
        if rows_in == 0:
            result.status = "empty"
            result.message = "; ".join(["header only, no rows", *load.notes])
            self._settle(load)
            return False
        return True

    # -- the batch ------------------------------------------------------------------

    def _ensure_batch_tables(self) -> None:
        if self.pending:
            return
        _drop(self.con, BATCH_TEMP_TABLES)
        parsed = ", ".join(f"{quote_ident('__' + c.name)} {c.sql_type}" for c in self.source.columns)
        self.con.execute(
            f"create temp table _batch_rows (_file_index integer, _record_number bigint, _line_number bigint, "
            f"{parsed}, _reject_reason varchar, _raw_content varchar, _field_issues {ISSUE_TYPE})"
        )
        self.con.execute(
            "create temp table _batch_rejects (_file_index integer, _record_number bigint, "
            "_line_number bigint, reason varchar, raw_content varchar)"
        )

    def _insert_rows(self, relation: str, fields: list[str], file_index: str, positions: list[int] | None) -> None:
        """Validate parsed rows into ``_batch_rows``: contract columns parsed (NULL where the file lacks
        one), why a row is rejected, its field issues. Extra columns are not loaded, but a quarantined
        row keeps them in its raw content."""
        columns = self.source.column_names
        present = set(fields)
        values = ", ".join(f"{quote_ident(c) if c in present else 'null'} as {quote_ident(c)}" for c in columns)
        extras = [c for c in fields if c not in columns]
        extras_json = (
            "cast(to_json(struct_pack("
            + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in extras)
            + ")) as varchar)"
            if extras
            else "cast(null as varchar)"
        )
        where = f"where _file_position in ({_csv_ints(positions)})" if positions is not None else ""
        rows = (
            f"(select {file_index} as _file_index, {values}, {extras_json} as _extras, _record_number, _line_number "
            f"from {relation} {where})"
        )
        validation = build_validation_select(
            self.source, self.contract, rows, ["_file_index", "_record_number", "_line_number"], self.now
        )
        self.con.execute(f"insert into _batch_rows by name {validation}")

    def _append(self, load: _FileLoad, read: ReadResult) -> None:
        """Move a file parsed on its own into the batch tables under a new file index."""
        index = self.next_index
        self.next_index += 1
        self._ensure_batch_tables()
        landing_columns = {row[0] for row in self.con.execute("describe _landing_rows").fetchall()}
        fields = [c for c in read.columns if c in landing_columns]
        self._insert_rows("_landing_rows", fields, str(index), None)
        self.con.execute(f"insert into _batch_rejects select {index}, * from _parse_rejects")
        self._add_pending({index: load})

    def _discard(self, indexes: list[int]) -> None:
        """Remove what a failed insert left in the batch tables under these file indexes."""
        if (
            indexes
            and self.con.execute(
                "select count(*) from duckdb_tables() where temporary and table_name = '_batch_rows'"
            ).fetchall()[0][0]
        ):
            for table in BATCH_TEMP_TABLES:
                self.con.execute(f"delete from {table} where _file_index in ({_csv_ints(indexes)})")

    def _add_pending(self, loads: dict[int, _FileLoad]) -> None:
        """Files whose rows are now in the batch, under their batch file index."""
        self.pending.update(loads)
        self.batch_rows += sum(load.result.rows_in for load in loads.values())

    def _settle(self, load: _FileLoad) -> None:
        """A file that never reaches a batch: its history row is written with the next flush."""
        self.settled.append(load)
        if load.result.status in FINAL_STATUSES:
            self.processed.add((self.source.name, load.checksum))

    # -- per batch ------------------------------------------------------------

    def flush(self) -> None:
        """Validate and write the batch; if that fails, write its files one at a time. Then record
        the files settled without a batch."""
        indexes = sorted(self.pending)
        if indexes:
            try:
                self._write_in_transaction(indexes)
            except Exception as exc:  # noqa: BLE001
                log.warning(
                    "batch of %d %s files failed (%s); retrying file by file",
                    len(indexes),
                    self.source.name,
                    type(exc).__name__,
                )
                for index in indexes if len(indexes) > 1 else []:
                    try:
                        self._write_in_transaction([index])
                    except Exception as file_exc:  # noqa: BLE001
                        self._fail(self.pending[index], file_exc)
                if len(indexes) == 1:
                    self._fail(self.pending[indexes[0]], exc)
            for load in self.pending.values():
                _logged(load.result)
        if self.settled:
            self._record_history(self.settled)
            for load in self.settled:
                _logged(load.result)
        self.pending.clear()
        self.settled.clear()
        self.next_index = 0
        self.batch_rows = 0
        _drop(self.con, BATCH_TEMP_TABLES)

    def _fail(self, load: _FileLoad, exc: Exception) -> None:
        result = load.result
        result.status = "failed"
        result.rows_in = result.rows_loaded = result.rows_rejected = result.fields_nulled = 0
        result.message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        self._record_history([load])

    def _write_in_transaction(self, indexes: list[int]) -> None:
        self.con.execute("begin transaction")
        try:
            self._write_batch(indexes)
            self._record_history([self.pending[index] for index in indexes])
            self.con.execute("commit")
        except Exception:
            self.con.execute("rollback")
            raise
        for index in indexes:
            self.processed.add((self.source.name, self.pending[index].checksum))

    def _write_batch(self, indexes: list[int]) -> None:
        """Write the batch's validated rows to raw, quarantine and field issues; count per file.

        Each file's load id, path and load time are looked up by file index in lists passed as
        parameters: a join would cost more and lose the rows' order (raw keeps file order)."""
        con, source = self.con, self.source
        # The whole batch needs no filter; a retried file does.
        selected = "" if indexes == sorted(self.pending) else f"and _file_index in ({_csv_ints(indexes)})"
        files = [self.pending.get(index) for index in range(self.next_index)]
        lineage = [
            [load.result.load_id if load else None for load in files],
            [load.result.file_path if load else None for load in files],
            [load.started_at if load else None for load in files],
        ]
        load_id, file_path, loaded_at = "$1[_file_index + 1]", "$2[_file_index + 1]", "$3[_file_index + 1]"
        targets = ", ".join(quote_ident(c) for c in source.column_names)
        parsed = ", ".join(quote_ident("__" + c) for c in source.column_names)
        con.execute(
            f"""
            insert into raw.{source.name} ({targets}, _load_id, _source_file, _record_number, _loaded_at)
            select {parsed}, {load_id}, {file_path}, _record_number, {loaded_at}
            from _batch_rows
            where _reject_reason is null {selected}
            """,
            lineage,
        )
        con.execute(
            f"""
            insert into audit.quarantine
            select {load_id}, $4, {file_path}, _record_number, _line_number, _reject_reason, _raw_content, {loaded_at}
            from _batch_rows
            where _reject_reason is not null {selected}
            union all
            select {load_id}, $4, {file_path}, _record_number, _line_number, reason, raw_content, {loaded_at}
            from _batch_rejects
            where true {selected}
            """,
            [*lineage, source.name],
        )
        con.execute(
            f"""
            insert into audit.field_issues
            select {load_id}, $3, {file_path}, _record_number, issue.column_name, issue.raw_value, issue.reason
            from (select _file_index, _record_number, unnest(_field_issues) as issue
                  from _batch_rows
                  where _reject_reason is null and _field_issues is not null {selected})
            """,
            [*lineage[:2], source.name],
        )
        counts = con.execute(
            f"""
            with rows as (
                select _file_index,
                    count(*) filter (where _reject_reason is null) as loaded,
                    count(*) filter (where _reject_reason is not null) as rejected,
                    coalesce(sum(len(_field_issues)) filter (where _reject_reason is null), 0) as nulled
                from _batch_rows where true {selected} group by _file_index
            ),
            parse as (
                select _file_index, count(*) as rejected from _batch_rejects
                where true {selected} group by _file_index
            )
            select coalesce(rows._file_index, parse._file_index), coalesce(loaded, 0),
                   coalesce(rows.rejected, 0) + coalesce(parse.rejected, 0), coalesce(nulled, 0)
            from rows full join parse using (_file_index)
            """
        ).fetchall()
        for index, loaded, rejected, nulled in counts:
            result = self.pending[index].result
            result.rows_loaded, result.rows_rejected, result.fields_nulled = int(loaded), int(rejected), int(nulled)
            result.status = "loaded_with_rejects" if rejected else "loaded"
            result.message = "; ".join(self.pending[index].notes)

    def _record_history(self, loads: list[_FileLoad]) -> None:
        """One load-history row per file, in one statement."""
        results = [load.result for load in loads]
        text, whole = pa.string(), pa.int64()
        moment = pa.timestamp("us", tz="UTC")
        history = pa.table(
            {
                "load_id": pa.array([r.load_id for r in results], whole),
                "run_id": pa.array([self.run_id] * len(loads), text),
                "source": pa.array([r.source for r in results], text),
                "file_path": pa.array([r.file_path for r in results], text),
                "file_format": pa.array([load.fmt for load in loads], text),
                "file_size_bytes": pa.array([load.size for load in loads], whole),
                "file_checksum": pa.array([load.checksum for load in loads], text),
                "encoding": pa.array([load.encoding for load in loads], text),
                "status": pa.array([r.status for r in results], text),
                "rows_in": pa.array([r.rows_in for r in results], whole),
                "rows_loaded": pa.array([r.rows_loaded for r in results], whole),
                "rows_rejected": pa.array([r.rows_rejected for r in results], whole),
                "fields_nulled": pa.array([r.fields_nulled for r in results], whole),
                "message": pa.array([r.message for r in results], text),
                "started_at": pa.array([load.started_at for load in loads], moment),
                "finished_at": pa.array([datetime.now(UTC)] * len(loads), moment),
                "file_modified_ns": pa.array([load.modified_ns for load in loads], whole),
            }
        )
        _insert_arrow(self.con, "audit.load_history", history)


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
        names = sources or list(contract.sources)
        files = {name: discover_files(landing_dir, contract.sources[name], contract, settle_seconds) for name in names}
        # A file loaded before that keeps its path, size and modification time is not read
        # again: checksumming the whole landing history every run took most of a daily run's
        # ingestion at 1,000,000 customers (19 GB). A rewritten file has a new time: checksummed.
        stats = processed_file_stats(con)

        def unchanged(name: str, path: Path) -> bool:
            stat = path.stat()
            return (name, path.relative_to(landing_dir).as_posix(), stat.st_size, stat.st_mtime_ns) in stats

        changed = {name: [path for path in paths if not unchanged(name, path)] for name, paths in files.items()}
        # Hashing runs in threads ahead of the loading (it releases the GIL), so the next
        # sources' checksums are ready when their turn comes.
        pool = ThreadPoolExecutor(FINGERPRINT_THREADS)
        try:
            fingerprints = {
                path: pool.submit(fingerprint_file, contract, path) for paths in changed.values() for path in paths
            }
            for name in names:
                loader = SourceLoader(
                    con, contract, contract.sources[name], landing_dir, report.run_id, processed, fingerprints
                )
                results = {result.file_path: result for result in loader.load(changed[name])}
                for path in files[name]:
                    rel = path.relative_to(landing_dir).as_posix()
                    report.files.append(results.get(rel) or FileResult(name, rel, "skipped", message=UNCHANGED))
        finally:
            pool.shutdown(cancel_futures=True)  # a failed run does not hash the files it will not load
    finally:
        if own:
            con.close()
    return report
