"""The landing-zone data contract, loaded from ``landing.yml``.

One place defines every source, column, type and rule; ingestion validates
against it and creates the raw tables from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

CONTRACT_PATH = Path(__file__).with_name("landing.yml")

COLUMN_TYPES = ("string", "integer", "decimal", "date", "timestamp", "json")

# Warehouse type of each contract type in the raw layer.
RAW_SQL_TYPES = {
    "string": "varchar",
    "integer": "bigint",
    "decimal": "decimal(18, 4)",
    "date": "date",
    "timestamp": "timestamptz",
    "json": "varchar",
}

# Lineage columns every raw table carries after the contract columns.
METADATA_COLUMNS = {
    "_load_id": "bigint",
    "_source_file": "varchar",
    "_record_number": "bigint",
    "_loaded_at": "timestamptz",
}


class ContractError(ValueError):
    """The contract file itself is malformed."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] | None = None
    min: object = None
    max: object = None
    on_invalid: str = "reject"

    @property
    def sql_type(self) -> str:
        return RAW_SQL_TYPES[self.type]


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    require_any: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class Contract:
    version: int
    file_formats: dict[str, tuple[str, ...]]
    ignored_prefixes: tuple[str, ...]
    ignored_suffixes: tuple[str, ...]
    bounds: dict[str, dict[str, object]]
    sources: dict[str, Source]

    def file_format(self, path: Path) -> str | None:
        """The format of a landing file by its name, or None if unsupported."""
        name = path.name.lower()
        for fmt, suffixes in self.file_formats.items():
            if any(name.endswith(s) for s in suffixes):
                return fmt
        return None

    def is_ignored(self, path: Path) -> bool:
        name = path.name
        return name.startswith(self.ignored_prefixes) or name.lower().endswith(self.ignored_suffixes)


def _parse_column(source: str, name: str, spec: dict) -> Column:
    where = f"{CONTRACT_PATH.name}: sources.{source}.columns.{name}"
    col_type = spec.get("type")
    if col_type not in COLUMN_TYPES:
        raise ContractError(f"{where}: type must be one of {COLUMN_TYPES}, got {col_type!r}")
    on_invalid = str(spec.get("on_invalid", "reject")).lower()
    if on_invalid not in ("reject", "null", "none"):
        raise ContractError(f"{where}: on_invalid must be 'reject' or 'null', got {on_invalid!r}")
    unknown = set(spec) - {"type", "required", "values", "min", "max", "on_invalid"}
    if unknown:
        raise ContractError(f"{where}: unknown attributes {sorted(unknown)}")
    values = spec.get("values")
    return Column(
        name=name,
        type=col_type,
        required=bool(spec.get("required", False)),
        values=tuple(str(v).lower() for v in values) if values else None,
        min=spec.get("min"),
        max=spec.get("max"),
        on_invalid="null" if on_invalid in ("null", "none") else "reject",
    )


def parse_contract(raw: dict) -> Contract:
    sources = {}
    for name, spec in raw["sources"].items():
        columns = tuple(_parse_column(name, c, s) for c, s in spec["columns"].items())
        names = {c.name for c in columns}
        key = tuple(spec["primary_key"])
        groups = tuple(tuple(g) for g in spec.get("require_any", []))
        for col in key + tuple(c for g in groups for c in g):
            if col not in names:
                raise ContractError(f"{CONTRACT_PATH.name}: sources.{name}: unknown column {col!r}")
        for col in key:
            if not next(c for c in columns if c.name == col).required:
                raise ContractError(f"{CONTRACT_PATH.name}: sources.{name}: key column {col!r} must be required")
        sources[name] = Source(name, spec.get("description", ""), key, columns, groups)
    return Contract(
        version=int(raw["version"]),
        file_formats={k: tuple(v) for k, v in raw["file_formats"].items()},
        ignored_prefixes=tuple(raw.get("ignored_prefixes", [])),
        ignored_suffixes=tuple(raw.get("ignored_suffixes", [])),
        bounds=raw.get("bounds", {}),
        sources=sources,
    )


@lru_cache(maxsize=1)
def load_contract(path: Path = CONTRACT_PATH) -> Contract:
    with open(path, encoding="utf-8") as fh:
        return parse_contract(yaml.safe_load(fh))


def raw_table_ddl(source: Source, schema: str = "raw") -> str:
    """CREATE TABLE statement for a source's raw table (contract columns + lineage)."""
    cols = [f"{c.name} {c.sql_type}" for c in source.columns]
    cols += [f"{name} {sql_type}" for name, sql_type in METADATA_COLUMNS.items()]
    return f"create table if not exists {schema}.{source.name} (\n    " + ",\n    ".join(cols) + "\n)"
