"""What a section hands to the page: tiles, charts (Plotly figures with a caption), notes and tables; and the
whole report, the sections read for one as-of."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import plotly.graph_objects as go


@dataclass
class Tile:
    """A headline figure at the top of the page."""

    label: str
    value: str
    detail: str = ""


@dataclass
class Chart:
    """One figure and the line under it that says what it shows and how to read it."""

    key: str
    figure: go.Figure
    caption: str
    wide: bool = False


@dataclass
class Table:
    """Exact values a person needs to act on (failing checks, refused exports)."""

    caption: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Named descriptions shown as a list (persona profiles): words a person reads, not values to compare.
    items: list[tuple[str, str]] = field(default_factory=list)

    def note(self, text: str) -> Section:
        self.notes.append(text)
        return self


@dataclass
class Report:
    """The whole page's content: its as-of and run, the headline tiles and the sections in order."""

    as_of: date
    run_id: str | None
    top_tiles: list[Tile]
    sections: list[Section]
