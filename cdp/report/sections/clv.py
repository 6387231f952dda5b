"""Customer lifetime value: the spread of predicted 12-month value, and how it differs by RFM segment."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note
from cdp.report.model import Chart, Section, Tile

TITLE = "Customer lifetime value"
CLV = "ml.clv_predictions"
RFM = "marts.fct_customer_rfm"


def build(ctx: ReportContext) -> Section:
    section = Section("clv", TITLE, intro=(
        "Predicted value of each buyer's purchases over the next 12 months (BG/NBD and Gamma-Gamma, docs/clv.md)."
    ))
    if not ctx.has_table(CLV):
        return section.note(missing_table_note(CLV, "the CLV model (ml/clv.py)"))
    # Only the values: the distribution is drawn from numbers, never from who holds them.
    values = ctx.df(f"select clv_12m, probability_alive from {CLV} where as_of_date = ? and clv_12m is not null",
                    [ctx.as_of])
    if values.empty:
        return section.note(no_rows_note(ctx, CLV, "CLV predictions"))
    clv = values["clv_12m"].astype(float).to_numpy()
    section.tiles = [
        Tile("Customers valued", f"{len(clv):,}", "buyers known at the as-of date"),
        Tile("Predicted 12-month value", ctx.money(float(clv.sum())), f"median {ctx.money(float(np.median(clv)))}"),
        Tile("Mean P(alive)", f"{values['probability_alive'].astype(float).mean():.1%}",
             "chance a buyer is still active"),
    ]
    section.charts.append(histogram(clv, ctx))
    if ctx.has_table(RFM):
        by_segment = segment_boxes(ctx)
        if by_segment:
            section.charts.append(by_segment)
    return section


def histogram(clv: np.ndarray, ctx: ReportContext) -> Chart:
    positive = clv[clv > 0]
    unit = f" ({ctx.currency})" if ctx.currency else ""
    fig = charts.figure(340)
    if charts.is_skewed(positive.tolist()):
        edges = charts.log_bins(float(positive.min()), float(positive.max()))
        counts, _ = np.histogram(positive, bins=edges)
        labels = [f"{charts.short_number(lo)}–{charts.short_number(hi)}" for lo, hi in zip(edges, edges[1:],
                                                                                             strict=False)]
        zero = int((clv <= 0).sum())
        if zero:
            labels, counts = ["0", *labels], np.concatenate([[zero], counts])
        fig.add_trace(go.Bar(x=labels, y=counts, marker_color=charts.ACCENT,
                             hovertemplate="%{x}: %{y:,} customers<extra></extra>"))
        fig.update_xaxes(type="category", title=f"predicted 12-month value{unit}, bins on a log scale")
        caption = ("How many buyers fall in each band of predicted 12-month value; bands grow ×2–×2.5 each step "
                   "because values are skewed (a few buyers are worth far more than most).")
    else:
        fig.add_trace(go.Histogram(x=clv, nbinsx=40, marker_color=charts.ACCENT,
                                   hovertemplate="%{x}: %{y:,} customers<extra></extra>"))
        fig.update_xaxes(title=f"predicted 12-month value{unit}")
        caption = "How many buyers fall in each band of predicted 12-month value."
    fig.update_yaxes(title="customers")
    return Chart("distribution", fig, caption)


def segment_boxes(ctx: ReportContext) -> Chart | None:
    # Quartiles per segment computed in the warehouse: the page gets five numbers per segment, not customers.
    stats = ctx.df(
        f"""
        select rfm.rfm_segment as segment, count(*) as customers,
               min(clv.clv_12m) as low,
               percentile_cont(0.25) within group (order by clv.clv_12m) as q1,
               percentile_cont(0.5) within group (order by clv.clv_12m) as median,
               percentile_cont(0.75) within group (order by clv.clv_12m) as q3,
               percentile_cont(0.95) within group (order by clv.clv_12m) as p95
        from {CLV} as clv
        inner join {RFM} as rfm on rfm.customer_id = clv.customer_id and rfm.as_of_date = clv.as_of_date
        where clv.as_of_date = ? and clv.clv_12m is not null
        group by 1 order by median, segment
        """,
        [ctx.as_of],
    )
    if stats.empty:
        return None
    fig = charts.figure(max(300, 80 + 32 * len(stats)))
    fig.add_trace(go.Box(
        y=stats["segment"], q1=stats["q1"], median=stats["median"], q3=stats["q3"], lowerfence=stats["low"],
        upperfence=stats["p95"], orientation="h", marker_color=charts.ACCENT, name="12-month value",
        customdata=stats[["customers"]], boxpoints=False,
    ))
    if (stats["low"] > 0).all() and stats["p95"].max() > 100 * stats["low"].min():
        fig.update_xaxes(type="log", dtick=1)  # labels at powers of ten only
    fig.update_xaxes(title=f"predicted 12-month value{' (' + ctx.currency + ')' if ctx.currency else ''}")
    fig.update_layout(showlegend=False)
    return Chart("by-segment", fig, "Predicted 12-month value per RFM segment: the box spans the middle half of "
                 "buyers with the median inside, whiskers reach the minimum and the 95th percentile.")
