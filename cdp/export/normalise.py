"""Pure normalisation and hashing rules for destination files, one function per rule.

Every function takes one warehouse value (or None) and returns the text the
destination expects, or None for a blank cell. Rules come from
shared/specs/destinations.md; choices the spec leaves open are in
docs/destinations.md. Nothing here reads pandas frames, so each rule can be
tested with a literal.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

MAX_TEXT_BYTES = 255  # Mailchimp text fields
MAX_TEXT_CHARS = 255  # Braze string attributes

# Titles and generational suffixes that are not part of the name a platform
# matches on ("Mrs. Jane Smith, Jr." -> "Jane Smith"); compared without dots.
NAME_PREFIXES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "dame"})
NAME_SUFFIXES = frozenset({"jr", "jnr", "sr", "snr", "ii", "iii", "iv", "phd", "md", "dds", "esq"})

GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})

# Consent statuses that mean "no": each becomes an explicit unsubscribe, never "unknown".
REFUSED = frozenset({"denied", "withdrawn", "objected"})

# Meta's `st` for the US is the two-letter ANSI code; full names are mapped to it.
US_STATE_CODES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
    "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny",
    "northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
    "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd",
    "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va",
    "washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
    "puertorico": "pr", "guam": "gu", "virginislands": "vi", "americansamoa": "as",
    "northernmarianaislands": "mp",
}  # fmt: skip

_WHITESPACE = re.compile(r"\s+")
_PHONE_FORMATTING = re.compile(r"[\s().\-/]")
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")  # country code first, 7 to 15 digits in all
_ALPHA2 = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[a-z]{2}")


# --- blanks, text limits, hashing -------------------------------------------------------------


def is_missing(value: object) -> bool:
    """None, NaN, NaT and pd.NA are missing; lists and other non-scalars never are."""
    if value is None:
        return True
    if not pd.api.types.is_scalar(value):
        return False
    return bool(pd.isna(value))


def text_or_none(value: object) -> str | None:
    """The value as trimmed text; missing or whitespace-only is None."""
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def truncate_utf8(value: str | None, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """Cut a string to at most ``max_bytes`` of UTF-8 without splitting a character."""
    if value is None:
        return None
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def truncate_chars(value: str | None, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Cut a string to at most ``max_chars`` characters (Braze counts characters, not bytes)."""
    return None if value is None else value[:max_chars]


def sha256_hex(value: str | None) -> str | None:
    """SHA-256 of the UTF-8 string as lower-case hex; blank stays blank, never the hash of ''."""
    if not value:
        return None
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# --- email ------------------------------------------------------------------------------------


def email_trim_lower(value: object) -> str | None:
    """Trimmed, lower-cased address; anything without one '@' between non-empty parts is blank."""
    text = text_or_none(value)
    if text is None:
        return None
    email = text.lower()
    local, at, domain = email.partition("@")
    if not (at and local and domain) or "@" in domain:
        return None
    return email


def email_for_meta(value: object) -> str | None:
    """Meta: trim and lower-case only; no Gmail dot or +tag rules."""
    return email_trim_lower(value)


def email_for_google(value: object) -> str | None:
    """Google: trim, lower-case, no spaces; for gmail.com/googlemail.com drop dots and +tag before '@'."""
    if is_missing(value):
        return None
    email = email_trim_lower(_WHITESPACE.sub("", str(value)))
    if email is None:
        return None
    local, _, domain = email.partition("@")
    if domain in GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


# --- phone ------------------------------------------------------------------------------------


def phone_e164(value: object) -> str | None:
    """E.164 with the leading '+' ('+1 (800) 555-0102' -> '+18005550102').

    Accepts '+' or the international prefix '00' and drops formatting and a
    '(0)' trunk marker. A number without a country code is blank: guessing the
    country would send a wrong number.
    """
    text = text_or_none(value)
    if text is None:
        return None
    compact = _PHONE_FORMATTING.sub("", text.replace("(0)", ""))
    if compact.startswith("+"):
        digits = compact[1:]
    elif compact.startswith("00"):
        digits = compact[2:]
    else:
        return None
    return f"+{digits}" if _E164_DIGITS.fullmatch(digits) else None


def phone_e164_for_google(value: object) -> str | None:
    """Google: E.164 WITH the leading '+'."""
    return phone_e164(value)


def phone_e164_digits_for_meta(value: object) -> str | None:
    """Meta: digits only, country code first, no '+' and no leading zeros ('18005550102')."""
    e164 = phone_e164(value)
    return None if e164 is None else e164[1:]


# --- names and places -------------------------------------------------------------------------


def strip_name_affixes(value: object) -> str | None:
    """Drop leading titles (Mr, Mrs, Dr...) and trailing suffixes (Jr, III...).

    A name that is nothing but an affix is kept as it is ('Ii' is a surname).
    """
    text = text_or_none(value)
    if text is None:
        return None
    tokens = [t for t in re.split(r"[\s,]+", text) if t]
    while len(tokens) > 1 and tokens[0].lower().strip(".") in NAME_PREFIXES:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1].lower().strip(".") in NAME_SUFFIXES:
        tokens.pop()
    return " ".join(tokens)


def letters_and_digits_lower(value: object) -> str | None:
    """Lower-case, NFC, letters (accents kept), combining marks and digits only: no punctuation or spaces."""
    text = text_or_none(value)
    if text is None:
        return None
    lowered = unicodedata.normalize("NFC", text.lower())
    kept = "".join(c for c in lowered if unicodedata.category(c)[0] in "LMN")
    return kept or None


def name_for_meta(value: object) -> str | None:
    """Meta fn/ln: affixes dropped, lower-case, no punctuation or spaces; 'é' kept as 'é' (NFC)."""
    return letters_and_digits_lower(strip_name_affixes(value))


def name_for_google(value: object) -> str | None:
    """Google First/Last Name: affixes dropped, lower-case, inner whitespace one space, accents kept."""
    stripped = strip_name_affixes(value)
    if stripped is None:
        return None
    return unicodedata.normalize("NFC", _WHITESPACE.sub(" ", stripped).lower()) or None


def city_for_meta(value: object) -> str | None:
    """Meta ct: lower-case, no punctuation or spaces ('St. Albans' -> 'stalbans')."""
    return letters_and_digits_lower(value)


def country_alpha2(value: object) -> str | None:
    """ISO-3166 alpha-2, upper case; 'UK' becomes 'GB'; anything else not two letters is blank."""
    text = text_or_none(value)
    if text is None:
        return None
    code = text.upper()
    code = "GB" if code == "UK" else code
    return code if _ALPHA2.fullmatch(code) else None


def country_for_meta(value: object) -> str | None:
    """Meta country: lower-case alpha-2 (then hashed)."""
    code = country_alpha2(value)
    return None if code is None else code.lower()


def state_for_meta(value: object, country: object = None) -> str | None:
    """Meta st: US states as the 2-letter code, lower-case (names mapped); elsewhere lower-case, no punctuation."""
    state = letters_and_digits_lower(value)
    if state is None:
        return None
    if country_alpha2(country) == "US":
        state = US_STATE_CODES.get(state, state)
        return state if len(state) == 2 else None
    return state


def zip_for_meta(value: object, country: object = None) -> str | None:
    """Meta zip: lower-case, no spaces or dashes; US: the first 5 digits ('94103-1234' -> '94103')."""
    text = text_or_none(value)
    if text is None:
        return None
    if country_alpha2(country) == "US":
        digits = re.sub(r"\D", "", text)
        return digits[:5] if len(digits) >= 5 else None
    return re.sub(r"[\s\-]", "", text).lower() or None


def postcode_trimmed(value: object) -> str | None:
    """Postcode as the warehouse holds it, trimmed (Google's Zip is sent in clear)."""
    return text_or_none(value)


def language_iso639_1(value: object) -> str | None:
    """Two-letter ISO-639-1 code, lower case; anything else is blank."""
    text = text_or_none(value)
    if text is None:
        return None
    code = text.lower()
    return code if _LANGUAGE.fullmatch(code) else None


def address_part(value: object) -> str | None:
    """One part of a Mailchimp address: inner whitespace collapsed, since two spaces separate the parts."""
    text = text_or_none(value)
    return None if text is None else _WHITESPACE.sub(" ", text)


def mailchimp_address(parts: list[str | None]) -> str | None:
    """Mailchimp takes a whole address in one cell, parts separated by two spaces, country last."""
    present = [p for p in parts if p]
    return "  ".join(present) or None


# --- dates ------------------------------------------------------------------------------------


def as_date(value: object) -> date | None:
    """A calendar date from a date, datetime, Timestamp or 'YYYY-MM-DD' string; anything else is None."""
    if is_missing(value):
        return None
    if isinstance(value, datetime):  # pd.Timestamp is a datetime
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def birthday_mm_dd(value: object) -> str | None:
    """Mailchimp Birthday: MM/DD."""
    day = as_date(value)
    return None if day is None else f"{day.month:02d}/{day.day:02d}"


def date_iso(value: object) -> str | None:
    """YYYY-MM-DD (Braze dob)."""
    day = as_date(value)
    return None if day is None else day.isoformat()


def birth_year_for_meta(value: object) -> str | None:
    """Meta doby: YYYY."""
    day = as_date(value)
    return None if day is None else f"{day.year:04d}"


def datetime_iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with 'Z'; naive timestamps are taken as UTC (the warehouse keeps `*_at` in UTC)."""
    moment = pd.Timestamp(value)
    moment = moment.tz_localize(UTC) if moment.tzinfo is None else moment.tz_convert(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- coded values -----------------------------------------------------------------------------


def gender_for_meta(value: object) -> str | None:
    """Meta gen: 'f' or 'm'; other or unknown is blank."""
    return {"female": "f", "f": "f", "male": "m", "m": "m"}.get((text_or_none(value) or "").lower())


def gender_for_braze(value: object) -> str | None:
    """Braze gender: F, M or O; unknown is blank, not N/P (those are answers the person did not give)."""
    return {"female": "F", "f": "F", "male": "M", "m": "M", "other": "O", "o": "O"}.get(
        (text_or_none(value) or "").lower()
    )


def email_subscribe_for_braze(status: object) -> str | None:
    """Braze email_subscribe: granted -> opted_in, any refusal -> unsubscribed, unknown -> blank (no overwrite)."""
    text = (text_or_none(status) or "").lower()
    if text == "granted":
        return "opted_in"
    return "unsubscribed" if text in REFUSED else None


def consent_for_klaviyo(status: object) -> str:
    """Klaviyo consent column: granted -> Subscribed, any refusal -> Unsubscribed, no record -> Never subscribed.

    A refusal is 'Unsubscribed', not 'Never subscribed': Klaviyo still lets
    email go to never-subscribed profiles, and a refusal must stop it.
    """
    text = (text_or_none(status) or "").lower()
    if text == "granted":
        return "Subscribed"
    return "Unsubscribed" if text in REFUSED else "Never subscribed"


# --- custom attributes ------------------------------------------------------------------------


def decimal_text(value: float | Decimal) -> str | None:
    """A decimal with '.' and no thousands separators or exponent (1e-07 -> '0.0000001'); NaN/inf blank."""
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not number.is_finite():
        return None
    return format(number, "f")


def value_as_text(value: object) -> str | None:
    """A custom attribute as CSV text: true/false, plain decimals, ISO-8601 dates and UTC datetimes.

    Lists and mappings raise: CSV imports take no arrays.
    """
    # text, flags and whole numbers first: never missing, and most cells of an export (the missing
    # test costs a pandas call per cell)
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if is_missing(value):
        return None
    if isinstance(value, float | np.floating | Decimal):
        return decimal_text(value)
    if isinstance(value, datetime | np.datetime64):
        return datetime_iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset | dict | np.ndarray):
        raise TypeError(f"{type(value).__name__} value {value!r}: a CSV file cannot carry arrays or mappings")
    return str(value)
