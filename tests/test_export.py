"""Audience activation: definitions, consent and suppression, holdouts, snapshots,
diffs, manifests and the export log, on a small hand-built warehouse."""

from __future__ import annotations

import csv
import hashlib
import json
import stat
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cdp import settings
from cdp.export import AudienceDefinitionError, export_audience, load_audiences, parse_audience
from cdp.export.assignment import HOLDOUT, assign
from cdp.export.profile import base_columns
from cdp.export.writer import read_export
from ml.runners import OUTPUT_TABLES

AS_OF = date(2026, 9, 30)
SEGMENTS = ["champions", "vip_spenders"]

AUDIENCE = """
name: vip_email
description: test audience
owner: crm
consent_purpose: email_marketing
selection: {segment: champions}
min_size: 1
refresh: daily
destinations:
  mailchimp:
    fields: [email, first_name, last_name, birth_date]
    tags: [vip, test]
  parquet:
    fields: [customer_id, email, country, churn_probability]
"""


def audience_file(tmp_path: Path, text: str, name: str = "vip_email.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def parse(tmp_path: Path, text: str = AUDIENCE, **replacements: str):
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    return parse_audience(audience_file(tmp_path, text), segments=SEGMENTS)


# ---- definitions ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("consent_purpose: email_marketing", "consent_purpose: spam", "consent_purpose", "is not one of"),
        ("  mailchimp:", "  mailchimpp:", "destinations.mailchimpp", "unknown destination"),
        ("[email, first_name, last_name, birth_date]", "[email, shoe_size]", "destinations.mailchimp.fields",
         "unknown field 'shoe_size'"),
        ("[email, first_name, last_name, birth_date]", "[first_name]", "destinations.mailchimp.fields",
         "must include the key field 'email'"),
        ("selection: {segment: champions}", "selection: {segment: champs}", "selection.segment",
         "unknown segment 'champs'"),
        ("selection: {segment: champions}",
         "selection: {all: [{segment: champions}, {field: spend_30days, op: '>', value: 1}]}",
         "selection.all[1].field", "unknown field 'spend_30days'"),
        ("selection: {segment: champions}", "selection: {field: churn_probability, op: '=>', value: 0.5}",
         "selection.op", "unknown operator '=>'"),
        ("selection: {segment: champions}", "selection: {field: rfm_segment, op: in, value: Champions}",
         "selection.value", "needs a non-empty list"),
        ("min_size: 1", "min_size: 1\nholdout_share: 1.5", "holdout_share", "from 0 up to"),
        ("min_size: 1", "min_size: 1\nvariants: {a: 1, holdout: 1}", "variants.holdout", "not 'holdout'"),
        ("refresh: daily", "refresh: hourly", "refresh", "is not one of"),
        ("consent_purpose: email_marketing", "consent_purpose: ad_targeting", "destinations.mailchimp",
         "does not take consent purpose 'ad_targeting'"),
        ("name: vip_email", "name: VIP Email", "name", "lower_snake_case"),
        ("owner: crm", "ownr: crm", "ownr", "unknown field"),
        ("min_size: 1", "min_size: 1\nmax_size_change: -0.2", "max_size_change", "must be a share > 0"),
    ],
)
def test_wrong_definitions_fail_naming_file_and_field(tmp_path, old, new, field, message):
    with pytest.raises(AudienceDefinitionError) as err:
        parse(tmp_path, **{old: new})
    text = str(err.value)
    assert str(tmp_path / "vip_email.yml") in text and f": {field}:" in text and message in text, text


def test_every_bundled_audience_is_valid():
    audiences = load_audiences(settings.AUDIENCES_DIR)
    destinations = {d.name for a in audiences for d in a.destinations}
    assert destinations == {"mailchimp", "braze", "klaviyo", "meta", "google", "csv", "parquet"}


# ---- experiment arms -----------------------------------------------------------------------------------------------

def test_arms_are_deterministic_and_split_as_declared():
    ids = [f"cust-{i}" for i in range(20_000)]
    variants = {"a": 0.5, "b": 0.5}
    arms = [assign(c, "exp", 0.2, variants) for c in ids]
    assert arms == [assign(c, "exp", 0.2, variants) for c in ids]
    share = {arm: arms.count(arm) / len(ids) for arm in set(arms)}
    assert abs(share[HOLDOUT] - 0.2) < 0.015 and abs(share["a"] - 0.4) < 0.015 and abs(share["b"] - 0.4) < 0.015
    # another experiment draws independently
    other = [assign(c, "exp2", 0.2, variants) for c in ids]
    both = sum(x == HOLDOUT and y == HOLDOUT for x, y in zip(arms, other, strict=True)) / len(ids)
    assert abs(both - 0.04) < 0.01
    # changing the variants never moves anyone in or out of the holdout
    regrouped = [assign(c, "exp", 0.2, {"a": 0.1, "b": 0.3, "c": 0.6}) for c in ids]
    assert [a == HOLDOUT for a in arms] == [a == HOLDOUT for a in regrouped]


# ---- a small warehouse -----------------------------------------------------------------------------------------------

def customer(customer_id: str, **attributes) -> dict:
    base = {
        "customer_id": customer_id, "email": f"{customer_id}@example.com", "phone": None,
        "first_name": customer_id.title(), "last_name": "Tester", "country_code": "GB",
        "birth_date": date(1990, 2, 3), "total_spend": 100.0, "rfm_segment": "Champions",
        "can_email": True, "can_target_ads": True, "segments": ["champions"], "churn_probability": 0.2,
        "source_records": [("crm", customer_id.upper())],
    }
    return {**base, **attributes}


def build_warehouse(con, customers: list[dict], as_of: date = AS_OF, suppressed: list[tuple] = ()) -> None:
    """The tables the activation profile reads, holding ``customers``."""
    for schema in ("intermediate", "marts", "ml", "privacy"):
        con.execute(f"create schema if not exists {schema}")
    profile = pd.DataFrame({column: [None] * len(customers) for column in base_columns()}).astype(object)
    profile["customer_id"] = [c["customer_id"] for c in customers]
    profile["rfm_segment"] = [c["rfm_segment"] for c in customers]
    profile["total_spend"] = [c["total_spend"] for c in customers]
    profile["country_code"] = [c["country_code"] for c in customers]
    profile["as_of_date"] = as_of
    create_table(con, "intermediate.int_customer_profile", profile)
    dim = pd.DataFrame([{k: c[k] for k in ("customer_id", "email", "phone", "first_name", "last_name",
                                           "country_code", "birth_date")} for c in customers])
    for column in ("street", "city", "state", "postcode", "language_code", "gender", "loyalty_id"):
        dim[column] = [c.get(column) for c in customers]
    dim["is_erased"] = False
    create_table(con, "marts.dim_customers", dim)
    create_table(con, "marts.customer_marketing_permissions", pd.DataFrame([{
        "customer_id": c["customer_id"],
        "email_marketing_status": "granted" if c["can_email"] else "withdrawn",
        "sms_marketing_status": None, "ad_targeting_status": "granted" if c["can_target_ads"] else None,
        "personalization_status": None, "has_objected_to_direct_marketing": False,
        "has_objected_to_profiling": False, "can_email": c["can_email"], "can_sms": False,
        "can_target_ads": c["can_target_ads"], "can_personalise": False} for c in customers]))
    create_table(con, "marts.customer_segment_membership", pd.DataFrame(
        [{"customer_id": c["customer_id"], "segment_name": s} for c in customers for s in c["segments"]],
        columns=["customer_id", "segment_name"]))
    create_table(con, "marts.customer_identity_map", pd.DataFrame(
        [{"customer_id": c["customer_id"], "source_system": s, "source_customer_id": i}
         for c in customers for s, i in c["source_records"]]))
    for table, columns in OUTPUT_TABLES.items():
        con.execute(f"create or replace table {table} (" + ", ".join(f'"{c}" {t}' for c, t in columns.items()) + ")")
    for c in customers:
        con.execute("insert into ml.churn_scores (customer_id, churn_probability, risk_tier) values (?, ?, 'low')",
                    [c["customer_id"], c["churn_probability"]])
    create_table(con, "privacy.suppression_list", pd.DataFrame(
        [{"identifier_type": kind, "identifier_sha256": hashlib.sha256(value.encode()).hexdigest()}
         for kind, value in suppressed], columns=["identifier_type", "identifier_sha256"]).astype(str))


def create_table(con, name: str, frame: pd.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create or replace table {name} as select * from frame")
    con.unregister("frame")


def export(con, audience, tmp_path, run_id="run-1"):
    return {r.destination: r for r in export_audience(con, audience, tmp_path / "exports", run_id)}


def csv_rows(path: str | Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


# ---- consent, suppression, files -------------------------------------------------------------------------------------

def test_only_consented_unsuppressed_selected_members_are_exported(tmp_path, con):
    build_warehouse(con, [
        customer("amy"),
        customer("bob", can_email=False),                              # withdrew email consent
        customer("cy", segments=["vip_spenders"]),                     # not selected
        customer("dee"),                                               # email on the suppression list
        customer("eve", source_records=[("crm", "EVE"), ("esp", "e-9")]),  # one source record suppressed
        customer("fay", can_target_ads=False),
    ], suppressed=[("email", "dee@example.com"), ("source_record", "esp:e-9")])
    results = export(con, parse(tmp_path), tmp_path)
    mailchimp = csv_rows(results["mailchimp"].path)
    assert mailchimp[0] == ["Email Address", "First Name", "Last Name", "Birthday", "Tags"]
    assert [r[0] for r in mailchimp[1:]] == ["amy@example.com", "fay@example.com"]
    assert all(len(r) == len(mailchimp[0]) for r in mailchimp)
    parquet = read_export(Path(results["parquet"].path), "parquet")
    assert list(parquet.columns) == ["customer_id", "email", "country", "churn_probability"]
    assert list(parquet["customer_id"]) == ["amy", "fay"]
    counts = results["mailchimp"].counts
    assert (counts["selected"], counts["consented"], counts["suppressed"], counts["eligible"]) == (5, 4, 2, 2)


def test_files_are_atomic_owner_only_with_a_manifest_that_matches(tmp_path, con):
    build_warehouse(con, [customer("amy"), customer("bob")])
    results = export(con, parse(tmp_path), tmp_path)
    folder = tmp_path / "exports" / "vip_email" / AS_OF.isoformat()
    full = Path(results["mailchimp"].path)
    manifest = json.loads(Path(results["mailchimp"].manifest_path).read_text())
    assert manifest["row_count"] == 2 and manifest["sha256"] == hashlib.sha256(full.read_bytes()).hexdigest()
    for kind in ("full", "added", "removed"):
        entry = manifest["files"][kind]
        assert entry["sha256"] == hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()
    assert (manifest["as_of"], manifest["run_id"], manifest["consent_purpose"]) == (
        AS_OF.isoformat(), "run-1", "email_marketing")
    assert manifest["definition"]["selection"] == {"segment": "champions"}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left behind
    logged = con.execute("select destination, status, row_count, sha256 from audit.export_log order by 1").fetchall()
    assert logged == [("mailchimp", "exported", 2, results["mailchimp"].sha256),
                      ("parquet", "exported", 2, results["parquet"].sha256)]


def test_re_export_of_the_same_date_changes_nothing(tmp_path, con):
    build_warehouse(con, [customer("amy"), customer("bob")])
    audience = parse(tmp_path)
    first = export(con, audience, tmp_path, "r1")
    before = {p: p.read_bytes() for p in (tmp_path / "exports").rglob("*")  if p.is_file()}
    second = export(con, audience, tmp_path, "r2")
    assert {d: r.status for d, r in second.items()} == {"mailchimp": "unchanged", "parquet": "unchanged"}
    assert second["mailchimp"].sha256 == first["mailchimp"].sha256
    assert {p: p.read_bytes() for p in (tmp_path / "exports").rglob("*") if p.is_file()} == before
    assert con.execute("select count(*) from audit.export_log").fetchall() == [(2,)]


def test_below_min_size_is_not_exported_and_says_why(tmp_path, con):
    build_warehouse(con, [customer("amy"), customer("bob")])
    results = export(con, parse(tmp_path, **{"min_size: 1": "min_size: 5"}), tmp_path)
    assert {r.status for r in results.values()} == {"below_min_size"}
    assert "2 members to export, below min_size 5" in results["mailchimp"].message
    assert not (tmp_path / "exports").exists()
    assert con.execute("select distinct status from audit.export_log").fetchall() == [("below_min_size",)]
    export(con, parse(tmp_path, **{"min_size: 1": "min_size: 5"}), tmp_path)  # a re-run logs nothing new
    assert con.execute("select count(*) from audit.export_log").fetchall() == [(2,)]


def test_columns_a_field_is_normalised_with_are_read_even_when_not_exported(tmp_path, con):
    # Meta normalises a US state to its code and a US zip to 5 digits: it needs the country, not exported here
    build_warehouse(con, [customer(f"c{i:03d}", country_code="US", state="California", postcode="94103-1234")
                          for i in range(100)])
    text = AUDIENCE.replace("email_marketing", "ad_targeting").split("destinations:")[0] + (
        "destinations:\n  meta:\n    fields: [customer_id, state, postcode]\n")
    rows = csv_rows(export(con, parse(tmp_path, text), tmp_path)["meta"].path)
    assert rows[0] == ["extern_id", "st", "zip"]
    assert {(r[1], r[2]) for r in rows[1:]} == {(hashlib.sha256(b"ca").hexdigest(),
                                                 hashlib.sha256(b"94103").hexdigest())}


def test_ad_platforms_refuse_audiences_under_their_minimum(tmp_path, con):
    build_warehouse(con, [customer(f"c{i:03d}") for i in range(60)])
    text = AUDIENCE.replace("email_marketing", "ad_targeting").split("destinations:")[0] + (
        "destinations:\n  meta:\n    fields: [customer_id, email]\n  google:\n    fields: [email]\n")
    results = export(con, parse(tmp_path, text), tmp_path)
    assert {r.status for r in results.values()} == {"below_destination_minimum"}
    assert "below meta's minimum of 100" in results["meta"].message


# ---- holdouts and snapshots ------------------------------------------------------------------------------------------

def test_holdout_is_recorded_stable_and_left_out_of_files(tmp_path, con):
    people = [customer(f"c{i:03d}") for i in range(400)]
    build_warehouse(con, people)
    audience = parse(tmp_path, **{"min_size: 1": "min_size: 1\nholdout_share: 0.25\nvariants: {a: 1, b: 1}"})
    results = export(con, audience, tmp_path)
    arms = dict(con.execute("select customer_id, arm from marts.experiment_assignments").fetchall())
    assert len(arms) == 400 and set(arms.values()) == {"holdout", "a", "b"}
    assert 0.18 < list(arms.values()).count("holdout") / 400 < 0.32
    exported = set(read_export(Path(results["parquet"].path), "parquet")["customer_id"])
    assert exported == {c for c, arm in arms.items() if arm != "holdout"}
    snapshot = con.execute("select count(*), count(*) filter (where is_exported) from "
                           "marts.audience_membership_snapshots").fetchall()
    assert snapshot == [(400, len(exported))]

    # next day: new customers arrive and the holdout share is changed; recorded arms never move
    con.close()
    con2 = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    build_warehouse(con2, people + [customer(f"n{i:03d}") for i in range(100)], as_of=date(2026, 10, 1))
    changed = parse(tmp_path, **{"min_size: 1": "min_size: 1\nholdout_share: 0.5\nvariants: {a: 1, b: 1}"})
    export(con2, changed, tmp_path, "run-2")
    after = dict(con2.execute("select customer_id, arm from marts.experiment_assignments").fetchall())
    assert {c: after[c] for c in arms} == arms and len(after) == 500
    dates = con2.execute("select count(distinct as_of_date) from marts.audience_membership_snapshots").fetchall()
    assert dates == [(2,)]
    con2.close()


# ---- diffs ----------------------------------------------------------------------------------------------------------

def apply_diffs(previous: pd.DataFrame, added: pd.DataFrame, removed: pd.DataFrame, key: str) -> pd.DataFrame:
    drop = set(removed[key]) | set(added[key])
    kept = previous[~previous[key].isin(drop)]
    return pd.concat([kept, added]).sort_values(key).reset_index(drop=True)


def test_diffs_applied_to_the_previous_export_reproduce_the_new_one(tmp_path, con):
    people = [customer(f"c{i:02d}") for i in range(30)]
    build_warehouse(con, people)
    audience = parse(tmp_path)
    first = export(con, audience, tmp_path)
    con.close()
    # a day later: five leave, three change their name, four arrive
    changed = {f"c{i:02d}" for i in (7, 11, 13)}
    later = [customer(c["customer_id"], first_name="Renamed") if c["customer_id"] in changed else c
             for c in people[5:]] + [customer(f"n{i}") for i in range(4)]
    con2 = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    build_warehouse(con2, later, as_of=date(2026, 10, 1))
    second = export(con2, audience, tmp_path, "run-2")
    con2.close()
    for destination, fmt in (("mailchimp", "csv"), ("parquet", "parquet")):
        new_path = Path(second[destination].path)
        manifest = json.loads(Path(second[destination].manifest_path).read_text())
        key = manifest["key"]
        previous = read_export(Path(first[destination].path), fmt)
        added = read_export(new_path.with_name(manifest["files"]["added"]["file"]), fmt)
        removed = read_export(new_path.with_name(manifest["files"]["removed"]["file"]), fmt)
        new = read_export(new_path, fmt)
        assert manifest["diff_base_as_of"] == AS_OF.isoformat()
        assert len(removed) == 5 and list(removed.columns) == [key]
        assert len(added) == 4 + (3 if destination == "mailchimp" else 0)  # parquet has no first name
        pd.testing.assert_frame_equal(apply_diffs(previous, added, removed, key), new, check_dtype=False)


def test_weekly_audience_is_not_exported_again_within_the_week(tmp_path, con):
    build_warehouse(con, [customer("amy")])
    audience = parse(tmp_path, **{"refresh: daily": "refresh: weekly"})
    export(con, audience, tmp_path)
    con.close()
    con2 = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    build_warehouse(con2, [customer("amy"), customer("bob")], as_of=date(2026, 10, 3))
    results = export(con2, audience, tmp_path, "run-2")
    assert results["mailchimp"].status == "not_due" and "last exported as of 2026-09-30" in results["mailchimp"].message
    con2.close()


def test_audience_size_change_compares_with_the_previous_snapshot(tmp_path, con):
    from cdp.export.state import audience_size_change
    from orchestration.defs.exports import size_change_check

    build_warehouse(con, [customer(f"c{i:02d}") for i in range(10)])
    audience = parse(tmp_path, **{"min_size: 1": "min_size: 1\nmax_size_change: 0.3"})
    export(con, audience, tmp_path)
    assert audience_size_change(con, audience.name, AS_OF.isoformat()) is None  # nothing to compare with
    later = date(2026, 10, 1)
    build_warehouse(con, [customer(f"c{i:02d}") for i in range(6)], as_of=later)
    export(con, audience, tmp_path, "run-2")
    change = audience_size_change(con, audience.name, later.isoformat())
    assert (change["members"], change["previous_members"], change["change"]) == (6, 10, -0.4)
    check = size_change_check(audience, change)
    assert not check.passed and "-40%" in check.description
    # within the allowed share, and for an audience that emptied
    assert size_change_check(audience, {**change, "members": 8, "change": -0.2}).passed
    build_warehouse(con, [customer("z", segments=[])], as_of=date(2026, 10, 2))
    export(con, audience, tmp_path, "run-3")
    emptied = audience_size_change(con, audience.name, "2026-10-02")
    assert emptied["members"] == 0 and emptied["change"] == -1.0
