"""Source freshness: how long since a landing source last brought rows, against the
expectation its dbt source declares (warn_after / error_after in
dbt_project/models/staging/landing/_landing__sources.yml, read from the manifest, so the
pipeline's check and `dbt source freshness` share one configuration)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cdp.warehouse import as_warehouse

PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class FreshnessRule:
    warn_after: timedelta | None
    error_after: timedelta | None


@dataclass(frozen=True)
class Freshness:
    source: str
    last_loaded_at: datetime | None
    age: timedelta | None
    rule: FreshnessRule | None

    @property
    def state(self) -> str:
        """pass, warn or error; a source without an expectation always passes."""
        if self.rule is None or (self.rule.warn_after is None and self.rule.error_after is None):
            return "pass"
        if self.age is None:
            return "warn"  # never loaded: nothing is late yet, but nothing arrived either
        if self.rule.error_after is not None and self.age > self.rule.error_after:
            return "error"
        if self.rule.warn_after is not None and self.age > self.rule.warn_after:
            return "warn"
        return "pass"

    @property
    def explanation(self) -> str:
        if self.rule is None:
            return f"{self.source}: no freshness expectation (sent when something changes)"
        if self.age is None:
            return f"{self.source}: no rows loaded yet"
        limits = ", ".join(
            f"{name} after {_hours(limit)}"
            for name, limit in (("warns", self.rule.warn_after), ("errors", self.rule.error_after))
            if limit is not None
        )
        return f"{self.source}: last rows loaded {_hours(self.age)} ago ({limits})"

    def as_metadata(self) -> dict:
        return {
            "last_loaded_at": self.last_loaded_at.isoformat() if self.last_loaded_at else None,
            "age_hours": round(self.age.total_seconds() / 3600, 2) if self.age is not None else None,
            "warn_after_hours": _hours_value(self.rule.warn_after if self.rule else None),
            "error_after_hours": _hours_value(self.rule.error_after if self.rule else None),
        }


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _hours_value(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds() / 3600


def _limit(spec: dict | None) -> timedelta | None:
    if not spec or spec.get("count") is None or spec.get("period") is None:
        return None
    return int(spec["count"]) * PERIODS[spec["period"]]


def freshness_rules(manifest_path: Path, source_name: str = "landing") -> dict[str, FreshnessRule | None]:
    """Table name -> its rule (None when the source sets `freshness: null`)."""
    manifest = json.loads(manifest_path.read_text())
    rules = {}
    for node in manifest["sources"].values():
        if node["source_name"] != source_name:
            continue
        spec = node.get("freshness") or {}
        rule = FreshnessRule(_limit(spec.get("warn_after")), _limit(spec.get("error_after")))
        rules[node["name"]] = None if rule.warn_after is None and rule.error_after is None else rule
    return rules


def source_freshness(
    con, source: str, rule: FreshnessRule | None, now: datetime | None = None
) -> Freshness:
    """How long ago raw.<source> last received rows (``con``: a Warehouse on any engine, or a DuckDB connection)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    last = as_warehouse(con).scalar(f"select max(_loaded_at) from raw.{source}")
    if last is not None and last.tzinfo is not None:
        last = last.astimezone(UTC).replace(tzinfo=None)
    return Freshness(source, last, None if last is None else now - last, rule)
