"""Deliberately broken rows, so ingestion's quarantine can be tested against truth.

Each defect is an extra copy of a real row in the same file with one thing
wrong, so the valid data stays complete (no order loses its lines, no source
record disappears). What may break follows the contract: required columns can
be emptied, required timestamps garbled, enums given unknown values, bounded
numbers pushed out of range, and the line itself broken (wrong number of CSV
fields, a truncated JSON object).

Reason categories (the ``reason`` column of _truth/malformed_rows):
  missing_required  a required column is empty
  invalid_type      a required value does not parse as its type
  invalid_enum      a value outside the column's allowed values
  out_of_range      a number below its minimum (negative amount, quantity 0)
  parse_error       the record itself does not parse (CSV field count, broken JSON)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa

from cdp.contract import Source

BAD_TIMESTAMPS = ("31/07/2026 10:00", "2026-13-45 25:61:00", "yesterday", "N/A", "Tue, 01 Jul 2026 10:00:00 GMT",
                  "20260701T100000Z")
BAD_VALUES = {
    "status": ("shipped", "pending", "refunded", "opt-in"),
    "event_type": ("scroll", "pageview", "opened", "soft_bounce"),
    "purpose": ("marketing", "newsletter", "tracking"),
}


def _candidates(source: Source, fmt: str) -> list[tuple[str, str]]:
    """(reason, column) pairs this source and file format can carry."""
    out = []
    for col in source.columns:
        if col.required and col.name != "source_system":
            out.append(("missing_required", col.name))
        if col.required and col.type == "timestamp":
            out.append(("invalid_type", col.name))
        if col.values and col.on_invalid == "reject":
            out.append(("invalid_enum", col.name))
        if col.type in ("decimal", "integer") and col.min is not None and col.on_invalid == "reject":
            out.append(("out_of_range", col.name))
    if fmt in ("csv", "jsonl"):
        out.append(("parse_error", ""))
    return out


def _break(row: dict, reason: str, column: str, r: np.random.Generator) -> None:
    if reason == "missing_required":
        row[column] = None
    elif reason == "invalid_type":
        row[column] = BAD_TIMESTAMPS[int(r.integers(0, len(BAD_TIMESTAMPS)))]
    elif reason == "invalid_enum":
        options = BAD_VALUES.get(column, ("invalid",))
        row[column] = options[int(r.integers(0, len(options)))]
    elif reason == "out_of_range":
        value = row[column]
        if isinstance(value, int):
            row[column] = 0
        elif isinstance(value, Decimal):
            row[column] = -abs(value) - Decimal("1.00")
        else:
            row[column] = "-" + str(value).lstrip("-") if value not in (None, "0.00") else "-1.00"


@dataclass(frozen=True)
class BrokenRows:
    """Broken copies to splice into a block: ``rows[j]`` goes before original row ``before[j]``."""

    rows: pa.Table
    before: np.ndarray
    group: np.ndarray
    reason: list[str]
    column: list[str]
    line_edit: list[str]      # "" or "extra_field" (CSV) / "truncate_json" (JSONL)


def inject(rng: np.random.Generator, table: pa.Table, group: np.ndarray, source: Source, fmt: str,
           rate: float) -> BrokenRows | None:
    """Broken copies of random rows, each placed inside the same group (file) as its original.

    ``table`` is sorted by ``group``. Copies are ordered by insertion point.
    """
    n = table.num_rows
    k = int(rng.binomial(n, rate)) if n else 0
    if k == 0:
        return None
    options = _candidates(source, fmt)
    picks = rng.integers(0, len(options), k)
    src = np.sort(rng.integers(0, n, k))
    rows = table.take(pa.array(src)).to_pylist()
    for row, p in zip(rows, picks, strict=True):
        _break(row, *options[p], rng)
    # Insert before a random row of the original's group, or at the group's end.
    starts = np.searchsorted(group, group[src], side="left")
    ends = np.searchsorted(group, group[src], side="right")
    before = starts + (rng.random(k) * (ends - starts + 1)).astype(np.int64)
    order = np.argsort(before, kind="stable")
    reasons = [options[picks[j]][0] for j in order]
    edits = ["" if r != "parse_error" else ("extra_field" if fmt == "csv" else "truncate_json") for r in reasons]
    return BrokenRows(pa.Table.from_pylist([rows[j] for j in order], schema=table.schema), before[order],
                      group[src][order], reasons, [options[picks[j]][1] for j in order], edits)
