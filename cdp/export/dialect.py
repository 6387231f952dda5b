"""The few pieces of the exporter's SQL that DuckDB and Spark spell differently.

Everything else the exporter sends to the warehouse reads the same on both engines; each
function here takes the ``Warehouse.engine`` and says why the engines differ.
"""

from __future__ import annotations


def string_literal(value: str, engine: str) -> str:
    """A SQL string literal. Spark reads backslash escapes in literals and joins adjacent
    literals ('a''b' is 'ab'), so there backslashes and quotes are escaped with a backslash
    (as dbt's ``spark__sql_string``); DuckDB doubles the quote."""
    if engine == "spark":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + value.replace("'", "''") + "'"


def sha256_hex(expression: str, engine: str) -> str:
    """Lower-case hex SHA-256 of a text expression: DuckDB's ``sha256``, Spark's ``sha2(x, 256)``."""
    return f"sha2({expression}, 256)" if engine == "spark" else f"sha256({expression})"


def sorted_string_agg(expression: str, separator: str, engine: str) -> str:
    """The group's values sorted and joined. DuckDB orders inside ``string_agg``; Spark's
    ``collect_list`` keeps no order, so the list is sorted before it is joined."""
    if engine == "spark":
        return f"array_join(array_sort(collect_list({expression})), {string_literal(separator, engine)})"
    return f"string_agg({expression}, {string_literal(separator, engine)} order by {expression})"
