"""One pipeline run per warehouse at a time.

DuckDB lets one process write a database file. A run opens it many times (ingestion, dbt,
each model and export), so two runs started together would fail at some step in between.
``hold_warehouse`` takes an exclusive lock on ``<warehouse>.lock`` for the whole run: a
second run waits for it up to a limit, then stops with a message naming the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextlib.contextmanager
def hold_warehouse(warehouse: Path, wait_seconds: float, poll_seconds: float = 0.5) -> Iterator[None]:
    """Hold the run lock of ``warehouse``; wait up to ``wait_seconds`` for another holder to finish."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    with open(path, "a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"{warehouse} is in use by another run ({_holder(path)}); waited {wait_seconds:.0f} s. "
                        "Wait for it to finish, or give --wait more seconds."
                    ) from None
                time.sleep(poll_seconds)
        # the lock is the flock; the file's text only says who holds it, for the message above
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "holder unknown"
    return f"process {holder.get('pid')} since {holder.get('since')}"
