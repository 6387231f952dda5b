"""Experiments: lift of each treated arm over its holdout, with 95 % intervals, sample-ratio checks and the
smallest effect each experiment could detect."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note, redact
from cdp.report.model import Chart, Section, Table

TITLE = "Experiments"
READOUTS = "marts.experiment_readouts"


def build(ctx: ReportContext) -> Section:
    section = Section("experiments", TITLE, intro=(
        "Every exported audience keeps a random holdout; each readout compares the customers who were sent the "
        "audience (arm) with those held out (control) on conversion and revenue after the first send."
    ))
    if not ctx.has_table(READOUTS):
        return section.note(missing_table_note(READOUTS, "the experiment readout (dbt marts)"))
    readouts = ctx.df(
        f"select * from {READOUTS} where as_of_date = ? order by audience_name, experiment_id, arm", [ctx.as_of]
    )
    if readouts.empty:
        return section.note(no_rows_note(ctx, READOUTS, "experiment readouts"))
    readouts["label"] = [_label(r) for r in readouts.itertuples()]
    measured = readouts[readouts["conversion_lift_abs"].notna() | readouts["revenue_lift_abs"].notna()]
    for row in readouts[~readouts.index.isin(measured.index)].itertuples():
        section.note(f"{row.label}: {row.status} — {redact(row.message) or 'no outcome measured yet'}.")
    if measured.empty:
        return section.note("No experiment has outcomes after its send yet, so no lift can be shown.")
    srm = measured[measured["srm_detected"].fillna(False).astype(bool)]
    if not srm.empty:
        section.note(f"Sample ratio mismatch in {len(srm)} arm(s) ({', '.join(srm['label'])}): the split differs "
                     "from the configured holdout share more than chance allows, so their lifts are not trustworthy.")
    section.charts.append(forest(
        measured, "conversion_lift_abs", "conversion lift (percentage points)", percent=True,
        mde="mde_conversion_abs", key="conversion",
        caption="Conversion-rate difference of each arm over its holdout (dot) with its 95 % interval (line); "
                "intervals that cross the dotted zero line are not significant, the grey band is the smallest "
                "lift the experiment could detect (MDE).",
    ))
    section.charts.append(forest(
        measured, "revenue_lift_abs",
        f"revenue per customer lift{' (' + ctx.currency + ')' if ctx.currency else ''}", percent=False,
        mde="mde_revenue_abs", key="revenue",
        caption="Revenue per customer difference of each arm over its holdout with its 95 % interval and MDE band; "
                "green = significantly up, red = significantly down, blue = not significant.",
    ))
    section.charts.append(split_chart(measured))
    section.tables.append(readout_table(measured))
    return section


def _label(row) -> str:
    flag = "⚠ " if bool(row.srm_detected) else ""
    # an audience without a holdout has no control arm (null): nothing to compare against
    control = f" vs {row.control_arm}" if isinstance(row.control_arm, str) else ", no holdout"
    return f"{flag}{row.audience_name}: {row.arm}{control}"


def _colour(low, high) -> str:
    if pd.notna(low) and low > 0:
        return charts.GOOD
    if pd.notna(high) and high < 0:
        return charts.BAD
    return charts.ACCENT


def forest(rows: pd.DataFrame, column: str, title: str, percent: bool, mde: str, key: str, caption: str) -> Chart:
    rows = rows[rows[column].notna()]
    scale = 100.0 if percent else 1.0
    lift = rows[column].astype(float) * scale
    low = rows[f"{column}_ci_low"].astype(float) * scale
    high = rows[f"{column}_ci_high"].astype(float) * scale
    relative = column.replace("_abs", "_rel")
    p_value = column.split("_lift")[0] + "_p_value"
    fig = charts.figure(max(220, 100 + 46 * len(rows)), barmode="overlay", showlegend=False)
    detectable = rows[mde].astype(float) * scale
    if detectable.notna().any():
        fig.add_trace(go.Bar(
            y=rows["label"], x=2 * detectable, base=-detectable, orientation="h", marker_color="#E2E8F0",
            width=0.5, customdata=detectable, name="MDE",
            hovertemplate="smallest detectable lift ±%{customdata:.3g}<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=lift, y=rows["label"], mode="markers", name="lift",
        marker={"size": 11, "color": [_colour(lo, hi) for lo, hi in zip(low, high, strict=True)],
                "symbol": ["x" if s else "circle" for s in rows["srm_detected"].fillna(False).astype(bool)]},
        error_x={"type": "data", "symmetric": False, "array": (high - lift).fillna(0),
                 "arrayminus": (lift - low).fillna(0), "color": "#475569", "thickness": 1.5, "width": 6},
        customdata=list(zip(low, high, rows[relative].astype(float), rows[p_value].astype(float),
                            rows["customers"], rows["control_customers"], strict=True)),
        hovertemplate=("%{y}<br>lift %{x:.3g} (95 % CI %{customdata[0]:.3g} to %{customdata[1]:.3g})<br>"
                       "relative %{customdata[2]:+.1%} · p = %{customdata[3]:.3f}<br>"
                       "%{customdata[4]:,} customers vs %{customdata[5]:,} held out<extra></extra>"),
    ))
    fig.add_vline(x=0, line={"dash": "dot", "color": "#334155"})
    fig.update_xaxes(title=title, zeroline=False)
    fig.update_yaxes(autorange="reversed")
    return Chart(key, fig, caption, wide=True)


def split_chart(rows: pd.DataFrame) -> Chart:
    rows = rows[rows["expected_share"].notna() & rows["observed_share"].notna()]
    fig = charts.figure(max(220, 100 + 40 * len(rows)))
    fig.add_trace(go.Scatter(
        x=rows["expected_share"], y=rows["label"], mode="markers", name="expected",
        marker={"size": 12, "symbol": "line-ns", "line": {"width": 3, "color": "#334155"}},
        hovertemplate="%{y}: expected %{x:.1%} of customers in the arm<extra></extra>",
    ))
    srm = rows["srm_detected"].fillna(False).astype(bool)
    fig.add_trace(go.Scatter(
        x=rows["observed_share"], y=rows["label"], mode="markers", name="observed",
        marker={"size": 10, "color": [charts.BAD if s else charts.GOOD for s in srm]},
        customdata=rows[["srm_p_value"]].astype(float),
        hovertemplate="%{y}: observed %{x:.1%} · SRM test p = %{customdata[0]:.4f}<extra></extra>",
    ))
    shares = pd.concat([rows["expected_share"], rows["observed_share"]]).astype(float)
    margin = max(0.01, (shares.max() - shares.min()) * 0.1)
    fig.update_xaxes(title="share of the experiment's customers in the arm", tickformat=".0%",
                     range=[max(0.0, shares.min() - margin), min(1.0, shares.max() + margin)])
    fig.update_yaxes(autorange="reversed")
    return Chart("split", fig, "Observed share of customers in each arm (dot) against the configured share (bar): "
                 "green = consistent with the design, red = sample ratio mismatch (SRM), which invalidates the lift.")


def readout_table(rows: pd.DataFrame) -> Table:
    def interval(value, low, high, percent: bool) -> str:
        if pd.isna(value):
            return ""
        scale, unit = (100.0, " pp") if percent else (1.0, "")
        return f"{value * scale:+.2f}{unit} [{low * scale:+.2f}, {high * scale:+.2f}]"

    def p(value) -> str:
        return "" if pd.isna(value) else f"{value:.3f}"

    body = [
        [r.experiment_id, r.label, int(r.days_observed) if pd.notna(r.days_observed) else "",
         f"{int(r.customers):,} / {int(r.control_customers):,}",
         f"{r.conversion_rate:.2%} vs {r.control_conversion_rate:.2%}" if pd.notna(r.conversion_rate) else "",
         interval(r.conversion_lift_abs, r.conversion_lift_abs_ci_low, r.conversion_lift_abs_ci_high, True),
         p(r.conversion_p_value),
         interval(r.revenue_lift_abs, r.revenue_lift_abs_ci_low, r.revenue_lift_abs_ci_high, False),
         p(r.revenue_p_value), p(r.srm_p_value), r.status]
        for r in rows.itertuples()
    ]
    return Table(
        "Readouts with exact values (95 % intervals in brackets; pp = percentage points).",
        ["experiment", "arm vs control", "days", "customers (arm / control)", "conversion", "conversion lift",
         "p", "revenue / customer lift", "p", "SRM p", "status"],
        body,
    )
