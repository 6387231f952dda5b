"""``marts.experiment_readouts``: every treatment-like arm of every experiment with a
holdout, read out against the holdout at each as-of date of ``marts.experiment_outcomes``
(docs/experiments.md).

The outcomes model aggregates per arm in the warehouse; this module adds the
statistics (cdp/measure/experiments.py) and the expected arm shares: the holdout
share recorded with each assignment (``marts.experiment_assignments``) and the
variant weights declared in the audience files (``audiences/*.yml``).

The warehouse is a ``cdp.warehouse.Warehouse`` on DuckDB or Spark: the per-arm aggregates
are read in SQL both engines share, the statistics run in Python, and an as-of date's
readouts are replaced by a delete then an insert (all or nothing on DuckDB, idempotent on
Spark).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from cdp import settings
from cdp.export.state import create_table_if_missing
from cdp.measure.config import ReadoutConfig, load_readout_config
from cdp.measure.experiments import (
    HOLDOUT,
    ArmReadout,
    ArmSummary,
    SampleRatioCheck,
    expected_arm_shares,
    read_out,
    sample_ratio_mismatch,
)
from cdp.warehouse import Warehouse, as_warehouse

TABLE = "marts.experiment_readouts"
KEY = ("as_of_date", "experiment_id", "audience_name", "arm")
# One row per (as_of_date, experiment_id, audience_name, arm), arm a treatment-like arm.
COLUMNS = (
    ("as_of_date", "date not null"),
    ("experiment_id", "string not null"),
    ("audience_name", "string not null"),
    ("arm", "string not null"),
    ("control_arm", "string"),
    ("first_assigned_as_of", "date"),
    ("days_observed", "integer"),
    ("customers", "bigint not null"),
    ("control_customers", "bigint"),
    ("converting_customers", "bigint"),
    ("control_converting_customers", "bigint"),
    ("expected_share", "double"),
    ("observed_share", "double"),
    ("conversion_rate", "double"),
    ("control_conversion_rate", "double"),
    ("conversion_lift_abs", "double"),
    ("conversion_lift_abs_ci_low", "double"),
    ("conversion_lift_abs_ci_high", "double"),
    ("conversion_lift_rel", "double"),
    ("conversion_lift_rel_ci_low", "double"),
    ("conversion_lift_rel_ci_high", "double"),
    ("conversion_p_value", "double"),
    ("revenue_per_customer", "double"),
    ("control_revenue_per_customer", "double"),
    ("revenue_lift_abs", "double"),
    ("revenue_lift_abs_ci_low", "double"),
    ("revenue_lift_abs_ci_high", "double"),
    ("revenue_lift_rel", "double"),
    ("revenue_lift_rel_ci_low", "double"),
    ("revenue_lift_rel_ci_high", "double"),
    ("revenue_p_value", "double"),
    ("srm_p_value", "double"),
    ("srm_detected", "boolean not null"),
    ("mde_conversion_abs", "double"),
    ("mde_revenue_abs", "double"),
    ("confidence_level", "double not null"),
    ("status", "string not null"),
    ("message", "string"),
)
ARROW_TYPES = {"date": pa.date32(), "string": pa.string(), "integer": pa.int32(), "bigint": pa.int64(),
               "double": pa.float64(), "boolean": pa.bool_()}

# {where} is empty (every as-of date) or one as-of date's condition
OUTCOMES_SQL = """
    select as_of_date, experiment_id, audience_name, arm,
           cast(customers as bigint), cast(converting_customers as bigint),
           cast(revenue_sum as double), cast(revenue_mean as double), cast(revenue_variance as double),
           first_assigned_as_of, cast(days_observed as integer)
    from marts.experiment_outcomes
    {where}
"""

# The customer-weighted mean of the recorded holdout share of everyone assigned by
# each as-of date: the expected holdout share even when the share was edited mid-way.
HOLDOUT_SHARES_SQL = """
    with as_of_dates as (
        select distinct as_of_date
        from marts.experiment_outcomes
        {where}
    )
    select as_of_dates.as_of_date, assignments.experiment_id, assignments.audience_name,
           avg(assignments.holdout_share) as holdout_share,
           count(distinct assignments.holdout_share) as share_versions
    from as_of_dates
    inner join marts.experiment_assignments as assignments
        on assignments.assigned_as_of <= as_of_dates.as_of_date
    group by as_of_dates.as_of_date, assignments.experiment_id, assignments.audience_name
"""


def ensure_readout_table(warehouse: Warehouse | duckdb.DuckDBPyConnection) -> None:
    create_table_if_missing(as_warehouse(warehouse), TABLE, dict(COLUMNS), KEY)


def declared_variant_weights(audiences_dir: Path | str = settings.AUDIENCES_DIR) -> dict[str, dict[str, float]]:
    """Experiment id -> variant weights as the audience files declare them (default: one arm, treatment).

    Reads only ``name``, ``experiment`` and ``variants``: the full definitions are
    checked by the exporter (cdp/export/audiences.py) at every run.
    """
    weights: dict[str, dict[str, float]] = {}
    for path in sorted(Path(audiences_dir).glob("*.yml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        experiment = str(spec.get("experiment", spec.get("name", path.stem)))
        variants = spec.get("variants") or {"treatment": 1}
        weights[experiment] = {str(arm): float(weight) for arm, weight in variants.items()}
    return weights


def write_experiment_readouts(warehouse: Warehouse | duckdb.DuckDBPyConnection,
                              as_of_date: date | str | None = None, *,
                              variant_weights: Mapping[str, Mapping[str, float]] | None = None,
                              config: ReadoutConfig | None = None) -> int:
    """Replace the readouts of one as-of date (or of all: the table then mirrors the
    outcomes) from ``marts.experiment_outcomes``; returns the rows written.

    Idempotent: the same outcomes give the same rows. ``warehouse`` is a ``Warehouse``
    (either engine) or a DuckDB connection; ``variant_weights`` default to the audience
    files' declarations.
    """
    warehouse = as_warehouse(warehouse)
    config = config or load_readout_config()
    variant_weights = declared_variant_weights() if variant_weights is None else variant_weights
    ensure_readout_table(warehouse)
    where, params = ("", []) if as_of_date is None else ("where as_of_date = cast(? as date)", [str(as_of_date)])
    outcomes = warehouse.rows(OUTCOMES_SQL.format(where=where), params)
    shares = {(d, e, a): (share, versions)
              for d, e, a, share, versions in warehouse.rows(HOLDOUT_SHARES_SQL.format(where=where), params)}

    by_experiment: dict[tuple, list[tuple]] = defaultdict(list)
    for row in outcomes:
        by_experiment[row[:3]].append(row)
    rows = []
    for key, arm_rows in sorted(by_experiment.items()):
        rows.extend(_experiment_rows(key, arm_rows, shares.get(key), variant_weights.get(key[1]), config))

    with warehouse.transaction():
        warehouse.delete(TABLE, where.removeprefix("where ") or "true", params)
        warehouse.append(TABLE, _arrow_rows(rows))
    return len(rows)


def _arrow_rows(rows: list[tuple]) -> pa.Table:
    """Readout rows as a table with the declared column types (no type guessed from values)."""
    return pa.table({
        name: pa.array([row[i] for row in rows], ARROW_TYPES[kind.removesuffix(" not null")])
        for i, (name, kind) in enumerate(COLUMNS)
    })


def _summary(row: tuple) -> ArmSummary:
    _, _, _, arm, customers, converting, revenue_sum, revenue_mean, revenue_variance, _, _ = row
    customers = int(customers or 0)
    if revenue_mean is None and customers > 0 and revenue_sum is not None:
        revenue_mean = revenue_sum / customers
    return ArmSummary(arm, customers, int(converting or 0), revenue_mean, revenue_variance)


def _experiment_rows(key: tuple, arm_rows: list[tuple], recorded_share: tuple | None,
                     weights: Mapping[str, float] | None, config: ReadoutConfig) -> list[tuple]:
    as_of, experiment, audience = key
    summaries = {row[3]: _summary(row) for row in arm_rows}
    timing = {row[3]: (row[9], row[10]) for row in arm_rows}
    observed_arms = sorted(arm for arm in summaries if arm != HOLDOUT)
    if not (weights and set(observed_arms) <= set(weights)):
        # undeclared: one arm is an audience's default (all of the non-holdout share);
        # several arms have unknown weights
        weights = {(observed_arms or ["treatment"])[0]: 1.0} if len(observed_arms) <= 1 else None
    treatment_arms = list(weights) if weights else observed_arms
    holdout_share = recorded_share[0] if recorded_share else None

    notes: list[str] = []
    if recorded_share and recorded_share[1] > 1:
        notes.append("holdout_share changed during the experiment: its expected share is the customer-weighted mean")
    expected, srm = _expected_shares_and_srm(summaries, holdout_share, weights, config.srm_alpha, notes)
    has_holdout = HOLDOUT in summaries or (holdout_share or 0) > 0
    control = summaries.get(HOLDOUT, ArmSummary(HOLDOUT, 0, 0, None, None)) if has_holdout else None
    total = sum(s.customers for s in summaries.values())

    rows = []
    for arm in treatment_arms:
        treatment = summaries.get(arm, ArmSummary(arm, 0, 0, None, None))
        readout = read_out(treatment, control, srm, alpha=config.alpha, power=config.power,
                           min_customers_per_arm=config.min_customers_per_arm)
        first_assigned, days = timing.get(arm, (None, None))
        rows.append(_row(as_of, experiment, audience, readout, treatment, control, first_assigned, days,
                         expected.get(arm), treatment.customers / total if total else None, srm, config, notes))
    return rows


def _expected_shares_and_srm(summaries: Mapping[str, ArmSummary], holdout_share: float | None,
                             weights: Mapping[str, float] | None, srm_alpha: float,
                             notes: list[str]) -> tuple[dict[str, float], SampleRatioCheck]:
    """Expected share of every arm and the sample-ratio check, from what is known.

    With the variant weights: every arm against its share. Without them (several
    arms that no audience file declares, or not all of them): the holdout against
    everyone else.
    """
    counts = {arm: s.customers for arm, s in summaries.items()}
    if holdout_share is None:
        return {}, SampleRatioCheck(None, False, ("no recorded holdout share: no sample-ratio check",))
    if weights:
        expected = expected_arm_shares(holdout_share, weights)
        return expected, sample_ratio_mismatch(counts, expected, srm_alpha)
    notes.append("variant weights not declared for these arms: the sample-ratio check tests the holdout share only")
    if holdout_share == 0:
        return {}, SampleRatioCheck(None, False, ())
    treated = sum(count for arm, count in counts.items() if arm != HOLDOUT)
    binary = {HOLDOUT: holdout_share, "treated": 1 - holdout_share}
    check = sample_ratio_mismatch({HOLDOUT: counts.get(HOLDOUT, 0), "treated": treated}, binary, srm_alpha)
    return {HOLDOUT: holdout_share}, check


def _row(as_of, experiment: str, audience: str, readout: ArmReadout, treatment: ArmSummary,
         control: ArmSummary | None, first_assigned, days, expected_share, observed_share,
         srm: SampleRatioCheck, config: ReadoutConfig, notes: list[str]) -> tuple:
    conversion, revenue = readout.conversion, readout.revenue
    message = "; ".join([m for m in [readout.message] if m] + notes) or None
    return (
        as_of, experiment, audience, readout.arm,
        HOLDOUT if control is not None else None,
        first_assigned, days,
        treatment.customers,
        control.customers if control is not None else None,
        treatment.converting_customers,
        control.converting_customers if control is not None else None,
        expected_share, observed_share,
        conversion.treatment_value, conversion.control_value,
        conversion.lift_abs, *_bounds(conversion.lift_abs_ci),
        conversion.lift_rel, *_bounds(conversion.lift_rel_ci),
        conversion.p_value,
        revenue.treatment_value, revenue.control_value,
        revenue.lift_abs, *_bounds(revenue.lift_abs_ci),
        revenue.lift_rel, *_bounds(revenue.lift_rel_ci),
        revenue.p_value,
        srm.p_value, srm.detected,
        readout.mde_conversion_abs, readout.mde_revenue_abs,
        1 - config.alpha,
        readout.status, message,
    )


def _bounds(interval: tuple[float, float] | None) -> tuple[float | None, float | None]:
    return interval if interval is not None else (None, None)
