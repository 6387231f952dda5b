"""One run per warehouse: a second run waits for the first, or stops and names it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from cdp.warehouse_lock import WarehouseBusy, hold_warehouse, lock_path


def _hold_in_another_process(warehouse, seconds: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cdp.warehouse_lock import hold_warehouse
        with hold_warehouse(Path({str(warehouse)!r}), 0):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_stops_with_the_holder_named(tmp_path):
    warehouse = tmp_path / "cdp.duckdb"
    holder = _hold_in_another_process(warehouse, 5)
    try:
        busy = rf"in use by another run \(process {holder.pid} since .*waited 0 s"
        with pytest.raises(WarehouseBusy, match=busy), hold_warehouse(warehouse, 0.2, poll_seconds=0.05):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_second_run_waits_for_the_first_to_finish(tmp_path):
    warehouse = tmp_path / "cdp.duckdb"
    holder = _hold_in_another_process(warehouse, 1)
    started = time.monotonic()
    with hold_warehouse(warehouse, 30, poll_seconds=0.05):
        waited = time.monotonic() - started
    holder.wait()
    assert waited > 0.3  # it did wait for the holder
    assert lock_path(warehouse).read_text() == ""  # released, holder forgotten


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    warehouse = tmp_path / "cdp.duckdb"
    holder = _hold_in_another_process(warehouse, 60)
    holder.kill()  # SIGKILL: no cleanup runs, the kernel drops the lock
    holder.wait()
    with hold_warehouse(warehouse, 1, poll_seconds=0.05):
        pass


def test_a_step_waits_for_a_session_holding_the_file_then_names_it(tmp_path):
    from orchestration.defs.resources import WarehouseResource

    warehouse = tmp_path / "cdp.duckdb"
    code = textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(warehouse)!r})
        print("open", flush=True)
        time.sleep(float(input()))
    """)
    session = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert session.stdout.readline().strip() == "open"
    try:
        impatient = WarehouseResource(warehouse_path=str(warehouse), lock_wait_seconds=0.5)
        with pytest.raises(RuntimeError, match="stayed locked by another process for 0 s"), impatient.connect():
            pass
        session.stdin.write("1\n")
        session.stdin.flush()
        patient = WarehouseResource(warehouse_path=str(warehouse), lock_wait_seconds=30)
        with patient.connect() as con:  # the session ends within a second: the step goes on
            assert con.execute("select 1").fetchall() == [(1,)]
    finally:
        session.kill()
        session.wait()
