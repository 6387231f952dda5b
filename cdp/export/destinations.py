"""Destination file formats: headers, normalisation and key per platform.

Rules follow shared/specs/destinations.md; each destination turns audience
member rows (warehouse column names) into the exact columns its platform loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd

MAX_TEXT_BYTES = 255


def truncate_utf8(value: str | None, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """Cut a string to at most ``max_bytes`` of UTF-8 without splitting a character."""
    if value is None:
        return None
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def normalise_email(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().lower()
    return cleaned or None


def birthday_mm_dd(value: date | None) -> str | None:
    return None if value is None or pd.isna(value) else f"{value.month:02d}/{value.day:02d}"


@dataclass(frozen=True)
class FieldMapping:
    header: str
    transform: Callable[[object], object] = lambda v: v


@dataclass(frozen=True)
class Destination:
    name: str
    file_format: str  # csv | parquet
    key_field: str  # warehouse column that must be unique and non-null
    fields: dict[str, FieldMapping]  # warehouse column -> destination column
    consent_purposes: tuple[str, ...]
    fixed_columns: tuple[str, ...] = ()  # destination columns added from the audience config (e.g. Tags)

    def render(self, members: pd.DataFrame, fields: list[str], options: dict) -> pd.DataFrame:
        """Members (warehouse columns) -> file rows (destination columns), sorted by key for stable bytes."""
        out = pd.DataFrame(index=members.index)
        for name in fields:
            mapping = self.fields[name]
            out[mapping.header] = members[name].map(lambda v, m=mapping: None if _missing(v) else m.transform(v))
        if "Tags" in self.fixed_columns and options.get("tags"):
            out["Tags"] = ",".join(options["tags"])
        key_header = self.fields[self.key_field].header
        out = out[out[key_header].notna()].drop_duplicates(subset=[key_header])
        return out.sort_values(key_header).reset_index(drop=True)


def _missing(value: object) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str | None:
    return truncate_utf8(str(value).strip() or None)


MAILCHIMP = Destination(
    name="mailchimp",
    file_format="csv",
    key_field="email",
    fields={
        "email": FieldMapping("Email Address", normalise_email),
        "first_name": FieldMapping("First Name", _text),
        "last_name": FieldMapping("Last Name", _text),
        "phone": FieldMapping("Phone Number", _text),
        "birth_date": FieldMapping("Birthday", birthday_mm_dd),
    },
    consent_purposes=("email_marketing",),
    fixed_columns=("Tags",),
)

PARQUET = Destination(
    name="parquet",
    file_format="parquet",
    key_field="customer_id",
    fields={
        name: FieldMapping(name)
        for name in (
            "customer_id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "country",
            "birth_date",
            "rfm_segment",
        )
    },
    consent_purposes=("email_marketing", "ad_targeting", "sms_marketing", "personalization"),
)

DESTINATIONS: dict[str, Destination] = {d.name: d for d in (MAILCHIMP, PARQUET)}
