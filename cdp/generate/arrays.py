"""Vectorised building blocks: random streams, weighted choice, and fast string
columns (ids, timestamps, amounts) built as fixed-width bytes then handed to
Arrow without per-row Python.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Stable stream ids: the name's CRC32, so adding a stream never shifts others
# and nothing depends on Python's hash randomisation.


def stream_rng(seed: int, chunk_index: int, stream: str) -> np.random.Generator:
    """Independent generator for one (seed, chunk, purpose)."""
    return np.random.default_rng([seed, chunk_index, zlib.crc32(stream.encode())])


GLOBAL_CHUNK = 2**31 - 1  # chunk index used for world-level streams (catalogue, campaigns)


def weighted_choice(rng: np.random.Generator, weights, size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right")


def rowwise_choice(rng: np.random.Generator, prob_rows: np.ndarray, row_index: np.ndarray) -> np.ndarray:
    """Draw one column index per item from the probability row ``prob_rows[row_index[i]]``."""
    cdf = np.cumsum(prob_rows, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(len(row_index))
    out = np.empty(len(row_index), dtype=np.int64)
    for r in np.unique(row_index):
        sel = row_index == r
        out[sel] = np.searchsorted(cdf[r], u[sel], side="right")
    return np.minimum(out, prob_rows.shape[1] - 1)


def segment_starts(counts: np.ndarray) -> np.ndarray:
    """Start offset of each segment when segments of ``counts`` are laid end to end."""
    counts = np.asarray(counts, dtype=np.int64)
    return (np.cumsum(counts) - counts).astype(np.int64)


def rank_within(group: np.ndarray) -> np.ndarray:
    """0-based position of each item within its run of equal (sorted) group values."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


# ---------------------------------------------------------------- strings


def fixed_width(mat: np.ndarray) -> pa.Array:
    """Arrow string array from an (n, width) uint8 matrix of ASCII/UTF-8 bytes."""
    n, width = mat.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(mat, dtype=np.uint8)
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


def _nibbles(rng: np.random.Generator, n: int, nchars: int) -> np.ndarray:
    width = (nchars + 1) // 2
    raw = np.frombuffer(rng.bytes(n * width), dtype=np.uint8).reshape(n, width)
    out = np.empty((n, raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = raw >> 4
    out[:, 1::2] = raw & 15
    return out[:, :nchars]


def hex_matrix(rng: np.random.Generator, n: int, nchars: int, prefix: str = "") -> np.ndarray:
    """(n, len(prefix) + nchars) bytes of random lower-case hex identifiers."""
    body = _HEX[_nibbles(rng, n, nchars)]
    if prefix:
        head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, len(prefix)))
        body = np.hstack([head, body])
    return body


def hex_ids(rng: np.random.Generator, n: int, nchars: int, prefix: str = "") -> pa.Array:
    """Random lower-case hex identifiers, optionally prefixed."""
    return fixed_width(hex_matrix(rng, n, nchars, prefix))


def uuid4_matrix(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 36) bytes of random RFC 4122 version-4 UUIDs."""
    nib = _nibbles(rng, n, 32)
    nib[:, 12] = 4
    nib[:, 16] = 8 + (nib[:, 16] & 3)
    hexed = _HEX[nib]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    return out


def uuid4s(rng: np.random.Generator, n: int) -> pa.Array:
    """Random RFC 4122 version-4 UUID strings."""
    return fixed_width(uuid4_matrix(rng, n))


_PAIRS = np.array([[ord(str(i // 10)), ord(str(i % 10))] for i in range(100)], dtype=np.uint8)


def digits_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) ASCII digits of non-negative integers, zero-padded."""
    v = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    i = width
    while i >= 2:
        out[:, i - 2:i] = _PAIRS[v % 100]
        v //= 100
        i -= 2
    if i == 1:
        out[:, 0] = _DIGITS[v % 10]
    return out


def padded_numbers(values: np.ndarray, width: int, prefix: str = "") -> pa.Array:
    mat = digits_matrix(values, width)
    if prefix:
        head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (len(mat), len(prefix)))
        mat = np.hstack([head, mat])
    return fixed_width(mat)


def concat(*parts) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and Python strings; null if any part is null."""
    arrays = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else _as_large_string(p) for p in parts]
    return pc.binary_join_element_wise(*arrays, pa.scalar("", pa.large_string()))


def _as_large_string(a) -> pa.Array:
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if not isinstance(a, pa.Array):
        a = pa.array(a, type=pa.large_string())
    if a.type != pa.large_string():
        a = a.cast(pa.large_string())
    return a


def lookup(values, index: np.ndarray) -> pa.Array:
    """``values[index]`` as an Arrow large_string array (index -1 means null)."""
    table = pa.array(list(values), type=pa.large_string())
    idx = np.asarray(index, dtype=np.int64)
    mask = idx < 0
    arr = pa.array(np.where(mask, 0, idx), mask=mask if mask.any() else None)
    return table.take(arr)


def with_nulls(a: pa.Array, null_mask: np.ndarray) -> pa.Array:
    if not null_mask.any():
        return a
    return pc.if_else(pa.array(null_mask), pa.scalar(None, a.type), a)


def replace_where(a: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """``a`` with rows in ``mask`` taken from ``values`` (same length as a)."""
    if not mask.any():
        return a
    return pc.if_else(pa.array(mask), _as_large_string(values), _as_large_string(a))


def amounts(cents: np.ndarray) -> pa.Array:
    """Cents as decimal strings with a '.' and two places ("-12.05" for negatives)."""
    c = np.asarray(cents, dtype=np.int64)
    neg = c < 0
    a = np.abs(c)
    major = pc.cast(pa.array(a // 100), pa.large_string())
    minor = fixed_width(digits_matrix(a % 100, 2))
    out = concat(major, ".", minor)
    if neg.any():
        out = replace_where(out, neg, concat("-", out))
    return out


# ---------------------------------------------------------------- dates and times


def civil_from_days(days: np.ndarray):
    """Year, month, day of days since 1970-01-01 (proleptic Gregorian)."""
    z = np.asarray(days, dtype=np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = y + (m <= 2)
    return y, m, d


def _date_part(days: np.ndarray) -> np.ndarray:
    days = np.asarray(days, dtype=np.int64)
    if len(days) > 1000:  # event columns hold few distinct days: format each once
        unique, inverse = np.unique(days, return_inverse=True)
        if len(unique) * 4 < len(days):
            return _civil_digits(unique)[inverse]
    return _civil_digits(days)


def _civil_digits(days: np.ndarray) -> np.ndarray:
    y, m, d = civil_from_days(days)
    out = np.empty((len(y), 10), dtype=np.uint8)
    out[:, 0:4] = digits_matrix(y, 4)
    out[:, 4] = ord("-")
    out[:, 5:7] = digits_matrix(m, 2)
    out[:, 7] = ord("-")
    out[:, 8:10] = digits_matrix(d, 2)
    return out


def date_strings(days: np.ndarray) -> pa.Array:
    """YYYY-MM-DD from days since the epoch."""
    return fixed_width(_date_part(days))


def timestamp_strings(ms: np.ndarray, sep: str = "T", millis: bool = False, suffix: str = "",
                      offset_minutes: np.ndarray | None = None) -> pa.Array:
    """ISO-8601 text of epoch milliseconds.

    With ``offset_minutes`` the wall-clock time is local and ends in "+HH:MM";
    otherwise it is UTC followed by ``suffix`` (e.g. "Z", "+00:00", " UTC").
    """
    ms = np.asarray(ms, dtype=np.int64)
    if offset_minutes is not None:
        ms = ms + np.asarray(offset_minutes, dtype=np.int64) * 60_000
    days = np.floor_divide(ms, 86_400_000)
    rem = ms - days * 86_400_000
    secs = rem // 1000
    parts = [_date_part(days), np.full((len(ms), 1), ord(sep), dtype=np.uint8),
             digits_matrix(secs // 3600, 2), np.full((len(ms), 1), ord(":"), dtype=np.uint8),
             digits_matrix(secs // 60 % 60, 2), np.full((len(ms), 1), ord(":"), dtype=np.uint8),
             digits_matrix(secs % 60, 2)]
    if millis:
        parts += [np.full((len(ms), 1), ord("."), dtype=np.uint8), digits_matrix(rem % 1000, 3)]
    if offset_minutes is not None:
        off = np.asarray(offset_minutes, dtype=np.int64)
        sign = np.where(off < 0, ord("-"), ord("+")).astype(np.uint8)[:, None]
        a = np.abs(off)
        parts += [sign, digits_matrix(a // 60, 2), np.full((len(ms), 1), ord(":"), dtype=np.uint8),
                  digits_matrix(a % 60, 2)]
    elif suffix:
        parts.append(np.broadcast_to(np.frombuffer(suffix.encode(), dtype=np.uint8), (len(ms), len(suffix))))
    return fixed_width(np.hstack(parts))
