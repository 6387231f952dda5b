"""Identifiers in raw values, as SQL: staging's normalisation mirrored for the raw layer, so
rows a source sends again are found by their hash before they pile up in raw.

Each function mirrors the dbt macro named in its docstring, to the extent that needs no
reference data: a phone number is read only when written internationally ('+' or '00'),
because a national number needs the record's country (staging still leaves such a row
out; raw keeps it, see docs/privacy.md).

The SQL is written for one engine (``engine``: "duckdb", the default, or "spark"). Where
the two differ (hashing, regular expressions, JSON, string literals) cdp/warehouse/dialect.py
says how, as the dbt project's dispatch macros do (macros/cross_database.sql).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cdp.warehouse.dialect import DUCKDB, SPARK, json_member, json_valid, regexp_replace, sha256_hex

Column = Callable[[str], str]
WHITESPACE, LOYALTY_SEPARATORS = r"\s+", r"[\s-]+"


# -- the identifiers -----------------------------------------------------------------------------


def source_record(system: str, record_id: str) -> str:
    """macro source_record_key over staging's lower(trim(system)) and trim(id)."""
    return f"(nullif(lower(trim({system})), '') || ':' || nullif(trim({record_id}), ''))"


def email(expression: str, engine: str = DUCKDB) -> str:
    """macro normalise_email, without its validity check (a suppressed hash is of a valid address)."""
    return f"nullif(lower({regexp_replace(expression, WHITESPACE, '', engine)}), '')"


def email_match_key(expression: str, engine: str = DUCKDB) -> str:
    """macro email_match_key: Gmail without dots and +tags."""
    address = email(expression, engine)
    return (
        f"case when split_part({address}, '@', 2) in ('gmail.com', 'googlemail.com') "
        f"then replace(split_part(split_part({address}, '@', 1), '+', 1), '.', '') || '@gmail.com' "
        f"else {address} end"
    )


def phone_international(expression: str, engine: str = DUCKDB) -> str:
    """macros phone_digits and phone_to_e164, for numbers written with '+' or '00' only."""
    without_extension = regexp_replace(
        expression, r"(?i)\s*(ext\.?|extension|x|#)\s*[0-9]+\s*$", "", engine, every=False)
    digits = regexp_replace(f"replace({without_extension}, '(0)', '')", "[^0-9]", "", engine)
    # DuckDB's ltrim takes the characters to trim; Spark's takes none (macro phone_has_plus)
    opening = f"trim(leading '(' from trim({expression}))" if engine == SPARK else f"ltrim(trim({expression}), '(')"
    return (
        f"case when {opening} like '+%' then '+' || {digits} "
        f"when {digits} like '00%' then '+' || substr({digits}, 3) end"
    )


def loyalty_id(expression: str, engine: str = DUCKDB) -> str:
    """macro normalise_loyalty_id, without the junk check."""
    return f"nullif(upper({regexp_replace(expression, LOYALTY_SEPARATORS, '', engine)}), '')"


def anonymous_id(expression: str) -> str:
    return f"nullif(trim({expression}), '')"


def _typed(column: Column, identifier_type: str, expression: str) -> str:
    return f"case when lower(trim({column('identifier_type')})) = '{identifier_type}' then {expression} end"


Identifiers = Callable[[Column, str], list[tuple[str, str]]]
# how suppressed() finds the fields an identifier's SQL reads: it builds the SQL over marked names
_FIELD_MARK = "__cdp_field_{}__"
_FIELD = re.compile(r"__cdp_field_([A-Za-z0-9_]+?)__")


def _customers(c: Column, engine: str) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("email", email(c("email"), engine)),
        ("email", email_match_key(c("email"), engine)),
        ("phone", phone_international(c("phone"), engine)),
        ("loyalty_id", loyalty_id(c("loyalty_id"), engine)),
    ]


def _consent(c: Column, engine: str) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("email", email(c("email"), engine)),
        ("email", email_match_key(c("email"), engine)),
    ]


def _email_events(c: Column, engine: str) -> list[tuple[str, str]]:
    return [("email", email(c("email"), engine)), ("email", email_match_key(c("email"), engine))]


def _events(c: Column, engine: str) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("anonymous_id", anonymous_id(c("anonymous_id"))),
    ]


def _segment_lists(c: Column, engine: str) -> list[tuple[str, str]]:
    return [
        ("email", _typed(c, "email", email(c("identifier"), engine))),
        ("email", _typed(c, "email", email_match_key(c("identifier"), engine))),
        ("phone", _typed(c, "phone", phone_international(c("identifier"), engine))),
        ("loyalty_id", _typed(c, "loyalty_id", loyalty_id(c("identifier"), engine))),
    ]


# Raw tables whose rows carry a person's identifiers, and how to read them. Orders are not
# here: an order is kept, only its buyer link goes (ORDER_LINK).
RAW_IDENTIFIERS: dict[str, Identifiers] = {
    "customers": _customers,
    "consent": _consent,
    "email_events": _email_events,
    "events": _events,
    "segment_lists": _segment_lists,
}

def _orders(c: Column, engine: str) -> list[tuple[str, str]]:
    return [("source_record", source_record(c("source_system"), c("source_customer_id")))]


ORDER_LINK: Identifiers = _orders


def _erasure_requests(c: Column, engine: str) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("email", email(c("email"), engine)),
        ("email", email_match_key(c("email"), engine)),
        ("phone", phone_international(c("phone"), engine)),
    ]


# What a rejected row in audit.quarantine may carry, by its source.
QUARANTINED_IDENTIFIERS: dict[str, Identifiers] = {
    **RAW_IDENTIFIERS, "orders": _orders, "erasure_requests": _erasure_requests}


def raw_column(name: str) -> str:
    return name


def quarantined_field(engine: str = DUCKDB) -> Column:
    """A field of a quarantined row's raw content (JSON for rows that failed validation)."""
    def field(name: str) -> str:
        return (f"(case when {json_valid('raw_content', engine)} "
                f"then {json_member('raw_content', name, engine)} end)")
    return field


def suppressed(
    identifiers: Identifiers, relation: str, rows: str = "true", engine: str = DUCKDB, column: Column = raw_column
) -> str:
    """SQL true for a row of ``relation`` (among ``rows``, a condition on it) when any identifier it
    carries is on the suppression list; ``column`` reads a field of the row.

    Each identifier is normalised and hashed once per distinct value, not once per row: that was most
    of an erasure's time on large raw tables, where a value repeats over many rows (an address over
    its e-mail events). An identifier read from one field is matched on the field as it is, so rows
    skip the normalisation (regular expressions) too; one read from several (a source record) on its
    value. The same rows match: an identifier is null, so never listed, whenever a field it reads is
    null, and a null field matches nothing here either."""
    conditions = []
    for identifier_type, expression in identifiers(_FIELD_MARK.format, engine):
        fields = list(dict.fromkeys(_FIELD.findall(expression)))
        if len(fields) == 1:
            key, value = column(fields[0]), _FIELD.sub("candidate.key", expression)
        else:
            key, value = _FIELD.sub(lambda field: column(field.group(1)), expression), "candidate.key"
        conditions.append(
            f"{key} in (select candidate.key from (select distinct {key} as key from {relation} where {rows}) "
            f"as candidate where {sha256_hex(value, engine)} in "
            f"(select identifier_sha256 from privacy.suppression_list where identifier_type = '{identifier_type}'))"
        )
    return " or ".join(conditions)
