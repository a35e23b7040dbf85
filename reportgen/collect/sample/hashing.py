"""Deterministic, vectorised helpers of the sample tenant: hashing, GUIDs, times and text.

Every random-looking value of the sample comes from a counter-based hash (splitmix64) of the
seed and what it describes, or from ``numpy.random.default_rng`` streams seeded the same
way, never from the clock, uuid4 or set order: the same inputs give the same bytes.
"""

from __future__ import annotations

import calendar
import json
import re
import zlib
from datetime import date, datetime, timezone
from typing import Any, Iterable

import numpy as np

US = 1_000_000         # microseconds per second
DAY = 86_400 * US
HOUR = 3_600 * US

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def u64(x: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x))
    if arr.dtype == np.uint64:
        return arr
    return arr.astype(np.int64).view(np.uint64)


def mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def hash64(*parts: Any) -> np.ndarray:
    """A 64-bit hash of broadcastable integer arrays (splitmix64 chaining)."""
    h = np.zeros(1, dtype=np.uint64)
    for p in parts:
        h = mix(h ^ u64(p))
    return h


def frac(h: np.ndarray) -> np.ndarray:
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def tag(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def guids(hi: np.ndarray, lo: np.ndarray, prefix: np.ndarray | None = None) -> np.ndarray:
    """Two uint64 arrays -> object array of GUID strings (8-4-4-4-12), each after its ``prefix`` if given."""
    n = len(hi)
    b = np.empty((n, 16), dtype=np.uint8)
    b[:, :8] = hi.astype(">u8").view(np.uint8).reshape(n, 8)
    b[:, 8:] = lo.astype(">u8").view(np.uint8).reshape(n, 8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hx = np.empty((n, 32), dtype=np.uint8)
    hx[:, 0::2] = _HEX[b >> 4]
    hx[:, 1::2] = _HEX[b & 15]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8], out[:, 9:13], out[:, 14:18] = hx[:, 0:8], hx[:, 8:12], hx[:, 12:16]
    out[:, 19:23], out[:, 24:36] = hx[:, 16:20], hx[:, 20:32]
    text = out.tobytes().decode("ascii")
    if prefix is None:
        return np.array([text[i:i + 36] for i in range(0, 36 * n, 36)], dtype=object)
    return np.array([p + text[i:i + 36] for p, i in zip(prefix.tolist(), range(0, 36 * n, 36))], dtype=object)


def unique_sorted(x: np.ndarray) -> np.ndarray:
    x = np.sort(x)
    if len(x) == 0:
        return x
    keep = np.empty(len(x), dtype=bool)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def jdump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def choice(rng: np.random.Generator, items: Iterable[tuple[Any, float]]) -> Any:
    items = list(items)
    r = rng.random() * sum(w for _, w in items)
    for value, w in items:
        r -= w
        if r < 0:
            return value
    return items[-1][0]


def month_end(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


def add_months(d: date, k: int) -> tuple[int, int]:
    idx = d.year * 12 + d.month - 1 + k
    return idx // 12, idx % 12 + 1


def to_us(dt: datetime) -> int:
    return int(dt.replace(tzinfo=timezone.utc).timestamp()) * US if dt.tzinfo is None \
        else int(dt.timestamp()) * US


def messy(value: str, r: float) -> str:
    """How people really type owner tags: case and stray whitespace vary."""
    if r < 0.55:
        return value
    if r < 0.70:
        return value.title()
    if r < 0.78:
        return value.upper()
    if r < 0.90:
        return value + " "
    return "  " + value


def bump(version: str, r: float) -> str:
    """Next release of a version string (patch bump, sometimes minor)."""
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        return version + ".1"
    major, minor, patch = (int(g) for g in m.groups())
    new = f"{major}.{minor + 1}.0" if r < 0.25 else f"{major}.{minor}.{patch + 1}"
    return version[:m.start()] + new + version[m.end():]


