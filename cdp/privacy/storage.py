"""Deleted rows leave the file, not only the tables.

DuckDB frees the blocks of deleted rows but does not overwrite them: the bytes of an erased
person's rows stay in the database file until the space is reused (a checkpoint or VACUUM
does not change that). Copying the database into a new file keeps only live rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb


def compact_warehouse(path: Path | str) -> None:
    """Rewrite the warehouse file with only its live data (tables, views, sequences, macros).

    No other connection may be open: the new file replaces the old one atomically.
    """
    path = Path(path)
    copy = path.with_name(path.name + ".compacting")
    copy.unlink(missing_ok=True)
    # a checkpoint first, so nothing is left in the write-ahead log
    with duckdb.connect(str(path)) as con:
        con.execute("checkpoint")
    with duckdb.connect() as con:
        con.execute(f"attach {_literal(path)} as source_db (read_only)")
        con.execute(f"attach {_literal(copy)} as compacted_db")
        con.execute("copy from database source_db to compacted_db")
    os.replace(copy, path)


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
