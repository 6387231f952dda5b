"""Web and app behaviour from the tracker: devices with anonymous ids, sessions,
and the events inside them (page views, searches, product views, cart,
checkout, purchase, login). Fully vectorised: no per-event Python.

A session starts anonymous; a login event carries both the device's
anonymous_id and the web shop customer id, and later events in that session
carry both too. Purchases create the web/app orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import (
    amounts,
    concat,
    fixed_width,
    hex_matrix,
    lookup,
    rank_within,
    rowwise_choice,
    segment_starts,
    uuid4_matrix,
    uuid4s,
    weighted_choice,
)
from .commerce import Orders, make_orders
from .people import People
from .timeline import DAY_MS, format_times, utc_offsets
from .world import World

EVENT_TYPES = ("page_view", "search", "product_view", "login", "add_to_cart", "checkout_start", "purchase")
PAGE_VIEW, SEARCH, PRODUCT_VIEW, LOGIN, ADD_TO_CART, CHECKOUT, PURCHASE = range(len(EVENT_TYPES))
WEB_TYPES = ("desktop", "mobile", "tablet")
WEB_TYPE_WEIGHTS = (0.38, 0.55, 0.07)
APP_TYPES = ("mobile", "tablet")
APP_TYPE_WEIGHTS = (0.85, 0.15)
LANDING_PATHS = ("/", "/", "/deals", "/new", "/stores", "/help")
WEB_BASE = "https://shop.example.com"
APP_BASE = "app://shop"


@dataclass
class Devices:
    person: np.ndarray
    is_app: np.ndarray
    device_type: np.ndarray       # object: desktop / mobile / tablet
    anonymous_id_bytes: np.ndarray  # (devices, 36) uuid bytes

    @property
    def anonymous_id(self) -> pa.Array:
        return fixed_width(self.anonymous_id_bytes)

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class Behaviour:
    devices: Devices
    events: pa.Table              # contract columns: web events, then app events, each by occurred_at
    event_is_app: np.ndarray
    event_ms: np.ndarray
    orders: Orders                # web and app orders


def make_devices(world: World, rng: np.random.Generator, people: People) -> Devices:
    cfg = world.settings.config["behaviour"]
    personas = world.settings.personas
    n_dev = np.minimum(1 + rng.poisson(cfg["devices_mean"] - 1, len(people)), 4)
    person = np.repeat(np.arange(len(people)), n_dev)
    is_app = rng.random(len(person)) < personas.param("app_share")[people.persona[person]]
    web_t = np.array(WEB_TYPES, dtype=object)[weighted_choice(rng, WEB_TYPE_WEIGHTS, len(person))]
    app_t = np.array(APP_TYPES, dtype=object)[weighted_choice(rng, APP_TYPE_WEIGHTS, len(person))]
    return Devices(person, is_app, np.where(is_app, app_t, web_t), uuid4_matrix(rng, len(person)))


def _scatter(n: int, positions: np.ndarray, values: pa.Array) -> pa.Array:
    """Length-n array with ``values`` at ``positions`` and nulls elsewhere."""
    idx = np.full(n, -1, dtype=np.int64)
    idx[positions] = np.arange(len(positions))
    return values.take(pa.array(idx, mask=idx < 0))


def _json_string(a: pa.Array) -> pa.Array:
    return concat('"', pc.replace_substring(pc.replace_substring(a, "\\", "\\\\"), '"', '\\"'), '"')


def _session_starts(world: World, rng: np.random.Generator, people: People, person: np.ndarray,
                    lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Uniform days in [lo, hi), hour of day from the local-time profile."""
    hours = np.asarray(world.settings.config["behaviour"]["hours"], dtype=float)
    tz_off = utc_offsets(np.full(len(world.cities.tz), world.window.start_ms), world.cities.tz,
                         world.cities.tz_names) * 60_000
    off = tz_off[people.city[person]]
    t = lo + (rng.random(len(person)) * (hi - lo)).astype(np.int64)
    local_day = (t + off) // DAY_MS * DAY_MS
    hour = weighted_choice(rng, hours, len(person))
    t = local_day - off + hour * 3_600_000 + rng.integers(0, 3_600_000, len(person))
    # The hour shift can leave the active span at its edges: move a day inwards instead.
    t = np.where(t < lo, t + DAY_MS, np.where(t >= hi, t - DAY_MS, t))
    return np.clip(t, lo, hi - 1)


def simulate_behaviour(world: World, rng: np.random.Generator, chunk_index: int, people: People,
                       web_id: np.ndarray, web_created_ms: np.ndarray, click_person: np.ndarray,
                       click_ms: np.ndarray, click_campaign: np.ndarray) -> Behaviour:
    cfg = world.settings.config["behaviour"]
    personas = world.settings.personas
    win = world.window
    cat = world.catalogue
    devices = make_devices(world, rng, people)
    n_dev = np.bincount(devices.person, minlength=len(people))
    dev_start = segment_starts(n_dev)

    # --- sessions: organic visits, then visits from e-mail clicks
    rate = personas.param("sessions_per_week")[people.persona] / 7.0
    end = np.minimum(people.churn_ms, win.end_ms)
    lo_p = people.active_start_ms
    span = np.maximum(0, end - lo_p)
    count = rng.poisson(rate * span / DAY_MS)
    s_person = np.repeat(np.arange(len(people)), count)
    s_start = _session_starts(world, rng, people, s_person, lo_p[s_person], end[s_person])
    s_person = np.concatenate([s_person, click_person])
    s_start = np.concatenate([s_start, click_ms + rng.integers(5_000, 90_000, len(click_ms))])
    s_campaign = np.concatenate([np.full(len(s_start) - len(click_ms), -1), click_campaign])
    ns = len(s_person)
    s_device = dev_start[s_person] + (rng.random(ns) * n_dev[s_person]).astype(np.int64)
    s_app = devices.is_app[s_device]
    persona = people.persona[s_person]

    views = rng.poisson(personas.param("views_mean")[persona])
    views = np.where(s_campaign >= 0, np.maximum(views, 1), views)
    extra_pv = rng.poisson(cfg["page_views_extra_mean"], ns)
    search = rng.random(ns) < personas.param("search_rate")[persona]
    cart = (views > 0) & (rng.random(ns) < personas.param("cart_rate")[persona])
    checkout = cart & (rng.random(ns) < personas.param("checkout_rate")[persona])
    account = (web_id[s_person] != None) & (s_start >= web_created_ms[s_person])  # noqa: E711
    purchase = checkout & account & (rng.random(ns) < personas.param("purchase_rate")[persona])
    login = account & (checkout | (rng.random(ns) < personas.param("login_rate")[persona]))
    login_key = np.where(login, 0.5 + rng.random(ns) * (views + 1.5), np.inf)

    # --- events: one block per type, then ordered inside each session by a position key
    blocks_session, blocks_type, blocks_key = [], [], []

    def add(session_idx: np.ndarray, etype: int, key: np.ndarray) -> None:
        blocks_session.append(session_idx)
        blocks_type.append(np.full(len(session_idx), etype, dtype=np.int8))
        blocks_key.append(np.asarray(key, dtype=float))

    all_s = np.arange(ns)
    add(all_s, PAGE_VIEW, np.zeros(ns))
    pv_s = np.repeat(all_s, extra_pv)
    add(pv_s, PAGE_VIEW, 1.0 + rng.random(len(pv_s)) * (views[pv_s] + 1))
    add(all_s[search], SEARCH, np.ones(int(search.sum())))
    v_s = np.repeat(all_s, views)
    add(v_s, PRODUCT_VIEW, 2.0 + rank_within(v_s))
    add(all_s[login], LOGIN, login_key[login])
    add(all_s[cart], ADD_TO_CART, views[cart] + 2.5)
    add(all_s[checkout], CHECKOUT, views[checkout] + 3.0)
    add(all_s[purchase], PURCHASE, views[purchase] + 4.0)
    e_session = np.concatenate(blocks_session)
    e_type = np.concatenate(blocks_type)
    e_key = np.concatenate(blocks_key)
    # Product views get their products before reordering.
    e_product = np.full(len(e_session), -1, dtype=np.int64)
    is_view = e_type == PRODUCT_VIEW
    e_product[is_view] = rowwise_choice(rng, world.product_probs, persona[e_session[is_view]])
    order = np.lexsort((e_key, e_session))
    e_session, e_type, e_key, e_product = e_session[order], e_type[order], e_key[order], e_product[order]
    ne = len(e_session)

    # Cart holds the last product viewed in the session.
    last_view = np.full(ns, -1, dtype=np.int64)
    vpos = np.flatnonzero(e_type == PRODUCT_VIEW)[::-1]
    sessions, first_in_reversed = np.unique(e_session[vpos], return_index=True)
    last_view[sessions] = e_product[vpos[first_in_reversed]]
    is_cart = e_type == ADD_TO_CART
    e_product[is_cart] = last_view[e_session[is_cart]]

    gaps = rng.exponential(cfg["event_gap_seconds"] * 1000.0, ne).astype(np.int64)
    first = np.ones(ne, dtype=bool)
    first[1:] = e_session[1:] != e_session[:-1]
    gaps[first] = 0
    cs = np.cumsum(gaps)
    firsts = np.flatnonzero(first)
    e_ms = s_start[e_session] + cs - np.repeat(cs[firsts], np.diff(np.r_[firsts, ne]))

    # Keep what falls inside the window: web events then app events, each in time order.
    keep = np.flatnonzero(e_ms < win.end_ms)
    keep = keep[np.lexsort((e_ms[keep], s_app[e_session[keep]]))]
    e_session, e_type, e_key, e_product, e_ms = (a[keep] for a in (e_session, e_type, e_key, e_product, e_ms))
    ne = len(e_session)

    # --- web/app orders from purchase events inside the window
    p_idx = np.flatnonzero(e_type == PURCHASE)
    p_sess = e_session[p_idx]
    channel = np.where(s_app[p_sess], "app", "web").astype(object)
    orders = make_orders(world, rng, chunk_index, people, s_person[p_sess], e_ms[p_idx], channel,
                         last_view[p_sess], web_id[s_person[p_sess]])

    # --- columns
    e_person = s_person[e_session]
    identified = e_key >= login_key[e_session]
    session_ids = hex_matrix(rng, ns, 20, prefix="s")
    is_app = s_app[e_session]
    base = pc.if_else(pa.array(is_app), pa.scalar(APP_BASE, pa.large_string()),
                      pa.scalar(WEB_BASE, pa.large_string()))
    product_ids = np.array(cat.product_id, dtype=object)
    prod_pos = np.flatnonzero(e_product >= 0)
    product_col = _scatter(ne, prod_pos, pa.array(product_ids[e_product[prod_pos]], pa.large_string()))

    terms = world.settings.reference["search_terms"]
    s_term = rng.integers(0, len(terms), ns)
    s_landing = rng.integers(0, len(LANDING_PATHS), ns)
    campaigns = np.array(world.campaigns.ids + [""], dtype=object)
    first_ev = np.zeros(ne, dtype=bool)
    first_ev[np.unique(e_session, return_index=True)[1]] = True  # earliest event of each session
    paths = []
    pos = np.flatnonzero(first_ev & (s_campaign[e_session] < 0))
    paths.append(_scatter(ne, pos, lookup(LANDING_PATHS, s_landing[e_session[pos]])))
    pos = np.flatnonzero(first_ev & (s_campaign[e_session] >= 0))
    paths.append(_scatter(ne, pos, concat("/?utm_source=esp&utm_medium=email&utm_campaign=",
                                          lookup(campaigns, s_campaign[e_session[pos]]))))
    pos = np.flatnonzero(~first_ev & (e_type == PAGE_VIEW))
    paths.append(_scatter(ne, pos, concat("/c/", lookup(cat.categories, rng.integers(0, len(cat.categories),
                                                                                       len(pos))))))
    pos = np.flatnonzero(e_type == SEARCH)
    search_terms = lookup(terms, s_term[e_session[pos]])
    paths.append(_scatter(ne, pos, concat("/search?q=", pc.replace_substring(search_terms, " ", "+"))))
    paths.append(concat("/p/", product_col))
    fixed = pc.if_else(pa.array(e_type == CHECKOUT), "/checkout",
                       pc.if_else(pa.array(e_type == PURCHASE), "/checkout/complete",
                                  pc.if_else(pa.array(e_type == LOGIN), "/account/login",
                                             pa.scalar(None, pa.large_string()))))
    paths.append(fixed.cast(pa.large_string()))
    page_url = concat(base, pc.coalesce(*paths))

    ref_names = list(cfg["referrers"])
    ref_pick = weighted_choice(rng, list(cfg["referrers"].values()), ns)
    ref_values = [None if r == "direct" else r for r in ref_names]
    pos = np.flatnonzero(first_ev & ~is_app & (s_campaign[e_session] < 0))
    referrer = _scatter(ne, pos, pa.array(np.array(ref_values, dtype=object)[ref_pick[e_session[pos]]],
                                          pa.large_string()))

    props = []
    pos = np.flatnonzero(e_type == SEARCH)
    props.append(_scatter(ne, pos, concat('{"query":', _json_string(search_terms), "}")))
    pos = np.flatnonzero(e_type == PRODUCT_VIEW)
    props.append(_scatter(ne, pos, concat('{"category":"', lookup(cat.categories, cat.category[e_product[pos]]),
                                          '"}')))
    pos = np.flatnonzero(e_type == ADD_TO_CART)
    props.append(_scatter(ne, pos, pa.array(np.full(len(pos), '{"quantity":1}', dtype=object), pa.large_string())))
    pos = np.flatnonzero(e_type == LOGIN)
    props.append(_scatter(ne, pos, pa.array(np.full(len(pos), '{"method":"password"}', dtype=object),
                                            pa.large_string())))
    pos = np.flatnonzero(e_type == PURCHASE)
    props.append(_scatter(ne, pos, concat('{"order_id":"', pa.array(orders.order_id, pa.large_string()),
                                          '","revenue":', amounts(orders.total_cents), ',"currency":"',
                                          pa.array(orders.currency, pa.large_string()), '"}')))
    properties = pc.coalesce(*props)

    web_sys = pa.array(np.where(identified, "webshop", None), pa.large_string())
    events = pa.table({
        "event_id": uuid4s(rng, ne),
        "event_type": lookup(EVENT_TYPES, e_type),
        "occurred_at": format_times(e_ms, "tracker"),
        "anonymous_id": fixed_width(devices.anonymous_id_bytes[s_device[e_session]]),
        "source_system": web_sys,
        "source_customer_id": pa.array(np.where(identified, web_id[e_person], None), pa.large_string()),
        "session_id": fixed_width(session_ids[e_session]),
        "product_id": product_col,
        "page_url": page_url,
        "referrer": referrer,
        "device_type": pa.array(devices.device_type[s_device[e_session]], pa.large_string()),
        "properties": properties,
    })
    return Behaviour(devices, events, is_app, e_ms, orders)
