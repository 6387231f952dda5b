"""Source customer records: each person's record in each system (CRM, web shop,
POS loyalty, ESP), with that system's habits and noise, plus the versions a
system sends over time (initial extract, new records, address changes, touches).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import noise
from .arrays import fixed_width, padded_numbers
from .people import People
from .settings import SYSTEMS
from .timeline import DAY_MS, NEVER, format_dates, format_times, utc_offsets
from .world import LANGUAGE_OF, World, slug

ADDRESS_FIELDS = ("street", "city", "postcode", "state")
HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass
class SystemRecords:
    system: str
    person: np.ndarray            # chunk-local person index
    copy_no: np.ndarray           # 0 = the person's main record, 1 = a duplicate account
    source_customer_id: np.ndarray
    created_ms: np.ndarray
    fields: dict[str, np.ndarray]
    old_address: dict[str, np.ndarray]
    holds_old: np.ndarray         # created before the person moved: knew the old address
    notice_ms: np.ndarray         # when the system learned the new address (NEVER: it never did)
    extra_versions: list[np.ndarray] = field(default_factory=list)  # (record, ms) re-sends added later

    def __len__(self) -> int:
        return len(self.person)

    def main_record_of(self, n_people: int) -> np.ndarray:
        """Record index of each person's main record in this system, -1 if none."""
        out = np.full(n_people, -1, dtype=np.int64)
        main = np.flatnonzero(self.copy_no == 0)
        out[self.person[main]] = main
        return out


def _coverage(world: World, rng: np.random.Generator, people: People) -> dict[str, np.ndarray]:
    personas = world.settings.personas
    has = {s: rng.random(len(people)) < personas.coverage(s)[people.persona] for s in SYSTEMS}
    none = ~np.any(np.stack(list(has.values())), axis=0)
    has["webshop"] = has["webshop"] | none
    return has


def _source_ids(world: World, system: str, people: People, person: np.ndarray, copy_no: np.ndarray):
    num = world.scrambled(system, people.idx[person] * 4 + copy_no)
    if system == "crm":
        ids = padded_numbers(num, 10, prefix="C")
    elif system == "webshop":
        ids = pa.array(num + 10_000_000).cast(pa.large_string())
    elif system == "pos":
        ids = padded_numbers(num, 10, prefix="LM")
    else:
        nibbles = (num[:, None] >> (4 * np.arange(7, -1, -1))[None, :]) & 15
        ids = fixed_width(HEX_DIGITS[nibbles])
    return ids.to_numpy(zero_copy_only=False)


def _alt_emails(rng: np.random.Generator, world: World, people: People, person: np.ndarray) -> np.ndarray:
    """A second address for a duplicate account (work or old mailbox)."""
    domains = ("outlook.com", "gmail.com", "yahoo.com", "icloud.com", "proton.me", "mail.com")
    out = np.empty(len(person), dtype=object)
    nums = rng.integers(1, 9999, len(person))
    picks = rng.integers(0, len(domains), len(person))
    for k, p in enumerate(person):
        out[k] = f"{slug(people.first_name[p])}{slug(people.last_name[p])[:1]}{nums[k]}@{domains[picks[k]]}"
    return out


def make_records(world: World, rng: np.random.Generator, people: People) -> dict[str, SystemRecords]:
    cfg = world.settings.config
    win = world.window
    n = len(people)
    has = _coverage(world, rng, people)

    # The system the person joined first holds signup time; the others come later.
    priority = np.where(np.stack([has[s] for s in SYSTEMS], axis=1), rng.random((n, len(SYSTEMS))), -1.0)
    first_sys = priority.argmax(axis=1)
    out = {}
    for si, system in enumerate(SYSTEMS):
        sys_cfg = cfg["systems"][system]
        dup = has[system] & (rng.random(n) < sys_cfg["duplicate_rate"])
        person = np.concatenate([np.flatnonzero(has[system]), np.flatnonzero(dup)])
        copy_no = np.r_[np.zeros(int(has[system].sum()), dtype=np.int64), np.ones(int(dup.sum()), dtype=np.int64)]
        order = np.lexsort((copy_no, person))
        person, copy_no = person[order], copy_no[order]
        m = len(person)

        signup = people.signup_ms[person]
        room = np.maximum(0, win.end_ms - DAY_MS - signup)
        later = signup + (rng.random(m) ** 2 * 0.8 * room).astype(np.int64)
        created = np.where((first_sys[person] == si) & (copy_no == 0), signup, later)
        created = created + rng.integers(0, 60_000, m)
        out[system] = _noisy_record(world, rng, system, people, person, copy_no, created)
    return out


def _noisy_record(world: World, rng: np.random.Generator, system: str, people: People, person: np.ndarray,
                  copy_no: np.ndarray, created: np.ndarray) -> SystemRecords:
    cfg = world.settings.config
    ref = world.settings.reference
    ncfg = cfg["noise"]
    scfg = ncfg["systems"][system]
    m = len(person)
    codes = world.countries
    country = people.country[person]

    first = noise.nicknames(rng, people.first_name[person], ref["nicknames"], ncfg["nickname"])
    first = noise.typos(rng, first, ncfg["typo_first_name"])
    last = noise.typos(rng, people.last_name[person], ncfg["typo_last_name"])
    swap = rng.random(m) < ncfg["swap_names"]
    first, last = np.where(swap, last, first), np.where(swap, first, last)
    first = noise.name_case(rng, first, scfg["name_case"])
    last = noise.name_case(rng, last, scfg["name_case"])
    for i in noise.pick(rng, ncfg["junk_name"], m):
        first[i] = ref["junk"]["names"][int(rng.integers(0, len(ref["junk"]["names"])))]

    email = people.email[person].copy()
    dup = np.flatnonzero(copy_no == 1)
    email[dup] = _alt_emails(rng, world, people, person[dup])
    email = noise.email_variants(rng, email, ncfg)
    for i in noise.pick(rng, ncfg["junk_email"], m):
        email[i] = ref["junk"]["emails"][int(rng.integers(0, len(ref["junk"]["emails"])))]

    phone = noise.phone_styles(rng, codes, country, people.phone_head[person], people.phone_tail[person],
                               ref["phones"], scfg["phone_styles"])
    phone = np.where(people.has_phone[person], phone, None)
    for i in noise.pick(rng, ncfg["junk_phone"], m):
        phone[i] = ref["junk"]["phones"][int(rng.integers(0, len(ref["junk"]["phones"])))]

    birth = format_dates(people.birth_day[person]).to_numpy(zero_copy_only=False)
    birth[noise.pick(rng, ncfg["junk_birth_date"], m)] = "1900-01-01"
    male, female = scfg["gender_forms"]
    gender = np.where(people.gender[person] == 1, male, female).astype(object)

    def address(city_idx, street, postcode):
        street = noise.abbreviate_streets(rng, street, ref["street_abbreviations"], 0.25)
        city = world.cities.name[city_idx].copy()
        if scfg["name_case"].get("upper", 0) > 0.5:
            city = noise.map_strings(city, pc.utf8_upper)
            street = noise.map_strings(street, pc.utf8_upper)
        state = world.cities.state[city_idx].copy()
        state = np.where(state == "", None, state)
        return {"street": street, "city": city, "postcode": noise.postcode_variants(rng, postcode, 0.15),
                "state": state}

    current = address(people.city[person], people.street[person], people.postcode[person])
    old = address(people.old_city[person], people.old_street[person], people.old_postcode[person])

    # CRM writes "EN", the web shop a locale ("en-GB"), the others "en".
    if system == "crm":
        forms = [LANGUAGE_OF[c].upper() for c in codes]
    elif system == "webshop":
        forms = [f"{LANGUAGE_OF[c]}-{c}" for c in codes]
    else:
        forms = [LANGUAGE_OF[c] for c in codes]
    language = np.array(forms, dtype=object)[country]

    fields = {
        "email": email, "phone": phone, "first_name": first, "last_name": last, "birth_date": birth,
        "gender": gender, **current,
        "country": noise.country_forms(rng, codes, country, ref["country_forms"], scfg["country_forms"]),
        "language": language,
        "loyalty_id": None,
    }
    for col, rate in scfg["missing"].items():
        gone = rng.random(m) < rate
        fields[col] = np.where(gone, None, fields[col])
        if col == "street":
            for c in ADDRESS_FIELDS[1:]:
                fields[c] = np.where(gone & (rng.random(m) < 0.5), None, fields[c])
    if system == "pos":
        card = world.scrambled("loyalty_card", people.idx[person] * 4 + copy_no)
        fields["loyalty_id"] = padded_numbers(card, 12, prefix="6330").to_numpy(zero_copy_only=False)
        silent = rng.random(m) < scfg["no_contact_rate"]
        fields["email"] = np.where(silent, None, fields["email"])
        fields["phone"] = np.where(silent, None, fields["phone"])
    else:
        fields["loyalty_id"] = np.full(m, None, dtype=object)

    # A system that knew the old address learns the new one (or never does).
    holds_old = people.moved[person] & (created < people.move_ms[person])
    noticed = holds_old & (rng.random(m) < cfg["people"]["move_noticed_rate"])
    delay = (rng.exponential(20, m) * DAY_MS).astype(np.int64)
    notice_ms = np.where(noticed, people.move_ms[person] + delay, NEVER)
    return SystemRecords(system, person, copy_no, _source_ids(world, system, people, person, copy_no), created,
                         fields, old, holds_old, notice_ms)


def record_versions(world: World, rng: np.random.Generator, recs: SystemRecords) -> tuple[np.ndarray, np.ndarray]:
    """(record index, updated_at ms) of every row the system sends inside the window."""
    win = world.window
    m = len(recs)
    created = recs.created_ms
    # Initial row: at creation, or in the first full extract for records older than the window
    # (then stamped with its last touch before the window).
    touch_before = created + (rng.random(m) * np.maximum(0, win.start_ms - created)).astype(np.int64)
    noticed_before = recs.notice_ms < win.start_ms
    first_ms = np.where(created < win.start_ms,
                        np.maximum(touch_before, np.where(noticed_before, recs.notice_ms, 0)), created)
    rec = [np.arange(m)]
    ms = [first_ms]
    # Address change learned inside the window.
    moved_in = (recs.notice_ms >= win.start_ms) & (recs.notice_ms < win.end_ms) & (recs.notice_ms > created)
    rec.append(np.flatnonzero(moved_in))
    ms.append(recs.notice_ms[moved_in])
    # Touches: the same record re-sent later (profile edit, sync), rate per record.
    touched = rng.random(m) < world.settings.config["resend"]["rate"]
    lo = np.maximum(created, win.start_ms)
    t = lo + (rng.random(m) * (win.end_ms - lo)).astype(np.int64)
    touched &= t < win.end_ms
    rec.append(np.flatnonzero(touched))
    ms.append(t[touched])
    for extra_rec, extra_ms in recs.extra_versions:
        rec.append(extra_rec)
        ms.append(extra_ms)
    return np.concatenate(rec), np.concatenate(ms)


def customer_rows(world: World, recs: SystemRecords, rec: np.ndarray, ms: np.ndarray, people: People) -> pa.Table:
    """Contract-shaped customers rows for the given versions."""
    uses_old = recs.holds_old[rec] & (ms < recs.notice_ms[rec])
    cols: dict[str, pa.Array] = {
        "source_system": pa.array(np.full(len(rec), recs.system, dtype=object), pa.large_string()),
        "source_customer_id": pa.array(recs.source_customer_id[rec], pa.large_string()),
    }
    for name in ("email", "phone", "first_name", "last_name", "birth_date", "gender", "street", "city",
                 "postcode", "state", "country", "language", "loyalty_id"):
        values = recs.fields[name][rec]
        if name in ADDRESS_FIELDS:
            old = recs.old_address[name][rec]
            values = np.where(uses_old & (values != None), old, values)  # noqa: E711
        cols[name] = pa.array(values, pa.large_string())
    if recs.system == "pos":
        tz = world.cities.tz[people.city[recs.person[rec]]]
        cols["created_at"] = format_times(recs.created_ms[rec], "pos",
                                          utc_offsets(recs.created_ms[rec], tz, world.cities.tz_names))
        cols["updated_at"] = format_times(ms, "pos", utc_offsets(ms, tz, world.cities.tz_names))
        cols["birth_date"] = cols["birth_date"].cast(pa.date32())
    else:
        cols["created_at"] = format_times(recs.created_ms[rec], recs.system)
        cols["updated_at"] = format_times(ms, recs.system)
    return pa.table(cols)

