"""Shared normalisation for aggregation: ids, severities, JSON columns, tags."""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reportgen.aggregate.model import SEVERITY_ORDER
from reportgen.surrogates import fix_surrogates

_SEVERITY_MAP = {s.lower(): s for s in SEVERITY_ORDER[:-1]}


def lower_id(series: pd.Series) -> pd.Series:
    """ARM ids compare case-insensitively; a trailing slash is not significant.

    Id columns repeat a few distinct values over many rows (a cluster id per finding), so
    the distinct values are normalised once and spread back by their codes.
    """
    codes, uniques = pd.factorize(text(series), sort=False)
    normalised = pd.Index(uniques, dtype=object).str.strip().str.rstrip("/").str.lower().to_numpy(dtype=object)
    return pd.Series(normalised[codes] if len(codes) else np.array([], dtype=object), index=series.index, dtype=object)


def normalize_severity(series: pd.Series) -> pd.Series:
    return per_value(series, lambda v: _SEVERITY_MAP.get(("" if v is None else str(v)).strip().lower(), "Unknown"))


def per_value(series: pd.Series, fn: Callable[[Any], Any], dtype: Any = object) -> pd.Series:
    """``fn`` of every value of a text column (``fn(None)`` for a missing one), computed once per
    distinct value: a million cells repeat a few thousand values."""
    codes, uniques = pd.factorize(series.to_numpy(dtype=object), sort=False)
    results = [fn(v) for v in uniques.tolist()]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(results), codes)
        results.append(fn(None))
    if dtype is object:
        return pd.Series(np.fromiter(results, dtype=object, count=len(results))[codes], index=series.index,
                         dtype=object)
    if dtype in (bool, float, int):
        return pd.Series(np.asarray(results, dtype=dtype)[codes], index=series.index)
    out = pd.Series(results, dtype=dtype).take(codes)
    out.index = series.index
    return out


def pair_ids(ids: dict[tuple[str, str], int], left: pd.Series, right: pd.Series) -> np.ndarray:
    """Whole-number ids of (left, right) value pairs, numbered in ``ids`` (shared between calls); each
    distinct value and pair is looked at once."""
    left_codes, left_values = pd.factorize(left.to_numpy(dtype=object), sort=False)
    right_codes, right_values = pd.factorize(right.to_numpy(dtype=object), sort=False)
    width = max(len(right_values), 1)
    pair_codes, pairs = pd.factorize(left_codes.astype(np.int64) * width + right_codes, sort=False)
    numbers = np.fromiter((ids.setdefault((left_values[p // width], right_values[p % width]), len(ids))
                           for p in pairs.tolist()), dtype=np.int64, count=len(pairs))
    return numbers[pair_codes] if len(pair_codes) else np.array([], dtype=np.int64)


def object_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame whose text columns stay Python objects (pandas would copy them into Arrow strings,
    which cost several times more to hash and compare at a million rows). A text scalar is repeated."""
    n = next((len(v) for v in columns.values() if not isinstance(v, (str, bool, int, float)) and v is not None), 0)
    out = {}
    for name, v in columns.items():
        if isinstance(v, str):
            out[name] = pd.Series(np.full(n, v, dtype=object), dtype=object)
        elif isinstance(v, list) or (isinstance(v, np.ndarray) and v.dtype == object):
            out[name] = pd.Series(np.asarray(v, dtype=object), dtype=object)
        elif isinstance(v, pd.Series):
            out[name] = (pd.Series(v.to_numpy(dtype=object), dtype=object)
                         if v.dtype == object or pd.api.types.is_string_dtype(v.dtype) else v.reset_index(drop=True))
        else:
            out[name] = v
    return pd.DataFrame(out)


def sort_codes(series: pd.Series) -> np.ndarray:
    """Whole numbers that sort like the values of a text column (missing values last, equal values
    equal), from sorting its distinct values only; for ``np.lexsort``."""
    codes, uniques = pd.factorize(series.to_numpy(dtype=object), sort=False)
    try:
        ranks = pc.rank(pa.array(uniques, type=pa.string()), sort_keys="ascending", tiebreaker="first")
        ranks = ranks.to_numpy().astype(np.int64) - 1
    except (pa.ArrowException, TypeError):   # not all text: Python's own order
        ranks = np.empty(len(uniques), dtype=np.int64)
        ranks[sorted(range(len(uniques)), key=uniques.__getitem__)] = np.arange(len(uniques))
    return np.where(codes < 0, len(uniques), ranks[codes] if len(uniques) else codes)


def text(series: pd.Series) -> pd.Series:
    """Text with blanks for missing values, as Python-object strings.

    Object dtype keeps ids hashable cheaply: joins, isin and groupby on Arrow-backed
    strings cost several times more at a million rows.
    """
    if series.dtype == object:
        out = series.fillna("")
        if len(out) and not isinstance(out.iloc[0], str) or pd.api.types.infer_dtype(out, skipna=True) not in ("string", "empty"):
            out = out.map(str)
        return out.astype(object)
    return series.fillna("").astype(str).astype(object)


def parse_json(value: Any, default: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return default
    if isinstance(value, (dict, list)):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return default
    # JSON may escape a lone surrogate ("\\ud800"), which no UTF-8 or Arrow string can hold: U+FFFD instead
    return _fix_surrogates(parsed) if isinstance(value, str) and "\\u" in value else parsed


def _fix_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return fix_surrogates(value)
    if isinstance(value, list):
        return [_fix_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in value.items()}
    return value


def tag_lookup(tags_json: Any, keys_lower: tuple[str, ...]) -> str | None:
    """The value of the first configured tag key present (keys compared case-insensitively).

    Values are trimmed and lower-cased; an empty value does not count.
    """
    tags = parse_json(tags_json, {})
    if not isinstance(tags, dict) or not tags:
        return None
    by_key = {}
    for k, v in tags.items():
        by_key.setdefault(str(k).strip().lower(), v)
    for key in keys_lower:
        value = by_key.get(key)
        if value is not None and str(value).strip():
            return str(value).strip().lower()
    return None


def parse_arm(resource_id: str) -> tuple[str, str, str]:
    """(subscriptionId, resourceGroup, name) from an ARM id; blanks where absent."""
    parts = resource_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    sub = parts[lower.index("subscriptions") + 1] if "subscriptions" in lower and lower.index("subscriptions") + 1 < len(parts) else ""
    rg = parts[lower.index("resourcegroups") + 1] if "resourcegroups" in lower and lower.index("resourcegroups") + 1 < len(parts) else ""
    return sub, rg, parts[-1] if parts else ""


def severity_counts(series: pd.Series) -> dict[str, int]:
    counts = series.value_counts()
    return {s: int(counts.get(s, 0)) for s in SEVERITY_ORDER}


def pct(numerator: int, denominator: int) -> float:
    return round(100.0 * numerator / denominator, 2) if denominator else 0.0
