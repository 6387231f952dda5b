"""``python -m cdp.report --warehouse PATH --out DIR [--as-of YYYY-MM-DD] [--run-id ID] [--screenshot PNG]
[--engine duckdb|spark]``"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
import duckdb

from cdp import settings
from cdp.report.writer import write_report


def _parse_date(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from exc


@click.command()
@click.option("--warehouse", type=click.Path(dir_okay=False, path_type=Path),
              default=settings.warehouse_path, show_default="warehouse/cdp.duckdb")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default=settings.warehouse_engine,
              show_default="duckdb, or CDP_ENGINE",
              help="Read the DuckDB file, or the Spark catalogue under CDP_SPARK_DIR (docs/spark.md).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for cdp_report_<as-of>.html and latest.html  [default: reports/ beside the warehouse]")
@click.option("--as-of", "as_of", callback=_parse_date, default=None,
              help="The as-of date to report on  [default: the warehouse's latest]")
@click.option("--run-id", default=None, help="Run id shown on the page  [default: the run that wrote the as-of]")
@click.option("--screenshot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also open the page in headless Chromium, save a full-page PNG here and fail on page errors.")
def main(warehouse: Path, engine: str, out_dir: Path | None, as_of: date | None, run_id: str | None,
         screenshot: Path | None) -> None:
    """Write the static HTML report of a warehouse (read-only: the warehouse is not changed)."""
    out_dir = out_dir or warehouse.parent / "reports"
    if engine == "spark":
        from cdp.spark.session import get_session, release_session
        from cdp.warehouse import as_warehouse

        try:
            path = write_report(as_warehouse(get_session()), out_dir, as_of, run_id)
        finally:
            release_session()
    else:
        if not warehouse.is_file():
            raise click.BadParameter(f"{warehouse} does not exist", param_hint="--warehouse")
        with duckdb.connect(str(warehouse), read_only=True) as con:
            path = write_report(con, out_dir, as_of, run_id)
    click.echo(f"report: {path}")
    if screenshot:
        from cdp.report.browser import render

        screenshot.parent.mkdir(parents=True, exist_ok=True)
        errors = render(path, screenshot)
        click.echo(f"screenshot: {screenshot}")
        for error in errors:
            click.echo(f"  {error}", err=True)
        if errors:
            sys.exit(1)


if __name__ == "__main__":
    main()
