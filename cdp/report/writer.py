"""``write_report``: read the warehouse section by section, render one page, write it atomically."""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

from duckdb import DuckDBPyConnection

from cdp.report.context import ReportContext, default_as_of, default_run_id, redact, reporting_currency
from cdp.report.model import Report, Section
from cdp.report.page import render_page
from cdp.report.sections import (
    audiences,
    clv,
    data_quality,
    experiments,
    identity,
    kpis,
    models,
    overview,
    personas,
    rfm,
    segments,
)
from cdp.warehouse import Warehouse, as_warehouse

logger = logging.getLogger(__name__)

SECTIONS = [overview, data_quality, identity, rfm, segments, personas, models, clv, experiments, kpis, audiences]
# Their tiles are the headline figures at the top of the page rather than inside the section.
TOP_TILE_SECTIONS = ("overview", "kpis")
LATEST = "latest.html"


def report_filename(as_of: date) -> str:
    return f"cdp_report_{as_of.isoformat()}.html"


def read_report(
    warehouse: Warehouse | DuckDBPyConnection,
    as_of_date: date | None = None,
    run_id: str | None = None,
) -> Report:
    """Every section read from the warehouse: what the page shows, before it is rendered. ``warehouse`` is a
    ``Warehouse`` on any engine, or a DuckDB connection; ``as_of_date`` defaults to the warehouse's latest as-of,
    ``run_id`` to the run that wrote it."""
    warehouse = as_warehouse(warehouse)
    as_of = as_of_date or default_as_of(warehouse)
    ctx = ReportContext(warehouse, as_of, run_id or default_run_id(warehouse, as_of), reporting_currency())
    sections = [build_section(module, ctx) for module in SECTIONS]
    top_tiles = []
    for section in sections:
        if section.key in TOP_TILE_SECTIONS:
            top_tiles += section.tiles
            section.tiles = []
    return Report(ctx.as_of, ctx.run_id, top_tiles, sections)


def write_report(
    warehouse: Warehouse | DuckDBPyConnection,
    report_dir: Path,
    as_of_date: date | None = None,
    run_id: str | None = None,
) -> Path:
    """Write ``report_dir/cdp_report_<as_of>.html`` and ``report_dir/latest.html`` (the same page) and return the
    dated path; the arguments as for ``read_report``."""
    report = read_report(warehouse, as_of_date, run_id)
    html = render_page(report, datetime.now(UTC))
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    dated = report_dir / report_filename(report.as_of)
    write_atomically(dated, html)
    write_atomically(report_dir / LATEST, html)
    return dated


def build_section(module, ctx: ReportContext) -> Section:
    """A section, or when its tables hold something it cannot read, the section with a note saying so: one
    unexpected table never costs the whole report."""
    try:
        return module.build(ctx)
    except Exception as exc:
        logger.exception("report section %s failed", module.TITLE)
        key = module.__name__.rsplit(".", 1)[-1].replace("_", "-")
        return Section(key, module.TITLE).note(
            f"This section could not be drawn from the warehouse ({type(exc).__name__}: {redact(exc)})."
        )


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o644)  # mkstemp makes the file private; the report is meant to be shared
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
