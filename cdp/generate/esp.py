"""E-mail campaigns from the ESP: who is subscribed when, and the sent /
delivered / bounce / open / click / unsubscribe / complaint events that follow.
Unsubscribes and complaints end the subscription (and become consent
withdrawals); clicks bring people to the web shop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .arrays import hex_ids, lookup
from .people import People
from .timeline import NEVER, format_times
from .world import World

EMAIL_TYPES = ("sent", "delivered", "open", "click", "bounce", "unsubscribe", "complaint")
SENT, DELIVERED, OPEN, CLICK, BOUNCE, UNSUBSCRIBE, COMPLAINT = range(len(EMAIL_TYPES))


@dataclass
class EmailActivity:
    events: pa.Table
    event_ms: np.ndarray
    optout_record: np.ndarray     # ESP record that unsubscribed or complained
    optout_ms: np.ndarray
    click_person: np.ndarray
    click_ms: np.ndarray
    click_campaign: np.ndarray


def simulate_email(world: World, rng: np.random.Generator, people: People, esp_person: np.ndarray,
                   esp_email: np.ndarray, esp_created_ms: np.ndarray, granted: np.ndarray,
                   withdraw_ms: np.ndarray, regrant_ms: np.ndarray, junk_emails: set[str]) -> EmailActivity:
    """Campaign loop over the window; everything inside a campaign is vectorised over subscribers."""
    cfg = world.settings.config["email"]
    personas = world.settings.personas
    win = world.window
    m = len(esp_person)
    persona = people.persona[esp_person]
    open_rate = personas.param("email.open")[persona]
    click_rate = personas.param("email.click")[persona]
    unsub_rate = personas.param("email.unsubscribe")[persona]
    undeliverable = np.array([isinstance(e, str) and e.strip().lower() in junk_emails for e in esp_email],
                             dtype=bool)
    optout = np.full(m, NEVER, dtype=np.int64)
    rec_l, type_l, ms_l, camp_l = [], [], [], []

    def emit(rec, etype, ms, campaign):
        rec_l.append(rec)
        type_l.append(np.full(len(rec), etype, dtype=np.int8))
        ms_l.append(ms)
        camp_l.append(np.full(len(rec), campaign, dtype=np.int64))

    for c, t in enumerate(world.campaigns.sent_ms):
        subscribed = (granted & (esp_created_ms <= t) & ~((withdraw_ms <= t) & (t < regrant_ms)) & (optout > t))
        target = np.flatnonzero(subscribed & (rng.random(m) < cfg["audience_share"]))
        k = len(target)
        sent = t + rng.integers(0, 900_000, k)
        emit(target, SENT, sent, c)
        ok = (rng.random(k) < cfg["delivered_rate"]) & ~undeliverable[target]
        emit(target[~ok], BOUNCE, sent[~ok] + rng.integers(1_000, 120_000, int((~ok).sum())), c)
        d, d_ms = target[ok], sent[ok] + rng.integers(500, 30_000, int(ok.sum()))
        emit(d, DELIVERED, d_ms, c)
        lapsed = people.churn_ms[esp_person[d]] < d_ms
        opened = rng.random(len(d)) < open_rate[d] * np.where(lapsed, 0.2, 1.0)
        o, o_ms = d[opened], d_ms[opened] + rng.exponential(4 * 3_600_000, int(opened.sum())).astype(np.int64)
        emit(o, OPEN, o_ms, c)
        clicked = rng.random(len(o)) < click_rate[o]
        cl, cl_ms = o[clicked], o_ms[clicked] + rng.exponential(90_000, int(clicked.sum())).astype(np.int64)
        emit(cl, CLICK, cl_ms, c)
        unsub = rng.random(len(o)) < unsub_rate[o] / np.maximum(open_rate[o], 0.05)
        u, u_ms = o[unsub], o_ms[unsub] + rng.integers(10_000, 600_000, int(unsub.sum()))
        emit(u, UNSUBSCRIBE, u_ms, c)
        complained = rng.random(len(d)) < cfg["complaint_rate"]
        cp, cp_ms = d[complained], d_ms[complained] + rng.exponential(6 * 3_600_000, int(complained.sum())).astype(
            np.int64)
        emit(cp, COMPLAINT, cp_ms, c)
        optout[u] = np.minimum(optout[u], u_ms)
        optout[cp] = np.minimum(optout[cp], cp_ms)

    rec = np.concatenate(rec_l) if rec_l else np.zeros(0, dtype=np.int64)
    etype = np.concatenate(type_l) if type_l else np.zeros(0, dtype=np.int8)
    ms = np.concatenate(ms_l) if ms_l else np.zeros(0, dtype=np.int64)
    camp = np.concatenate(camp_l) if camp_l else np.zeros(0, dtype=np.int64)
    keep = ms < win.end_ms
    rec, etype, ms, camp = rec[keep], etype[keep], ms[keep], camp[keep]
    order = np.argsort(ms, kind="stable")
    rec, etype, ms, camp = rec[order], etype[order], ms[order], camp[order]

    events = pa.table({
        "event_id": hex_ids(rng, len(rec), 24),
        "event_type": lookup(EMAIL_TYPES, etype),
        "occurred_at": format_times(ms, "esp"),
        "email": pa.array(esp_email[rec], pa.large_string()),
        "campaign_id": lookup(world.campaigns.ids, camp),
        "source_system": pa.array(np.full(len(rec), "esp", dtype=object), pa.large_string()),
    })
    clicks = np.flatnonzero((etype == CLICK) & (rng.random(len(etype)) < cfg["click_session_rate"]))
    clicks = clicks[ms[clicks] < win.end_ms - 120_000]
    optouts = np.flatnonzero((etype == UNSUBSCRIBE) | (etype == COMPLAINT))
    return EmailActivity(events, ms, rec[optouts], ms[optouts], esp_person[rec[clicks]], ms[clicks], camp[clicks])
