"""The simulated time window, file drop schedules, and how each source system
writes timestamps.

All instants are int64 epoch milliseconds (UTC). Nothing reads the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import date_strings, timestamp_strings

DAY_MS = 86_400_000
NEVER = np.int64(2**62)  # "no such instant" (e.g. a person who never churns)
EPOCH = date(1970, 1, 1)

# How each system spells a timestamp; POS writes store-local time with offset.
TIME_STYLES = {
    "crm": {"sep": "T", "millis": False, "suffix": "Z"},
    "webshop": {"sep": "T", "millis": True, "suffix": "+00:00"},
    "esp": {"sep": " ", "millis": False, "suffix": " UTC"},
    "tracker": {"sep": "T", "millis": True, "suffix": "Z"},
    "privacy": {"sep": "T", "millis": False, "suffix": "+00:00"},
    "pos": {"sep": " ", "millis": False, "suffix": ""},
}


@dataclass(frozen=True)
class Window:
    """History covering ``days`` days that end at ``end`` (inclusive)."""

    end: date
    days: int

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days - 1)

    @property
    def start_day(self) -> int:
        return (self.start - EPOCH).days

    @property
    def start_ms(self) -> int:
        return self.start_day * DAY_MS

    @property
    def end_ms(self) -> int:
        """Exclusive end: midnight after the last day."""
        return (self.start_day + self.days) * DAY_MS

    def day_of(self, ms: np.ndarray) -> np.ndarray:
        """Window day index (0-based; negative before the window) of instants."""
        return np.floor_divide(np.asarray(ms, dtype=np.int64), DAY_MS) - self.start_day

    def drop_days(self, cadence: int) -> np.ndarray:
        days = list(range(0, self.days, max(1, int(cadence))))
        if days[-1] != self.days - 1:
            days.append(self.days - 1)
        return np.array(days, dtype=np.int64)

    def drop_for(self, ms: np.ndarray, cadence: int) -> np.ndarray:
        """Day index of the file that carries a record changed at ``ms``.

        Anything before the window goes into the first drop (the full extract).
        """
        drops = self.drop_days(cadence)
        day = np.clip(self.day_of(ms), 0, self.days - 1)
        return drops[np.searchsorted(drops, day, side="left")]

    def date_label(self, day_index: int) -> str:
        return (self.start + timedelta(days=int(day_index))).isoformat()


def format_times(ms: np.ndarray, style: str, offset_minutes: np.ndarray | None = None) -> pa.Array:
    spec = TIME_STYLES[style]
    if style == "pos":
        return timestamp_strings(ms, sep=" ", offset_minutes=offset_minutes)
    return timestamp_strings(ms, sep=spec["sep"], millis=spec["millis"], suffix=spec["suffix"])


def format_dates(days_since_epoch: np.ndarray) -> pa.Array:
    return date_strings(days_since_epoch)


def utc_offsets(ms: np.ndarray, tz_index: np.ndarray, tz_names: list[str]) -> np.ndarray:
    """Offset from UTC in minutes of each instant in its time zone (DST-aware)."""
    ms = np.asarray(ms, dtype=np.int64)
    out = np.zeros(len(ms), dtype=np.int64)
    for i in np.unique(tz_index):
        sel = tz_index == i
        utc = pd.DatetimeIndex(ms[sel].astype("datetime64[ms]")).tz_localize("UTC")
        local = utc.tz_convert(tz_names[i]).tz_localize(None)
        out[sel] = (local.values.astype("datetime64[ms]").astype(np.int64) - ms[sel]) // 60_000
    return out
