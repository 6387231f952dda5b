"""Destination files: exact headers, normalisation and hashing per platform, one row per key.

Worked examples from shared/specs/destinations.md; expected hashes are
computed here with hashlib from the normalised string written out by hand.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from cdp.export import normalise as n
from cdp.export.destinations import DESTINATIONS, MAILCHIMP, column_as_text, truncate_utf8


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def members(**columns) -> pd.DataFrame:
    """A members frame; customer ids c1, c2, ... unless given."""
    size = len(next(iter(columns.values())))
    columns.setdefault("customer_id", [f"c{i + 1}" for i in range(size)])
    return pd.DataFrame(columns)


def one_row(destination: str, fields: list[str], options: dict | None = None, **values) -> dict:
    """Render a single member and return its row as {header: cell}."""
    frame = members(**{k: [v] for k, v in values.items()})
    out = DESTINATIONS[destination].render(frame, fields, options or {})
    assert len(out) == 1
    return out.iloc[0].to_dict()


PERSON = {
    "customer_id": "c1",
    "email": " John.Smith+promo@GoogleMail.com ",
    "phone": "+1 (800) 555-0102",
    "first_name": "Mrs. Zoë",
    "last_name": "O'Brien-Smith, Jr.",
    "street": "1 Main  St",
    "city": "San Francisco",
    "state": "California",
    "postcode": "94103-1234",
    "country": "US",
    "language": "en",
    "birth_date": date(1990, 2, 3),
    "gender": "female",
    "email_marketing_status": "granted",
    "sms_marketing_status": "withdrawn",
}
STANDARD = list(PERSON)


# --- headers and shape ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "headers"),
    [
        ("mailchimp", ["Email Address", "First Name", "Last Name", "Address", "Phone Number", "Birthday"]),
        (
            "braze",
            ["external_id", "first_name", "last_name", "email", "phone", "home_city", "country", "language", "dob"]
            + ["gender", "email_subscribe"],
        ),
        (
            "klaviyo",
            ["Email", "First Name", "Last Name", "Phone Number", "Address", "City", "Region", "Zip Code", "Country"]
            + ["Email Marketing Consent", "SMS Marketing Consent"],
        ),
        ("meta", ["extern_id", "email", "phone", "fn", "ln", "ct", "st", "zip", "country", "doby", "gen"]),
        ("google", ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]),
    ],
)
def test_exact_headers_in_a_fixed_order_whatever_the_audience_order(destination, headers):
    dest = DESTINATIONS[destination]
    fields = [f for f in STANDARD if dest.accepts(f) and f in dest.fields]
    for order in (fields, list(reversed(fields))):
        out = dest.render(members(**{k: [PERSON[k]] for k in fields}), order, {})
        assert list(out.columns) == headers
        assert out.columns[0] == dest.key_header()


def test_only_the_declared_fields_are_written():
    frame = members(**{k: [v] for k, v in PERSON.items()})
    assert list(DESTINATIONS["meta"].render(frame, ["customer_id", "email"], {}).columns) == ["extern_id", "email"]
    assert list(DESTINATIONS["google"].render(frame, ["email", "country"], {}).columns) == ["Email", "Country"]


def test_generic_files_put_the_key_first_then_standard_then_custom_in_audience_order():
    frame = members(email=["a@x.com"], country=["GB"], predicted_clv=[1.5], rfm_segment=["Champions"])
    fields = ["rfm_segment", "country", "customer_id", "predicted_clv", "email"]
    for name in ("csv", "parquet"):
        out = DESTINATIONS[name].render(frame, fields, {})
        assert list(out.columns) == ["customer_id", "email", "country", "rfm_segment", "predicted_clv"]


def test_destination_properties_follow_the_spec():
    expected = {
        "mailchimp": ("csv", "email", "Email Address", ("email_marketing",), 1, None),
        "braze": ("csv", "customer_id", "external_id", ("email_marketing",), 1, 500_000_000),
        "klaviyo": ("csv", "email", "Email", ("email_marketing",), 1, 50_000_000),
        "meta": ("csv", "customer_id", "extern_id", ("ad_targeting",), 100, None),
        "google": ("csv", "email", "Email", ("ad_targeting",), 100, None),
        "csv": ("csv", "customer_id", "customer_id", None, 1, None),
        "parquet": ("parquet", "customer_id", "customer_id", None, 1, None),
    }
    assert set(DESTINATIONS) == set(expected)
    for name, (fmt, key, key_header, purposes, min_rows, max_bytes) in expected.items():
        d = DESTINATIONS[name]
        assert (d.file_format, d.key_field, d.key_header(), d.min_rows, d.max_file_bytes) == (
            fmt,
            key,
            key_header,
            min_rows,
            max_bytes,
        )
        if purposes:
            assert d.consent_purposes == purposes
        else:
            assert set(d.consent_purposes) == {"email_marketing", "sms_marketing", "ad_targeting", "personalization"}


# --- one row per key --------------------------------------------------------------------------


def test_one_row_per_key_null_keys_dropped_first_duplicate_kept_sorted_by_key():
    frame = members(
        customer_id=["c1", "c2", "c3", "c4", "c5"],
        email=["  Zed@Example.COM ", "amy@example.com", None, "AMY@example.com", "   "],
        first_name=["Zed", "Amy", "Noemail", "Second Amy", "Blank"],
    )
    out = DESTINATIONS["klaviyo"].render(frame, ["email", "first_name"], {})
    assert out.to_dict("list") == {"Email": ["amy@example.com", "zed@example.com"], "First Name": ["Amy", "Zed"]}
    assert list(out.index) == [0, 1]


def test_google_keys_on_the_normalised_email_and_drops_members_without_one():
    frame = members(
        email=["john.smith@gmail.com", None, "JohnSmith+x@gmail.com", "b@example.com"],
        first_name=["First", "No email", "Same person", "B"],
    )
    out = DESTINATIONS["google"].render(frame, ["email", "first_name"], {})
    expected = sorted([(sha("johnsmith@gmail.com"), sha("first")), (sha("b@example.com"), sha("b"))])
    assert list(zip(out["Email"], out["First Name"], strict=True)) == expected


def test_parquet_keeps_native_types_and_drops_blank_keys():
    frame = members(
        customer_id=["c2", None, "c1", " "],
        is_vip=[True, False, False, True],
        churn_probability=[0.25, 0.5, 0.75, 1.0],
        last_order_at=pd.to_datetime(["2026-09-30 12:00", "2026-09-01 00:00", "2026-08-01 00:00", "2026-07-01 00:00"]),
    )
    out = DESTINATIONS["parquet"].render(frame, ["customer_id", "is_vip", "churn_probability", "last_order_at"], {})
    assert list(out["customer_id"]) == ["c1", "c2"]
    assert out["is_vip"].dtype == bool and out["churn_probability"].dtype == float
    assert pd.api.types.is_datetime64_any_dtype(out["last_order_at"])
    assert out.loc[0, "churn_probability"] == 0.75


def test_csv_cells_are_text_or_none():
    frame = members(
        is_vip=[True, None], predicted_clv=[1234567.5, np.nan], last_order_at=pd.to_datetime(["2026-09-30", None])
    )
    for name in ("csv", "braze"):
        out = DESTINATIONS[name].render(frame, ["customer_id", "is_vip", "predicted_clv", "last_order_at"], {})
        assert all(v is None or isinstance(v, str) for v in out.to_numpy().ravel())
        assert out.iloc[1, 1:].tolist() == [None, None, None]


def test_an_empty_audience_gives_headers_and_no_rows():
    frame = members(email=pd.Series([], dtype=object), customer_id=pd.Series([], dtype=object))
    for name in ("mailchimp", "google", "parquet"):
        out = DESTINATIONS[name].render(frame, ["customer_id", "email"] if name == "parquet" else ["email"], {})
        assert len(out) == 0 and out.columns[0] == DESTINATIONS[name].key_header()
    out = MAILCHIMP.render(frame, ["email"], {"tags": ["vip"]})
    assert list(out.columns) == ["Email Address", "Tags"] and len(out) == 0


def test_render_is_deterministic():
    frame = members(**{k: [v, v] for k, v in PERSON.items() if k != "customer_id"})
    for name, dest in DESTINATIONS.items():
        fields = [f for f in STANDARD if dest.accepts(f)]
        first = dest.render(frame, fields, {})
        assert first.equals(dest.render(frame.copy(), fields, {})), name


# --- Mailchimp --------------------------------------------------------------------------------


def test_mailchimp_row():
    row = one_row("mailchimp", [f for f in STANDARD if MAILCHIMP.accepts(f)], {"tags": ["vip", "q3"]}, **PERSON)
    assert row == {
        "Email Address": "john.smith+promo@googlemail.com",
        "First Name": "Mrs. Zoë",
        "Last Name": "O'Brien-Smith, Jr.",
        # street, city, state, postcode, country separated by two spaces; inner runs of spaces collapsed
        "Address": "1 Main St  San Francisco  California  94103-1234  US",
        "Phone Number": "+18005550102",
        "Birthday": "02/03",
        "Tags": "vip,q3",
    }


def test_mailchimp_country_is_alpha2_and_text_is_cut_at_255_bytes():
    row = one_row("mailchimp", ["email", "last_name", "country"], email="a@b.co", last_name="😀" * 70, country="uk")
    assert row["Address"] == "GB"
    assert row["Last Name"] == "😀" * 63  # 4 bytes each: 252 bytes, the 64th would split
    assert truncate_utf8("é" * 200) == "é" * 127
    assert truncate_utf8("a" + "é" * 200) == "a" + "é" * 127
    assert truncate_utf8("short") == "short" and truncate_utf8(None) is None


def test_mailchimp_without_tags_has_no_tags_column():
    out = MAILCHIMP.render(members(email=["a@b.co"]), ["email"], {})
    assert list(out.columns) == ["Email Address"]


# --- Braze ------------------------------------------------------------------------------------


def test_braze_row():
    row = one_row("braze", STANDARD, **PERSON)
    assert row == {
        "external_id": "c1",
        "first_name": "Mrs. Zoë",
        "last_name": "O'Brien-Smith, Jr.",
        "email": "john.smith+promo@googlemail.com",
        "phone": "+18005550102",
        "home_city": "San Francisco",
        "country": "US",
        "language": "en",
        "dob": "1990-02-03",
        "gender": "F",
        "email_subscribe": "opted_in",
        # not Braze default attributes: written as custom attributes under their own names
        "street": "1 Main  St",
        "state": "California",
        "postcode": "94103-1234",
        "sms_marketing_status": "withdrawn",
    }


@pytest.mark.parametrize(
    ("gender", "expected"), [("female", "F"), ("male", "M"), ("other", "O"), (None, None), ("unknown", None)]
)
def test_braze_gender(gender, expected):
    assert one_row("braze", ["customer_id", "gender"], gender=gender)["gender"] == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("granted", "opted_in"), ("withdrawn", "unsubscribed"), ("denied", "unsubscribed")]
    + [("objected", "unsubscribed"), (None, None)],
)
def test_braze_email_subscribe(status, expected):
    row = one_row("braze", ["customer_id", "email_marketing_status"], email_marketing_status=status)
    assert row["email_subscribe"] == expected


def test_braze_custom_attributes_format():
    frame = members(
        is_vip=[True, False, None],
        churn_probability=[0.1234, 1e-7, np.nan],
        predicted_clv=[1234567.5, 1e20, None],
        orders=pd.array([3, 12000, None], dtype="Int64"),
        last_order_at=pd.to_datetime(["2026-09-30 12:34:56", "2026-01-01 00:00:00.5", None], format="ISO8601"),
        first_order_date=[date(2024, 5, 6), None, None],
        persona_name=["Bargain hunter", "é" * 300, "  "],
    )
    fields = list(frame.columns)
    out = DESTINATIONS["braze"].render(frame, fields, {}).set_index("external_id")
    assert out.loc["c1"].to_dict() == {
        "is_vip": "true",
        "churn_probability": "0.1234",
        "predicted_clv": "1234567.5",
        "orders": "3",
        "last_order_at": "2026-09-30T12:34:56Z",
        "first_order_date": "2024-05-06",
        "persona_name": "Bargain hunter",
    }
    assert out.loc["c2"].to_dict() == {
        "is_vip": "false",
        "churn_probability": "0.0000001",  # no scientific notation
        "predicted_clv": "100000000000000000000",
        "orders": "12000",  # no thousands separator
        "last_order_at": "2026-01-01T00:00:00.500Z",
        "first_order_date": None,
        "persona_name": "é" * 255,  # 255 characters, not bytes
    }
    assert set(out.loc["c3"]) == {None}


def test_braze_refuses_arrays():
    frame = members(segments=[["a", "b"]])
    with pytest.raises(TypeError, match="cannot carry arrays"):
        DESTINATIONS["braze"].render(frame, ["customer_id", "segments"], {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (np.bool_(False), "false"),
        (np.int64(7), "7"),
        (np.float32(0.5), "0.5"),
        (3.0, "3.0"),  # a float stays a decimal, even when whole
        (Decimal("12.50"), "12.50"),
        (-0.000012, "-0.000012"),
        (float("inf"), None),
        (pd.NaT, None),
        (pd.NA, None),
        (datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/London")), "2026-03-29T01:30:00Z"),
        (datetime(2026, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/London")), "2026-07-01T08:00:00Z"),
        (datetime(2026, 7, 1, 9, 0, tzinfo=UTC), "2026-07-01T09:00:00Z"),
        (date(2026, 7, 1), "2026-07-01"),
        ("Champions", "Champions"),
        ("   ", None),  # blank text is missing
        (None, None),
        (float("nan"), None),
        (np.float64("nan"), None),
    ],
)
def test_value_as_text(value, expected):
    assert n.value_as_text(value) == expected


STAMPS = ["2026-08-12", "2026-08-12 10:11:12.345678", "1965-03-04 01:02:03.999", None, "2026-01-01 00:00:00.0005",
          "1969-12-31 23:59:59.5", "1969-12-31 23:59:59.000001"]


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([0.5, np.nan, np.inf, -np.inf, -0.0, 1e16, 1.2345678901234568e17, 1e-7, 2019.9594593287695, 3.0]),
        pd.Series([1, -5, 0, 2**62], dtype=np.int64),
        pd.Series([True, False]),
        pd.Series([1, None], dtype="Int64"),
        *(pd.Series(pd.to_datetime(STAMPS, format="ISO8601")).astype(f"datetime64[{unit}]")
          for unit in ("ns", "us", "ms")),
        pd.Series(np.array(["0999-05-01T10:00:00", "2020-01-01T00:00:00.25", "NaT"], dtype="datetime64[us]")),
        pd.Series([None, None], dtype="datetime64[us]"),
        pd.Series(pd.to_datetime(STAMPS[:3], format="ISO8601", utc=True)),
        pd.Series(["Champions", " ", None, "", " x "], dtype="string"),
        pd.Series(["Champions", " ", None, date(2026, 7, 1), 7], dtype=object),
    ],
    ids=lambda column: str(column.dtype),
)
def test_a_column_renders_as_each_of_its_values_does(column):
    assert column_as_text(column) == [None if n.is_missing(value) else n.value_as_text(value) for value in column]


# --- Klaviyo ----------------------------------------------------------------------------------


def test_klaviyo_row():
    row = one_row("klaviyo", [f for f in STANDARD if DESTINATIONS["klaviyo"].accepts(f)], **PERSON)
    assert row == {
        "Email": "john.smith+promo@googlemail.com",
        "First Name": "Mrs. Zoë",
        "Last Name": "O'Brien-Smith, Jr.",
        "Phone Number": "+18005550102",
        "Address": "1 Main  St",
        "City": "San Francisco",
        "Region": "California",
        "Zip Code": "94103-1234",
        "Country": "US",
        "Email Marketing Consent": "Subscribed",
        "SMS Marketing Consent": "Unsubscribed",
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [("granted", "Subscribed"), ("withdrawn", "Unsubscribed"), ("objected", "Unsubscribed")]
    + [("denied", "Unsubscribed"), (None, "Never subscribed")],
)
def test_klaviyo_consent(status, expected):
    row = one_row("klaviyo", ["email", "sms_marketing_status"], email="a@b.co", sms_marketing_status=status)
    assert row["SMS Marketing Consent"] == expected


def test_klaviyo_consent_columns_only_when_asked_for():
    out = DESTINATIONS["klaviyo"].render(members(email=["a@b.co"], email_marketing_status=["granted"]), ["email"], {})
    assert list(out.columns) == ["Email"]


# --- Meta -------------------------------------------------------------------------------------


def test_meta_row_hashes_everything_but_extern_id():
    row = one_row("meta", [f for f in STANDARD if DESTINATIONS["meta"].accepts(f)], **PERSON)
    assert row == {
        "extern_id": "c1",
        "email": sha("john.smith+promo@googlemail.com"),  # no Gmail rules for Meta
        "phone": sha("18005550102"),
        "fn": sha("zoë"),
        "ln": sha("obriensmith"),
        "ct": sha("sanfrancisco"),
        "st": sha("ca"),
        "zip": sha("94103"),
        "country": sha("us"),
        "doby": sha("1990"),
        "gen": sha("f"),
    }


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        (n.email_for_meta, " John.Smith+promo@GoogleMail.com ", "john.smith+promo@googlemail.com"),
        (n.email_for_meta, "not-an-email", None),
        (n.phone_e164_digits_for_meta, "+1 (800) 555-0102", "18005550102"),
        (n.phone_e164_digits_for_meta, "+44 (0)7700 900123", "447700900123"),
        (n.phone_e164_digits_for_meta, "0044 7700 900123", "447700900123"),
        (n.phone_e164_digits_for_meta, "07700 900123", None),  # no country code: not guessed
        (n.name_for_meta, "Mrs. Zoë", "zoë"),
        (n.name_for_meta, "Zoe\u0308", "zoë"),  # decomposed accent: same letters as the composed form
        (n.name_for_meta, "Jean-Luc", "jeanluc"),
        (n.name_for_meta, "Smith, Jr.", "smith"),
        (n.name_for_meta, "Ii", "ii"),  # a surname, not a suffix to drop
        (n.name_for_meta, " .- ", None),
        (n.city_for_meta, "St. Albans", "stalbans"),
        (n.country_for_meta, "GB", "gb"),
        (n.gender_for_meta, "male", "m"),
        (n.gender_for_meta, "other", None),
        (n.birth_year_for_meta, date(1990, 2, 3), "1990"),
    ],
)
def test_meta_normalisation(function, value, expected):
    assert function(value) == expected


@pytest.mark.parametrize(
    ("postcode", "country", "expected"),
    [
        ("94103-1234", "US", "94103"),
        ("SW1A 1AA", "GB", "sw1a1aa"),
        ("00-950", "PL", "00950"),
        ("123", "US", None),
        (None, "US", None),
    ],
)
def test_meta_zip(postcode, country, expected):
    assert n.zip_for_meta(postcode, country) == expected


@pytest.mark.parametrize(
    ("state", "country", "expected"),
    [("CA", "US", "ca"), ("New York", "US", "ny"), ("Nowhere", "US", None), ("N.S.W.", "AU", "nsw")],
)
def test_meta_state(state, country, expected):
    assert n.state_for_meta(state, country) == expected


# --- Google -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "normalised"),
    [
        (" John.Smith+promo@GoogleMail.com ", "johnsmith@googlemail.com"),
        ("j.o.h.n@gmail.com", "john@gmail.com"),
        ("John.Smith+promo@example.com", "john.smith+promo@example.com"),  # other domains keep dots and +tags
        ("jo hn@example.com", "john@example.com"),
        ("+tag@gmail.com", None),
        (None, None),
    ],
)
def test_google_email(email, normalised):
    assert n.email_for_google(email) == normalised


def test_google_row_hashes_only_email_phone_and_names():
    row = one_row("google", ["email", "phone", "first_name", "last_name", "country", "postcode"], **PERSON)
    assert row == {
        "Email": sha("johnsmith@googlemail.com"),
        "Phone": sha("+18005550102"),
        "First Name": sha("zoë"),
        "Last Name": sha("o'brien-smith"),
        "Country": "US",  # never hashed
        "Zip": "94103-1234",  # never hashed
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Mrs. Jane", "jane"), ("Dr Mary  Ann", "mary ann"), ("Smith Jr.", "smith"), ("King III", "king")]
    + [("  JOSÉ ", "josé"), ("Miss", "miss")],
)
def test_google_names(name, expected):
    assert n.name_for_google(name) == expected


def test_phone_for_google_keeps_the_plus():
    assert n.phone_e164_for_google("+1 (800) 555-0102") == "+18005550102"
    assert n.phone_e164_for_google("1-800-555-0102") is None


# --- blanks and hashing -----------------------------------------------------------------------


def test_blank_stays_blank_never_the_hash_of_empty():
    assert n.sha256_hex("") is None and n.sha256_hex(None) is None
    assert n.sha256_hex("abc") == hashlib.sha256(b"abc").hexdigest()
    row = one_row(
        "meta",
        ["customer_id", "email", "phone", "first_name", "gender"],
        email=None,
        phone=np.nan,
        first_name=" . ",
        gender="other",
    )
    assert row == {"extern_id": "c1", "email": None, "phone": None, "fn": None, "gen": None}
    assert sha("") not in one_row("google", ["email", "last_name"], email="a@b.co", last_name="  ").values()


# --- accepts and options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "field", "accepted"),
    [
        ("braze", "rfm_segment", True),
        ("braze", "churn_probability", True),
        ("braze", "Rfm Segment", False),
        ("braze", "1st_order", False),
        ("braze", "dob", False),  # a Braze default attribute header: would collide
        ("braze", "email_subscribe", False),
        ("mailchimp", "rfm_segment", False),
        ("mailchimp", "birth_date", True),
        ("klaviyo", "rfm_segment", False),
        ("meta", "street", False),
        ("meta", "customer_id", True),
        ("google", "birth_date", False),
        ("csv", "predicted_clv", True),
        ("parquet", "last_order_at", True),
        ("parquet", "bad-name", False),
        ("parquet", "trailing_newline\n", False),
    ],
)
def test_accepts(destination, field, accepted):
    assert DESTINATIONS[destination].accepts(field) is accepted


@pytest.mark.parametrize(
    ("destination", "options", "problem"),
    [
        ("mailchimp", {"tags": ["vip", "q3"]}, None),
        ("mailchimp", {}, None),
        ("mailchimp", {"tags": "vip"}, "option 'tags' must be a list of non-empty strings"),
        ("mailchimp", {"tags": ["vip", 3]}, "option 'tags' must be a list of non-empty strings"),
        ("mailchimp", {"tags": ["a,b"]}, "contain a comma"),
        ("mailchimp", {"tag": ["vip"]}, "unknown option 'tag'; mailchimp accepts ['tags']"),
        ("meta", {"tags": ["vip"]}, "unknown option 'tags'; meta takes no options"),
    ],
)
def test_validate_options(destination, options, problem):
    problems = DESTINATIONS[destination].validate_options(options)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]


def test_render_refuses_wrong_fields_and_options():
    frame = members(email=["a@b.co"], rfm_segment=["Champions"])
    with pytest.raises(ValueError, match="does not accept field 'rfm_segment'"):
        MAILCHIMP.render(frame, ["email", "rfm_segment"], {})
    with pytest.raises(ValueError, match="needs its key field 'email'"):
        MAILCHIMP.render(frame, ["customer_id"], {})
    with pytest.raises(ValueError, match="members have no column"):
        MAILCHIMP.render(frame, ["email", "first_name"], {})
    with pytest.raises(ValueError, match="unknown option"):
        MAILCHIMP.render(frame, ["email"], {"tagz": ["x"]})
