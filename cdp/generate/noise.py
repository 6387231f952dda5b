"""How source systems mangle true values: typos, nicknames, e-mail and phone
spellings, country forms, abbreviations, junk placeholders.

Functions take object arrays plus a generator and return new arrays; the rare
edits loop over the selected rows only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import weighted_choice

KEYBOARD_NEIGHBOURS = {
    "a": "qsz", "b": "vhn", "c": "xvd", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht", "h": "gjy",
    "i": "uok", "j": "hku", "k": "jli", "l": "kop", "m": "nj", "n": "bm", "o": "ipl", "p": "ol",
    "q": "wa", "r": "etf", "s": "adw", "t": "ryg", "u": "yij", "v": "cb", "w": "qes", "x": "zc",
    "y": "tuh", "z": "xa",
}
DOMAIN_TYPOS = {"gmail.com": ["gmial.com", "gmail.co", "gamil.com"], "hotmail.com": ["hotmial.com", "hotmail.co"],
                "yahoo.com": ["yaho.com"], "outlook.com": ["outlok.com"]}


def pick(rng: np.random.Generator, rate: float, n: int) -> np.ndarray:
    return np.flatnonzero(rng.random(n) < rate)


def typo(word: str, r: np.random.Generator) -> str:
    """One realistic edit: neighbour-key substitution, deletion, doubled letter or transposition."""
    if len(word) < 3:
        return word
    i = int(r.integers(1, len(word) - 1))
    kind = int(r.integers(0, 4))
    ch = word[i]
    if kind == 0 and ch.lower() in KEYBOARD_NEIGHBOURS:
        opts = KEYBOARD_NEIGHBOURS[ch.lower()]
        sub = opts[int(r.integers(0, len(opts)))]
        return word[:i] + (sub.upper() if ch.isupper() else sub) + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + ch + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1:]


def typos(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    out = values.copy()
    for i in pick(rng, rate, len(out)):
        if isinstance(out[i], str):
            out[i] = typo(out[i], rng)
    return out


def nicknames(rng: np.random.Generator, first: np.ndarray, table: dict, rate: float) -> np.ndarray:
    out = first.copy()
    for i in pick(rng, rate, len(out)):
        options = table.get(out[i])
        if options:
            out[i] = options[int(rng.integers(0, len(options)))]
    return out


def map_strings(values: np.ndarray, fn) -> np.ndarray:
    """Apply an Arrow string kernel to an object array (None stays None)."""
    if len(values) == 0:
        return values
    return fn(pa.array(values, pa.large_string())).to_numpy(zero_copy_only=False)


def name_case(rng: np.random.Generator, values: np.ndarray, shares: dict) -> np.ndarray:
    style = weighted_choice(rng, [shares.get(k, 0.0) for k in ("title", "upper", "lower")], len(values))
    out = values.copy()
    upper, lower = np.flatnonzero(style == 1), np.flatnonzero(style == 2)
    out[upper] = map_strings(out[upper], pc.utf8_upper)
    out[lower] = map_strings(out[lower], pc.utf8_lower)
    return out


def email_variants(rng: np.random.Generator, email: np.ndarray, cfg: dict) -> np.ndarray:
    """How people type an address: case, spaces, Gmail dots and +tags, a rare typo."""
    out = email.copy()
    n = len(out)
    gmail = pc.fill_null(pc.match_substring_regex(pa.array(out, pa.large_string()), r"@(gmail|googlemail)\.com$"),
                         False).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(gmail & (rng.random(n) < cfg["gmail_dots"])):
        local, domain = out[i].split("@")
        if "." in local:
            local = local.replace(".", "")
        elif len(local) > 3:
            k = int(rng.integers(1, len(local) - 1))
            local = local[:k] + "." + local[k:]
        out[i] = f"{local}@{domain}"
    for i in np.flatnonzero(gmail & (rng.random(n) < cfg["gmail_plus"])):
        local, domain = out[i].split("@")
        tag = ("shop", "news", "deals", "online", "2024")[int(rng.integers(0, 5))]
        out[i] = f"{local}+{tag}@{domain}"
    for i in pick(rng, cfg["email_typo"], n):
        if isinstance(out[i], str):
            local, domain = out[i].split("@")
            if domain in DOMAIN_TYPOS:
                opts = DOMAIN_TYPOS[domain]
                out[i] = f"{local}@{opts[int(rng.integers(0, len(opts)))]}"
            else:
                out[i] = f"{typo(local, rng)}@{domain}"
    for i in pick(rng, cfg["email_case"], n):
        if isinstance(out[i], str):
            local, domain = out[i].split("@")
            style = int(rng.integers(0, 3))
            if style == 0:
                out[i] = out[i].upper()
            elif style == 1:
                out[i] = f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain}"
            else:
                out[i] = f"{local}@{domain.capitalize()}"
    for i in pick(rng, cfg["email_spaces"], n):
        if isinstance(out[i], str):
            out[i] = (" " + out[i]) if rng.random() < 0.5 else (out[i] + " ")
    return out


def _phone_template(code: str, spec: dict, style: str, tail_len: int) -> list:
    """Pieces of one phone spelling: literal text, "H" (whole head) or (start, stop) slices of the tail."""
    cc, trunk = spec["cc"], spec["trunk"]
    if code == "US":
        a, b = (0, 3), (3, tail_len)
        return {
            "national": ["(", "H", ") ", a, "-", b], "dotted": ["H", ".", a, ".", b], "digits": ["H", (0, tail_len)],
            "zero_zero": ["1-", "H", "-", a, "-", b], "international": ["+1 ", "H", " ", a, " ", b],
            "e164": ["+1", "H", (0, tail_len)],
        }[style]
    if code == "FR":
        groups = [(i, min(i + 2, tail_len)) for i in range(0, tail_len, 2)]
    else:
        half = (tail_len + 1) // 2
        groups = [(0, half), (half, tail_len)]

    def joined(sep: str) -> list:
        out = []
        for k, g in enumerate(groups):
            out += ([sep] if k else []) + [g]
        return out

    return {
        "national": [trunk, "H", " ", *joined(" ")],
        "international": [f"+{cc} ", "H", " ", *joined(" ")],
        "e164": [f"+{cc}", "H", (0, tail_len)],
        "zero_zero": [f"00{cc} ", "H", " ", *joined(" ")],
        "dotted": [trunk, "H", ".", *joined(".")],
        "digits": [trunk, "H", (0, tail_len)],
    }[style]


def _bytes_matrix(values: np.ndarray, width: int) -> np.ndarray:
    return np.array(values.astype(str), dtype=f"S{width}").view(np.uint8).reshape(len(values), width)


def phone_styles(rng: np.random.Generator, country_codes: list[str], country: np.ndarray, head: np.ndarray,
                 tail: np.ndarray, phone_ref: dict, shares: dict) -> np.ndarray:
    """Render national numbers (head = area code or mobile prefix, tail = the rest) in real-world spellings."""
    names = list(shares)
    style = weighted_choice(rng, list(shares.values()), len(head))
    head_len = np.fromiter(map(len, head), dtype=np.int64, count=len(head))
    tail_len = np.fromiter(map(len, tail), dtype=np.int64, count=len(tail))
    key = ((country * 100 + head_len) * 100 + tail_len) * 100 + style
    out = np.empty(len(head), dtype=object)
    for k in np.unique(key):
        sel = np.flatnonzero(key == k)
        i = sel[0]
        code = country_codes[country[i]]
        h, t = int(head_len[i]), int(tail_len[i])
        hm, tm = _bytes_matrix(head[sel], h), _bytes_matrix(tail[sel], t)
        cols = []
        for piece in _phone_template(code, phone_ref[code], names[style[i]], t):
            if piece == "H":
                cols.append(hm)
            elif isinstance(piece, tuple):
                cols.append(tm[:, piece[0]:piece[1]])
            elif piece:
                cols.append(np.broadcast_to(np.frombuffer(piece.encode(), dtype=np.uint8), (len(sel), len(piece))))
        mat = np.ascontiguousarray(np.hstack(cols))
        out[sel] = mat.view(f"S{mat.shape[1]}").ravel().astype(str).astype(object)
    return out


def country_forms(rng: np.random.Generator, codes: list[str], country: np.ndarray, forms_ref: dict,
                  shares: dict) -> np.ndarray:
    """Country written as ISO-2, ISO-3, English name or a colloquial alias, per the system's habits."""
    kinds = ["iso2", "iso3", "name", "alias"]
    kind = np.array([kinds.index(k) for k in shares])[weighted_choice(rng, list(shares.values()), len(country))]
    width = max(len(forms_ref[c]["aliases"]) for c in codes)
    table = np.empty((len(codes), 3 + width), dtype=object)
    n_alias = np.zeros(len(codes), dtype=np.int64)
    for ci, code in enumerate(codes):
        ref = forms_ref[code]
        aliases = ref["aliases"]
        table[ci, :3] = [code, ref["iso3"], ref["name"]]
        table[ci, 3:3 + len(aliases)] = aliases
        n_alias[ci] = len(aliases)
    col = np.where(kind < 3, kind, 3 + rng.integers(0, 1_000_000, len(country)) % n_alias[country])
    return table[country, col]


def abbreviate_streets(rng: np.random.Generator, streets: np.ndarray, table: dict, rate: float) -> np.ndarray:
    out = streets.copy()
    sel = pick(rng, rate, len(out))
    if len(sel):
        text = pa.array(out[sel], pa.large_string())
        for long, short in table.items():
            text = pc.replace_substring(text, long, short, max_replacements=1)
        out[sel] = text.to_numpy(zero_copy_only=False)
    return out


def postcode_variants(rng: np.random.Generator, postcodes: np.ndarray, rate: float) -> np.ndarray:
    """Lower-case or squeezed postcodes ("sw1a 1aa", "SW1A1AA")."""
    out = postcodes.copy()
    for i in pick(rng, rate, len(out)):
        p = out[i]
        if isinstance(p, str) and " " in p:
            out[i] = p.replace(" ", "") if rng.random() < 0.6 else p.lower()
    return out
