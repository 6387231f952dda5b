"""Orders and order lines: web/app orders come from purchase sessions, store
orders from loyalty (or anonymous) store visits. Totals are the exact sum of
their lines, in the currency of the person's country.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .arrays import amounts, concat, padded_numbers, rowwise_choice, segment_starts
from .people import People
from .timeline import DAY_MS, NEVER, format_times, utc_offsets
from .world import World

STATUS_COMPLETED, STATUS_CANCELLED, STATUS_RETURNED = 0, 1, 2
STATUS_NAMES = np.array(["completed", "cancelled", "returned"], dtype=object)
DECIMAL = pa.decimal128(12, 2)


@dataclass
class Orders:
    person: np.ndarray
    is_store: np.ndarray
    channel: np.ndarray           # web / app / store
    ordered_ms: np.ndarray
    order_id: np.ndarray
    source_customer_id: np.ndarray
    status: np.ndarray            # final status code
    return_ms: np.ndarray
    currency: np.ndarray
    total_cents: np.ndarray
    item_order: np.ndarray        # order index of each line
    item_product: np.ndarray
    item_quantity: np.ndarray
    item_unit_cents: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class Basket:
    item_order: np.ndarray
    item_product: np.ndarray
    item_quantity: np.ndarray
    item_unit_cents: np.ndarray
    total_cents: np.ndarray


def build_baskets(world: World, rng: np.random.Generator, persona: np.ndarray, country: np.ndarray,
                  first_product: np.ndarray) -> Basket:
    """Lines for each order: a first product, then persona picks or accessories of it."""
    cfg = world.settings.config["commerce"]
    personas = world.settings.personas
    cat = world.catalogue
    n = len(persona)
    k = 1 + rng.poisson(np.maximum(personas.param("items_mean")[persona] - 1, 0))
    k = np.minimum(k, 6)
    order = np.repeat(np.arange(n), k)
    pos = np.arange(len(order)) - np.repeat(segment_starts(k), k)
    product = rowwise_choice(rng, world.product_probs, persona[order])
    first = np.flatnonzero(pos == 0)
    given = first_product[order[first]] >= 0
    product[first[given]] = first_product[order[first[given]]]
    extra = np.flatnonzero((pos > 0) & (rng.random(len(order)) < cfg["accessory_rate"]))
    lead_cat = cat.category[product[np.repeat(segment_starts(k), k)]]
    product[extra] = rowwise_choice(rng, world.accessory_probs, lead_cat[extra])
    # One line per product: drop repeats within an order.
    key = order * (len(cat) + 1) + product
    _, keep = np.unique(key, return_index=True)
    keep.sort()
    order, product = order[keep], product[keep]

    qty = np.minimum(1 + rng.geometric(0.85, len(order)) - 1, int(cfg["max_quantity"]))
    fx = np.array([world.settings.country(c)["fx"] for c in world.countries])[country[order]]
    list_cents = cat.price_cents[product]
    local = np.where(fx == 1.0, list_cents, np.maximum(99, np.round(list_cents * fx / 100.0) * 100 - 1))
    on_sale = rng.random(len(order)) < personas.param("discount_share")[persona[order]]
    unit = np.where(on_sale, np.round(local * (1 - rng.uniform(0.1, 0.4, len(order)))), local).astype(np.int64)
    total = np.bincount(order, weights=qty * unit, minlength=n).astype(np.int64)
    return Basket(order, product, qty.astype(np.int64), unit, total)


def statuses(world: World, rng: np.random.Generator, persona: np.ndarray, ordered_ms: np.ndarray):
    cfg = world.settings.config["commerce"]
    u = rng.random(len(persona))
    ret = world.settings.personas.param("return_rate")[persona]
    status = np.where(u < cfg["cancel_rate"], STATUS_CANCELLED,
                      np.where(u < cfg["cancel_rate"] + ret, STATUS_RETURNED, STATUS_COMPLETED))
    return_ms = np.where(status == STATUS_RETURNED,
                         ordered_ms + (rng.uniform(3, 30, len(persona)) * DAY_MS).astype(np.int64), NEVER)
    return status, return_ms


def make_orders(world: World, rng: np.random.Generator, chunk_index: int, people: People, person: np.ndarray,
                ordered_ms: np.ndarray, channel: np.ndarray, first_product: np.ndarray,
                source_customer_id: np.ndarray) -> Orders:
    persona = people.persona[person]
    country = people.country[person]
    basket = build_baskets(world, rng, persona, country, first_product)
    status, return_ms = statuses(world, rng, persona, ordered_ms)
    is_store = channel == "store"
    seq = np.arange(len(person))
    web_ids = padded_numbers(chunk_index * 10_000_000 + seq, 12, prefix="W").to_pylist()
    store_no = 100 + people.city[person]
    pos_ids = concat(padded_numbers(store_no, 3), "-", padded_numbers(chunk_index * 10_000_000 + seq, 12)).to_pylist()
    order_id = np.where(is_store, np.array(pos_ids, dtype=object), np.array(web_ids, dtype=object))
    currency = np.array([world.settings.country(c)["currency"] for c in world.countries], dtype=object)[country]
    return Orders(person, is_store, channel, ordered_ms, order_id, source_customer_id, status, return_ms, currency,
                  basket.total_cents, basket.item_order, basket.item_product, basket.item_quantity,
                  basket.item_unit_cents)


def store_visits(world: World, rng: np.random.Generator, people: People, pos_record: np.ndarray,
                 pos_created_ms: np.ndarray, pos_ids: np.ndarray):
    """Store purchases: (person, instant, loyalty source id or None)."""
    cfg = world.settings.config
    win = world.window
    personas = world.settings.personas
    rate = personas.param("store_visits_per_week")[people.persona] / 7.0
    rate = np.where(pos_record >= 0, rate, rate * cfg["commerce"]["anonymous_store_order_rate"])
    end = np.minimum(people.churn_ms, win.end_ms)
    span_days = np.maximum(0, end - people.active_start_ms) / DAY_MS
    count = rng.poisson(rate * span_days)
    person = np.repeat(np.arange(len(people)), count)
    lo, hi = cfg["behaviour"]["store_hours"]
    start = people.active_start_ms[person]
    t = start + (rng.random(len(person)) * (end[person] - start)).astype(np.int64)
    # Shift into store opening hours, local time.
    tz = world.cities.tz[people.city[person]]
    off = utc_offsets(t, tz, world.cities.tz_names) * 60_000
    local_day = (t + off) // DAY_MS * DAY_MS
    t = local_day - off + (rng.uniform(lo, hi, len(person)) * 3_600_000).astype(np.int64)
    t = np.where(t < start, t + DAY_MS, np.where(t >= end[person], t - DAY_MS, t))
    t = np.clip(t, start, end[person] - 1)
    carded = (pos_record[person] >= 0) & (t >= pos_created_ms[person]) & (rng.random(len(person)) < 0.9)
    src = np.where(carded, pos_ids[person], None)
    order = np.argsort(t, kind="stable")
    return person[order], t[order], src[order]


def order_tables(world: World, orders: Orders, people: People, store: bool):
    """Order rows (initial row, plus a re-sent 'returned' row) and line rows for one system.

    Returns (orders table, drop-time ms per order row, items table, drop-time ms per item row).
    """
    win = world.window
    sel = np.flatnonzero(orders.is_store == store)
    resend = sel[(orders.status[sel] == STATUS_RETURNED) & (orders.return_ms[sel] < win.end_ms)]
    rows = np.concatenate([sel, resend])
    row_ms = np.concatenate([orders.ordered_ms[sel], orders.return_ms[resend]])
    status = np.where(orders.status[sel] == STATUS_RETURNED, STATUS_COMPLETED, orders.status[sel])
    status = np.concatenate([status, np.full(len(resend), STATUS_RETURNED)])
    status_text = STATUS_NAMES[status]
    system = "pos" if store else "webshop"
    channel = orders.channel[rows]
    if store:
        status_text = np.array([s.upper() for s in status_text], dtype=object)
        channel = np.full(len(rows), "STORE", dtype=object)
        tz = world.cities.tz[people.city[orders.person[rows]]]
        ordered_at = format_times(orders.ordered_ms[rows], "pos",
                                  utc_offsets(orders.ordered_ms[rows], tz, world.cities.tz_names))
        updated_at = format_times(row_ms, "pos", utc_offsets(row_ms, tz, world.cities.tz_names))
        total = amounts(orders.total_cents[rows]).cast(pa.string()).cast(DECIMAL)
    else:
        ordered_at = format_times(orders.ordered_ms[rows], "webshop")
        updated_at = format_times(row_ms, "webshop")
        total = amounts(orders.total_cents[rows])
    head = pa.table({
        "source_system": pa.array(np.full(len(rows), system, dtype=object), pa.large_string()),
        "order_id": pa.array(orders.order_id[rows], pa.large_string()),
        "source_customer_id": pa.array(orders.source_customer_id[rows], pa.large_string()),
        "ordered_at": ordered_at,
        "status": pa.array(status_text, pa.large_string()),
        "currency": pa.array(orders.currency[rows], pa.large_string()),
        "total_amount": total,
        "channel": pa.array(channel, pa.large_string()),
        # Status change time: the order time, or the return time on the re-sent row.
        "updated_at": updated_at,
    })
    in_sel = np.isin(orders.item_order, sel)
    it = np.flatnonzero(in_sel)
    unit = amounts(orders.item_unit_cents[it])
    items = pa.table({
        "source_system": pa.array(np.full(len(it), system, dtype=object), pa.large_string()),
        "order_id": pa.array(orders.order_id[orders.item_order[it]], pa.large_string()),
        "product_id": pa.array(np.array(world.catalogue.product_id, dtype=object)[orders.item_product[it]],
                               pa.large_string()),
        "quantity": pa.array(orders.item_quantity[it], pa.int32() if store else pa.int64()),
        "unit_price": unit.cast(pa.string()).cast(DECIMAL) if store else unit,
    })
    return head, row_ms, items, orders.ordered_ms[orders.item_order[it]]
