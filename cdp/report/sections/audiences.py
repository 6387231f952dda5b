"""Audiences exported: for each audience and destination, how many customers were selected, allowed, held
out and sent, and which exports were refused and why (audit.export_log)."""

from __future__ import annotations

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note, redact
from cdp.report.model import Chart, Section, Table, Tile

TITLE = "Audiences exported"
LOG = "audit.export_log"
SENT = ("exported", "unchanged")
STEPS = [
    ("selected_count", "selected", charts.MUTED),
    ("eligible_count", "eligible (consent, not suppressed)", charts.PALETTE[5]),
    ("holdout_count", "held out (control)", charts.WARN),
    ("row_count", "rows in the file", charts.ACCENT),
]


def build(ctx: ReportContext) -> Section:
    section = Section("audiences", TITLE, intro=(
        "Each audience (audiences/*.yml) selects customers, keeps those whose consent allows the purpose, holds "
        "out a control group and writes the rest to each destination's file (docs/activation.md)."
    ))
    if not ctx.has_table(LOG):
        return section.note(missing_table_note(LOG, "the export step"))
    # A re-run logs again: the latest entry per audience and destination is this as-of's outcome.
    exports = ctx.df(
        f"""
        select * from {LOG} where as_of_date = ?
        qualify row_number() over (partition by audience_name, destination order by logged_at desc) = 1
        order by audience_name, destination
        """,
        [ctx.as_of],
    )
    if exports.empty:
        return section.note(no_rows_note(ctx, LOG, "exports"))
    sent = exports[exports["status"].isin(SENT)]
    refused = exports[~exports["status"].isin(SENT)]
    section.tiles = [
        Tile("Exports", f"{len(sent):,} / {len(exports):,}", "audience × destination files written"),
        Tile("Rows exported", f"{int(sent['row_count'].fillna(0).sum()):,}", "across every destination"),
    ]
    section.charts.append(funnel(exports))
    if refused.empty:
        section.note("Every audience due was exported.")
    else:
        section.tables.append(Table(
            f"{len(refused):,} export(s) not made, with the reason.",
            ["audience", "destination", "status", "selected", "eligible", "reason"],
            [[r.audience_name, r.destination, r.status, _count(r.selected_count), _count(r.eligible_count),
              redact(r.message)] for r in refused.itertuples()],
        ))
    return section


def _count(value) -> str:
    return "" if value is None or value != value else f"{int(value):,}"


def funnel(exports) -> Chart:
    labels = [f"{r.audience_name} → {r.destination}" + ("" if r.status in SENT else f" ({r.status})")
              for r in exports.itertuples()]
    fig = charts.figure(max(300, 100 + 62 * len(exports)), barmode="group", bargap=0.25)
    for column, name, colour in STEPS:
        fig.add_trace(go.Bar(
            y=labels, x=exports[column].fillna(0).astype(float), orientation="h", name=name, marker_color=colour,
            hovertemplate="%{y}: %{x:,} " + name + "<extra></extra>",
        ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="customers")
    return Chart("funnel", fig, "Per audience and destination, top to bottom: customers selected, eligible after "
                 "consent and suppression, held out as control, and rows written to the file.", wide=True)
