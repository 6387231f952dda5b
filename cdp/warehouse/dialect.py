"""The few pieces of SQL that DuckDB and Spark spell differently, for the Python stages.

Everything else the stages send to the warehouse reads the same on both engines. Each
function takes the ``Warehouse.engine`` ("duckdb" or "spark") and says why the engines
differ, as the dbt project's dispatch macros do (dbt_project/macros/cross_database.sql).
"""

from __future__ import annotations

DUCKDB, SPARK = "duckdb", "spark"


def quote_identifier(name: str, engine: str = DUCKDB) -> str:
    """A table or column name: Spark quotes with backticks, DuckDB with double quotes."""
    if engine == SPARK:
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


def string_literal(value: str, engine: str = DUCKDB) -> str:
    """A SQL string literal. Spark reads backslash escapes in literals and joins adjacent
    literals ('a''b' is 'ab'), so there backslashes and quotes are escaped with a backslash
    (as dbt's ``spark__sql_string``); DuckDB doubles the quote."""
    if engine == SPARK:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + value.replace("'", "''") + "'"


def sha256_hex(expression: str, engine: str = DUCKDB) -> str:
    """Lower-case hex SHA-256 of a text expression: DuckDB's ``sha256``, Spark's ``sha2(x, 256)``
    (macro identifier_sha256)."""
    return f"sha2({expression}, 256)" if engine == SPARK else f"sha256({expression})"


def regexp_replace(expression: str, pattern: str, replacement: str, engine: str = DUCKDB,
                   every: bool = True) -> str:
    """Spark's regexp_replace replaces every match; DuckDB's the first unless told 'g'."""
    arguments = f"{expression}, {string_literal(pattern, engine)}, {string_literal(replacement, engine)}"
    if engine == SPARK:
        return f"regexp_replace({arguments})"
    return f"regexp_replace({arguments}, 'g')" if every else f"regexp_replace({arguments})"


def json_valid(expression: str, engine: str = DUCKDB) -> str:
    """Whether the text is one JSON document (Spark's get_json_object alone would read a valid prefix)."""
    return f"(try_parse_json({expression}) is not null)" if engine == SPARK else f"json_valid({expression})"


def json_member(expression: str, member: str, engine: str = DUCKDB) -> str:
    """A top-level member of a JSON text, as text."""
    if engine == SPARK:
        return f"get_json_object({expression}, '$.{member}')"
    return f"json_extract_string({expression}, '$.{member}')"


def sorted_string_agg(expression: str, separator: str, engine: str = DUCKDB) -> str:
    """The group's values sorted and joined. DuckDB orders inside ``string_agg``; Spark's
    ``collect_list`` keeps no order, so the list is sorted before it is joined."""
    if engine == SPARK:
        return f"array_join(array_sort(collect_list({expression})), {string_literal(separator, engine)})"
    return f"string_agg({expression}, {string_literal(separator, engine)} order by {expression})"
