"""Uploaded lists behind static segments: a sales team's VIP accounts, typed by hand.

Each list names a share of the active persons by e-mail (sometimes in capitals)
or, when they have one, by phone; a few entries carry a typo and match nobody,
as real uploads do.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .people import People
from .timeline import format_times
from .world import World


def segment_list_rows(world: World, rng: np.random.Generator, people: People) -> tuple[pa.Table, np.ndarray]:
    cfg = world.settings.config["segment_lists"]
    win = world.window
    names, types, identifiers, ms = [], [], [], []
    active = people.active_start_ms < win.end_ms
    for list_name, spec in cfg["lists"].items():
        who = np.flatnonzero(active & (rng.random(len(people)) < spec["rate"]))
        for p in who.tolist():
            by_phone = people.has_phone[p] and rng.random() < cfg["by_phone_rate"]
            value = people.phone_e164[p] if by_phone else people.email[p]
            if not by_phone and rng.random() < cfg["upper_case_rate"]:
                value = value.upper()
            if rng.random() < cfg["typo_rate"]:
                at = int(rng.integers(0, max(1, value.find("@")) if "@" in value else len(value)))
                value = value[:at] + value[at + 1:] + "x"
            names.append(list_name)
            types.append("phone" if by_phone else "email")
            identifiers.append(value)
            lo = max(int(people.active_start_ms[p]), win.start_ms)
            ms.append(lo + int(rng.random() * (win.end_ms - lo)))
    ms_array = np.array(ms, dtype=np.int64)
    table = pa.table({
        "list_name": pa.array(names, pa.large_string()),
        "identifier_type": pa.array(types, pa.large_string()),
        "identifier": pa.array(identifiers, pa.large_string()),
        "added_at": format_times(ms_array, "privacy"),
    })
    return table, ms_array
