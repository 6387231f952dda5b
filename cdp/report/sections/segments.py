"""Segments over time: member counts of every declared segment per evaluation date."""

from __future__ import annotations

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note
from cdp.report.model import Chart, Section

TITLE = "Segments over time"
SIZES = "marts.segment_sizes"


def build(ctx: ReportContext) -> Section:
    section = Section("segments", TITLE, intro=(
        "Members of each declared segment (dbt_project/models/personalisation/segments.yml) at every as-of date "
        "the pipeline evaluated, with the customers who entered and left since the previous evaluation."
    ))
    if not ctx.has_table(SIZES):
        return section.note(missing_table_note(SIZES, "dbt (segments)"))
    sizes = ctx.df(f"select * from {SIZES} where as_of_date <= ? order by as_of_date, segment_name", [ctx.as_of])
    current = ctx.df(f"select * from {SIZES} where as_of_date = ? order by segment_name", [ctx.as_of])
    if current.empty:
        return section.note(no_rows_note(ctx, SIZES, "segment sizes"))
    section.charts.append(current_sizes(current, ctx))
    if sizes["as_of_date"].nunique() > 1:
        section.charts.append(trend(sizes))
    else:
        section.note("Only one evaluation so far: the trend over time appears once the pipeline has run as of "
                     "more than one date.")
    return section


def current_sizes(current, ctx: ReportContext) -> Chart:
    current = current.sort_values("member_count", kind="stable")
    fig = charts.figure(max(280, 80 + 34 * len(current)), barmode="group")
    for column, name, colour in (("member_count", "members", charts.ACCENT),
                                 ("entered_count", "entered", charts.GOOD),
                                 ("exited_count", "left", charts.BAD)):
        fig.add_trace(go.Bar(
            y=current["segment_name"], x=current[column], orientation="h", name=name, marker_color=colour,
            hovertemplate="%{y}: %{x:,} " + name + "<extra></extra>",
        ))
    fig.update_xaxes(title="customers")
    return Chart("current", fig, f"Members of each segment as of {ctx.as_of.isoformat()}, with the customers who "
                 "entered (green) and left (red) since the previous evaluation.")


def trend(sizes) -> Chart:
    fig = charts.figure(360)
    for segment, rows in sizes.groupby("segment_name", sort=True):
        fig.add_trace(go.Scatter(
            x=rows["as_of_date"], y=rows["member_count"], name=segment, mode="lines+markers",
            customdata=rows[["entered_count", "exited_count"]],
            hovertemplate=segment + " %{x|%Y-%m-%d}: %{y:,} members<br>+%{customdata[0]:,} entered, "
                          "−%{customdata[1]:,} left<extra></extra>",
        ))
    fig.update_yaxes(title="members")
    fig.update_layout(legend={"orientation": "v", "y": 1, "x": 1.02, "yanchor": "top"})
    return Chart("trend", fig, "Members of each segment per as-of date up to this one; hover for entries and exits.",
                 wide=True)
