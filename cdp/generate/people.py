"""Real persons: the ground truth every source record, device and order hangs off.

A person has one true name, e-mail, phone, birth date and current address,
maybe an older address, a persona, a signup instant and (perhaps) a churn instant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .arrays import concat, lookup, padded_numbers, weighted_choice
from .timeline import DAY_MS, NEVER
from .world import LANGUAGE_OF, World, slug

LETTERS = np.frombuffer(b"ABCDEFGHJKLMNPRSTUWXY", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


def mailbox(email: str) -> str:
    """The mailbox an address reaches: Gmail ignores dots and +tags, googlemail.com is gmail.com."""
    local, _, domain = email.partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return local.split("+")[0].replace(".", "") + "@gmail.com"
    return email


class EmailRegistry:
    """Keeps true mailboxes unique across chunks (chunks run in order): two people never
    get addresses that reach one mailbox, such as jack.kelly@gmail.com and jackkelly@gmail.com."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def claim(self, rng: np.random.Generator, emails: np.ndarray, skip: np.ndarray) -> np.ndarray:
        out = emails.copy()
        for i in range(len(out)):
            if skip[i]:
                continue
            e = out[i]
            while mailbox(e) in self._seen:
                local, domain = e.split("@")
                e = f"{local}{int(rng.integers(1, 100))}@{domain}"
            self._seen.add(mailbox(e))
            out[i] = e
        return out


@dataclass
class People:
    idx: np.ndarray
    person_id: np.ndarray
    persona: np.ndarray
    country: np.ndarray
    city: np.ndarray
    gender: np.ndarray            # 0 female, 1 male
    first_name: np.ndarray
    last_name: np.ndarray
    birth_day: np.ndarray         # days since epoch
    email: np.ndarray
    has_phone: np.ndarray
    phone_head: np.ndarray        # area code or mobile prefix
    phone_tail: np.ndarray
    phone_e164: np.ndarray
    street: np.ndarray
    postcode: np.ndarray
    moved: np.ndarray
    old_city: np.ndarray
    old_street: np.ndarray
    old_postcode: np.ndarray
    move_ms: np.ndarray
    signup_ms: np.ndarray
    active_start_ms: np.ndarray
    churn_ms: np.ndarray
    churned: np.ndarray           # activity stopped inside the window
    household_of: np.ndarray      # index (within chunk) of the person whose e-mail/address is shared, or -1

    def __len__(self) -> int:
        return len(self.idx)


def _zipf_pick(rng: np.random.Generator, n_items: int, size: int) -> np.ndarray:
    return weighted_choice(rng, 1.0 / (np.arange(n_items) + 3.0), size)


def _postcodes(rng: np.random.Generator, patterns: np.ndarray) -> np.ndarray:
    out = np.empty(len(patterns), dtype=object)
    for pattern in np.unique(patterns):
        sel = np.flatnonzero(patterns == pattern)
        cols = []
        for ch in pattern:
            if ch == "A":
                cols.append(LETTERS[rng.integers(0, len(LETTERS), len(sel))])
            elif ch == "9":
                cols.append(DIGITS[rng.integers(0, 10, len(sel))])
            else:
                cols.append(np.full(len(sel), ord(ch), dtype=np.uint8))
        mat = np.stack(cols, axis=1)
        out[sel] = mat.view(f"S{len(pattern)}").ravel().astype(str)
    return out


def _addresses(world: World, rng: np.random.Generator, country: np.ndarray):
    cities = world.cities
    city = np.empty(len(country), dtype=np.int64)
    for ci in np.unique(country):
        sel = country == ci
        options = np.flatnonzero(cities.country == ci)
        city[sel] = options[weighted_choice(rng, cities.weight[options], int(sel.sum()))]
    numbers = pa.array(np.minimum(1 + rng.geometric(0.04, len(country)), 299)).cast(pa.large_string())
    streets = np.empty(len(country), dtype=object)
    ref = world.settings.reference["streets"]
    for ci in np.unique(country):
        sel = np.flatnonzero(country == ci)
        spec = ref[world.countries[ci]]
        names = lookup(spec["names"], rng.integers(0, len(spec["names"]), len(sel)))
        num = numbers.take(pa.array(sel))
        parts = (num, " ", names) if spec["pattern"].startswith("{n}") else (names, " ", num)
        streets[sel] = concat(*parts).to_numpy(zero_copy_only=False)
    return city, streets, _postcodes(rng, cities.postcode_pattern[city])


def _phones(world: World, rng: np.random.Generator, country: np.ndarray, city: np.ndarray):
    """National number as head (area code / mobile prefix) + tail digits, and E.164."""
    ref = world.settings.reference["phones"]
    n = len(country)
    head = np.empty(n, dtype=object)
    tail = np.empty(n, dtype=object)
    e164 = np.empty(n, dtype=object)
    landline = rng.random(n) < 0.25
    for ci in np.unique(country):
        sel = np.flatnonzero(country == ci)
        spec = ref[world.countries[ci]]
        length = int(spec["length"])
        prefixes = spec["prefixes"]
        use_area = landline[sel] | (len(prefixes) == 0)
        mobile_heads = np.array(prefixes or ["0"], dtype=object)[rng.integers(0, max(1, len(prefixes)), len(sel))]
        h = np.where(use_area, world.cities.area_code[city[sel]], mobile_heads)
        # A mobile "head" is its first display group, so pad the prefix to that width.
        first_group = int(spec["groups"][0])
        head_len = np.array([len(x) for x in h], dtype=np.int64)
        extra = np.where(use_area, 0, np.maximum(0, first_group - head_len))
        rest_len = length - head_len - extra
        digits = rng.integers(0, 10, size=(len(sel), length))
        digits[:, 0] = rng.integers(2, 10, len(sel))  # no leading 0/1 in subscriber parts
        dstr = digits.astype(np.uint8) + ord("0")
        raw = dstr.view(f"S{length}").ravel().astype(str)
        hh = [x + r[:e] for x, r, e in zip(h, raw, extra, strict=True)]
        tt = [r[e: e + k] for r, e, k in zip(raw, extra, rest_len, strict=True)]
        head[sel] = hh
        tail[sel] = tt
        e164[sel] = [f"+{spec['cc']}{a}{b}" for a, b in zip(hh, tt, strict=True)]
    return head, tail, e164


def _emails(world: World, rng: np.random.Generator, country, first, last, birth_year) -> np.ndarray:
    n = len(country)
    domains = np.empty(n, dtype=object)
    ref = world.settings.reference["email_domains"]
    for ci in np.unique(country):
        sel = np.flatnonzero(country == ci)
        opts = ref[world.countries[ci]]
        names = list(opts)
        domains[sel] = np.array(names, dtype=object)[weighted_choice(rng, list(opts.values()), len(sel))]
    pattern = rng.integers(0, 8, n)
    num2 = rng.integers(1, 100, n)
    num3 = rng.integers(1, 1000, n)
    out = np.empty(n, dtype=object)
    for i in range(n):
        f, la = slug(first[i]), slug(last[i])
        p = pattern[i]
        if p == 0:
            local = f"{f}.{la}"
        elif p == 1:
            local = f"{f}{la}"
        elif p == 2:
            local = f"{f[:1]}.{la}"
        elif p == 3:
            local = f"{f}_{la}"
        elif p == 4:
            local = f"{f}.{la}{birth_year[i] % 100:02d}"
        elif p == 5:
            local = f"{f}{num2[i]}"
        elif p == 6:
            local = f"{la}.{f}"
        else:
            local = f"{f[:1]}{la}{num3[i]}"
        out[i] = f"{local}@{domains[i]}"
    return out


def make_people(world: World, rng: np.random.Generator, start: int, n: int, registry: EmailRegistry) -> People:
    cfg = world.settings.config
    ref = world.settings.reference
    win = world.window
    personas = world.settings.personas
    idx = np.arange(start, start + n, dtype=np.int64)
    persona = weighted_choice(rng, personas.weights, n)
    country = weighted_choice(rng, [world.settings.country(c)["weight"] for c in world.countries], n)
    gender = rng.integers(0, 2, n)

    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    for ci in np.unique(country):
        code = world.countries[ci]
        for g, gname in ((0, "female"), (1, "male")):
            sel = np.flatnonzero((country == ci) & (gender == g))
            names = ref["first_names"][LANGUAGE_OF[code]][gname]
            first[sel] = np.array(names, dtype=object)[_zipf_pick(rng, len(names), len(sel))]
        sel = np.flatnonzero(country == ci)
        names = ref["last_names"][code]
        last[sel] = np.array(names, dtype=object)[_zipf_pick(rng, len(names), len(sel))]

    age = cfg["people"]["age"]
    years = np.clip(rng.normal(age["mean"], age["sd"], n), age["min"], age["max"])
    end_day = win.start_day + win.days - 1
    birth_day = (end_day - years * 365.25).astype(np.int64)
    birth_year = 1970 + birth_day // 365

    city, street, postcode = _addresses(world, rng, country)
    phone_head, phone_tail, phone_e164 = _phones(world, rng, country, city)
    has_phone = rng.random(n) >= cfg["people"]["no_phone_rate"]

    # Households: a person shares surname, address and e-mail with the one before.
    household = (rng.random(n) < cfg["people"]["household_rate"]) & (np.arange(n) > 0)
    household &= ~np.r_[False, household[:-1]]
    household &= np.r_[False, country[1:] == country[:-1]]
    household_of = np.where(household, np.arange(n) - 1, -1)
    hh = np.flatnonzero(household)
    last[hh] = last[hh - 1]
    email = _emails(world, rng, country, first, last, birth_year)
    email = registry.claim(rng, email, household)
    email[hh] = email[hh - 1]
    city[hh], street[hh], postcode[hh] = city[hh - 1], street[hh - 1], postcode[hh - 1]

    # Signup: long before the window, or inside it for in-window personas.
    in_window = personas.flag("signup_in_window")[persona]
    span_ms = int(cfg["people"]["signup_years_before"] * 365 * DAY_MS)
    before = win.start_ms - (rng.random(n) ** 1.5 * span_ms).astype(np.int64)
    inside = win.start_ms + (rng.random(n) * 0.9 * (win.end_ms - win.start_ms)).astype(np.int64)
    signup_ms = np.where(in_window, inside, before)
    active_start = np.maximum(signup_ms, win.start_ms)

    # Churn: activity stops inside the window, or later (within the future horizon).
    churn_in = rng.random(n) < personas.param("churn.in_window")[persona]
    frac = rng.uniform(0.15, 0.9, n)
    churn_ms = np.where(churn_in, active_start + (frac * (win.end_ms - active_start)).astype(np.int64), NEVER)
    future_days = int(cfg["commerce"]["future_days"])
    churn_later = ~churn_in & (rng.random(n) < personas.param("churn.future")[persona])
    churn_ms = np.where(churn_later, win.end_ms + (rng.random(n) * future_days * DAY_MS).astype(np.int64), churn_ms)

    # Moves: an older address some systems may still hold.
    move_span = int(cfg["people"]["move_days_before_window"]) * DAY_MS
    move_ms = win.start_ms - move_span + (rng.random(n) * (move_span + win.end_ms - win.start_ms)).astype(np.int64)
    moved = (rng.random(n) < cfg["people"]["move_rate"]) & (move_ms > signup_ms + 30 * DAY_MS) & ~household
    old_city, old_street, old_postcode = _addresses(world, rng, country)
    move_ms = np.where(moved, move_ms, NEVER)

    return People(
        idx=idx, person_id=padded_numbers(idx + 1, 8, prefix="P").to_numpy(zero_copy_only=False), persona=persona,
        country=country, city=city, gender=gender, first_name=first, last_name=last, birth_day=birth_day,
        email=email, has_phone=has_phone, phone_head=phone_head, phone_tail=phone_tail, phone_e164=phone_e164,
        street=street, postcode=postcode, moved=moved, old_city=old_city, old_street=old_street,
        old_postcode=old_postcode, move_ms=move_ms, signup_ms=signup_ms, active_start_ms=active_start,
        churn_ms=churn_ms, churned=churn_in, household_of=household_of,
    )
