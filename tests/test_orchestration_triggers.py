"""The landing-files sensor: when it starts a run, and when it does not (the schedule: test_definitions)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg

from orchestration.defs.resources import WarehouseResource
from orchestration.defs.schedules import SETTLE_SECONDS, landing_files_sensor


def _evaluate(landing: Path, cursor: str | None = None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"warehouse": WarehouseResource(landing_dir=str(landing))}
    )
    result = landing_files_sensor.evaluate_tick(context)
    return result, context.cursor


def _settled(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    past = time.time() - SETTLE_SECONDS - 5
    os.utime(path, (past, past))
    return path


def test_sensor_starts_one_run_per_new_set_of_settled_files(tmp_path):
    landing = tmp_path / "landing"
    result, cursor = _evaluate(landing)
    assert not result.run_requests and "no landing files" in result.skip_message

    _settled(landing / "customers" / "2026-09-01.csv", "source_system,source_customer_id\ncrm,1\n")
    result, cursor = _evaluate(landing)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags["trigger"] == "landing_files"

    # nothing new: no run, however often it looks
    again, same_cursor = _evaluate(landing, cursor)
    assert not again.run_requests and same_cursor == cursor

    # a new daily drop: a new run with a new key
    _settled(landing / "orders" / "2026-09-02.csv", "source_system,order_id\nweb,1\n")
    second, second_cursor = _evaluate(landing, cursor)
    assert len(second.run_requests) == 1 and second_cursor != cursor
    assert second.run_requests[0].run_key != result.run_requests[0].run_key


def test_sensor_waits_for_a_file_still_being_written(tmp_path):
    landing = tmp_path / "landing"
    _settled(landing / "customers" / "a.csv", "source_system,source_customer_id\ncrm,1\n")
    _, cursor = _evaluate(landing)
    growing = landing / "events" / "big.jsonl"
    growing.parent.mkdir(parents=True)
    growing.write_text('{"event_id": "1"}\n')  # modified just now
    result, after = _evaluate(landing, cursor)
    assert not result.run_requests and "still changing" in result.skip_message and after == cursor
    past = time.time() - SETTLE_SECONDS - 5
    os.utime(growing, (past, past))
    result, _ = _evaluate(landing, cursor)
    assert len(result.run_requests) == 1


def test_sensor_ignores_temporary_files(tmp_path):
    landing = tmp_path / "landing"
    _settled(landing / "customers" / "a.csv", "source_system,source_customer_id\ncrm,1\n")
    _, cursor = _evaluate(landing)
    _settled(landing / "customers" / "b.csv.tmp", "partial")
    result, _ = _evaluate(landing, cursor)
    assert not result.run_requests


def test_a_changed_file_is_new_data(tmp_path):
    landing = tmp_path / "landing"
    path = _settled(landing / "customers" / "a.csv", "source_system,source_customer_id\ncrm,1\n")
    _, cursor = _evaluate(landing)
    _settled(path, "source_system,source_customer_id\ncrm,1\ncrm,2\n")
    result, _ = _evaluate(landing, cursor)
    assert len(result.run_requests) == 1
