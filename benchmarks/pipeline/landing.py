"""A landing folder for the full run without the last day's files, and that day added for the daily run.

The generator names its files ``<stream>_<YYYY-MM-DD>.<ext>``, one per drop, so holding back the
files of the last date is exactly what a landing zone looks like the evening before. Files are
hard-linked, not copied: at a million customers the landing files take about 19 GB.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import date
from pathlib import Path

DATED_NAME = re.compile(r"_(\d{4}-\d{2}-\d{2})\.[^_]+$")


def file_date(path: Path) -> date | None:
    match = DATED_NAME.search(path.name)
    return date.fromisoformat(match.group(1)) if match else None


def landing_files(generated: Path, sources: list[str]) -> list[Path]:
    """The files under the source folders (``_truth`` and other folders are no source's)."""
    return sorted(p for name in sources for p in (generated / name).rglob("*") if p.is_file())


def last_day_files(files: list[Path]) -> tuple[date, list[Path]]:
    """The latest date a file carries, and the files of that date."""
    dates = {path: file_date(path) for path in files}
    last = max(d for d in dates.values() if d is not None)
    return last, [path for path, d in dates.items() if d == last]


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


def stage_landing(generated: Path, landing: Path, sources: list[str]) -> tuple[date, list[Path]]:
    """Link every file but the last day's into ``landing``; returns that day and its files (relative)."""
    files = landing_files(generated, sources)
    last, held = last_day_files(files)
    held_set = set(held)
    for path in files:
        if path not in held_set:
            _link(path, landing / path.relative_to(generated))
    return last, [path.relative_to(generated) for path in held]


def release(generated: Path, landing: Path, held: list[Path]) -> None:
    """The day's files arrive."""
    for relative in held:
        _link(generated / relative, landing / relative)
