"""Row validation against the contract, compiled to one set-based SQL select.

Every value arrives as text. For each contract column we build the parsed
expression (what goes into the raw table) and the checks that explain, in
words, why a value is unacceptable. Checks on columns with
``on_invalid: null`` become field issues instead of rejecting the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cdp.contract import Column, Contract, Source

INTEGER_PATTERN = r"^\s*[+-]?[0-9]+\s*$"


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parse_expr(col: Column, text: str) -> str:
    """SQL parsing one trimmed, non-empty text value into the column's raw type (NULL if it fails)."""
    if col.type == "string":
        return text
    if col.type == "integer":
        return f"case when regexp_full_match({text}, '{INTEGER_PATTERN}') then try_cast({text} as bigint) end"
    if col.type == "decimal":
        return f"try_cast({text} as decimal(18, 4))"
    if col.type == "date":
        return f"coalesce(try_cast({text} as date), cast(try_strptime({text}, '%Y%m%d') as date))"
    if col.type == "timestamp":
        return f"coalesce(try_cast({text} as timestamptz), cast(try_strptime({text}, '%Y%m%d') as timestamptz))"
    if col.type == "json":
        return f"case when json_valid({text}) then {text} end"
    raise ValueError(col.type)


def resolve_bound(value: object, col_type: str, now: datetime) -> str | None:
    """A contract bound as a SQL literal; 'now' and 'now+Nd' are relative to the load start."""
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("now"):
        days = int(value[4:-1]) if "+" in value else 0
        moment = now + timedelta(days=days)
        value = moment.date().isoformat() if col_type == "date" else moment.isoformat()
    if col_type in ("integer", "decimal"):
        return str(value)
    cast = "date" if col_type == "date" else "timestamptz"
    return f"cast({quote_literal(str(value))} as {cast})"


@dataclass(frozen=True)
class ColumnChecks:
    column: Column
    parsed: str  # SQL: the value to load (NULL when the column's check failed and on_invalid is null)
    problems: list[str]  # SQL expressions yielding a reason text or NULL


def column_checks(col: Column, contract: Contract, now: datetime) -> ColumnChecks:
    raw = quote_ident(col.name)
    text = f"nullif(trim({raw}), '')"
    parsed = _parse_expr(col, text)
    shown = f"'''' || left({raw}, 80) || ''''"
    problems = []
    if col.required:
        problems.append(f"case when {text} is null then '{col.name}: required value is empty' end")
    if col.type != "string":
        problems.append(
            f"case when {text} is not null and ({parsed}) is null "
            f"then '{col.name}: ' || {shown} || ' is not a valid {col.type}' end"
        )
    if col.values:
        allowed = ", ".join(quote_literal(v) for v in col.values)
        problems.append(
            f"case when {text} is not null and lower({text}) not in ({allowed}) "
            f"then '{col.name}: ' || {shown} || ' is not one of {', '.join(col.values)}' end"
        )
    bounds = contract.bounds.get(col.type, {})
    low = resolve_bound(col.min if col.min is not None else bounds.get("min"), col.type, now)
    high = resolve_bound(col.max if col.max is not None else bounds.get("max"), col.type, now)
    for op, bound, word in (("<", low, "before minimum"), (">", high, "after maximum")):
        if bound is None:
            continue
        if col.type in ("integer", "decimal"):
            word = "below minimum" if op == "<" else "above maximum"
        problems.append(
            f"case when ({parsed}) {op} {bound} "
            f"then '{col.name}: ' || {shown} || ' is {word} ' || cast({bound} as varchar) end"
        )
    if col.on_invalid == "null" and problems:
        # The value loads only when none of its checks failed.
        parsed = f"case when coalesce({' , '.join(problems)}) is null then {parsed} end"
    return ColumnChecks(col, parsed, problems)


def build_validation_select(source: Source, contract: Contract, relation: str, now: datetime | None = None) -> str:
    """SQL over ``relation`` (every contract column as text, NULL where a file lacks it) adding
    parsed columns, ``_reject_reasons`` (list of texts) and ``_field_issues`` (column/reason structs).

    Files missing a required column never get here: they are rejected whole first."""
    now = now or datetime.now(UTC)
    checks = [column_checks(c, contract, now) for c in source.columns]
    rejects, issues = [], []
    for chk in checks:
        if chk.column.on_invalid == "null":
            value = f"left({quote_ident(chk.column.name)}, 200)"
            issues += [
                f"{{'column_name': '{chk.column.name}', 'raw_value': {value}, 'reason': {p}}}" for p in chk.problems
            ]
        else:
            rejects += chk.problems
    for group in source.require_any:
        empty = " and ".join(f"nullif(trim({quote_ident(c)}), '') is null" for c in group)
        rejects.append(f"case when {empty} then 'one of {', '.join(group)} is required' end")

    parsed_cols = ",\n    ".join(f"{chk.parsed} as {quote_ident('__' + chk.column.name)}" for chk in checks)
    reject_list = (
        f"list_filter([{', '.join(rejects)}]::varchar[], lambda r: r is not null)" if rejects else "[]::varchar[]"
    )
    issue_list = (
        f"list_filter([{', '.join(issues)}], lambda i: i.reason is not null)"
        if issues
        else "[]::struct(column_name varchar, raw_value varchar, reason varchar)[]"
    )
    return (
        f"select *,\n    {parsed_cols},\n    {reject_list} as _reject_reasons,\n"
        f"    {issue_list} as _field_issues\nfrom {relation}"
    )
