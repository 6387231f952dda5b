"""Ground truth under ``_truth/`` (ignored by ingestion): who is who, which
device and source record belongs to whom, what they will buy next, and which
landing rows were broken on purpose.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .arrays import amounts, with_nulls
from .behaviour import Devices
from .commerce import STATUS_NAMES, build_baskets, statuses
from .people import People
from .records import SystemRecords
from .timeline import DAY_MS, NEVER, format_dates, format_times
from .world import World

README = """# Ground truth of this synthetic landing directory

Written by `cdp generate` next to the landing folders. Ingestion ignores this
folder (its name starts with `_`). Files are CSV with a header; timestamps are
UTC ISO-8601, dates YYYY-MM-DD, booleans true/false.

- `persons.csv`, one row per real person: person_id, persona, first_name,
  last_name, email, phone (E.164), birth_date, gender, street, city, postcode,
  state, country (ISO alpha-2); previous_street / previous_city /
  previous_postcode and moved_at (an older address some systems may still
  hold); household_id (the person whose e-mail, surname and address this one
  shares); signup_at; is_churned (activity stopped inside the window) and
  churned_at (inside the window or within the future horizon);
  erasure_requested_at.
- `source_records.csv`, one row per customer record in a source system:
  source_system, source_customer_id, person_id, is_duplicate (a second account
  of the same person in that system), created_at.
- `devices.csv`, one row per tracker device: anonymous_id, person_id,
  device_type, is_app.
- `future_orders.csv`, orders in the {future_days} days after the window:
  person_id, ordered_at, channel, status, total_amount, currency.
- `malformed_rows.csv`, one row per deliberately broken landing row: source,
  file (path under the landing directory), record_number (1-based data record;
  the CSV header is not counted; in JSONL it is the line number), reason,
  column.
- `summary.json`: parameters and counts (rows per file and per source).

Malformed-row reasons: missing_required (a required column is empty),
invalid_type (a required value does not parse as its type), invalid_enum (a
value outside the allowed set), out_of_range (below the column minimum),
parse_error (a CSV record with the wrong number of fields, or a line that is
not a JSON object). Every malformed row is an extra copy of a real row, so the
valid rows are complete on their own.
"""


def _ts(ms: np.ndarray) -> pa.Array:
    ms = np.asarray(ms, dtype=np.int64)
    return with_nulls(format_times(np.where(ms >= NEVER, 0, ms), "crm"), ms >= NEVER)


def persons_table(world: World, people: People, erasure_ms: np.ndarray) -> pa.Table:
    cities = world.cities
    head = people.household_of
    codes = np.array(world.countries, dtype=object)
    state = cities.state[people.city]
    return pa.table({
        "person_id": pa.array(people.person_id, pa.large_string()),
        "persona": pa.array(np.array(world.settings.personas.names, dtype=object)[people.persona],
                            pa.large_string()),
        "first_name": pa.array(people.first_name, pa.large_string()),
        "last_name": pa.array(people.last_name, pa.large_string()),
        "email": pa.array(people.email, pa.large_string()),
        "phone": pa.array(np.where(people.has_phone, people.phone_e164, None), pa.large_string()),
        "birth_date": format_dates(people.birth_day),
        "gender": pa.array(np.where(people.gender == 1, "male", "female").astype(object), pa.large_string()),
        "street": pa.array(people.street, pa.large_string()),
        "city": pa.array(cities.name[people.city], pa.large_string()),
        "postcode": pa.array(people.postcode, pa.large_string()),
        "state": pa.array(np.where(state == "", None, state), pa.large_string()),
        "country": pa.array(codes[people.country], pa.large_string()),
        "previous_street": pa.array(np.where(people.moved, people.old_street, None), pa.large_string()),
        "previous_city": pa.array(np.where(people.moved, cities.name[people.old_city], None), pa.large_string()),
        "previous_postcode": pa.array(np.where(people.moved, people.old_postcode, None), pa.large_string()),
        "moved_at": _ts(people.move_ms),
        "household_id": pa.array(np.where(head >= 0, people.person_id[np.maximum(head, 0)], None), pa.large_string()),
        "signup_at": _ts(people.signup_ms),
        "is_churned": pa.array(people.churned),
        "churned_at": _ts(people.churn_ms),
        "erasure_requested_at": _ts(erasure_ms),
    })


def source_records_table(world: World, people: People, records: dict[str, SystemRecords]) -> pa.Table:
    parts = []
    for system, recs in records.items():
        parts.append(pa.table({
            "source_system": pa.array(np.full(len(recs), system, dtype=object), pa.large_string()),
            "source_customer_id": pa.array(recs.source_customer_id, pa.large_string()),
            "person_id": pa.array(people.person_id[recs.person], pa.large_string()),
            "is_duplicate": pa.array(recs.copy_no == 1),
            "created_at": _ts(recs.created_ms),
        }))
    return pa.concat_tables(parts)


def devices_table(people: People, devices: Devices) -> pa.Table:
    return pa.table({
        "anonymous_id": devices.anonymous_id,
        "person_id": pa.array(people.person_id[devices.person], pa.large_string()),
        "device_type": pa.array(devices.device_type, pa.large_string()),
        "is_app": pa.array(devices.is_app),
    })


def future_orders_table(world: World, rng: np.random.Generator, people: People, has_webshop: np.ndarray,
                        has_pos: np.ndarray) -> pa.Table:
    """Orders in the horizon after the window, at the same persona rates, stopping at churn."""
    cfg = world.settings.config
    personas = world.settings.personas
    win = world.window
    p = people.persona
    views = personas.param("views_mean")[p]
    per_session = ((1 - np.exp(-views)) * personas.param("cart_rate")[p] * personas.param("checkout_rate")[p]
                   * personas.param("purchase_rate")[p])
    web_rate = personas.param("sessions_per_week")[p] / 7.0 * per_session * has_webshop
    store_rate = personas.param("store_visits_per_week")[p] / 7.0 * np.where(
        has_pos, 1.0, cfg["commerce"]["anonymous_store_order_rate"])
    horizon_end = np.minimum(win.end_ms + int(cfg["commerce"]["future_days"]) * DAY_MS, people.churn_ms)
    days = np.maximum(0, horizon_end - win.end_ms) / DAY_MS
    n_web = rng.poisson(web_rate * days)
    n_store = rng.poisson(store_rate * days)
    person = np.concatenate([np.repeat(np.arange(len(people)), n_web), np.repeat(np.arange(len(people)), n_store)])
    app = rng.random(int(n_web.sum())) < personas.param("app_share")[p[person[: int(n_web.sum())]]]
    channel = np.concatenate([np.where(app, "app", "web"), np.full(int(n_store.sum()), "store")]).astype(object)
    t = win.end_ms + (rng.random(len(person)) * (horizon_end[person] - win.end_ms)).astype(np.int64)
    basket = build_baskets(world, rng, p[person], people.country[person], np.full(len(person), -1))
    status, _ = statuses(world, rng, p[person], t)
    order = np.lexsort((person, t))
    currency = np.array([world.settings.country(c)["currency"] for c in world.countries], dtype=object)
    return pa.table({
        "person_id": pa.array(people.person_id[person[order]], pa.large_string()),
        "ordered_at": format_times(t[order], "crm"),
        "channel": pa.array(channel[order], pa.large_string()),
        "status": pa.array(STATUS_NAMES[status[order]], pa.large_string()),
        "total_amount": amounts(basket.total_cents[order]),
        "currency": pa.array(currency[people.country[person[order]]], pa.large_string()),
    })
