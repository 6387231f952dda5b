"""Where erased people's rows are outside raw: every base table, by column names.

The rules (personal_data.yml) name columns, not tables, so a table someone adds later is
purged too when its columns follow the names. Conditions compare with the temporary table
``_erased_values(identifier_type, value)`` the erasure step fills. The SQL reads the same on
DuckDB and Spark but for how names are quoted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache, partial
from pathlib import Path

import yaml

from cdp.warehouse import Warehouse, as_warehouse
from cdp.warehouse.dialect import quote_identifier

RULES_PATH = Path(__file__).with_name("personal_data.yml")
ERASED_VALUES = "_erased_values"
PURGED_RAW_ROWS = "_purged_raw"


@dataclass(frozen=True)
class ColumnRules:
    delete: dict[str, tuple[str, ...]]  # identifier type -> column name patterns
    clear: dict[str, tuple[str, ...]]
    never: frozenset[str]
    types: dict[str, str]  # identifier type -> SQL type of its columns, when not text
    pairs: dict[str, tuple[str, str]]
    keep_schemas: frozenset[str]
    keep_tables: frozenset[str]
    unlink_only: dict[str, tuple[str, ...]]  # table -> columns cleared instead of deleting the row
    raw_row: tuple[str, str, str]  # (landing source, load id, record number) columns of a row per raw row

    def identifier_type(self, column: str, patterns: dict[str, tuple[str, ...]]) -> str | None:
        if column in self.never:
            return None
        return next((kind for kind, names in patterns.items() if any(fnmatchcase(column, p) for p in names)), None)


@dataclass(frozen=True)
class TablePurge:
    """What the purge does to one table: delete rows matching any condition, clear columns."""

    table: str  # schema.name, for reports
    relation: str  # quoted, for SQL
    delete_when: tuple[str, ...]
    clear: tuple[tuple[str, str], ...]  # (column, condition)


@lru_cache(maxsize=1)
def load_rules(path: Path = RULES_PATH) -> ColumnRules:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    columns = raw["identifier_columns"]
    return ColumnRules(
        delete={kind: tuple(spec.get("delete", [])) for kind, spec in columns.items()},
        clear={kind: tuple(spec.get("clear", [])) for kind, spec in columns.items() if spec.get("clear")},
        never=frozenset(name for spec in columns.values() for name in spec.get("except", [])),
        types={kind: spec["type"] for kind, spec in columns.items() if spec.get("type")},
        pairs={kind: tuple(names) for kind, names in raw["identifier_column_pairs"].items()},
        keep_schemas=frozenset(raw["keep"]["schemas"]),
        keep_tables=frozenset(raw["keep"]["tables"]),
        unlink_only={table: tuple(columns) for table, columns in raw.get("unlink_only", {}).items()},
        raw_row=tuple(raw["raw_row_columns"]),
    )


def quoter(engine: str = "duckdb") -> Callable[[str], str]:
    """How the engine quotes a table or column name."""
    return partial(quote_identifier, engine=engine)


def _matches(expression: str, identifier_type: str, data_type: str | None = None) -> str:
    """SQL true when ``expression`` holds an erased value of ``identifier_type``. Values are kept
    as text; a column of another type is compared in its own type, so no row is cast."""
    if data_type:
        return (
            f"{expression} in (select cast(value as {data_type}) from {ERASED_VALUES} "
            f"where identifier_type = '{identifier_type}')"
        )
    return (
        f"cast({expression} as string) in "
        f"(select value from {ERASED_VALUES} where identifier_type = '{identifier_type}')"
    )


def _raw_row_purged(columns: tuple[str, str, str], engine: str) -> str:
    _quote = quoter(engine)
    return (
        f"({', '.join(_quote(column) for column in columns)}) in "
        f"(select source, load_id, record_number from {PURGED_RAW_ROWS})"
    )


def table_purge(
    schema: str, name: str, columns: list[str], rules: ColumnRules, engine: str = "duckdb", raw_rows_only: bool = False
) -> TablePurge | None:
    """The purge of one table from its column names, or None when no column names a person (or,
    with ``raw_rows_only``, when the table has no row per raw row: only deleted raw rows are looked for)."""
    _quote = quoter(engine)
    names = set(columns)
    raw_row = [_raw_row_purged(rules.raw_row, engine)] if set(rules.raw_row) <= names else []
    if raw_rows_only:
        if not raw_row:
            return None
        return TablePurge(f"{schema}.{name}", f"{_quote(schema)}.{_quote(name)}", tuple(raw_row), ())
    delete_when, clear = list(raw_row), []
    for column in columns:
        kind = rules.identifier_type(column, rules.delete)
        if kind:
            delete_when.append(_matches(_quote(column), kind, rules.types.get(kind)))
            continue
        kind = rules.identifier_type(column, rules.clear)
        if kind:
            clear.append((column, _matches(_quote(column), kind, rules.types.get(kind))))
    system, record = rules.pairs["source_record"]
    if {system, record} <= names:
        delete_when.append(_matches(f"({_quote(system)} || ':' || {_quote(record)})", "source_record"))
    type_column, value_column = rules.pairs["typed"]
    if {type_column, value_column} <= names:
        delete_when.append(
            f"({_quote(type_column)}, cast({_quote(value_column)} as string)) in "
            f"(select identifier_type, value from {ERASED_VALUES})"
        )
    unlinked = rules.unlink_only.get(f"{schema}.{name}")
    if unlinked and delete_when:
        # the row stays: every condition that would delete it clears the listed columns instead
        matches_person = " or ".join(f"({condition})" for condition in delete_when)
        clear = [*((column, matches_person) for column in unlinked), *clear]
        delete_when = []
    if not delete_when and not clear:
        return None
    return TablePurge(f"{schema}.{name}", f"{_quote(schema)}.{_quote(name)}", tuple(delete_when), tuple(clear))


def plan_purges(
    warehouse: Warehouse, rules: ColumnRules | None = None, raw_rows_only: bool = False
) -> list[TablePurge]:
    """Every base table of the warehouse that names a person or has a row per raw row, except those
    the rules keep (with ``raw_rows_only``, the tables with a row per raw row)."""
    warehouse = as_warehouse(warehouse)
    rules = rules or load_rules()
    purges = []
    for schema, name, columns in base_tables(warehouse):
        if schema in rules.keep_schemas or f"{schema}.{name}" in rules.keep_tables:
            continue
        purge = table_purge(schema, name, columns, rules, warehouse.engine, raw_rows_only)
        if purge:
            purges.append(purge)
    return purges


def base_tables(warehouse: Warehouse) -> list[tuple[str, str, list[str]]]:
    """(schema, name, column names in order) of every base table in every schema, sorted.

    The one place erasure lists the catalogue itself: the Warehouse lists tables by schema,
    and only the engine knows its schemas. DuckDB answers in one query; Spark's catalogue is
    asked per schema, leaving out the interface's own scratch tables (cdp_scratch)."""
    if warehouse.engine == "spark":
        from cdp.warehouse.spark_warehouse import SCRATCH_SCHEMA

        schemas = sorted(row[0] for row in warehouse.rows("show databases") if row[0] != SCRATCH_SCHEMA)
        return [(*table.split("."), warehouse.columns(table)) for table in warehouse.tables(schemas)]
    return warehouse.rows(
        """
        select c.table_schema, c.table_name, list(c.column_name order by c.ordinal_position)
        from information_schema.columns as c
        inner join information_schema.tables as t
            using (table_catalog, table_schema, table_name)
        where t.table_type = 'BASE TABLE' and t.table_catalog = current_database()
        group by all
        order by all
        """
    )
