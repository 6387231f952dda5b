"""Identity resolution: how source records became customers, by what rule, and how big customers got."""

from __future__ import annotations

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, no_rows_note
from cdp.report.model import Chart, Section, Tile

TITLE = "Identity resolution"
STATS = "marts.identity_resolution_stats"
MAP = "marts.customer_identity_map"
LINKS = "marts.customer_identity_links"
WRITTEN_BY = "identity resolution (dbt marts)"
# What linked a record, strongest first (marts.customer_identity_map.matched_on).
MATCHED_ON = ["email", "phone", "loyalty_id", "probabilistic", "none"]
MATCH_COLOURS = dict(zip(MATCHED_ON, [charts.PALETTE[0], charts.PALETTE[5], charts.PALETTE[2], charts.PALETTE[1],
                                      charts.MUTED], strict=True))


def build(ctx: ReportContext) -> Section:
    section = Section("identity", TITLE, intro=(
        "Source customer records from every system are linked into one customer by shared identifiers "
        "(deterministic) or by a match probability (probabilistic, Fellegi-Sunter); see docs/identity.md."
    ))
    if ctx.has_table(STATS):
        stats = ctx.df(f"select * from {STATS} where as_of_date = ?", [ctx.as_of])
        if stats.empty:
            section.note(no_rows_note(ctx, STATS, "identity statistics"))
        else:
            section.tiles = stat_tiles(stats.iloc[0])
    else:
        section.note(missing_table_note(STATS, WRITTEN_BY))
    if ctx.has_table(MAP):
        if ctx.scalar(f"select count(*) from {MAP}"):
            section.charts += [match_rates(ctx), records_per_customer(ctx)]
        else:
            section.note(f"{MAP} is empty: no customer records have been resolved yet.")
    else:
        section.note(missing_table_note(MAP, WRITTEN_BY))
    if ctx.has_table(LINKS):
        if ctx.scalar(f"select count(*) from {LINKS}"):
            section.charts.append(links_by_rule(ctx))
            weights = weight_histogram(ctx)
            if weights:
                section.charts.append(weights)
        else:
            section.note(f"{LINKS} is empty: no two records were linked.")
    else:
        section.note(missing_table_note(LINKS, WRITTEN_BY))
    return section


def stat_tiles(stats) -> list[Tile]:
    return [
        Tile("Records → customers", f"{int(stats.source_record_count):,} → {int(stats.customer_count):,}",
             f"{float(stats.record_reduction_rate):.1%} fewer profiles than records"),
        Tile("Multi-record customers", f"{int(stats.multi_record_customer_count):,}",
             f"{float(stats.avg_records_per_customer):.2f} records per customer on average"),
        Tile("Largest customer", f"{int(stats.largest_customer_records):,} records",
             "a large cluster would suggest over-merging"),
        Tile("Links", f"{int(stats.deterministic_link_count):,} + {int(stats.probabilistic_link_count):,}",
             f"deterministic + probabilistic; {int(stats.weak_link_count):,} weak"),
    ]


def match_rates(ctx: ReportContext) -> Chart:
    counts = ctx.df(
        f"""
        select source_system, matched_on, count(*) as records from {MAP} group by all
        union all
        select 'all systems', matched_on, count(*) from {MAP} group by all
        """
    )
    totals = counts.groupby("source_system")["records"].transform("sum")
    counts["share"] = counts["records"] / totals
    systems = sorted(set(counts["source_system"]) - {"all systems"}) + ["all systems"]
    fig = charts.figure(max(240, 90 + 34 * len(systems)), barmode="stack")
    kinds = MATCHED_ON + sorted(set(counts["matched_on"]) - set(MATCHED_ON))
    for kind in kinds:
        rows = counts[counts["matched_on"] == kind].set_index("source_system").reindex(systems)
        if rows["records"].isna().all():
            continue
        fig.add_trace(go.Bar(
            y=systems, x=rows["share"], orientation="h", name=kind, marker_color=MATCH_COLOURS.get(kind),
            customdata=rows[["records"]].fillna(0),
            hovertemplate="%{y}: %{x:.1%} of records linked by " + kind + " (%{customdata[0]:,.0f})<extra></extra>",
        ))
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title="share of the system's records")
    fig.update_layout(legend={"traceorder": "normal"})
    fig.update_yaxes(autorange="reversed")
    return Chart("match-rates", fig, "What linked each source system's records to the rest of their customer, "
                 "strongest rule first (e-mail, phone, loyalty id deterministic; probabilistic; grey = alone).")


def records_per_customer(ctx: ReportContext) -> Chart:
    sizes = ctx.df(
        f"""
        select records, count(*) as customers
        from (select customer_id, count(*) as records from {MAP} group by customer_id)
        group by records order by records
        """
    )
    fig = charts.figure(320)
    fig.add_trace(go.Bar(
        x=sizes["records"].astype(str), y=sizes["customers"], marker_color=charts.ACCENT, text=sizes["customers"],
        texttemplate="%{text:,}", textposition="outside", cliponaxis=False,
        hovertemplate="%{y:,} customers made of %{x} source records<extra></extra>",
    ))
    if sizes["customers"].max() > 200 * max(1, sizes["customers"].min()):
        fig.update_yaxes(type="log", dtick=1)
    charts.room_for_labels(fig, sizes["customers"].max(), axis="y")
    fig.update_xaxes(title="source records per customer", type="category")
    fig.update_yaxes(title="customers")
    return Chart("cluster-sizes", fig, "How many customers are made of 1, 2, 3 … source records (log scale when the "
                 "counts differ widely); a long tail to the right would suggest records merged too eagerly.")


def links_by_rule(ctx: ReportContext) -> Chart:
    links = ctx.df(
        f"select link_rule, coalesce(is_strong, false) as is_strong, count(*) as links from {LINKS} "
        "group by all order by link_rule"
    )
    rules = sorted(links["link_rule"].unique())
    fig = charts.figure(300, barmode="stack")
    for strong, name, colour in ((True, "strong", charts.ACCENT), (False, "weak", charts.WARN)):
        rows = links[links["is_strong"] == strong].set_index("link_rule").reindex(rules).fillna(0)
        fig.add_trace(go.Bar(
            x=rules, y=rows["links"], name=name, marker_color=colour,
            hovertemplate="%{x}: %{y:,} " + name + " links<extra></extra>",
        ))
    fig.update_yaxes(title="links between two records")
    fig.update_layout(legend={"traceorder": "normal"})
    return Chart("links", fig, "Record-to-record links by the rule that made them; weak links are probabilistic "
                 "ones under the strong-probability threshold, the ones most worth a manual look.")


def weight_histogram(ctx: ReportContext) -> Chart | None:
    # Match weights (log2 odds) spread out what probabilities squeeze against 100 %: one bar per bit.
    bins = ctx.df(
        f"""
        select floor(match_weight) as low, coalesce(is_strong, false) as is_strong, count(*) as links
        from {LINKS} where link_rule = 'probabilistic' and match_weight is not null
        group by all order by 1, 2
        """
    )
    if bins.empty:
        return None
    fig = charts.figure(300, barmode="stack", bargap=0.05)
    for strong, name, colour in ((True, "strong", charts.ACCENT), (False, "weak", charts.WARN)):
        rows = bins[bins["is_strong"] == strong]
        fig.add_trace(go.Bar(
            x=rows["low"] + 0.5, y=rows["links"], width=1, name=name, marker_color=colour,
            customdata=list(zip(rows["low"], rows["low"] + 1, strict=True)),
            hovertemplate="match weight %{customdata[0]:.0f} to %{customdata[1]:.0f} bits: %{y:,} " + name
                          + " links<extra></extra>",
        ))
    fig.update_layout(legend={"traceorder": "normal"})
    fig.update_xaxes(title="match weight (bits: log2 odds that the two records are one person)")
    fig.update_yaxes(title="probabilistic links")
    return Chart("match-weights", fig, "Match weight of every probabilistic link: each bit to the right doubles the "
                 "odds of a true match; weak links (orange) at the low end are where a false merge would hide.")
