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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from cdp.ingest.validate import quote_ident, quote_literal

CSV_DELIMITERS = (",", ";", "\t", "|")
# One line can break several rules; its reasons in a fixed order, so a re-read gives the same text.
_ERROR = "error_type || ': ' || error_message"
REJECT_REASON = f"string_agg(distinct {_ERROR}, '; ' order by {_ERROR})"
CHUNK = 1 << 20


class FileUnreadable(Exception):
    """The file cannot be read as its format at all (the reason is the message)."""


@dataclass
class FileFingerprint:
    checksum: str
    size_bytes: int
    encoding: str  # 'utf-8' or 'latin-1'
    # '"' bytes of an uncompressed CSV file (None otherwise): an odd count means a quote left open
    quote_count: int | None = None
    # lines of an uncompressed CSV file ('\n'-ended, and a last one without it; None otherwise)
    line_count: int | None = None


@dataclass
class ReadResult:
    columns: list[str]
    notes: list[str] = field(default_factory=list)


def _open_text_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def fingerprint(path: Path, fmt: str) -> FileFingerprint:
    """SHA-256 of the file's bytes, and whether its text is UTF-8 (else read as latin-1).

    One pass over an uncompressed file serves both; ASCII chunks (most landing data) skip the decoder.
    """
    digest = hashlib.sha256()
    check_text = fmt in ("csv", "jsonl")
    compressed = path.name.lower().endswith(".gz")
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoding = "utf-8"
    # CSV only: the grouped reader's check for a record DuckDB dropped (cdp/ingest/load.py)
    quotes = lines = 0 if fmt == "csv" and not compressed else None
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if quotes is not None:
                quotes += chunk.count(b'"')
                lines += chunk.count(b"\n")
                last = chunk[-1:]
            if check_text and not compressed and encoding == "utf-8":
                encoding = _decode_utf8(decoder, chunk)
    if check_text:
        try:
            if compressed:
                with _open_text_bytes(path) as fh:
                    while encoding == "utf-8" and (chunk := fh.read(CHUNK)):
                        encoding = _decode_utf8(decoder, chunk)
            if encoding == "utf-8":
                encoding = _decode_utf8(decoder, b"", final=True)
        except (OSError, EOFError) as exc:
            raise FileUnreadable(f"cannot read file: {exc}") from exc
    if lines is not None and last not in (b"", b"\n"):
        lines += 1
    return FileFingerprint(digest.hexdigest(), path.stat().st_size, encoding, quotes, lines)


def _decode_utf8(decoder, chunk: bytes, final: bool = False) -> str:
    """Feed ``chunk`` to the UTF-8 decoder: 'utf-8' while the text is valid so far, else 'latin-1'."""
    if chunk.isascii() and not decoder.getstate()[0] and not final:
        return "utf-8"
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


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
            {REJECT_REASON} as reason,
            min(csv_line) as raw_content
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
    # a UTF-8 BOM before text that is not UTF-8 after all (Latin-1 saved by a tool that adds one)
    text = first.removeprefix(codecs.BOM_UTF8).decode(encoding, errors="replace").lstrip("\ufeff")
    # lines ended by a carriage return alone (classic Mac, some Excel exports) reach here as one
    text = (text.splitlines() or [""])[0]
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


@dataclass
class CsvHeader:
    names: list[str]  # cleaned: lower-case, unique
    delimiter: str
    notes: list[str]


def csv_header(path: Path, encoding: str) -> CsvHeader | None:
    """The file's column names and delimiter from its first line (None if that line is empty)."""
    header = _read_header(path, encoding)
    if header is None:
        return None
    names, delimiter = header
    names, notes = _unique_names(names)
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r} detected instead of ','")
    if encoding != "utf-8":
        notes.append(f"file is not UTF-8; decoded as {encoding}")
    return CsvHeader(names, delimiter, notes)


def read_csv_file(con: duckdb.DuckDBPyConnection, path: Path, encoding: str, tag: str) -> ReadResult | None:
    header = csv_header(path, encoding)
    if header is None:
        return None
    names, delimiter, notes = header.names, header.delimiter, list(header.notes)
    try:
        if _read_csv_isolating_open_quotes(con, path, names, delimiter, encoding, tag):
            notes.append("a quote left open swallowed the lines after it; they were read on their own")
    except duckdb.InvalidInputException:
        # DuckDB's strict parser gives up on some broken files (e.g. stray carriage
        # returns); Python's csv module is slower but can account for every record.
        for name in (f"_rej_err_{tag}", f"_rej_scan_{tag}", "_read_rows"):
            con.execute(f"drop table if exists {name}")
        _python_read_csv(con, path, names, delimiter, encoding)
        notes.append("parsed with the fallback CSV reader")
    _number_records(con, "_read_rows", "_landing_rows", line_offset=1)
    return ReadResult(names, notes)


def _csv_options(names: list[str], delimiter: str, encoding: str, tag: str) -> str:
    columns = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names) + "}"
    return (
        f"auto_detect = false, header = true, columns = {columns}, "
        f"delim = {quote_literal(delimiter)}, quote = '\"', escape = '\"', "
        f"encoding = {quote_literal(encoding)}, max_line_size = 10000000, "
        f"strict_mode = true, {_rejects_options(tag)}"
    )


def _duckdb_read_csv(con, path: Path, names: list[str], delimiter: str, encoding: str, tag: str) -> None:
    con.execute(
        f"""
        create or replace temp table _read_rows as
        select row_number() over () as _ordinal, *
        from read_csv({quote_literal(str(path))}, {_csv_options(names, delimiter, encoding, tag)})
        """
    )
    # Reject line numbers count the header as line 1.
    _collect_parse_rejects(con, tag, line_offset=1)


# A quote-related reject that spans several lines: a quote opened on its first line never closed there.
_OPEN_QUOTE_SPANS = """
    select _line_number from _parse_rejects
    where reason like '%UNQUOTED VALUE%'
      and regexp_matches(rtrim(raw_content, chr(13) || chr(10)), '[' || chr(13) || chr(10) || ']')
    order by _line_number
"""
OPEN_QUOTE_REASON = "UNQUOTED VALUE: Value with unterminated quote found; the lines after it were read on their own"


def _read_csv_isolating_open_quotes(
    con: duckdb.DuckDBPyConnection, path: Path, names: list[str], delimiter: str, encoding: str, tag: str
) -> int:
    """Read a CSV file where a quote left open mid-file does not take the rest of the file with it.

    DuckDB makes everything from an unclosed quote to the next quote (or to the end of the file) one
    rejected record, so good lines after it would be lost inside that record. The line that opened
    the quote is the broken record: in a temporary copy it is replaced by a line DuckDB rejects on
    its own (two fields too many, none empty: one trailing empty field is tolerated), the copy is
    read again until no reject spans lines, and the reject gets the original line back. Returns how
    many lines were isolated.
    """
    _duckdb_read_csv(con, path, names, delimiter, encoding, tag)
    isolated: dict[int, bytes] = {}
    lines: list[bytes] | None = None
    while spans := [line for (line,) in con.execute(_OPEN_QUOTE_SPANS).fetchall() if line not in isolated]:
        if lines is None:
            with _open_text_bytes(path) as fh:
                lines = fh.read().splitlines(keepends=True)
        for line in spans:
            isolated[line] = lines[line - 1]
        placeholder = delimiter.join(["-"] * (len(names) + 2)).encode(encoding)
        with tempfile.TemporaryDirectory(prefix="cdp-open-quote-") as folder:
            copy = Path(folder) / "isolated.csv"
            with open(copy, "wb") as out:
                for number, text in enumerate(lines, start=1):
                    if number in isolated:
                        ending = text[len(text.rstrip(b"\r\n")):] or b"\n"
                        text = placeholder + ending
                    out.write(text)
            _duckdb_read_csv(con, copy, names, delimiter, encoding, tag)
    if isolated:
        originals = pd.DataFrame({
            "line": list(isolated),
            "content": [text.rstrip(b"\r\n").decode(encoding, errors="replace") for text in isolated.values()],
        })
        con.register("_isolated_lines", originals)
        con.execute(
            f"""
            update _parse_rejects set reason = {quote_literal(OPEN_QUOTE_REASON)}, raw_content = i.content
            from _isolated_lines i where _parse_rejects._line_number = i.line
            """
        )
        con.unregister("_isolated_lines")
    return len(isolated)


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


def _jsonl_options(encoding: str, tag: str) -> str:
    # One text column per line: a raw 0x01 byte never occurs in valid JSON.
    return (
        "auto_detect = false, header = false, columns = {'line': 'VARCHAR'}, "
        f"delim = '\x01', quote = '', escape = '', encoding = {quote_literal(encoding)}, "
        f"max_line_size = 10000000, strict_mode = true, {_rejects_options(tag)}"
    )


def read_jsonl_file(
    con: duckdb.DuckDBPyConnection, path: Path, encoding: str, tag: str, wanted: list[str]
) -> ReadResult | None:
    con.execute(
        f"""
        create or replace temp table _json_lines as
        select row_number() over () as _ordinal, line
        from read_csv({quote_literal(str(path))}, {_jsonl_options(encoding, tag)})
        """
    )
    _collect_parse_rejects(con, tag, line_offset=0)
    _number_records(con, "_json_lines", "_numbered_lines", line_offset=0)
    con.execute(
        """
        create or replace temp table _json_lines as
        select _record_number, _line_number, line,
            case when line is null or trim(line) = '' then 'blank line'
                 when not json_valid(line) then 'invalid JSON'
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
    # no contract key on any line (or no object at all): nothing to parse, and json_transform
    # refuses an empty structure
    parsed = f"json_transform(line, {quote_literal(structure)})" if present else "null"
    con.execute(
        f"""
        create or replace temp table _read_rows as
        select _record_number, _line_number{fields}
        from (
            select _record_number, _line_number, {parsed} as parsed
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


def _parquet_text_casts(schema: list[tuple]) -> tuple[list[str], list[str], list[str]]:
    """Cleaned column names, their notes, and each column cast to text (nested values as JSON text)."""
    names, notes = _unique_names([row[0] for row in schema])
    casts = []
    for (original, col_type, *_), name in zip(schema, names, strict=True):
        nested = col_type.startswith(("STRUCT", "MAP")) or col_type.endswith("]") or col_type == "JSON"
        expr = f"to_json({quote_ident(original)})" if nested else quote_ident(original)
        casts.append(f"cast({expr} as varchar) as {quote_ident(name)}")
    return names, notes, casts


def read_parquet_file(con: duckdb.DuckDBPyConnection, path: Path, tag: str) -> ReadResult | None:
    try:
        schema = con.execute(f"describe select * from read_parquet({quote_literal(str(path))})").fetchall()
    except duckdb.Error as exc:
        raise FileUnreadable(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc
    names, notes, casts = _parquet_text_casts(schema)
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


# -- several files of one layout in one scan -------------------------------------------------
#
# Reading files one by one costs a dozen statements each (about 40 ms a file); files of a
# source that share a format, encoding and header (or Parquet schema) are read together in
# one DuckDB scan instead. ``file_index`` (the file's place in the list) keeps rows and
# rejects apart, and records are numbered per file exactly as the one-file readers do.

GROUP_TEMP_TABLES = ("_group_scan", "_group_offsets", "_group_gaps", "_group_numbers", "_group_rejects")

# Names a file's own column must not have in a group scan: DuckDB's virtual column and the scan's own.
GROUP_RESERVED_COLUMNS = ("file_index", "_file_position", "_ordinal", "_shift")


@dataclass
class GroupRead:
    """Files read together. ``relation`` is SQL yielding one row per record that parsed:
    ``_file_position`` (the file's place in the list), the columns as text, ``_record_number``
    and ``_line_number``; temp table ``_group_rejects`` (same position and numbers, ``reason``,
    ``raw_content``) holds the records that did not."""

    relation: str
    fields: list[str]  # the text columns ``relation`` has
    columns: dict[int, list[str]]  # the columns each file has, by position
    rows_in: dict[int, int]  # records per file, parsed or rejected
    notes: list[str] = field(default_factory=list)


def drop_group_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in GROUP_TEMP_TABLES:
        con.execute(f"drop table if exists {name}")


def _path_list(paths: list[Path]) -> str:
    return "[" + ", ".join(quote_literal(str(p)) for p in paths) + "]"


def _collect_group_rejects(con: duckdb.DuckDBPyConnection, tag: str, line_offset: int) -> None:
    """DuckDB's reject tables of a multi-file scan as ``_group_rejects`` (``file_id`` is the list position)."""
    con.execute(
        f"""
        create or replace temp table _group_rejects as
        select
            cast(file_id as integer) as _file_position,
            cast(line as bigint) - {line_offset} as _record_number,
            cast(line as bigint) as _line_number,
            {REJECT_REASON} as reason,
            min(csv_line) as raw_content
        from _rej_err_{tag}
        group by file_id, line
        """
    )
    con.execute(f"drop table if exists _rej_err_{tag}")
    con.execute(f"drop table if exists _rej_scan_{tag}")


def _number_group_records(con: duckdb.DuckDBPyConnection, line_offset: int) -> str:
    """SQL numbering the records of ``_group_scan`` (scan order in ``_ordinal``) per file.

    The k-th parsed row of a file is its k-th record not rejected by DuckDB: it follows
    every reject j (1-based, at record q_j) with q_j - j < k, so its record number is k
    plus the number of those (``_shift``), found by an as-of join on q_j - j. The join
    runs on row numbers alone, and only rows after a reject are updated, so the rows'
    text is never sorted and the relation keeps scan order (no join left in it).
    """
    con.execute(
        """
        create or replace temp table _group_offsets as
        select _file_position, min(_ordinal) as _first_ordinal, count(*) as _rows
        from _group_scan group by _file_position
        """
    )
    con.execute(
        """
        create or replace temp table _group_gaps as
        select _file_position, _good_before, max(_rank) as _rejects_before
        from (
            select _file_position,
                _record_number - row_number() over (partition by _file_position order by _record_number)
                    as _good_before,
                row_number() over (partition by _file_position order by _record_number) as _rank
            from _group_rejects
        )
        group by _file_position, _good_before
        """
    )
    con.execute(
        """
        create or replace temp table _group_numbers as
        select s._ordinal, g._rejects_before as _shift
        from (
            select r._file_position, r._ordinal, r._ordinal - o._first_ordinal + 1 as _position
            from _group_scan r join _group_offsets o using (_file_position)
            where r._file_position in (select _file_position from _group_gaps)
        ) s
        asof join _group_gaps g on s._file_position = g._file_position and s._position > g._good_before
        """
    )
    con.execute(
        "update _group_scan set _shift = n._shift from _group_numbers n where _group_scan._ordinal = n._ordinal"
    )
    first = dict(con.execute("select _file_position, _first_ordinal from _group_offsets").fetchall())
    firsts = "[" + ", ".join(str(first.get(position, 0)) for position in range(max(first, default=-1) + 1)) + "]"
    record = f"(_ordinal - {firsts}[_file_position + 1] + 1 + _shift)"
    return f"""(
        select * exclude (_ordinal, _shift), {record} as _record_number, {record} + {line_offset} as _line_number
        from _group_scan
    )"""


def _rows_in(con: duckdb.DuckDBPyConnection, count: int) -> dict[int, int]:
    """Records per file position: parsed rows plus rejects."""
    found = dict(
        con.execute(
            """
            select _file_position, sum(n) from (
                select _file_position, _rows as n from _group_offsets
                union all
                select _file_position, count(*) from _group_rejects group by _file_position
            ) group by _file_position
            """
        ).fetchall()
    )
    return {position: int(found.get(position, 0)) for position in range(count)}


def read_csv_files(
    con: duckdb.DuckDBPyConnection, paths: list[Path], header: CsvHeader, encoding: str, tag: str
) -> GroupRead:
    """CSV files sharing one header, delimiter and encoding, in one scan (raises if DuckDB cannot parse
    one of them; the caller then reads them one by one)."""
    options = _csv_options(header.names, header.delimiter, encoding, tag)
    con.execute(
        f"""
        create or replace temp table _group_scan as
        select cast(file_index as integer) as _file_position, row_number() over () as _ordinal,
            cast(0 as bigint) as _shift, *
        from read_csv({_path_list(paths)}, {options})
        """
    )
    _collect_group_rejects(con, tag, line_offset=1)
    relation = _number_group_records(con, line_offset=1)
    columns = {position: list(header.names) for position in range(len(paths))}
    return GroupRead(relation, list(header.names), columns, _rows_in(con, len(paths)), list(header.notes))


def read_jsonl_files(
    con: duckdb.DuckDBPyConnection, paths: list[Path], encoding: str, tag: str, wanted: list[str]
) -> GroupRead:
    """JSON-lines files of one encoding in one scan. Lines that are not a JSON object become
    rejects; every contract column is extracted in one parse per line (absent keys are NULL)."""
    # A valid JSON text that starts with '{' is an object: only the other lines need json_type's parse.
    con.execute(
        f"""
        create or replace temp table _group_scan as
        select cast(file_index as integer) as _file_position, row_number() over () as _ordinal,
            cast(0 as bigint) as _shift, line,
            case when line is null or trim(line) = '' then 'blank line'
                 when not json_valid(line) then 'invalid JSON'
                 when not starts_with(line, '{{') and json_type(line) <> 'OBJECT' then 'JSON value is not an object'
            end as _problem
        from read_csv({_path_list(paths)}, {_jsonl_options(encoding, tag)})
        """
    )
    _collect_group_rejects(con, tag, line_offset=0)
    numbered = _number_group_records(con, line_offset=0)
    rows_in = _rows_in(con, len(paths))
    con.execute(
        f"""
        insert into _group_rejects
        select _file_position, _record_number, _line_number, _problem, line
        from {numbered} where _problem is not null
        """
    )
    keys: dict[int, set[str]] = {position: set() for position in range(len(paths))}
    for position, key in con.execute(
        "select distinct _file_position, unnest(json_keys(line)) from _group_scan where _problem is null"
    ).fetchall():
        keys[position].add(key)
    # json_transform to a struct of text fields keeps nested objects and arrays as JSON text
    # and numbers as their literal, as the one-file reader does.
    structure = json.dumps({c: "VARCHAR" for c in wanted})
    fields = ", ".join(f"_parsed.{quote_ident(c)} as {quote_ident(c)}" for c in wanted)
    relation = f"""(
        select _file_position, {fields}, _record_number, _line_number
        from (
            select _file_position, _record_number, _line_number,
                json_transform(line, {quote_literal(structure)}) as _parsed
            from {numbered} where _problem is null
        )
    )"""
    columns = {
        position: [c for c in wanted if c in found] + sorted(found - set(wanted)) for position, found in keys.items()
    }
    notes = [f"file is not UTF-8; decoded as {encoding}"] if encoding != "utf-8" else []
    return GroupRead(relation, list(wanted), columns, rows_in, notes)


def parquet_layouts(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> dict[Path, tuple]:
    """Each readable Parquet file's schema (as a hashable key) from its footer; unreadable files are left out."""
    layouts: dict[Path, tuple] = {}
    try:
        schema_rows = con.execute(
            f"select file_name, name, type, converted_type, logical_type, repetition_type, num_children "
            f"from parquet_schema({_path_list(paths)})"
        ).fetchall()
    except duckdb.Error:
        # One broken file fails the whole call: probe each on its own.
        if len(paths) == 1:
            return {}
        for path in paths:
            layouts.update(parquet_layouts(con, [path]))
        return layouts
    by_name = {str(p): p for p in paths}
    columns: dict[str, list] = {}
    for file_name, *column in schema_rows:
        columns.setdefault(file_name, []).append(tuple(str(v) for v in column))
    for file_name, schema in columns.items():
        if file_name in by_name:
            layouts[by_name[file_name]] = tuple(schema)
    return layouts


def read_parquet_files(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> GroupRead:
    """Parquet files of one schema in one scan; values cast to text as the one-file reader does."""
    schema = con.execute(f"describe select * from read_parquet({quote_literal(str(paths[0]))})").fetchall()
    names, notes, casts = _parquet_text_casts(schema)
    counts = dict(con.execute(f"select file_name, num_rows from parquet_file_metadata({_path_list(paths)})").fetchall())
    con.execute(
        "create or replace temp table _group_rejects "
        "(_file_position integer, _record_number bigint, _line_number bigint, reason varchar, raw_content varchar)"
    )
    relation = f"""(
        select cast(file_index as integer) as _file_position, {", ".join(casts)},
            file_row_number + 1 as _record_number, cast(null as bigint) as _line_number
        from read_parquet({_path_list(paths)}, file_row_number = true)
    )"""
    columns = {position: list(names) for position in range(len(paths))}
    rows_in = {position: int(counts.get(str(path), 0)) for position, path in enumerate(paths)}
    return GroupRead(relation, list(names), columns, rows_in, notes)
