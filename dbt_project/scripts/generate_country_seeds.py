"""Regenerate seeds/country_codes.csv and seeds/country_aliases.csv.

The country and telephone facts come from pycountry (ISO 3166) and
phonenumbers (Google's libphonenumber metadata), so they are not typed by hand.
Only the extra aliases below are hand-written. Development-only dependencies:

    pip install phonenumbers pycountry
    python dbt_project/scripts/generate_country_seeds.py
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import phonenumbers
import pycountry
from phonenumbers import PhoneMetadata

SEEDS = Path(__file__).resolve().parents[1] / "seeds"

# Names people write that ISO 3166 does not list (keys are normalised like the SQL does).
EXTRA_ALIASES = {
    "uk": "GB", "u k": "GB", "united kingdom": "GB", "great britain": "GB", "britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "united kingdom of great britain and northern ireland": "GB",
    "us": "US", "usa": "US", "u s": "US", "u s a": "US", "america": "US",
    "united states of america": "US", "the united states": "US",
    "deutschland": "DE", "germany": "DE", "bundesrepublik deutschland": "DE",
    "holland": "NL", "the netherlands": "NL", "nederland": "NL",
    "france": "FR", "espana": "ES", "españa": "ES", "italia": "IT", "schweiz": "CH", "suisse": "CH",
    "svizzera": "CH", "osterreich": "AT", "österreich": "AT", "belgique": "BE", "belgie": "BE",
    "belgië": "BE", "eire": "IE", "éire": "IE", "republic of ireland": "IE", "sverige": "SE",
    "norge": "NO", "danmark": "DK", "suomi": "FI", "polska": "PL", "czech republic": "CZ",
    "russia": "RU", "south korea": "KR", "korea": "KR", "north korea": "KP", "vietnam": "VN",
    "iran": "IR", "syria": "SY", "laos": "LA", "moldova": "MD", "bolivia": "BO", "venezuela": "VE",
    "tanzania": "TZ", "taiwan": "TW", "brasil": "BR", "méxico": "MX", "mexico": "MX",
    "uae": "AE", "u a e": "AE", "emirates": "AE", "hong kong": "HK", "macau": "MO",
    "ivory coast": "CI", "turkey": "TR", "türkiye": "TR", "turkiye": "TR", "cape verde": "CV",
    "swaziland": "SZ", "burma": "MM", "east timor": "TL", "vatican": "VA", "vatican city": "VA",
    "palestine": "PS", "micronesia": "FM", "new zealand": "NZ", "aotearoa": "NZ",
}

# Olympic / FIFA codes people use for countries; added only where they are no ISO code.
SPORTS_CODES = {
    "ger": "DE", "ned": "NL", "sui": "CH", "por": "PT", "den": "DK", "gre": "GR", "cro": "HR",
    "bul": "BG", "slo": "SI", "lat": "LV", "rsa": "ZA", "ksa": "SA",
    "eng": "GB", "sco": "GB", "wal": "GB", "nir": "GB",
}


def normalise_alias(value: str) -> str:
    """Same as the SQL macro country_alias_key: lower-case, no dots, single spaces."""
    value = value.lower().replace(".", "")
    return re.sub(r"\s+", " ", value).strip()


def strip_accents(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))


def phone_facts(alpha2: str) -> dict[str, object]:
    meta = PhoneMetadata.metadata_for_region(alpha2)
    if meta is None:
        return {}
    lengths = [
        n
        for desc in (meta.mobile, meta.fixed_line)
        if desc is not None
        for n in (desc.possible_length or ())
        if n > 0
    ] or [n for n in (meta.general_desc.possible_length or ()) if n > 0]
    intl = meta.international_prefix or ""
    if not intl.isdigit():
        preferred = (meta.preferred_international_prefix or "").replace("~", "")
        intl = preferred if preferred.isdigit() else "00"
    trunk = meta.national_prefix or ""
    return {
        "calling_code": str(meta.country_code),
        "trunk_prefix": trunk if trunk.isdigit() else "",
        "international_prefix": intl,
        "min_national_number_length": min(lengths) if lengths else "",
        "max_national_number_length": max(lengths) if lengths else "",
    }


def main() -> None:
    countries = sorted(pycountry.countries, key=lambda c: c.alpha_2)
    with open(SEEDS / "country_codes.csv", "w", newline="", encoding="utf-8") as fh:
        fields = [
            "country_code", "alpha3_code", "country_name", "calling_code", "trunk_prefix",
            "international_prefix", "min_national_number_length", "max_national_number_length",
        ]
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for c in countries:
            writer.writerow({
                "country_code": c.alpha_2, "alpha3_code": c.alpha_3,
                "country_name": getattr(c, "common_name", None) or c.name, **phone_facts(c.alpha_2),
            })

    aliases: dict[str, str] = {}
    for c in countries:
        names = [c.alpha_2, c.alpha_3, c.name, getattr(c, "official_name", ""), getattr(c, "common_name", "")]
        for name in filter(None, names):
            for variant in {name, strip_accents(name)}:
                aliases.setdefault(normalise_alias(variant), c.alpha_2)
    for alias, code in EXTRA_ALIASES.items():
        aliases[normalise_alias(alias)] = code
    for alias, code in SPORTS_CODES.items():
        aliases.setdefault(alias, code)
    with open(SEEDS / "country_aliases.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["country_alias", "country_code"])
        writer.writerows(sorted(aliases.items()))
    print(f"{len(countries)} countries, {len(aliases)} aliases, phonenumbers {phonenumbers.__version__}")


if __name__ == "__main__":
    main()
