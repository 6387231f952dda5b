"""Identifiers in raw values, as SQL: staging's normalisation mirrored for the raw layer, so
rows a source sends again are found by their hash before they pile up in raw.

Each function mirrors the dbt macro named in its docstring, to the extent that needs no
reference data: a phone number is read only when written internationally ('+' or '00'),
because a national number needs the record's country (staging still leaves such a row
out; raw keeps it, see docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Callable

Column = Callable[[str], str]


def source_record(system: str, record_id: str) -> str:
    """macro source_record_key over staging's lower(trim(system)) and trim(id)."""
    return f"(nullif(lower(trim({system})), '') || ':' || nullif(trim({record_id}), ''))"


def email(expression: str) -> str:
    """macro normalise_email, without its validity check (a suppressed hash is of a valid address)."""
    return f"nullif(lower(regexp_replace({expression}, '\\s+', '', 'g')), '')"


def email_match_key(expression: str) -> str:
    """macro email_match_key: Gmail without dots and +tags."""
    address = email(expression)
    return (
        f"case when split_part({address}, '@', 2) in ('gmail.com', 'googlemail.com') "
        f"then replace(split_part(split_part({address}, '@', 1), '+', 1), '.', '') || '@gmail.com' "
        f"else {address} end"
    )


def phone_international(expression: str) -> str:
    """macros phone_digits and phone_to_e164, for numbers written with '+' or '00' only."""
    without_extension = f"regexp_replace({expression}, '(?i)\\s*(ext\\.?|extension|x|#)\\s*[0-9]+\\s*$', '')"
    digits = f"regexp_replace(replace({without_extension}, '(0)', ''), '[^0-9]', '', 'g')"
    return (
        f"case when ltrim(trim({expression}), '(') like '+%' then '+' || {digits} "
        f"when {digits} like '00%' then '+' || substr({digits}, 3) end"
    )


def loyalty_id(expression: str) -> str:
    """macro normalise_loyalty_id, without the junk check."""
    return f"nullif(upper(regexp_replace({expression}, '[\\s-]+', '', 'g')), '')"


def anonymous_id(expression: str) -> str:
    return f"nullif(trim({expression}), '')"


def _typed(column: Column, identifier_type: str, expression: str) -> str:
    return f"case when lower(trim({column('identifier_type')})) = '{identifier_type}' then {expression} end"


def _customers(c: Column) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("email", email(c("email"))),
        ("email", email_match_key(c("email"))),
        ("phone", phone_international(c("phone"))),
        ("loyalty_id", loyalty_id(c("loyalty_id"))),
    ]


def _consent(c: Column) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("email", email(c("email"))),
        ("email", email_match_key(c("email"))),
    ]


def _email_events(c: Column) -> list[tuple[str, str]]:
    return [("email", email(c("email"))), ("email", email_match_key(c("email")))]


def _events(c: Column) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("anonymous_id", anonymous_id(c("anonymous_id"))),
    ]


def _segment_lists(c: Column) -> list[tuple[str, str]]:
    return [
        ("email", _typed(c, "email", email(c("identifier")))),
        ("email", _typed(c, "email", email_match_key(c("identifier")))),
        ("phone", _typed(c, "phone", phone_international(c("identifier")))),
        ("loyalty_id", _typed(c, "loyalty_id", loyalty_id(c("identifier")))),
    ]


# Raw tables whose rows carry a person's identifiers, and how to read them. Orders are not
# here: an order is kept, only its buyer link goes (ORDER_LINK).
RAW_IDENTIFIERS: dict[str, Callable[[Column], list[tuple[str, str]]]] = {
    "customers": _customers,
    "consent": _consent,
    "email_events": _email_events,
    "events": _events,
    "segment_lists": _segment_lists,
}

ORDER_LINK = ("source_record", source_record("source_system", "source_customer_id"))


def _orders(c: Column) -> list[tuple[str, str]]:
    return [("source_record", source_record(c("source_system"), c("source_customer_id")))]


def _erasure_requests(c: Column) -> list[tuple[str, str]]:
    return [
        ("source_record", source_record(c("source_system"), c("source_customer_id"))),
        ("email", email(c("email"))),
        ("email", email_match_key(c("email"))),
        ("phone", phone_international(c("phone"))),
    ]


# What a rejected row in audit.quarantine may carry, by its source.
QUARANTINED_IDENTIFIERS = {**RAW_IDENTIFIERS, "orders": _orders, "erasure_requests": _erasure_requests}


def raw_column(name: str) -> str:
    return name


def quarantined_field(name: str) -> str:
    """A field of a quarantined row's raw content (JSON for rows that failed validation)."""
    return f"(case when json_valid(raw_content) then json_extract_string(raw_content, '$.{name}') end)"


def suppressed(identifiers: list[tuple[str, str]]) -> str:
    """SQL true when any of the identifiers is on the suppression list."""
    return " or ".join(
        f"sha256({expression}) in (select identifier_sha256 from privacy.suppression_list "
        f"where identifier_type = '{identifier_type}')"
        for identifier_type, expression in identifiers
    )
