"""Read one landing file into a temporary table of text columns.

Each reader leaves two temp tables behind:
  ``_landing_rows``   one row per parsed record: the file's columns as text,
                      ``_record_number`` (1-based record in the file) and
                      ``_line_number`` (where the format has lines);
  ``_parse_rejects``  records that could not be parsed at all, with the reason
                      and the raw text.
and returns the set of column names the file has. Reading is done by DuckDB
so that large files are parsed in parallel and never pass through Python.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from cdp.ingest.validate import quote_ident, quote_literal

CSV_DELIMITERS = (",", ";", "\t", "|")
CHUNK = 1 << 20


class FileUnreadable(Exception):
    """The file cannot be read as its format at all (the reason is the message)."""


@dataclass
class FileFingerprint:
    checksum: str
    size_bytes: int
    encoding: str  # 'utf-8' or 'latin-1'


@dataclass
class ReadResult:
    columns: list[str]
    notes: list[str] = field(default_factory=list)


def _open_text_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def fingerprint(path: Path, fmt: str) -> FileFingerprint:
    """SHA-256 of the file's bytes, and whether its text is UTF-8 (else read as latin-1)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    encoding = "utf-8"
    if fmt in ("csv", "jsonl"):
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            with _open_text_bytes(path) as fh:
                while chunk := fh.read(CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "latin-1"
        except (OSError, EOFError) as exc:
            raise FileUnreadable(f"cannot read file: {exc}") from exc
    return FileFingerprint(digest.hexdigest(), path.stat().st_size, encoding)


def _rejects_options(tag: str) -> str:
    return f"store_rejects = true, rejects_table = '_rej_err_{tag}', rejects_scan = '_rej_scan_{tag}'"


def _collect_parse_rejects(con: duckdb.DuckDBPyConnection, tag: str, line_offset: int) -> None:
    """Move DuckDB's reject tables into ``_parse_rejects`` (one row per bad record)."""
    con.execute(
        f"""
        create or replace temp table _parse_rejects as
        select
            cast(line as bigint) - {line_offset} as _record_number,
            cast(line as bigint) as _line_number,
            string_agg(distinct error_type || ': ' || error_message, '; ') as reason,
            any_value(csv_line) as raw_content
        from _rej_err_{tag}
        group by line
        """
    )
    con.execute(f"drop table if exists _rej_err_{tag}")
    con.execute(f"drop table if exists _rej_scan_{tag}")


def _number_records(con: duckdb.DuckDBPyConnection, table: str, target: str, line_offset: int) -> None:
    """Give the rows of ``table`` their record number in the file, counting rejected records too.

    DuckDB returns parsed rows in file order (``_ordinal``); records it
    rejected leave gaps, so the n-th parsed row is the n-th record not rejected.
    """
    rejected = con.execute("select count(*) from _parse_rejects").fetchall()[0][0]
    if rejected == 0:
        number, source = "_ordinal", table
        columns = "* exclude (_ordinal)"
    else:
        con.execute(
            f"""
            create or replace temp table _record_positions as
            with all_records as (
                select unnest(generate_series(1, (select count(*) from {table})
                                                + (select count(*) from _parse_rejects))) as record_number
            )
            select record_number, row_number() over (order by record_number) as ordinal
            from all_records
            where record_number not in (select _record_number from _parse_rejects)
            """
        )
        number, source = "p.record_number", f"{table} r join _record_positions p on p.ordinal = r._ordinal"
        columns = "r.* exclude (_ordinal)"
    con.execute(
        f"""
        create or replace temp table {target} as
        select {columns}, {number} as _record_number, {number} + {line_offset} as _line_number
        from {source}
        """
    )
    if table != target:
        con.execute(f"drop table if exists {table}")
    con.execute("drop table if exists _record_positions")


def _read_header(path: Path, encoding: str) -> tuple[list[str], str] | None:
    with _open_text_bytes(path) as fh:
        first = fh.readline()
    text = first.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if not text.strip():
        return None
    delimiter = max(CSV_DELIMITERS, key=text.count)
    names = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    return names, delimiter


def _unique_names(names: list[str]) -> tuple[list[str], list[str]]:
    seen: dict[str, int] = {}
    result, notes = [], []
    for position, name in enumerate(names, start=1):
        clean = name.strip().lower() or f"column_{position}"
        if clean in seen:
            seen[clean] += 1
            notes.append(f"duplicate column {clean!r}: only its first occurrence is used")
            clean = f"{clean}__duplicate_{seen[clean]}"
        else:
            seen[clean] = 1
        result.append(clean)
    return result, notes


def read_csv_file(con: duckdb.DuckDBPyConnection, path: Path, encoding: str, tag: str) -> ReadResult | None:
    header = _read_header(path, encoding)
    if header is None:
        return None
    names, delimiter = header
    names, notes = _unique_names(names)
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r} detected instead of ','")
    if encoding != "utf-8":
        notes.append(f"file is not UTF-8; decoded as {encoding}")
    try:
        _duckdb_read_csv(con, path, names, delimiter, encoding, tag)
    except duckdb.InvalidInputException:
        # DuckDB's strict parser gives up on some broken files (e.g. stray carriage
        # returns); Python's csv module is slower but can account for every record.
        for name in (f"_rej_err_{tag}", f"_rej_scan_{tag}", "_read_rows"):
            con.execute(f"drop table if exists {name}")
        _python_read_csv(con, path, names, delimiter, encoding)
        notes.append("parsed with the fallback CSV reader")
    _number_records(con, "_read_rows", "_landing_rows", line_offset=1)
    return ReadResult(names, notes)


def _duckdb_read_csv(con, path: Path, names: list[str], delimiter: str, encoding: str, tag: str) -> None:
    columns = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"
    con.execute(
        f"""
        create or replace temp table _read_rows as
        select row_number() over () as _ordinal, *
        from read_csv({quote_literal(str(path))},
            auto_detect = false, header = true, columns = {columns},
            delim = {quote_literal(delimiter)}, quote = '"', escape = '"',
            encoding = {quote_literal(encoding)}, max_line_size = 10000000,
            strict_mode = true, {_rejects_options(tag)})
        """
    )
    # Reject line numbers count the header as line 1.
    _collect_parse_rejects(con, tag, line_offset=1)


def _python_read_csv(con, path: Path, names: list[str], delimiter: str, encoding: str) -> None:
    """Parse with the csv module: records with the wrong number of fields become parse rejects."""
    good: dict[str, list] = {"_ordinal": [], **{n: [] for n in names}}
    rejects: dict[str, list] = {"_record_number": [], "_line_number": [], "reason": [], "raw_content": []}
    with _open_text_bytes(path) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=False)
        next(reader, None)
        record = 0
        try:
            for fields in reader:
                if not fields:
                    continue
                record += 1
                if len(fields) == len(names):
                    good["_ordinal"].append(len(good["_ordinal"]) + 1)
                    for name, value in zip(names, fields, strict=True):
                        good[name].append(value if value != "" else None)
                else:
                    rejects["_record_number"].append(record)
                    rejects["_line_number"].append(record + 1)
                    rejects["reason"].append(f"wrong number of fields: expected {len(names)}, found {len(fields)}")
                    rejects["raw_content"].append(delimiter.join(fields))
        except csv.Error as exc:
            record += 1
            rejects["_record_number"].append(record)
            rejects["_line_number"].append(record + 1)
            rejects["reason"].append(f"unparseable CSV from here to the end of the file: {exc}")
            rejects["raw_content"].append(None)
    good_frame = pd.DataFrame(good).astype({n: "object" for n in names})
    rejects_frame = pd.DataFrame(rejects)
    con.register("_good_frame", good_frame)
    con.register("_rejects_frame", rejects_frame)
    varchar = ", ".join(f"cast({quote_ident(n)} as varchar) as {quote_ident(n)}" for n in names)
    con.execute(
        "create or replace temp table _read_rows as "
        f"select cast(_ordinal as bigint) as _ordinal, {varchar} from _good_frame"
    )
    con.execute(
        "create or replace temp table _parse_rejects as select cast(_record_number as bigint) as _record_number, "
        "cast(_line_number as bigint) as _line_number, cast(reason as varchar) as reason, "
        "cast(raw_content as varchar) as raw_content from _rejects_frame"
    )
    con.unregister("_good_frame")
    con.unregister("_rejects_frame")


def read_jsonl_file(
    con: duckdb.DuckDBPyConnection, path: Path, encoding: str, tag: str, wanted: list[str]
) -> ReadResult | None:
    # One text column per line: a raw 0x01 byte never occurs in valid JSON.
    con.execute(
        f"""
        create or replace temp table _json_lines as
        select row_number() over () as _ordinal, line
        from read_csv({quote_literal(str(path))},
            auto_detect = false, header = false, columns = {{'line': 'VARCHAR'}},
            delim = '\x01', quote = '', escape = '', encoding = {quote_literal(encoding)},
            max_line_size = 10000000, strict_mode = true, {_rejects_options(tag)})
        """
    )
    _collect_parse_rejects(con, tag, line_offset=0)
    _number_records(con, "_json_lines", "_numbered_lines", line_offset=0)
    con.execute(
        """
        create or replace temp table _json_lines as
        select _record_number, _line_number, line,
            case when not json_valid(line) then 'invalid JSON'
                 when json_type(cast(line as json)) <> 'OBJECT' then 'JSON value is not an object'
            end as problem
        from _numbered_lines
        """
    )
    total = con.execute("select count(*) from _json_lines").fetchall()[0][0]
    if total == 0 and con.execute("select count(*) from _parse_rejects").fetchall()[0][0] == 0:
        return None
    keys = {
        row[0]
        for row in con.execute(
            "select distinct unnest(json_keys(cast(line as json))) from _json_lines where problem is null"
        ).fetchall()
    }
    present = [c for c in wanted if c in keys]
    # One parse per line: json_transform to a struct of text fields keeps
    # nested objects and arrays as JSON text and numbers as their literal.
    structure = json.dumps({c: "VARCHAR" for c in present})
    fields = "".join(f", parsed.{quote_ident(c)} as {quote_ident(c)}" for c in present)
    con.execute(
        f"""
        create or replace temp table _read_rows as
        select _record_number, _line_number{fields}
        from (
            select _record_number, _line_number, json_transform(line, {quote_literal(structure)}) as parsed
            from _json_lines where problem is null
        )
        """
    )
    con.execute(
        """
        insert into _parse_rejects
        select _record_number, _line_number, problem, line from _json_lines where problem is not null
        """
    )
    con.execute("alter table _read_rows rename to _landing_rows")
    con.execute("drop table if exists _numbered_lines")
    con.execute("drop table if exists _json_lines")
    notes = [f"file is not UTF-8; decoded as {encoding}"] if encoding != "utf-8" else []
    extra = sorted(keys - set(wanted))
    return ReadResult(present + extra, notes)


def read_parquet_file(con: duckdb.DuckDBPyConnection, path: Path, tag: str) -> ReadResult | None:
    try:
        schema = con.execute(f"describe select * from read_parquet({quote_literal(str(path))})").fetchall()
    except duckdb.Error as exc:
        raise FileUnreadable(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc
    names, notes = _unique_names([row[0] for row in schema])
    casts = []
    for (original, col_type, *_), name in zip(schema, names, strict=True):
        nested = col_type.startswith(("STRUCT", "MAP")) or col_type.endswith("]") or col_type == "JSON"
        expr = f"to_json({quote_ident(original)})" if nested else quote_ident(original)
        casts.append(f"cast({expr} as varchar) as {quote_ident(name)}")
    con.execute(
        f"""
        create or replace temp table _landing_rows as
        select {", ".join(casts)}, file_row_number + 1 as _record_number, cast(null as bigint) as _line_number
        from read_parquet({quote_literal(str(path))}, file_row_number = true)
        """
    )
    con.execute(
        "create or replace temp table _parse_rejects "
        "(_record_number bigint, _line_number bigint, reason varchar, raw_content varchar)"
    )
    if con.execute("select count(*) from _landing_rows").fetchall()[0][0] == 0:
        return None
    return ReadResult(names, notes)
