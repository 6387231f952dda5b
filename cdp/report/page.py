"""Sections -> one HTML page (Jinja2, autoescaped; only plotly's own output is inserted unescaped)."""

from __future__ import annotations

from datetime import datetime

import jinja2
from plotly.offline import get_plotlyjs

from cdp.report import charts
from cdp.report.model import Report, Section
from cdp.report.template import PAGE

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True)
_TEMPLATE = _ENVIRONMENT.from_string(PAGE)


def render_page(report: Report, generated_at: datetime) -> str:
    sections = report.sections
    for section in sections:
        widen_unpaired_chart(section)
    chart_html = {
        f"{section.key}-{chart.key}": charts.html_div(chart.figure, f"chart-{section.key}-{chart.key}")
        for section in sections
        for chart in section.charts
    }
    return _TEMPLATE.render(
        as_of=report.as_of.isoformat(),
        run_id=report.run_id,
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        sections=sections,
        top_tiles=report.top_tiles,
        chart_html=chart_html,
        chart_count=len(chart_html),
        plotly_js=get_plotlyjs(),
    )


def widen_unpaired_chart(section: Section) -> None:
    """Charts sit two to a row; one left alone in the last row takes the whole row instead of half of it."""
    narrow = [chart for chart in section.charts if not chart.wide]
    if len(narrow) % 2:
        narrow[-1].wide = True
