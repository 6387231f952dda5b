"""``generate_landing``: simulate persons chunk by chunk and stream every
chunk's rows into the landing files, with ground truth beside them.

Memory is bounded by the chunk size: nothing about earlier chunks is kept
except open file handles' row counts and the set of e-mail addresses in use.
Every random draw comes from a generator seeded by (seed, chunk, purpose), so
the same arguments always give the same bytes.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .arrays import stream_rng
from .behaviour import simulate_behaviour
from .commerce import make_orders, order_tables, store_visits
from .consent import add_objections, add_optouts, consent_rows, make_erasures, plan_consent, resend_after_erasure
from .esp import simulate_email
from .lists import segment_list_rows
from .people import EmailRegistry, make_people
from .records import customer_rows, make_records, record_versions
from .settings import SYSTEMS, load_settings
from .sink import TRUTH_DIR, LandingSink, ProcessSink
from .timeline import NEVER, Window
from .truth import README, devices_table, future_orders_table, persons_table, source_records_table
from .world import World

DEFAULT_END_DATE = date(2026, 9, 30)


def _clear_previous(out_dir: Path, files_cfg: dict) -> None:
    """Remove files an earlier run of the generator wrote here (and only those)."""
    for source, streams in files_cfg.items():
        folder = out_dir / source
        if not folder.is_dir():
            continue
        prefixes = tuple(spec["file"].split("{")[0] for spec in streams.values())
        for path in folder.iterdir():
            name = path.name.lstrip(".")
            if path.is_file() and name.startswith(prefixes):
                path.unlink()
    truth = out_dir / TRUTH_DIR
    if truth.is_dir():
        for path in truth.iterdir():
            if path.is_file():
                path.unlink()


def _main_record(recs, n: int, values: np.ndarray, empty):
    """Each person's main record in a system (-1 if none) and ``values`` of it (``empty`` if none)."""
    main = recs.main_record_of(n)
    if len(values) == 0:
        return main, np.full(n, empty, dtype=values.dtype)
    return main, np.where(main >= 0, values[np.maximum(main, 0)], empty)


def _simulate_chunk(world: World, sink: LandingSink | ProcessSink, chunk_index: int, start: int, n: int,
                    registry: EmailRegistry) -> dict[str, int]:
    def rng(purpose: str) -> np.random.Generator:
        return stream_rng(world.seed, chunk_index, purpose)

    people = make_people(world, rng("people"), start, n, registry)
    records = make_records(world, rng("records"), people)
    erasures = make_erasures(world, rng("erasure"), people, records)
    resend_after_erasure(world, rng("erasure-resend"), erasures, records)

    consent_rng = rng("consent")
    plans, esp_state = {}, None
    for system in SYSTEMS:
        plans[system], state = plan_consent(world, consent_rng, people, records[system])
        esp_state = state if system == "esp" else esp_state
    esp = records["esp"]
    junk = {e.lower() for e in world.settings.reference["junk"]["emails"]}
    email = simulate_email(world, rng("email"), people, esp.person, esp.fields["email"], esp.created_ms,
                           esp_state.granted, esp_state.withdraw_ms, esp_state.regrant_ms, junk)
    plans["esp"] = add_optouts(plans["esp"], email.optout_record, email.optout_ms, rng("optout"), world)
    plans["crm"] = add_objections(plans["crm"], records["crm"], rng("objection"), world)

    web = records["webshop"]
    web_main, web_id = _main_record(web, n, web.source_customer_id, None)
    _, web_created = _main_record(web, n, web.created_ms, NEVER)
    behaviour = simulate_behaviour(world, rng("behaviour"), chunk_index, people, web_id, web_created,
                                   email.click_person, email.click_ms, email.click_campaign)
    pos = records["pos"]
    pos_main, pos_id = _main_record(pos, n, pos.source_customer_id, None)
    _, pos_created = _main_record(pos, n, pos.created_ms, NEVER)
    s_person, s_ms, s_src = store_visits(world, rng("store"), people, pos_main, pos_created, pos_id)
    store_orders = make_orders(world, rng("store-orders"), chunk_index, people, s_person, s_ms,
                               np.full(len(s_person), "store", dtype=object), np.full(len(s_person), -1), s_src)

    # ---- landing files
    versions_rng = rng("versions")
    window = world.window
    for system in SYSTEMS:
        recs = records[system]
        rec, ms = record_versions(world, versions_rng, recs)
        # One row per record and drop: a file never holds two versions of a key.
        drop = window.drop_for(ms, int(world.settings.config["files"]["customers"][system]["every_days"]))
        order = np.lexsort((ms, rec, drop))
        rec, ms, drop = rec[order], ms[order], drop[order]
        last = np.ones(len(rec), dtype=bool)
        last[:-1] = (rec[1:] != rec[:-1]) | (drop[1:] != drop[:-1])
        rec, ms = rec[last], ms[last]
        by_time = np.lexsort((rec, ms))
        rec, ms = rec[by_time], ms[by_time]
        sink.emit("customers", system, customer_rows(world, recs, rec, ms, people), ms, chunk_index)

    for orders, store in ((behaviour.orders, False), (store_orders, True)):
        system = "pos" if store else "webshop"
        head, head_ms, items, items_ms = order_tables(world, orders, people, store)
        sink.emit("orders", system, head, head_ms, chunk_index)
        sink.emit("order_items", system, items, items_ms, chunk_index)

    n_web = int((~behaviour.event_is_app).sum())
    n_all = behaviour.events.num_rows
    for stream, lo, hi in (("web", 0, n_web), ("app", n_web, n_all)):
        sink.emit("events", stream, behaviour.events.slice(lo, hi - lo), behaviour.event_ms[lo:hi], chunk_index)
    sink.emit("email_events", "esp", email.events, email.event_ms, chunk_index)
    consent_rng = rng("consent-rows")
    for system in SYSTEMS:
        table, ms = consent_rows(world, consent_rng, plans[system], records[system], people)
        sink.emit("consent", system, table, ms, chunk_index)
    sink.emit("erasure_requests", "privacy", erasures.table, erasures.ms, chunk_index)
    lists, lists_ms = segment_list_rows(world, rng("segment-lists"), people)
    sink.emit("segment_lists", "sales", lists, lists_ms, chunk_index)

    # ---- truth
    erasure_ms = np.full(n, NEVER, dtype=np.int64)
    erasure_ms[erasures.person] = erasures.ms
    sink.truth("persons.csv", persons_table(world, people, erasure_ms))
    sink.truth("source_records.csv", source_records_table(world, people, records))
    sink.truth("devices.csv", devices_table(people, behaviour.devices))
    future = future_orders_table(world, rng("future"), people, web_main >= 0, pos_main >= 0)
    sink.truth("future_orders.csv", future)
    return {
        "source_records": sum(len(r) for r in records.values()),
        "devices": len(behaviour.devices),
        "erasure_requests": len(erasures.person),
        "future_orders": future.num_rows,
    }


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def generate_landing(out_dir: Path, customers: int, days: int, seed: int = 42,
                     end_date: date = DEFAULT_END_DATE, chunk_size: int = 20_000, progress: bool = True,
                     config_path: Path | None = None) -> dict:
    """Write a synthetic landing directory (and its ``_truth``) for ``customers`` persons over ``days`` days.

    Deterministic: the same arguments (including ``chunk_size``) give byte-identical files.
    Returns the run summary (also written to ``_truth/summary.json``). Runs of more than one
    chunk write from a spawned second process, so a calling script needs the usual
    ``if __name__ == "__main__":`` guard.
    """
    if customers < 1 or days < 1 or chunk_size < 1:
        raise ValueError("customers, days and chunk_size must be positive")
    out_dir = Path(out_dir)
    settings = load_settings(config_path)
    world = World(settings, Window(end_date, days), seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous(out_dir, settings.config["files"])
    # A second process renders and writes while the next chunk is simulated; a single chunk gains nothing.
    sink_args = (out_dir, settings.config, world.window, seed)
    sink = ProcessSink(*sink_args) if customers > chunk_size else LandingSink(*sink_args)
    products = world.catalogue.table()
    sink.emit("products", "catalogue", products, np.full(products.num_rows, world.window.start_ms), 0)

    registry = EmailRegistry()
    totals: dict[str, int] = {}
    with tqdm(total=customers, unit="person", desc="cdp generate", disable=not progress) as bar:
        for chunk_index, start in enumerate(range(0, customers, chunk_size)):
            n = min(chunk_size, customers - start)
            counts = _simulate_chunk(world, sink, chunk_index, start, n, registry)
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
            bar.update(n)
    written = sink.close()
    files, truth_files = written["files"], written["truth_files"]

    rows_by_source: dict[str, int] = {}
    files_by_source: dict[str, int] = {}
    for relpath, rows in files.items():
        source = relpath.split("/", 1)[0]
        rows_by_source[source] = rows_by_source.get(source, 0) + rows
        files_by_source[source] = files_by_source.get(source, 0) + 1
    summary = {
        "generator": "cdp.generate",
        "parameters": {"customers": customers, "days": days, "seed": seed, "end_date": end_date.isoformat(),
                       "start_date": world.window.start.isoformat(), "chunk_size": chunk_size},
        "persons": customers,
        "source_records": totals.get("source_records", 0),
        "devices": totals.get("devices", 0),
        "erasure_requests": totals.get("erasure_requests", 0),
        "future_orders": totals.get("future_orders", 0),
        "malformed_rows": written["malformed_rows"],
        "files_by_source": files_by_source,
        "rows_by_source": rows_by_source,
        "truth_files": truth_files,
        "files": files,
    }
    _write_text(out_dir / TRUTH_DIR / "summary.json", json.dumps(summary, indent=2, sort_keys=True) + "\n")
    _write_text(out_dir / TRUTH_DIR / "README.md",
                README.replace("{future_days}", str(settings.config["commerce"]["future_days"])))
    return summary
