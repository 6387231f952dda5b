"""RFM: customers on the recency × frequency grid, and the size of each RFM segment."""

from __future__ import annotations

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note
from cdp.report.model import Chart, Section, Tile

TITLE = "RFM"
RFM = "marts.fct_customer_rfm"
NO_PURCHASES = "No Purchases"


def build(ctx: ReportContext) -> Section:
    section = Section("rfm", TITLE, intro=(
        "Recency, frequency and monetary value of each customer's completed orders in the lookback window, scored "
        "in quintiles (5 = best) and mapped to named segments."
    ))
    if not ctx.has_table(RFM):
        return section.note(missing_table_note(RFM, "dbt (marts.fct_customer_rfm)"))
    total, scored = ctx.rows(
        f"select count(*), count(recency_score) from {RFM} where as_of_date = ?", [ctx.as_of]
    )[0]
    if not total:
        return section.note(no_rows_note(ctx, RFM, "RFM scores"))
    section.tiles = [
        Tile("Customers who bought", f"{scored:,}", f"{scored / total:.1%} of {total:,} in the lookback"),
    ]
    if scored:
        section.charts.append(grid(ctx))
    else:
        section.note("No customer bought in the lookback window, so the recency × frequency grid is empty.")
    section.charts.append(segment_counts(ctx))
    return section


def grid(ctx: ReportContext) -> Chart:
    cells = ctx.df(
        f"""
        select recency_score, frequency_score, count(*) as customers,
               {ctx.average('monetary')} as mean_monetary, sum(monetary) as total_monetary
        from {RFM} where as_of_date = ? and recency_score is not null
        group by all
        """,
        [ctx.as_of],
    ).set_index(["frequency_score", "recency_score"])
    scores = [1, 2, 3, 4, 5]
    z, text, custom = [], [], []
    for f in reversed(scores):
        z_row, text_row, custom_row = [], [], []
        for r in scores:
            if (f, r) in cells.index:
                cell = cells.loc[(f, r)]
                z_row.append(int(cell["customers"]))
                text_row.append(f"{int(cell['customers']):,}")
                custom_row.append([float(cell["mean_monetary"]), float(cell["total_monetary"])])
            else:
                z_row.append(0)
                text_row.append("")
                custom_row.append([0.0, 0.0])
        z.append(z_row)
        text.append(text_row)
        custom.append(custom_row)
    fig = charts.heatmap(
        z=z, x=[str(s) for s in scores], y=[str(s) for s in reversed(scores)], text=text,
        colorscale=charts.SEQUENTIAL, colorbar_title="customers", customdata=custom, height=380,
        hover=("recency %{x} · frequency %{y}: %{z:,} customers<br>mean monetary %{customdata[0]:,.0f}, "
               "total %{customdata[1]:,.0f}"),
    )
    fig.update_xaxes(title="recency score (5 = bought most recently)")
    fig.update_yaxes(title="frequency score (5 = most orders)")
    return Chart("grid", fig, "Customers by recency (across) and frequency (up) quintile: the top-right cell holds "
                 "recent, frequent buyers (Champions), the bottom-left lapsed one-off buyers; hover for monetary "
                 "value.")


def segment_counts(ctx: ReportContext) -> Chart:
    segments = ctx.df(
        f"select rfm_segment, count(*) as customers, {ctx.average('monetary')} as mean_monetary from {RFM} "
        "where as_of_date = ? group by 1 order by customers, rfm_segment",
        [ctx.as_of],
    )
    colours = [charts.MUTED if s == NO_PURCHASES else charts.ACCENT for s in segments["rfm_segment"]]
    fig = charts.figure(max(280, 60 + 28 * len(segments)))
    fig.add_trace(go.Bar(
        y=segments["rfm_segment"], x=segments["customers"], orientation="h", marker_color=colours,
        text=segments["customers"], texttemplate="%{text:,}", textposition="outside", cliponaxis=False,
        customdata=segments[["mean_monetary"]].astype(float),
        hovertemplate="%{y}: %{x:,} customers, mean monetary %{customdata[0]:,.0f}<extra></extra>",
    ))
    fig.update_xaxes(title="customers")
    charts.room_for_labels(fig, segments["customers"].max())
    return Chart("segments", fig, f"Customers per RFM segment as of {ctx.as_of.isoformat()}; grey: customers with "
                 "no completed order in the lookback window.")
