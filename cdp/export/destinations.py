"""Destination file formats: headers, normalisation, hashing and key per platform.

Rules follow shared/specs/destinations.md; docs/destinations.md explains every
choice the spec leaves open. Each destination is a table from warehouse column
to destination column and the rule (in ``cdp.export.normalise``) that turns one
value into what the platform loads; ``Destination.render`` applies the table to
audience members.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp.export.normalise import (
    address_part,
    birth_year_for_meta,
    birthday_mm_dd,
    city_for_meta,
    consent_for_klaviyo,
    country_alpha2,
    country_for_meta,
    date_iso,
    decimal_text,
    email_for_google,
    email_for_meta,
    email_subscribe_for_braze,
    email_trim_lower,
    gender_for_braze,
    gender_for_meta,
    is_missing,
    language_iso639_1,
    mailchimp_address,
    name_for_google,
    name_for_meta,
    phone_e164,
    phone_e164_digits_for_meta,
    phone_e164_for_google,
    postcode_trimmed,
    sha256_hex,
    state_for_meta,
    text_or_none,
    truncate_chars,
    truncate_utf8,
    value_as_text,
    zip_for_meta,
)

__all__ = ["DESTINATIONS", "MAILCHIMP", "Destination", "FieldMapping", "OptionSpec", "truncate_utf8"]

CUSTOM_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]*")

# The warehouse columns of an audience member that every destination knows by name.
STANDARD_FIELDS = (
    "customer_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "street",
    "city",
    "state",
    "postcode",
    "country",
    "language",
    "birth_date",
    "gender",
    "email_marketing_status",
    "sms_marketing_status",
)

ALL_PURPOSES = ("email_marketing", "sms_marketing", "ad_targeting", "personalization")


@dataclass(frozen=True)
class FieldMapping:
    """One warehouse column -> one destination column.

    ``transform`` turns a value (None when missing) into the cell; with
    ``context`` it also receives those columns' values (e.g. the country a
    postcode belongs to), which are read but not exported. ``None`` keeps the
    value as it is: native in parquet, ``value_as_text`` in CSV. Fields that
    share a header are parts of one cell (Mailchimp's address).
    """

    header: str
    transform: Callable[..., object] | None = None
    hashed: bool = False
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class OptionSpec:
    """A destination-specific setting in the audience YAML, e.g. Mailchimp ``tags``.

    ``check`` returns a problem or None; with ``header`` the option becomes a
    column whose every cell is ``cell(value)``.
    """

    check: Callable[[object], str | None]
    header: str | None = None
    cell: Callable[[object], str] = str


@dataclass(frozen=True)
class Destination:
    name: str
    file_format: str  # csv | parquet
    key_field: str  # warehouse column that identifies a row; the audience must ask for it
    fields: dict[str, FieldMapping]  # standard warehouse columns -> destination columns, in file order
    consent_purposes: tuple[str, ...]
    min_rows: int = 1  # platform minimum; smaller audiences are not usable there
    max_file_bytes: int | None = None
    takes_custom_attributes: bool = False  # other columns named ^[a-z][a-z0-9_]*$ are written under their own name
    text_limit: Callable[[str | None], str | None] | None = None  # cut applied to every non-key CSV cell
    options: dict[str, OptionSpec] = field(default_factory=dict)

    def key_header(self) -> str:
        return self.fields[self.key_field].header

    def accepts(self, field: str) -> bool:
        """May this warehouse column be exported here?"""
        if field in self.fields:
            return True
        return (
            self.takes_custom_attributes
            and bool(CUSTOM_ATTRIBUTE_NAME.fullmatch(field))
            and field not in self._reserved_headers()
        )

    def key_values(self, members: pd.DataFrame) -> pd.Series:
        """Each member's key cell as render() writes it (None when blank), aligned with ``members``:
        lets the exporter know which customer each row of a file is."""
        if self.file_format == "parquet":
            values = [None if _blank(v) else v for v in _values(members, self.key_field)]
        else:
            values = _render_column(members, self.key_field, self.fields[self.key_field])
        return pd.Series(values, index=members.index, dtype=object)

    def validate_options(self, options: dict) -> list[str]:
        """Problems with the audience's destination-specific options; empty when they are fine."""
        if not isinstance(options, dict):
            return [f"{self.name}: options must be a mapping, got {type(options).__name__}"]
        problems = []
        for name, value in options.items():
            spec = self.options.get(name)
            if spec is None:
                accepted = f"accepts {sorted(self.options)}" if self.options else "takes no options"
                problems.append(f"{self.name}: unknown option {name!r}; {self.name} {accepted}")
                continue
            problem = spec.check(value)
            if problem:
                problems.append(f"{self.name}: option {name!r} {problem}")
        return problems

    def render(self, members: pd.DataFrame, fields: list[str], options: dict) -> pd.DataFrame:
        """Members (warehouse columns) -> file rows (destination columns).

        Key first, then standard columns in the table's order, then custom
        attributes in the audience's order, then option columns. One row per
        key: a row whose key is blank after normalisation is dropped, and of
        several rows with one key the first in input order is kept. Sorted by
        key for stable bytes. CSV cells are text or None; parquet keeps types.
        """
        self._check(members, fields, options)
        columns = self._columns(fields)
        if self.file_format == "parquet":
            out = pd.DataFrame({header: members[parts[0][0]] for header, parts in columns}, index=members.index)
            out = out[~out[self.key_header()].map(_blank).astype(bool)]
        else:
            out = pd.DataFrame(
                {header: pd.Series(self._cells(members, header, parts), dtype=object) for header, parts in columns}
            )
            out = out[out[self.key_header()].notna()]
            for name, spec in self.options.items():
                if spec.header and options.get(name):
                    out[spec.header] = spec.cell(options[name])
        out = out.drop_duplicates(subset=[self.key_header()], keep="first")
        return out.sort_values(self.key_header(), kind="stable").reset_index(drop=True)

    def _reserved_headers(self) -> set[str]:
        return {m.header for m in self.fields.values()} | {s.header for s in self.options.values() if s.header}

    def _check(self, members: pd.DataFrame, fields: list[str], options: dict) -> None:
        problems = [f"{self.name} does not accept field {f!r}" for f in fields if not self.accepts(f)]
        if self.key_field not in fields:
            problems.append(f"{self.name} needs its key field {self.key_field!r}")
        if len(set(fields)) != len(fields):
            problems.append(f"{self.name}: fields listed twice: {sorted({f for f in fields if fields.count(f) > 1})}")
        missing = [f for f in fields if f not in members.columns]
        if missing:
            problems.append(f"{self.name}: members have no column(s) {missing}")
        problems += self.validate_options(options)
        if problems:
            raise ValueError("; ".join(problems))

    def _columns(self, fields: list[str]) -> list[tuple[str, list[tuple[str, FieldMapping]]]]:
        """(header, [(warehouse column, mapping), ...]) in file order; several parts only for a shared header."""
        ordered = [self.key_field] + [f for f in self.fields if f in fields and f != self.key_field]
        ordered += [f for f in fields if f not in self.fields]
        columns: dict[str, list[tuple[str, FieldMapping]]] = {}
        for name in ordered:
            mapping = self.fields.get(name) or FieldMapping(name)
            columns.setdefault(mapping.header, []).append((name, mapping))
        return list(columns.items())

    def _cells(self, members: pd.DataFrame, header: str, parts: list[tuple[str, FieldMapping]]) -> list:
        rendered = [_render_column(members, name, mapping) for name, mapping in parts]
        if len(rendered) == 1:
            cells = rendered[0]
        else:
            cells = [mailchimp_address(list(row_parts)) for row_parts in zip(*rendered, strict=True)]
        if self.text_limit is None or header == self.key_header():
            return cells
        return [self.text_limit(c) for c in cells]


def _render_column(members: pd.DataFrame, name: str, mapping: FieldMapping) -> list[str | None]:
    if mapping.transform is None and name in members.columns:
        cells = column_as_text(members[name])
    else:
        transform = mapping.transform or value_as_text
        context = [_values(members, c) for c in mapping.context]
        cells = [transform(value, *extra) for value, *extra in zip(_values(members, name), *context, strict=True)]
    return [sha256_hex(c) for c in cells] if mapping.hashed else cells


def column_as_text(column: pd.Series) -> list[str | None]:
    """``value_as_text`` of each value, by the column's type once rather than each value's (7 of the 10 s
    an export of 315,000 customers spent rendering)."""
    if isinstance(column.dtype, pd.StringDtype):
        return [None if text is None or not text.strip() else text for text in _values_of(column)]
    values = column.to_numpy()
    if column.dtype == np.float64:
        finite = np.isfinite(values)
        # a float's repr without an exponent is already its plain decimal; one with (1e+16) goes the long way
        return [(text if "e" not in (text := repr(number)) else decimal_text(number)) if keep else None
                for number, keep in zip(values.tolist(), finite.tolist(), strict=True)]
    if column.dtype == np.int64:
        return [str(number) for number in values.tolist()]
    if column.dtype == np.bool_:
        return ["true" if flag else "false" for flag in values.tolist()]
    if _four_digit_years(column):
        # naive timestamps are UTC (datetime_iso_utc); milliseconds only when the second has a fraction
        whole = np.datetime_as_string(values, unit="s").tolist()
        with_ms = np.datetime_as_string(values, unit="ms").tolist()
        fraction = ((values.astype("datetime64[us]") - values.astype("datetime64[s]")).astype(np.int64) != 0).tolist()
        return [None if missing else (with_ms[row] if fraction[row] else whole[row]) + "Z"
                for row, missing in enumerate(column.isna().tolist())]
    return [value_as_text(value) for value in _values_of(column)]


def _four_digit_years(column: pd.Series) -> bool:
    """A naive timestamp column whose years print as four digits (as datetime_iso_utc writes them)."""
    if column.dtype.kind != "M" or not isinstance(column.dtype, np.dtype):
        return False
    present = column.dropna()
    return present.empty or (present.min().year >= 1000 and present.max().year <= 9999)


def _values(members: pd.DataFrame, column: str) -> list:
    """A column's values with every kind of missing (NaN, NaT, pd.NA) as None; an absent column is all None."""
    if column not in members.columns:
        return [None] * len(members)
    return _values_of(members[column])


def _values_of(column: pd.Series) -> list:
    return [None if missing else v for v, missing in zip(column.tolist(), column.isna(), strict=True)]


def _blank(value: object) -> bool:
    return is_missing(value) or (isinstance(value, str) and not value.strip())


def _tags_problem(value: object) -> str | None:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        return "must be a list of non-empty strings"
    with_commas = [t for t in value if "," in t]
    if with_commas:
        return f"tags {with_commas} contain a comma, which separates tags in the Tags column"
    return None


MAILCHIMP = Destination(
    name="mailchimp",
    file_format="csv",
    key_field="email",
    fields={
        "email": FieldMapping("Email Address", email_trim_lower),
        "first_name": FieldMapping("First Name", text_or_none),
        "last_name": FieldMapping("Last Name", text_or_none),
        # One Address cell: street  city  state  postcode  country (two spaces between parts).
        "street": FieldMapping("Address", address_part),
        "city": FieldMapping("Address", address_part),
        "state": FieldMapping("Address", address_part),
        "postcode": FieldMapping("Address", address_part),
        "country": FieldMapping("Address", country_alpha2),
        "phone": FieldMapping("Phone Number", phone_e164),
        "birth_date": FieldMapping("Birthday", birthday_mm_dd),
    },
    consent_purposes=("email_marketing",),
    text_limit=truncate_utf8,  # text fields hold 255 bytes of UTF-8
    options={"tags": OptionSpec(check=_tags_problem, header="Tags", cell=",".join)},
)

BRAZE = Destination(
    name="braze",
    file_format="csv",
    key_field="customer_id",
    fields={
        "customer_id": FieldMapping("external_id", text_or_none),
        "first_name": FieldMapping("first_name", text_or_none),
        "last_name": FieldMapping("last_name", text_or_none),
        "email": FieldMapping("email", email_trim_lower),
        "phone": FieldMapping("phone", phone_e164),
        "city": FieldMapping("home_city", text_or_none),
        "country": FieldMapping("country", country_alpha2),
        "language": FieldMapping("language", language_iso639_1),
        "birth_date": FieldMapping("dob", date_iso),
        "gender": FieldMapping("gender", gender_for_braze),
        "email_marketing_status": FieldMapping("email_subscribe", email_subscribe_for_braze),
    },
    consent_purposes=("email_marketing",),
    max_file_bytes=500_000_000,
    takes_custom_attributes=True,
    text_limit=truncate_chars,  # strings hold 255 characters
)

KLAVIYO = Destination(
    name="klaviyo",
    file_format="csv",
    key_field="email",
    fields={
        "email": FieldMapping("Email", email_trim_lower),
        "first_name": FieldMapping("First Name", text_or_none),
        "last_name": FieldMapping("Last Name", text_or_none),
        "phone": FieldMapping("Phone Number", phone_e164),
        "street": FieldMapping("Address", text_or_none),
        "city": FieldMapping("City", text_or_none),
        "state": FieldMapping("Region", text_or_none),
        "postcode": FieldMapping("Zip Code", postcode_trimmed),
        "country": FieldMapping("Country", country_alpha2),
        "email_marketing_status": FieldMapping("Email Marketing Consent", consent_for_klaviyo),
        "sms_marketing_status": FieldMapping("SMS Marketing Consent", consent_for_klaviyo),
    },
    consent_purposes=("email_marketing",),
    max_file_bytes=50_000_000,
)

META = Destination(
    name="meta",
    file_format="csv",
    key_field="customer_id",
    fields={
        "customer_id": FieldMapping("extern_id", text_or_none),  # not hashed
        "email": FieldMapping("email", email_for_meta, hashed=True),
        "phone": FieldMapping("phone", phone_e164_digits_for_meta, hashed=True),
        "first_name": FieldMapping("fn", name_for_meta, hashed=True),
        "last_name": FieldMapping("ln", name_for_meta, hashed=True),
        "city": FieldMapping("ct", city_for_meta, hashed=True),
        "state": FieldMapping("st", state_for_meta, hashed=True, context=("country",)),
        "postcode": FieldMapping("zip", zip_for_meta, hashed=True, context=("country",)),
        "country": FieldMapping("country", country_for_meta, hashed=True),
        "birth_date": FieldMapping("doby", birth_year_for_meta, hashed=True),
        "gender": FieldMapping("gen", gender_for_meta, hashed=True),
    },
    consent_purposes=("ad_targeting",),
    min_rows=100,
)

GOOGLE = Destination(
    name="google",
    file_format="csv",
    key_field="email",
    fields={
        "email": FieldMapping("Email", email_for_google, hashed=True),
        "phone": FieldMapping("Phone", phone_e164_for_google, hashed=True),
        "first_name": FieldMapping("First Name", name_for_google, hashed=True),
        "last_name": FieldMapping("Last Name", name_for_google, hashed=True),
        "country": FieldMapping("Country", country_alpha2),  # never hashed
        "postcode": FieldMapping("Zip", postcode_trimmed),  # never hashed
    },
    consent_purposes=("ad_targeting",),
    min_rows=100,
)

# Generic files: standard columns under their warehouse names, anything else as a custom attribute.
GENERIC_FIELDS = {name: FieldMapping(name) for name in STANDARD_FIELDS}

CSV = Destination(
    name="csv",
    file_format="csv",
    key_field="customer_id",
    fields=GENERIC_FIELDS,
    consent_purposes=ALL_PURPOSES,
    takes_custom_attributes=True,
)

PARQUET = Destination(
    name="parquet",
    file_format="parquet",
    key_field="customer_id",
    fields=GENERIC_FIELDS,
    consent_purposes=ALL_PURPOSES,
    takes_custom_attributes=True,
)

DESTINATIONS: dict[str, Destination] = {d.name: d for d in (MAILCHIMP, BRAZE, KLAVIYO, META, GOOGLE, CSV, PARQUET)}
