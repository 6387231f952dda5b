"""Audience definitions and destination files: format rules, consent, atomic owner-only writes, manifests."""

from __future__ import annotations

import csv
import hashlib
import json
import stat
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cdp.export import AudienceDefinitionError, export_audience, parse_audience
from cdp.export.destinations import MAILCHIMP, truncate_utf8

GOOD_AUDIENCE = """
name: vip_email
description: test audience
owner: crm
model: audience_vip
consent_purpose: email_marketing
min_size: 1
destinations:
  mailchimp:
    fields: [email, first_name, last_name, birth_date]
    tags: [vip, test]
  parquet:
    fields: [customer_id, email, country]
"""


def audience_file(tmp_path: Path, text: str, name: str = "vip_email.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("consent_purpose: email_marketing", "consent_purpose: spam"), "consent_purpose", "is not one of"),
        (("  mailchimp:", "  mailchimpp:"), "destinations.mailchimpp", "unknown destination"),
        (
            ("[email, first_name, last_name, birth_date]", "[email, shoe_size]"),
            "destinations.mailchimp.fields",
            "unknown field 'shoe_size'",
        ),
        (
            ("[email, first_name, last_name, birth_date]", "[first_name]"),
            "destinations.mailchimp.fields",
            "must include the key field 'email'",
        ),
        (("model: audience_vip", "modle: audience_vip"), "modle", "unknown field"),
        (("name: vip_email", "name: VIP Email"), "name", "lower_snake_case"),
    ],
)
def test_wrong_definitions_fail_naming_file_and_field(tmp_path, change, field, message):
    path = audience_file(tmp_path, GOOD_AUDIENCE.replace(*change))
    with pytest.raises(AudienceDefinitionError) as err:
        parse_audience(path)
    assert str(path) in str(err.value) and field in str(err.value) and message in str(err.value)


def test_mailchimp_rows_follow_the_destination_rules():
    members = pd.DataFrame(
        {
            "customer_id": ["c2", "c1", "c3", "c4"],
            "email": ["  Zed@Example.COM ", "amy@example.com", None, "amy@example.com"],
            "first_name": ["Zed", "Amy", "Noemail", "Dup"],
            "last_name": ["Ó" * 200, "Lee", "X", "Y"],  # 400 bytes of UTF-8
            "birth_date": [date(1990, 2, 3), None, None, None],
        }
    )
    out = MAILCHIMP.render(members, ["email", "first_name", "last_name", "birth_date"], {"tags": ["vip", "q3"]})
    assert list(out.columns) == ["Email Address", "First Name", "Last Name", "Birthday", "Tags"]
    # One row per email, no empty key, sorted for stable bytes.
    assert list(out["Email Address"]) == ["amy@example.com", "zed@example.com"]
    assert out.loc[1, "Birthday"] == "02/03" and pd.isna(out.loc[0, "Birthday"])
    assert len(out.loc[1, "Last Name"].encode()) <= 255
    assert set(out["Tags"]) == {"vip,q3"}


def test_truncate_never_splits_a_character():
    assert truncate_utf8("é" * 200) == "é" * 127
    assert truncate_utf8("short") == "short"


@pytest.fixture
def warehouse(con):
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.audience_vip as select * from (values
            ('c1', 'amy@example.com', 'Amy', 'Lee', 'GB', date '1990-02-03', date '2026-09-30'),
            ('c2', 'bob@example.com', 'Bob', 'Roe', 'US', null, date '2026-09-30'),
            ('c3', 'cy@example.com', 'Cy', 'Poe', 'DE', null, date '2026-09-30')
        ) t(customer_id, email, first_name, last_name, country, birth_date, as_of_date)
        """
    )
    # c3's consent was withdrawn: the audience model is wrong to include it, the exporter must not.
    con.execute(
        """
        create table marts.customer_consent as select * from (values
            ('c1', 'email_marketing', 'granted'), ('c2', 'email_marketing', 'granted'),
            ('c3', 'email_marketing', 'withdrawn'), ('c3', 'ad_targeting', 'granted')
        ) t(customer_id, purpose, consent_status)
        """
    )
    return con


def test_export_writes_consented_members_atomically_with_manifest(tmp_path, warehouse):
    audience = parse_audience(audience_file(tmp_path, GOOD_AUDIENCE))
    results = export_audience(warehouse, audience, tmp_path / "exports", run_id="run-1")
    assert [(r.destination, r.status, r.rows) for r in results] == [
        ("mailchimp", "exported", 2),
        ("parquet", "exported", 2),
    ]
    folder = tmp_path / "exports" / "vip_email" / "2026-09-30"
    mailchimp = folder / "vip_email__mailchimp.csv"
    with open(mailchimp, encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["Email Address", "First Name", "Last Name", "Birthday", "Tags"]
    assert [r[0] for r in table[1:]] == ["amy@example.com", "bob@example.com"]
    assert all(len(r) == len(table[0]) for r in table)
    parquet = pq.read_table(folder / "vip_email__parquet.parquet").to_pandas()
    assert list(parquet.columns) == ["customer_id", "email", "country"] and "c3" not in set(parquet.customer_id)
    manifest = json.loads((folder / "vip_email__mailchimp.csv.manifest.json").read_text())
    assert manifest["row_count"] == 2 and manifest["members_dropped_without_consent"] == 1
    assert manifest["sha256"] == hashlib.sha256(mailchimp.read_bytes()).hexdigest()
    assert (manifest["as_of"], manifest["run_id"], manifest["consent_purpose"]) == (
        "2026-09-30",
        "run-1",
        "email_marketing",
    )
    assert manifest["definition"]["model"] == "audience_vip"
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left behind


def test_export_is_deterministic(tmp_path, warehouse):
    audience = parse_audience(audience_file(tmp_path, GOOD_AUDIENCE))
    first = export_audience(warehouse, audience, tmp_path / "a", run_id="r1")
    second = export_audience(warehouse, audience, tmp_path / "b", run_id="r2")
    assert [r.sha256 for r in first] == [r.sha256 for r in second]


def test_audience_below_min_size_is_not_exported(tmp_path, warehouse):
    audience = parse_audience(audience_file(tmp_path, GOOD_AUDIENCE.replace("min_size: 1", "min_size: 5")))
    results = export_audience(warehouse, audience, tmp_path / "exports", run_id="r")
    assert {r.status for r in results} == {"below_min_size"}
    assert "2 members, below min_size 5" in results[0].message
    assert not (tmp_path / "exports").exists()
