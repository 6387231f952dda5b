"""Consent history per source record and purpose (initial choice at signup,
later withdrawals, denials and re-grants), e-mail opt-outs from the ESP, and
right-to-erasure requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .arrays import hex_ids, uuid4s, weighted_choice
from .people import People
from .records import SystemRecords
from .settings import CONSENT_PURPOSES
from .timeline import DAY_MS, NEVER, format_times, utc_offsets
from .world import World

GRANTED, DENIED, WITHDRAWN, OBJECTED = 0, 1, 2, 3
STATUS_NAMES = np.array(["granted", "denied", "withdrawn", "objected"], dtype=object)
YEAR_MS = 365 * DAY_MS


@dataclass
class ConsentEvents:
    """Consent rows of one system (long format)."""

    system: str
    record: np.ndarray
    purpose: np.ndarray
    status: np.ndarray
    ms: np.ndarray
    email_only: np.ndarray        # keyed by e-mail alone (newsletter form)


@dataclass
class EspSubscription:
    """E-mail marketing state of each ESP record before any e-mail opt-out."""

    granted: np.ndarray
    withdraw_ms: np.ndarray
    regrant_ms: np.ndarray


def plan_consent(world: World, rng: np.random.Generator, people: People, recs: SystemRecords):
    cfg = world.settings.config["consent"]
    personas = world.settings.personas
    win = world.window
    m = len(recs)
    parts = []
    esp_state = None
    for purpose, asked_rate in cfg["asked"][recs.system].items():
        p = CONSENT_PURPOSES.index(purpose)
        asked = rng.random(m) < asked_rate
        if purpose == "email_marketing":
            rate = personas.param("email.consent")[people.persona[recs.person]]
            if recs.system == "esp":
                rate = np.ones(m)
            asked &= recs.fields["email"] != None  # noqa: E711
        elif purpose == "sms_marketing":
            rate = np.full(m, cfg["granted"][purpose])
            asked &= recs.fields["phone"] != None  # noqa: E711
        else:
            rate = np.full(m, cfg["granted"][purpose])
        granted = asked & (rng.random(m) < rate)
        t0 = recs.created_ms + rng.integers(1_000, 120_000, m)
        withdraw = t0 + (rng.exponential(1.0 / cfg["withdraw_per_year"], m) * YEAR_MS).astype(np.int64)
        withdrawn = granted & (withdraw < win.end_ms)
        regrant_from = np.where(withdrawn, withdraw, t0)
        regrant = regrant_from + (rng.random(m) * np.maximum(0, win.end_ms - regrant_from)).astype(np.int64)
        regranted = asked & (withdrawn | ~granted) & (rng.random(m) < cfg["regrant_rate"]) & (regrant < win.end_ms)
        regranted &= regrant > regrant_from
        rec = np.arange(m)
        initial = np.where(granted, GRANTED, DENIED)
        for sel, status, when in ((asked, initial, t0), (withdrawn, np.full(m, WITHDRAWN), withdraw),
                                  (regranted, np.full(m, GRANTED), regrant)):
            parts.append((rec[sel], status[sel], when[sel], np.full(int(sel.sum()), p)))
        if recs.system == "esp" and purpose == "email_marketing":
            esp_state = EspSubscription(granted, np.where(withdrawn, withdraw, NEVER),
                                        np.where(withdrawn & regranted, regrant, NEVER))
    record = np.concatenate([x[0] for x in parts])
    status = np.concatenate([x[1] for x in parts])
    ms = np.concatenate([x[2] for x in parts])
    purpose = np.concatenate([x[3] for x in parts])
    email_only = np.zeros(len(record), dtype=bool)
    if recs.system == "esp":
        email_only = (world.scrambled("esp", record) % 1000) < cfg["esp_email_only_rate"] * 1000
    events = ConsentEvents(recs.system, record, purpose, status, ms, email_only)
    return events, esp_state


def add_optouts(events: ConsentEvents, record: np.ndarray, ms: np.ndarray, rng: np.random.Generator,
                world: World) -> ConsentEvents:
    """E-mail unsubscribes/complaints become email_marketing withdrawals seconds later."""
    t = ms + rng.integers(1_000, 60_000, len(record))
    keep = t < world.window.end_ms
    record, t = record[keep], t[keep]
    only = (world.scrambled("esp", record) % 1000) < world.settings.config["consent"]["esp_email_only_rate"] * 1000
    return ConsentEvents(events.system, np.concatenate([events.record, record]),
                         np.concatenate([events.purpose, np.zeros(len(record), dtype=np.int64)]),
                         np.concatenate([events.status, np.full(len(record), WITHDRAWN)]),
                         np.concatenate([events.ms, t]), np.concatenate([events.email_only, only]))


def add_objections(events: ConsentEvents, recs: SystemRecords, rng: np.random.Generator,
                   world: World) -> ConsentEvents:
    """Some records object to direct marketing or profiling, at a time after signup."""
    parts = [events.record], [events.purpose], [events.status], [events.ms], [events.email_only]
    m = len(recs)
    for purpose, rate in world.settings.config["consent"]["objection_rate"].items():
        record = np.flatnonzero(rng.random(m) < rate)
        lo = recs.created_ms[record]
        ms = lo + (rng.random(len(record)) * np.maximum(0, world.window.end_ms - lo)).astype(np.int64)
        keep = ms < world.window.end_ms
        record, ms = record[keep], ms[keep]
        for part, values in zip(parts, (record, np.full(len(record), CONSENT_PURPOSES.index(purpose)),
                                        np.full(len(record), OBJECTED), ms, np.zeros(len(record), dtype=bool)),
                                strict=True):
            part.append(values)
    return ConsentEvents(events.system, *(np.concatenate(p) for p in parts))


def consent_rows(world: World, rng: np.random.Generator, ev: ConsentEvents, recs: SystemRecords,
                 people: People) -> tuple[pa.Table, np.ndarray]:
    order = np.lexsort((ev.record, ev.ms))
    record, purpose, status, ms, only = (a[order] for a in (ev.record, ev.purpose, ev.status, ev.ms, ev.email_only))
    n = len(record)
    ids = {"crm": lambda: uuid4s(rng, n), "webshop": lambda: hex_ids(rng, n, 24, prefix="cs_"),
           "pos": lambda: hex_ids(rng, n, 16, prefix="POSC"), "esp": lambda: hex_ids(rng, n, 20)}[ev.system]()
    purpose_text = np.array(CONSENT_PURPOSES, dtype=object)[purpose]
    status_text = STATUS_NAMES[status]
    if ev.system == "pos":
        purpose_text = np.array([p.upper() for p in purpose_text], dtype=object)
        status_text = np.array([s.upper() for s in status_text], dtype=object)
        tz = world.cities.tz[people.city[recs.person[record]]]
        occurred = format_times(ms, "pos", utc_offsets(ms, tz, world.cities.tz_names))
    else:
        occurred = format_times(ms, ev.system)
    email = recs.fields["email"][record]
    with_email = ev.system == "esp"
    table = pa.table({
        "source_system": pa.array(np.full(n, ev.system, dtype=object), pa.large_string()),
        "consent_id": ids,
        "source_customer_id": pa.array(np.where(only, None, recs.source_customer_id[record]), pa.large_string()),
        "email": pa.array(email if with_email else np.full(n, None, dtype=object), pa.large_string()),
        "purpose": pa.array(purpose_text, pa.large_string()),
        "status": pa.array(status_text, pa.large_string()),
        "occurred_at": occurred,
    })
    return table, ms


@dataclass
class Erasures:
    person: np.ndarray
    ms: np.ndarray
    table: pa.Table


def make_erasures(world: World, rng: np.random.Generator, people: People,
                  records: dict[str, SystemRecords]) -> Erasures:
    cfg = world.settings.config["erasure"]
    win = world.window
    n = len(people)
    who = np.flatnonzero(rng.random(n) < cfg["rate"])
    lo = people.active_start_ms[who]
    ms = lo + (rng.random(len(who)) * (win.end_ms - lo)).astype(np.int64)
    kinds = list(cfg["by"])
    kind = np.array(kinds, dtype=object)[weighted_choice(rng, list(cfg["by"].values()), len(who))]
    email = np.full(len(who), None, dtype=object)
    phone = np.full(len(who), None, dtype=object)
    system = np.full(len(who), None, dtype=object)
    source_id = np.full(len(who), None, dtype=object)
    for k, p in enumerate(who):
        if kind[k] == "phone" and people.has_phone[p]:
            phone[k] = people.phone_e164[p]
        elif kind[k] == "source_record":
            own = [(s, r.source_customer_id[i]) for s, r in records.items() for i in np.flatnonzero(r.person == p)]
            s, sid = own[int(rng.integers(0, len(own)))]
            system[k], source_id[k] = s, sid
        else:
            email[k] = people.email[p].upper() if rng.random() < 0.1 else people.email[p]
    table = pa.table({
        "request_id": uuid4s(rng, len(who)),
        "email": pa.array(email, pa.large_string()),
        "phone": pa.array(phone, pa.large_string()),
        "source_system": pa.array(system, pa.large_string()),
        "source_customer_id": pa.array(source_id, pa.large_string()),
        "requested_at": format_times(ms, "privacy"),
    })
    return Erasures(who, ms, table)


def resend_after_erasure(world: World, rng: np.random.Generator, erasures: Erasures,
                         records: dict[str, SystemRecords]) -> None:
    """Some source keeps the person and re-sends their record after the request."""
    cfg = world.settings.config["erasure"]
    for p, t in zip(erasures.person, erasures.ms, strict=True):
        if rng.random() >= cfg["resend_after_rate"]:
            continue
        when = t + int(rng.uniform(1, 10) * DAY_MS)
        if when >= world.window.end_ms:
            continue
        for recs in records.values():
            mine = np.flatnonzero(recs.person == p)
            if len(mine):
                recs.extra_versions.append((mine[:1], np.array([when], dtype=np.int64)))
                break
