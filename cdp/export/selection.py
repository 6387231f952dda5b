"""Audience selections: the rule language of segments and offers (docs/segments.md),
checked in Python and compiled to a predicate over the activation profile.

    {field: churn_probability, op: '>=', value: 0.7}   a profile column
    {segment: champions}                               member of a declared segment
    {all: [...]}  {any: [...]}  {not: condition}
"""

from __future__ import annotations

from collections.abc import Callable

from cdp.warehouse.dialect import string_literal

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "in", "not in", "between", "is null", "is not null")
FORMS = ("field", "segment", "all", "any", "not")


class SelectionError(ValueError):
    """A wrong condition; ``path`` says where in the selection it is."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def validate(condition: object, fields: list[str], segments: list[str], path: str = "selection") -> None:
    """Raise SelectionError on the first problem of a condition tree."""
    if not isinstance(condition, dict):
        raise SelectionError(path, f"a condition must be a mapping (one of {', '.join(FORMS)}), got {condition!r}")
    forms = [f for f in FORMS if f in condition]
    if len(forms) != 1:
        raise SelectionError(path, f"a condition needs exactly one of {', '.join(FORMS)}; got keys {list(condition)}")
    form = forms[0]
    if form in ("all", "any"):
        parts = condition[form]
        if not isinstance(parts, list) or not parts:
            raise SelectionError(f"{path}.{form}", "must be a non-empty list of conditions")
        for i, part in enumerate(parts):
            validate(part, fields, segments, f"{path}.{form}[{i}]")
    elif form == "not":
        validate(condition["not"], fields, segments, f"{path}.not")
    elif form == "segment":
        if condition["segment"] not in segments:
            raise SelectionError(f"{path}.segment",
                                 f"unknown segment {condition['segment']!r} (declared: {', '.join(segments)})")
    else:
        _validate_field_condition(condition, fields, path)


def _validate_field_condition(condition: dict, fields: list[str], path: str) -> None:
    extra = [k for k in condition if k not in ("field", "op", "value")]
    if extra:
        raise SelectionError(f"{path}.{extra[0]}", "unexpected key (a field condition has field, op, value)")
    if condition["field"] not in fields:
        raise SelectionError(f"{path}.field",
                             f"unknown field {condition['field']!r} (the profile has: {', '.join(fields)})")
    op = condition.get("op")
    if op not in OPERATORS:
        raise SelectionError(f"{path}.op", f"unknown operator {op!r} (one of: {', '.join(OPERATORS)})")
    value = condition.get("value")
    if op in ("is null", "is not null"):
        if "value" in condition:
            raise SelectionError(f"{path}.value", f"{op!r} takes no value")
    elif op in ("in", "not in", "between"):
        if not isinstance(value, list) or not value or (op == "between" and len(value) != 2):
            wanted = "a list of two values [low, high]" if op == "between" else "a non-empty list of values"
            raise SelectionError(f"{path}.value", f"{op!r} needs {wanted}")
        for v in value:
            _check_scalar(v, f"{path}.value", op)
    else:
        _check_scalar(value, f"{path}.value", op)


def _check_scalar(value: object, path: str, op: str) -> None:
    if value is None or isinstance(value, dict | list):
        raise SelectionError(path, f"{op!r} needs one value (a number, text or true/false), got {value!r}")


def literal(value: object, engine: str = "duckdb") -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return string_literal(str(value), engine)


def compile_condition(condition: dict, segment_members: Callable[[str], str], engine: str = "duckdb") -> str:
    """A validated condition as a SQL predicate over ``profile``, in the SQL of ``engine``
    (duckdb or spark: only string literals differ); ``segment_members(name)`` returns a
    SELECT of the customer_id of a segment's members.

    Fields are written unquoted (the quoting differs between the engines): they are the
    profile's columns, lower_snake_case names that profile_sql itself writes unquoted."""
    if "all" in condition or "any" in condition:
        joiner = " and " if "all" in condition else " or "
        parts = condition.get("all") or condition["any"]
        return "(" + joiner.join(compile_condition(p, segment_members, engine) for p in parts) + ")"
    if "not" in condition:
        # unknown (null) counts as not matching, so `not` of it matches
        return f"(not coalesce({compile_condition(condition['not'], segment_members, engine)}, false))"
    if "segment" in condition:
        return f"(profile.customer_id in ({segment_members(condition['segment'])}))"
    column, op = f"profile.{condition['field']}", condition["op"]
    if op in ("is null", "is not null"):
        return f"({column} {op})"
    if op in ("in", "not in"):
        return f"({column} {op} ({', '.join(literal(v, engine) for v in condition['value'])}))"
    if op == "between":
        low, high = condition["value"]
        return f"({column} between {literal(low, engine)} and {literal(high, engine)})"
    return f"({column} {op} {literal(condition['value'], engine)})"
