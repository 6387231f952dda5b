"""Data quality: each source's score per criterion, its trend, and the checks that warn or fail."""

from __future__ import annotations

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note, redact
from cdp.report.model import Chart, Section, Table

TITLE = "Data quality"
SCORES = "marts.data_quality_source_scores"
CHECKS = "marts.data_quality_scorecard"
CRITERIA = ["completeness", "validity", "consistency", "timeliness", "uniqueness", "overall_score"]
WRITTEN_BY = "the data quality scorecard (dbt marts)"


def build(ctx: ReportContext) -> Section:
    section = Section("data-quality", TITLE, intro=(
        "How complete, valid, consistent, timely and unique each source's data is, scored by the data quality "
        "checks of this as-of; the overall score weighs them together."
    ))
    if not ctx.has_table(SCORES):
        section.note(missing_table_note(SCORES, WRITTEN_BY))
    else:
        scores = ctx.df(f"select * from {SCORES} where as_of_date = ? order by source", [ctx.as_of])
        if scores.empty:
            section.note(no_rows_note(ctx, SCORES, "source scores"))
        else:
            section.charts.append(score_heatmap(scores))
        trend = ctx.df(
            f"select as_of_date, source, overall_score from {SCORES} where as_of_date <= ? order by 1, 2", [ctx.as_of]
        )
        if trend["as_of_date"].nunique() > 1:
            section.charts.append(score_trend(trend))
    if not ctx.has_table(CHECKS):
        section.note(missing_table_note(CHECKS, WRITTEN_BY))
    else:
        failing_checks(ctx, section)
    return section


def _percent_scale(frame) -> bool:
    """Scores are fractions (0-1) or percentages (0-100): whichever the table holds."""
    values = frame[[c for c in CRITERIA if c in frame.columns]].astype(float)
    return bool(values.max().max() > 1.0)


def score_heatmap(scores) -> Chart:
    percent = _percent_scale(scores)
    top = 100.0 if percent else 1.0
    columns = [c for c in CRITERIA if c in scores.columns]
    z = scores[columns].astype(float).to_numpy()
    text = [[("" if v != v else f"{v:.0f}" if percent else f"{v:.2f}") for v in row] for row in z]
    custom = [[[r.rows_in, r.rows_loaded, r.rows_rejected, r.quarantine_rate, r.status]] * len(columns)
              for r in scores.itertuples()]
    fig = charts.heatmap(
        z=z, x=[c.replace("_score", "").replace("_", " ") for c in columns], y=scores["source"].tolist(), text=text,
        colorscale=charts.SCORE_SCALE, colorbar_title="score", zmin=0, zmax=top, customdata=custom,
        hover=("%{y} · %{x}: %{z:.3f}<br>rows in %{customdata[0]:,}, loaded %{customdata[1]:,}, rejected "
               "%{customdata[2]:,}<br>quarantine rate %{customdata[3]:.2%} · status %{customdata[4]}"),
    )
    return Chart("scores", fig, "Each source (row) scored on each criterion (column), green = good, red = poor; the "
                 "last column is the overall score. Hover for row counts, quarantine rate and status.", wide=True)


def score_trend(trend) -> Chart:
    fig = charts.figure(320)
    for source, rows in trend.groupby("source", sort=True):
        fig.add_trace(go.Scatter(
            x=rows["as_of_date"], y=rows["overall_score"].astype(float), name=source, mode="lines+markers",
            hovertemplate=source + " as of %{x|%Y-%m-%d}: %{y:.3f}<extra></extra>",
        ))
    fig.update_yaxes(title="overall score")
    return Chart("trend", fig, "Overall data quality score of each source per as-of date up to this one: a falling "
                 "line is a source getting worse.", wide=True)


def failing_checks(ctx: ReportContext, section: Section) -> None:
    checks = ctx.df(
        f"""
        select source, criterion, check_name, attribute, checked, passed, score, threshold, status, detail
        from {CHECKS}
        where as_of_date = ? and lower(status) in ('warn', 'fail')
        order by lower(status) = 'warn', score nulls last, source, check_name
        """,
        [ctx.as_of],
    )
    total = ctx.scalar(f"select count(*) from {CHECKS} where as_of_date = ?", [ctx.as_of])
    if not total:
        section.note(no_rows_note(ctx, CHECKS, "checks"))
        return
    if checks.empty:
        section.note(f"All {total:,} data quality checks of this as-of pass.")
        return
    rows = [
        [r.source, r.criterion, r.check_name, r.attribute or "", _int(r.checked), _int(r.passed),
         _number(r.score), _number(r.threshold), r.status, redact(r.detail)]
        for r in checks.itertuples()
    ]
    section.tables.append(Table(
        f"{len(rows):,} of {total:,} checks warn or fail (failures first, worst score first).",
        ["source", "criterion", "check", "attribute", "checked", "passed", "score", "threshold", "status", "detail"],
        rows,
    ))


def _int(value) -> str:
    return "" if value is None or value != value else f"{int(value):,}"


def _number(value) -> str:
    return "" if value is None or value != value else f"{float(value):.3g}"
