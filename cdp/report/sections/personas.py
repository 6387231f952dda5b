"""Personas: how many customers each behavioural cluster holds and what sets it apart."""

from __future__ import annotations

import json

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note
from cdp.report.model import Chart, Section

TITLE = "Personas"
PERSONAS = "ml.personas"
CLUSTERS = "ml.customer_clusters"
WRITTEN_BY = "the personas model (ml/personas.py)"
# Features shown in the profile heat map: the ones that set some persona apart the most.
MAX_FEATURES = 12


def build(ctx: ReportContext) -> Section:
    section = Section("personas", TITLE, intro=(
        "K-means clusters of customers on their behaviour, named from what sets each apart (docs/personas.md)."
    ))
    if not ctx.has_table(PERSONAS):
        return section.note(missing_table_note(PERSONAS, WRITTEN_BY))
    personas = ctx.df(f"select * from {PERSONAS} where as_of_date = ? order by cluster_id", [ctx.as_of])
    if personas.empty:
        return section.note(no_rows_note(ctx, PERSONAS, "personas"))
    sizes = cluster_sizes(ctx, personas, section)
    section.charts.append(size_chart(sizes))
    profile = profile_heatmap(personas)
    if profile:
        section.charts.append(profile)
    section.items = [(row.persona_name, row.description or "") for row in personas.itertuples()]
    return section


def cluster_sizes(ctx: ReportContext, personas, section: Section):
    """Customers per persona as assigned at this as-of (ml.customer_clusters), else as at training."""
    sizes = personas[["cluster_id", "persona_name", "customer_count"]].rename(columns={"customer_count": "customers"})
    if ctx.has_table(CLUSTERS):
        assigned = ctx.df(
            f"select cluster_id, count(*) as customers from {CLUSTERS} where as_of_date = ? group by 1", [ctx.as_of]
        )
        if not assigned.empty:
            return sizes.drop(columns="customers").merge(assigned, on="cluster_id", how="left").fillna(0)
        section.note(no_rows_note(ctx, CLUSTERS, "customer assignments") + " Sizes are those at training.")
    else:
        section.note(missing_table_note(CLUSTERS, WRITTEN_BY) + " Sizes are those at training.")
    return sizes


def size_chart(sizes) -> Chart:
    sizes = sizes.sort_values("customers", kind="stable")
    share = sizes["customers"] / max(1, sizes["customers"].sum())
    fig = charts.figure(max(240, 80 + 40 * len(sizes)))
    fig.add_trace(go.Bar(
        y=sizes["persona_name"], x=sizes["customers"], orientation="h",
        marker_color=[charts.PALETTE[int(c) % len(charts.PALETTE)] for c in sizes["cluster_id"]],
        text=[f"{n:,.0f} ({s:.0%})" for n, s in zip(sizes["customers"], share, strict=True)],
        textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:,} customers<extra></extra>",
    ))
    fig.update_xaxes(title="customers")
    charts.room_for_labels(fig, sizes["customers"].max() * 1.1)
    return Chart("sizes", fig, "Customers in each persona at this as-of, with the share of all clustered customers.")


def profile_heatmap(personas) -> Chart | None:
    z_scores = {row.persona_name: json.loads(row.distinguishing_features or "{}") for row in personas.itertuples()}
    medians = {row.persona_name: json.loads(row.centroid or "{}") for row in personas.itertuples()}
    # ties by name: features that move together (monetary, spend 90d) share a z-score, and a set has no order
    features = sorted({f for scores in z_scores.values() for f in scores},
                      key=lambda f: (-max(abs(scores.get(f) or 0.0) for scores in z_scores.values()), f))
    features = features[:MAX_FEATURES]
    if not features:
        return None
    names = list(z_scores)
    z = [[z_scores[name].get(f) for f in features] for name in names]
    text = [[("" if v is None else f"{v:+.1f}") for v in row] for row in z]
    custom = [[medians[name].get(f) for f in features] for name in names]
    limit = max(1.0, max(abs(v) for row in z for v in row if v is not None))
    fig = charts.heatmap(
        z=z, x=[f.replace("_", " ") for f in features], y=names, text=text, colorscale=charts.DIVERGING,
        colorbar_title="z-score", zmin=-limit, zmax=limit, zmid=0, customdata=custom,
        hover="%{y} · %{x}: %{z:+.2f} standard deviations from all customers<br>persona median %{customdata}",
        height=max(260, 140 + 44 * len(names)),
    )
    fig.update_xaxes(tickangle=-35)
    return Chart("profiles", fig, "What sets each persona (row) apart: blue = higher than the average customer, "
                 "red = lower, in standard deviations of each feature; the strongest features only. Hover for the "
                 "persona's median value.", wide=True)
