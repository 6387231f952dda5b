"""Overview: what this run holds, from raw loads to revenue, and the audit trail of rejects and erasures."""

from __future__ import annotations

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext
from cdp.report.model import Chart, Section, Tile

TITLE = "Overview"
# Causes of quarantine shown, largest first.
QUARANTINE_BARS = 15


def build(ctx: ReportContext) -> Section:
    section = Section("overview", TITLE, intro=(
        "The warehouse at a glance: customers and orders up to the as-of date, and what ingestion loaded, "
        "rejected and erased (load audit tables cover every load so far)."
    ))
    section.tiles = tiles(ctx)
    if ctx.has_table("marts.fct_orders"):
        section.charts.append(revenue_per_week(ctx))
    if ctx.has_table("audit.load_history"):
        section.charts.append(rows_per_source(ctx))
    if ctx.has_table("audit.quarantine"):
        chart = quarantine_by_field(ctx)
        if chart:
            section.charts.append(chart)
    if not section.charts:
        section.note("No order or load history in this warehouse yet: run the pipeline (cdp run) first.")
    return section


def tiles(ctx: ReportContext) -> list[Tile]:
    result = []
    if ctx.has_table("marts.dim_customers"):
        erased_filter = "coalesce(is_erased, false)" if ctx.has_column("marts.dim_customers", "is_erased") else "false"
        customers, erased = ctx.rows(
            f"select count(*) filter (where not {erased_filter}), count(*) filter (where {erased_filter}) "
            "from marts.dim_customers"
        )[0]
        result.append(Tile("Customers", f"{customers:,}", f"{erased:,} erased" if erased else "resolved profiles"))
    if ctx.has_table("marts.customer_identity_map"):
        records = ctx.scalar("select count(*) from marts.customer_identity_map")
        result.append(Tile("Source records", f"{records:,}", "customer records from every system"))
    if ctx.has_table("marts.fct_orders"):
        orders, revenue, other = ctx.rows(
            "select count(*) filter (where is_completed), sum(total_amount_reporting) filter (where is_completed), "
            "count(*) filter (where not is_completed) from marts.fct_orders where ordered_date <= ?",
            [ctx.as_of],
        )[0]
        result.append(Tile("Orders", f"{orders:,}", f"completed; {other:,} cancelled or returned"))
        result.append(Tile("Revenue", ctx.money(float(revenue or 0)), "completed orders up to the as-of"))
    if ctx.has_table("audit.load_history"):
        files, reconciled, failed = ctx.rows(
            "select count(*), count(*) filter (where rows_in = rows_loaded + rows_rejected), "
            "count(*) filter (where status = 'failed') from audit.load_history"
        )[0]
        detail = f"rows in = loaded + rejected; {failed:,} failed" if failed else "rows in = loaded + rejected"
        result.append(Tile("Loads reconciled", f"{reconciled:,} / {files:,}", detail))
    if ctx.has_table("audit.quarantine"):
        quarantined = ctx.scalar("select count(*) from audit.quarantine")
        result.append(Tile("Quarantined rows", f"{quarantined:,}", "rejected with a reason (audit.quarantine)"))
    if ctx.has_table("audit.erasure_log"):
        requests, customers = ctx.rows(
            "select count(*), coalesce(sum(customers_erased), 0) from audit.erasure_log"
        )[0]
        result.append(Tile("Erasures processed", f"{requests:,}", f"requests; {customers:,} customers erased"))
    return result


def revenue_per_week(ctx: ReportContext) -> Chart:
    weekly = ctx.df(
        """
        select date_trunc('week', ordered_date) as week,
               sum(total_amount_reporting) filter (where is_completed) as revenue,
               count(*) filter (where is_completed) as orders
        from marts.fct_orders
        where ordered_date <= ?
        group by 1 order by 1
        """,
        [ctx.as_of],
    )
    fig = charts.figure(320)
    fig.add_trace(go.Bar(
        x=weekly["week"], y=weekly["revenue"].astype(float), customdata=weekly[["orders"]], marker_color=charts.ACCENT,
        hovertemplate="week of %{x|%d %b %Y}<br>revenue %{y:,.0f}<br>%{customdata[0]:,} orders<extra></extra>",
    ))
    fig.update_yaxes(title=f"revenue ({ctx.currency})" if ctx.currency else "revenue")
    return Chart("revenue", fig, "Revenue of completed orders per week up to the as-of date; hover for the order "
                 "count. The first and last bars may cover part of a week.")


def rows_per_source(ctx: ReportContext) -> Chart:
    sources = ctx.df(
        "select source, sum(rows_loaded) as loaded, sum(rows_rejected) as rejected, count(*) as files "
        "from audit.load_history group by 1 order by loaded, source"
    )
    fig = charts.figure(max(260, 60 + 30 * len(sources)), barmode="stack")
    for column, colour, label in (("loaded", charts.ACCENT, "loaded"), ("rejected", charts.BAD, "rejected")):
        fig.add_trace(go.Bar(
            y=sources["source"], x=sources[column].astype(float), orientation="h", name=label, marker_color=colour,
            customdata=sources[["files"]],
            hovertemplate="%{y}: %{x:,} rows " + label + " from %{customdata[0]:,} files<extra></extra>",
        ))
    fig.update_xaxes(title="rows")
    return Chart("loads", fig, "Rows each landing source delivered, loaded (blue) or rejected to quarantine (red); "
                 "rejects are usually a thin sliver — their causes are in the next chart.")


def quarantine_by_field(ctx: ReportContext) -> Chart | None:
    # The field is the text before the first ':' of a reason ("email: 'x' is not valid"); reasons about
    # the whole row (bad JSON, too many columns) have none. Raw values are never read.
    rejects = ctx.df(
        """
        select source,
               coalesce(nullif(regexp_extract(reason, '^([a-z_][a-z0-9_]*): ', 1), ''), 'whole row') as field,
               count(*) as rows
        from audit.quarantine group by all order by rows desc, source, field
        """
    )
    if rejects.empty:
        return None
    shown = rejects.head(QUARANTINE_BARS).iloc[::-1]
    sources = sorted(rejects["source"].unique())
    colours = {source: charts.PALETTE[n % len(charts.PALETTE)] for n, source in enumerate(sources)}
    fig = charts.figure(max(260, 70 + 24 * len(shown)))
    fig.add_trace(go.Bar(
        y=[f"{r.source} · {r.field}" for r in shown.itertuples()], x=shown["rows"], orientation="h",
        marker_color=[colours[s] for s in shown["source"]], text=shown["rows"], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{x:,} rows quarantined<extra></extra>",
    ))
    fig.update_xaxes(title="quarantined rows")
    charts.room_for_labels(fig, shown["rows"].max())
    hidden = len(rejects) - len(shown)
    more = f"; {hidden} smaller causes are left out" if hidden > 0 else ""
    return Chart("quarantine", fig, "Quarantined rows by source · failing field, largest first (colour = source; "
                 f"'whole row': malformed JSON or a wrong column count){more}. Each row and reason is in "
                 "audit.quarantine.")
