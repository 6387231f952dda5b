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


def _text(col: Column) -> str:
    """The column's trimmed non-empty text, computed once per row in the inner select."""
    return quote_ident(f"_text__{col.name}")


def _value(col: Column) -> str:
    """The column's text parsed to its raw type, computed once per row in the inner select."""
    return quote_ident(f"_value__{col.name}")


def _trimmed(raw: str) -> str:
    """``nullif(trim(raw), '')``; trim() copies every string, so only values with an edge space go through it."""
    edged = f"starts_with({raw}, ' ') or ends_with({raw}, ' ')"
    return f"case when {edged} then nullif(trim({raw}), '') else nullif({raw}, '') end"


def column_checks(col: Column, contract: Contract, now: datetime) -> ColumnChecks:
    """Checks over the inner select's ``_text__<col>`` and ``_value__<col>`` (see ``build_validation_select``)."""
    raw = quote_ident(col.name)
    text, parsed = _text(col), _value(col)
    shown = f"'''' || left({raw}, 80) || ''''"
    problems = []
    if col.required:
        problems.append(f"case when {text} is null then '{col.name}: required value is empty' end")
    if col.type != "string":
        problems.append(
            f"case when {text} is not null and {parsed} is null "
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
            f"case when {parsed} {op} {bound} "
            f"then '{col.name}: ' || {shown} || ' is {word} ' || cast({bound} as varchar) end"
        )
    if col.on_invalid == "null" and problems:
        # The value loads only when none of its checks failed.
        parsed = f"case when coalesce({', '.join(problems)}) is null then {parsed} end"
    return ColumnChecks(col, parsed, problems)


ISSUE_TYPE = "struct(column_name varchar, raw_value varchar, reason varchar)[]"


def build_validation_select(
    source: Source, contract: Contract, relation: str, keep: list[str], now: datetime | None = None
) -> str:
    """SQL over ``relation`` (every contract column as text, NULL where a file lacks it, and
    ``_extras``: JSON of the file's other columns or NULL) yielding the ``keep`` columns and:
      ``__<col>``         each column parsed to its raw type;
      ``_reject_reason``  why the row is rejected ('; '-joined), NULL if it loads;
      ``_raw_content``    for a rejected row, its text values as JSON (extras included);
      ``_field_issues``   for a row with invalid optional values, the column/reason structs, else NULL.

    Each value is trimmed and parsed once (inner select); the reason, content and issue list are
    only built for the few rows that need them. Files missing a required column never get here:
    they are rejected whole first."""
    now = now or datetime.now(UTC)
    checks = [column_checks(c, contract, now) for c in source.columns]
    rejects, issues = [], []
    for chk in checks:
        if chk.column.on_invalid == "null":
            value = f"left({quote_ident(chk.column.name)}, 200)"
            issues += [
                (p, f"{{'column_name': '{chk.column.name}', 'raw_value': {value}, 'reason': {p}}}")
                for p in chk.problems
            ]
        else:
            rejects += chk.problems
    for group in source.require_any:
        empty = " and ".join(f"{_text(source.column(c))} is null" for c in group)
        rejects.append(f"case when {empty} then 'one of {', '.join(group)} is required' end")

    inner = ",\n        ".join(f"{_trimmed(quote_ident(c.name))} as {_text(c)}" for c in source.columns)
    inner_values = ",\n        ".join(f"{_parse_expr(c, _text(c))} as {_value(c)}" for c in source.columns)
    parsed_cols = ",\n    ".join(f"{chk.parsed} as {quote_ident('__' + chk.column.name)}" for chk in checks)
    reason = f"nullif(concat_ws('; ', {', '.join(rejects)}), '')" if rejects else "cast(null as varchar)"
    content = (
        "cast(to_json(struct_pack("
        + ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in source.column_names)
        + ")) as varchar)"
    )
    issue_list = (
        f"case when coalesce({', '.join(p for p, _ in issues)}) is not null then "
        f"list_filter([{', '.join(i for _, i in issues)}], lambda i: i.reason is not null) end"
        if issues
        else f"cast(null as {ISSUE_TYPE})"
    )
    kept = "".join(f"{quote_ident(c)}, " for c in keep)
    return f"""
select {kept}{parsed_cols},
    _reject_reason,
    case when _reject_reason is not null then
        case when _extras is null then {content} else cast(json_merge_patch({content}, _extras) as varchar) end
    end as _raw_content,
    {issue_list} as _field_issues
from (
    select *, {reason} as _reject_reason
    from (
        select *,
        {inner_values}
        from (select *, {inner} from {relation})
    )
)"""
