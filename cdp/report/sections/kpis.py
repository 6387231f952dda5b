"""KPIs: conversion, order value, revenue per customer and e-mail click-through, overall and by segment,
persona, RFM segment and experiment variant."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note
from cdp.report.model import Chart, Section, Tile

TITLE = "KPIs"
KPIS = "marts.kpi_by_dimension"
# (column, title, hover format, axis tick format)
MEASURES = [
    ("conversion_rate", "conversion rate", ".1%", ".0%"),
    ("average_order_value", "average order value", ",.0f", ",.0f"),
    ("revenue_per_customer", "revenue per customer", ",.1f", ",.0f"),
    ("email_click_through_rate", "e-mail click-through", ".1%", ".0%"),
]
DIMENSIONS = {
    "segment": "segment",
    "persona": "persona",
    "rfm_segment": "RFM segment",
    "experiment_variant": "experiment variant",
}


def build(ctx: ReportContext) -> Section:
    section = Section("kpis", TITLE, intro=(
        "Commercial and e-mail KPIs over the window before the as-of date: conversion = customers with a completed "
        "order over customers, click-through = clicked over delivered e-mails."
    ))
    if not ctx.has_table(KPIS):
        return section.note(missing_table_note(KPIS, "the KPI marts (dbt)"))
    windows = [row[0] for row in ctx.rows(
        f"select distinct window_days from {KPIS} where as_of_date = ? order by 1 desc", [ctx.as_of]
    )]
    if not windows:
        return section.note(no_rows_note(ctx, KPIS, "KPIs"))
    window = windows[0]
    if len(windows) > 1:
        section.note(f"KPIs are computed over {', '.join(map(str, sorted(windows)))} days; the charts show the "
                     f"{window}-day window.")
    kpis = ctx.df(f"select * from {KPIS} where as_of_date = ? and window_days = ? order by dimension, dimension_value",
                  [ctx.as_of, window])
    overall = kpis[kpis["dimension"] == "overall"]
    if not overall.empty:
        section.tiles = overall_tiles(overall.iloc[0], window, ctx)
    for dimension, label in DIMENSIONS.items():
        rows = kpis[kpis["dimension"] == dimension]
        if not rows.empty:
            section.charts.append(by_dimension(rows, dimension, label, window))
    trend = ctx.df(
        f"select * from {KPIS} where dimension = 'overall' and window_days = ? and as_of_date <= ? order by as_of_date",
        [window, ctx.as_of],
    )
    if trend["as_of_date"].nunique() > 1:
        section.charts.append(overall_trend(trend, window))
    return section


def overall_tiles(row, window: int, ctx: ReportContext) -> list[Tile]:
    def value(column: str, fmt: str) -> str:
        v = row[column]
        return "n/a" if pd.isna(v) else format(float(v), fmt)

    return [
        Tile("Conversion rate", value("conversion_rate", ".1%"),
             f"{int(row['converting_customers']):,} of {int(row['customers']):,} customers, {window} days"),
        Tile("Average order value", ctx.money(row["average_order_value"]), f"{int(row['orders']):,} orders"),
        Tile("Revenue per customer", ctx.money(row["revenue_per_customer"], decimals=1),
             f"revenue {ctx.money(row['revenue'])}"),
        Tile("E-mail click-through", value("email_click_through_rate", ".1%"),
             f"{int(row['emails_clicked']):,} clicks / {int(row['emails_delivered']):,} delivered"),
    ]


def by_dimension(rows: pd.DataFrame, dimension: str, label: str, window: int) -> Chart:
    rows = rows.sort_values("customers", ascending=True, kind="stable")
    fig = make_subplots(rows=1, cols=len(MEASURES), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[title for _, title, _, _ in MEASURES])
    fig.update_layout(template=charts.TEMPLATE, height=max(240, 110 + 30 * len(rows)), showlegend=False)
    custom = rows[["customers", "orders", "converting_customers"]].fillna(0).astype(int)
    for n, (column, title, hover_format, tick_format) in enumerate(MEASURES, start=1):
        fig.add_trace(go.Bar(
            y=rows["dimension_value"].astype(str), x=rows[column].astype(float), orientation="h",
            marker_color=charts.PALETTE[(n - 1) % len(charts.PALETTE)], customdata=custom,
            hovertemplate="%{y}: " + title + " %{x:" + hover_format + "}<br>%{customdata[0]:,} customers, "
                          "%{customdata[1]:,} orders<extra></extra>",
        ), row=1, col=n)
        fig.update_xaxes(tickformat=tick_format, row=1, col=n)
    fig.update_annotations(font_size=12)
    return Chart(f"by-{dimension.replace('_', '-')}", fig,
                 f"The four KPIs per {label} over the last {window} days, rows ordered by customers (largest at the "
                 "top); compare bar lengths down a column, hover for customers and orders.", wide=True)


def overall_trend(trend: pd.DataFrame, window: int) -> Chart:
    fig = make_subplots(rows=1, cols=len(MEASURES), horizontal_spacing=0.06,
                        subplot_titles=[title for _, title, _, _ in MEASURES])
    fig.update_layout(template=charts.TEMPLATE, height=280, showlegend=False)
    for n, (column, title, hover_format, tick_format) in enumerate(MEASURES, start=1):
        fig.add_trace(go.Scatter(
            x=trend["as_of_date"], y=trend[column].astype(float), mode="lines+markers",
            line={"color": charts.PALETTE[(n - 1) % len(charts.PALETTE)]},
            hovertemplate="%{x|%Y-%m-%d}: " + title + " %{y:" + hover_format + "}<extra></extra>",
        ), row=1, col=n)
        # rates as percentages; amounts left to plotly, which picks the decimals a narrow range needs
        fig.update_yaxes(tickformat=tick_format if tick_format.endswith("%") else None, rangemode="tozero",
                         row=1, col=n)
    fig.update_annotations(font_size=12)
    return Chart("trend", fig, f"Overall KPIs ({window}-day window) at every as-of date up to this one.", wide=True)
