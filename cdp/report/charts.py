"""One look for every chart: palette, fonts and layout, and the few figure shapes the sections share."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
import plotly.io as pio

# A colour-blind-safe qualitative palette (Okabe-Ito, with the black swapped for a slate).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#64748B"]
ACCENT = PALETTE[0]
MUTED = "#94A3B8"
GOOD, WARN, BAD = "#009E73", "#E69F00", "#D55E00"
SEQUENTIAL = [[0.0, "#F1F5F9"], [0.35, "#9CC3E6"], [1.0, "#08306B"]]
# Red (low) to green (high) for scores between 0 and 1.
SCORE_SCALE = [[0.0, "#D55E00"], [0.5, "#F0E442"], [1.0, "#009E73"]]
DIVERGING = [[0.0, "#B2182B"], [0.5, "#F7F7F7"], [1.0, "#2166AC"]]
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

TEMPLATE = "cdp"
pio.templates[TEMPLATE] = go.layout.Template(
    layout={
        "font": {"family": FONT, "size": 12, "color": "#1E293B"},
        "colorway": PALETTE,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "hoverlabel": {"font": {"family": FONT}},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        "xaxis": {"gridcolor": "#E2E8F0", "zerolinecolor": "#CBD5E1", "automargin": True},
        "yaxis": {"gridcolor": "#E2E8F0", "zerolinecolor": "#CBD5E1", "automargin": True},
        "colorscale": {"sequential": SEQUENTIAL},
    }
)

# Plotly's mode bar without the logo and the cloud button; charts resize with the page.
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def figure(height: int = 360, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE, height=height, **layout)
    return fig


def html_div(fig: go.Figure, div_id: str) -> str:
    """The figure as a div and the script that draws it; plotly.js itself is inlined once by the page."""
    return fig.to_html(include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOT_CONFIG,
                       default_width="100%", default_height=f"{fig.layout.height or 360}px")


def heatmap(
    z: Sequence[Sequence[float | None]],
    x: Sequence[str],
    y: Sequence[str],
    text: Sequence[Sequence[str]],
    colorscale: list,
    colorbar_title: str,
    hover: str,
    customdata=None,
    zmin: float | None = None,
    zmax: float | None = None,
    zmid: float | None = None,
    height: int | None = None,
) -> go.Figure:
    """A labelled grid: every cell shows its value, colour carries the same value."""
    fig = figure(height or max(260, 60 + 38 * len(y)))
    fig.add_trace(go.Heatmap(
        z=z, x=list(x), y=list(y), text=text, texttemplate="%{text}", colorscale=colorscale,
        zmin=zmin, zmax=zmax, zmid=zmid, customdata=customdata, hovertemplate=hover + "<extra></extra>",
        colorbar={"title": {"text": colorbar_title, "side": "right"}, "thickness": 12}, xgap=2, ygap=2,
    ))
    fig.update_xaxes(showgrid=False, type="category")
    fig.update_yaxes(showgrid=False, type="category", autorange="reversed")
    return fig


def is_skewed(values: Sequence[float]) -> bool:
    """True when the positive values stretch more than tenfold either side of their median: a log axis reads
    better."""
    positive = sorted(v for v in values if v is not None and v > 0)
    if len(positive) < 10:
        return False
    low, high = positive[len(positive) // 20], positive[-max(1, len(positive) // 100)]
    median = positive[len(positive) // 2]
    return high / median > 10 or median / max(low, 1e-12) > 10


def log_bins(low: float, high: float) -> list[float]:
    """Edges at 1, 2, 5 x powers of ten from the last one at or under ``low`` to the first one over ``high``:
    bins that read as round numbers."""
    edges: list[float] = []
    exponent = math.floor(math.log10(low))
    while not edges or edges[-1] <= high:
        edges.extend(step * 10.0**exponent for step in (1, 2, 5))
        exponent += 1
    first = max(i for i, edge in enumerate(edges) if edge <= low)
    last = next(i for i, edge in enumerate(edges) if edge > high)
    return edges[first:last + 1]


def short_number(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def room_for_labels(fig: go.Figure, largest: float, axis: str = "x") -> None:
    """Stretch a bar chart's value axis so the labels printed past the longest bar stay inside the plot."""
    if largest and largest > 0:
        layout_axis = fig.layout.yaxis if axis == "y" else fig.layout.xaxis
        if layout_axis.type == "log":
            return
        (fig.update_yaxes if axis == "y" else fig.update_xaxes)(range=[0, float(largest) * 1.18])
