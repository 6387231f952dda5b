"""The ``cdp`` command line."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import click

from cdp import settings


def _parse_date(_ctx, _param, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from exc


@click.group()
def main() -> None:
    """CDP Warehouse: landing files -> DuckDB -> dbt marts -> audience files."""


@main.command()
@click.option("--customers", type=click.IntRange(min=1), required=True, help="Number of real persons.")
@click.option("--days", type=click.IntRange(min=1), default=90, show_default=True, help="Days of history.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--end-date",
    callback=_parse_date,
    default="2026-09-30",
    show_default=True,
    help="Last day of the history (fixed, so the same seed gives the same bytes).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def generate(customers: int, days: int, seed: int, out_dir: Path, end_date: str, no_progress: bool) -> None:
    """Write a synthetic landing directory with ground truth under DIR/_truth/."""
    from cdp.generate import generate_landing

    started = time.perf_counter()
    summary = generate_landing(
        out_dir,
        customers=customers,
        days=days,
        seed=seed,
        end_date=date.fromisoformat(end_date),
        progress=not no_progress,
    )
    click.echo(f"generated {out_dir} in {time.perf_counter() - started:.1f}s")
    for key, value in summary.items():
        if not isinstance(value, dict | list):
            click.echo(f"  {key}: {value}")


def _pipeline_options(command):
    """Options every pipeline command shares: where things are, and the run's parameters."""
    options = [
        click.option(
            "--landing-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=settings.landing_dir,
            show_default="seeds/sample",
        ),
        click.option(
            "--warehouse",
            type=click.Path(dir_okay=False, path_type=Path),
            default=settings.warehouse_path,
            show_default="warehouse/cdp.duckdb",
        ),
        click.option(
            "--export-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=settings.export_dir,
            show_default="exports",
        ),
        click.option(
            "--churn-horizon-days",
            type=click.IntRange(min=1),
            default=None,
            help="Days without an order that make a buyer churned; default: dbt var churn_horizon_days (30).",
        ),
        click.option(
            "--wait",
            "wait_seconds",
            type=click.FloatRange(min=0),
            default=600,
            show_default=True,
            help="Seconds to wait for another run on the same warehouse to finish before giving up.",
        ),
        click.option(
            "--dbt-vars",
            default=None,
            help='dbt vars for this run as a JSON object, e.g. \'{"identity_match_threshold": 0.95}\'.',
        ),
        click.option(
            "--compaction-max-delay-days",
            type=click.IntRange(min=0),
            default=None,
            help="Days erased rows' bytes may stay in the warehouse file; default: cdp/privacy/storage.yml (7). "
            "0 rewrites the file in the run that erased.",
        ),
        click.option(
            "--engine",
            type=click.Choice(["duckdb", "spark"]),
            default=settings.warehouse_engine,
            show_default="duckdb, or CDP_ENGINE",
            help="Where the tables live: the DuckDB file, or Spark (dbt's spark target, tables under CDP_SPARK_DIR; "
            "needs `make setup-spark`, docs/spark.md). The DuckDB path still anchors the run lock.",
        ),
        click.option(
            "--retrain",
            is_flag=True,
            help="Retrain every model, whatever its retraining policy (ml/config/<model>.yml); by default a model "
            "retrains only when due and otherwise scores with its published artifact.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_pipeline_as_of(
    as_of: str | None, landing_dir: Path, warehouse: Path, export_dir: Path, churn_horizon_days: int | None,
    dbt_vars: str | None, wait_seconds: float, compaction_max_delay_days: int | None, retrain: bool = False,
    engine: str = "duckdb",
):
    if not landing_dir.is_dir():
        raise click.ClickException(f"landing directory {landing_dir} does not exist")
    try:
        extra_vars = json.loads(dbt_vars) if dbt_vars else None
    except json.JSONDecodeError as error:
        raise click.ClickException(f"--dbt-vars is not JSON: {error}") from error
    if extra_vars is not None and not isinstance(extra_vars, dict):
        raise click.ClickException("--dbt-vars must be a JSON object")
    os.environ.update(
        CDP_LANDING_DIR=str(landing_dir.resolve()),
        CDP_WAREHOUSE=str(warehouse.resolve()),
        CDP_EXPORT_DIR=str(export_dir.resolve()),
        CDP_ENGINE=engine,
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    from cdp.pipeline import run_pipeline
    from cdp.warehouse_lock import WarehouseBusy

    try:
        return run_pipeline(
            landing_dir=landing_dir.resolve(),
            warehouse=warehouse.resolve(),
            export_dir=export_dir.resolve(),
            as_of=as_of,
            churn_horizon_days=churn_horizon_days,
            dbt_vars=extra_vars,
            wait_seconds=wait_seconds,
            compaction_max_delay_days=compaction_max_delay_days,
            retrain=retrain,
            engine=engine,
        )
    except WarehouseBusy as busy:
        raise click.ClickException(str(busy)) from None


@main.command()
@_pipeline_options
@click.option("--as-of", callback=_parse_date, default=None, help="YYYY-MM-DD; default: latest date in the data.")
def run(as_of: str | None, **options) -> None:
    """Run the whole pipeline in-process through the Dagster definitions."""
    outcome = _run_pipeline_as_of(as_of, **options)
    click.echo(outcome.summary())
    if not outcome.success:
        sys.exit(1)


@main.command()
@_pipeline_options
@click.option("--start", callback=_parse_date, required=True, help="First as-of date, YYYY-MM-DD.")
@click.option("--end", callback=_parse_date, required=True, help="Last as-of date, YYYY-MM-DD (always run).")
@click.option("--every", type=click.IntRange(min=1), default=7, show_default=True, help="Days between as-of dates.")
def backfill(start: str, end: str, every: int, **options) -> None:
    """Run the pipeline as of each date from START to END, oldest first: the history of segments,
    scores, KPIs, audiences and experiments as it would have been built day by day."""
    dates = as_of_dates(date.fromisoformat(start), date.fromisoformat(end), every)
    if not dates:
        raise click.ClickException(f"--start {start} is after --end {end}")
    for as_of in dates:
        click.echo(f"as of {as_of}:")
        outcome = _run_pipeline_as_of(as_of.isoformat(), **options)
        click.echo(outcome.summary())
        if not outcome.success:
            click.echo(f"backfill stopped at {as_of}: later dates build on this one", err=True)
            sys.exit(1)


@main.command()
@click.option(
    "--warehouse",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=settings.warehouse_path,
    show_default="warehouse/cdp.duckdb",
)
@click.option("--if-due", is_flag=True, help="Only when cdp/privacy/storage.yml's max_delay_days says so.")
@click.option("--wait", "wait_seconds", type=click.FloatRange(min=0), default=600, show_default=True,
              help="Seconds to wait for a run on the same warehouse to finish.")
def compact(warehouse: Path, if_due: bool, wait_seconds: float) -> None:
    """Rewrite the warehouse file so erased rows' bytes leave it now (docs/privacy.md)."""
    from cdp.privacy.storage import compact_if_due, load_policy
    from cdp.warehouse_lock import WarehouseBusy, hold_warehouse

    try:
        with hold_warehouse(warehouse.resolve(), wait_seconds):
            compaction, pending_since = compact_if_due(warehouse, load_policy(), force=not if_due)
    except WarehouseBusy as busy:
        raise click.ClickException(str(busy)) from None
    if compaction is None:
        pending = f"erased bytes pending since {pending_since:%Y-%m-%d %H:%M}" if pending_since else "nothing erased"
        click.echo(f"not due: {pending}")
        return
    click.echo(
        f"rewrote {warehouse} in {compaction.seconds:.1f} s: {compaction.bytes_before / 1e6:,.1f} MB -> "
        f"{compaction.bytes_after / 1e6:,.1f} MB"
    )


def as_of_dates(start: date, end: date, every: int) -> list[date]:
    """START, START + every, ... and END itself (the latest state is always built)."""
    dates = [start + timedelta(days=i) for i in range(0, (end - start).days + 1, every)]
    return dates + [end] if dates and dates[-1] != end else dates


@main.command()
@click.option(
    "--warehouse",
    type=click.Path(dir_okay=False, path_type=Path),
    default=settings.warehouse_path,
    show_default="warehouse/cdp.duckdb",
)
@click.option("--customer-id", help="Explain one customer: its records and the links between them.")
@click.option(
    "--record",
    "records",
    multiple=True,
    metavar="SYSTEM:ID",
    help="A source record; give two to see the chain of links that makes them one customer.",
)
@click.option("--show-personal-data", is_flag=True, help="Print emails, phones and names unmasked.")
def explain(warehouse: Path, customer_id: str | None, records: tuple[str, ...], show_personal_data: bool) -> None:
    """Why are these records one customer?"""
    import duckdb

    from cdp.identity.explain import explain_customer, id_history, pair_verdict, record_id_for

    if not customer_id and not records:
        raise click.UsageError("give --customer-id or one or two --record SYSTEM:ID")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            record_ids = []
            for record in records:
                system, _, source_id = record.partition(":")
                record_id, record_customer = record_id_for(con, system, source_id)
                record_ids.append(record_id)
                customer_id = customer_id or record_customer
                if record_customer != customer_id:
                    click.echo(f"{record} belongs to customer {record_customer}, not {customer_id}: not one customer")
                    if len(record_ids) == 2:
                        _echo_verdict(pair_verdict(con, *record_ids))
                    sys.exit(1)
            explanation = explain_customer(con, customer_id, show_personal_data)
            history = id_history(con, customer_id)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"customer {explanation.customer_id}: {len(explanation.records)} source records")
    for r in explanation.records:
        click.echo(
            f"  {r['source_system']}:{r['source_customer_id']}  matched on {r['matched_on']}  "
            f"email {r['email']}  phone {r['phone']}  name {r['first_name']} {r['last_name']}"
        )
    names = {r["customer_record_id"]: f"{r['source_system']}:{r['source_customer_id']}" for r in explanation.records}
    links = explanation.links
    if len(record_ids) == 2:
        links = explanation.path(*record_ids) or []
        click.echo(f"chain from {records[0]} to {records[1]}:")
    else:
        click.echo("links:")
    for link in links:
        evidence = f"{link.field} #{link.value_digest}" if link.value_digest else link.field
        click.echo(
            f"  {names[link.from_record]} -- {link.rule} ({evidence}; p={link.probability:.6f}) -- "
            f"{names[link.to_record]}"
        )
    if history:
        click.echo("id history:")
        for assigned_at, change, record, previous, current, reason in history:
            click.echo(f"  {assigned_at:%Y-%m-%d %H:%M} {change}: {record} {previous} -> {current} ({reason})")


def _echo_verdict(verdict: dict | None) -> None:
    if verdict is None:
        click.echo("the two records were never compared: no blocking rule or shared identifier paired them")
        return
    left_out = "linked, but left out in clustering (it would join a vetoed pair, or two customers by a weak link)"
    click.echo(
        f"compared (blocked by {verdict['blocked_by']}): p={verdict['match_probability']:.6f}, "
        f"weight {verdict['match_weight']:.1f} bits; agreeing: {verdict['agreeing'] or 'nothing'}; "
        f"not linked: {verdict['not_linked_reason'] or left_out}"
    )


if __name__ == "__main__":
    main()
