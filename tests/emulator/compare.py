"""Row-for-row comparison of a collected snapshot with the frames a tenant says it must give.

Rows are compared as a multiset (row order carries no meaning in a snapshot) over the
dataset's contract columns and the optional columns the expected frame has. A difference
is reported with the columns whose values differ, so that a test can say which property
a query read wrongly.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any, Iterable, Mapping

import pandas as pd

from reportgen.snapshot import DATASETS, OPTIONAL_COLUMNS


def _canonical(kind: str, value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if kind == "json":
        return json.dumps(json.loads(value), sort_keys=True)
    if kind == "ts":
        ts = pd.Timestamp(value)
        return None if pd.isna(ts) else ts.tz_convert("UTC").isoformat()
    if kind == "float":
        return round(float(value), 9)
    if kind in ("int", "nint"):
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def compared_columns(dataset: str, expected: pd.DataFrame) -> dict[str, str]:
    optional = OPTIONAL_COLUMNS.get(dataset, {})
    return {**DATASETS[dataset], **{c: k for c, k in optional.items() if c in expected.columns}}


def _values(frame: pd.DataFrame, column: str, kind: str) -> list:
    if column not in frame.columns:  # an optional column a snapshot leaves out holds nulls (a contract one
        return [None] * len(frame)   # cannot be left out: reading the snapshot has checked that)
    return [_canonical(kind, v) for v in frame[column].astype(object).tolist()]


def canonical_rows(dataset: str, frame: pd.DataFrame, columns: Mapping[str, str] | None = None) -> Counter:
    """The rows of a frame as a multiset of canonical tuples."""
    columns = columns or DATASETS[dataset]
    values = [_values(frame, c, k) for c, k in columns.items()]
    return Counter(zip(*values)) if values else Counter()


def differing_columns(dataset: str, collected: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """The columns whose multiset of values differs between the two frames."""
    columns = compared_columns(dataset, expected)
    return [c for c, k in columns.items()
            if Counter(map(repr, _values(collected, c, k))) != Counter(map(repr, _values(expected, c, k)))]


def diff_rows(dataset: str, collected: pd.DataFrame, expected: pd.DataFrame) -> str:
    """"" when the frames hold the same rows; else what differs, naming the columns."""
    columns = compared_columns(dataset, expected)
    got, want = canonical_rows(dataset, collected, columns), canonical_rows(dataset, expected, columns)
    if got == want:
        return ""
    missing, extra = want - got, got - want
    names = list(columns)
    lines = [f"{dataset}: {sum(missing.values())} rows missing, {sum(extra.values())} unexpected "
             f"(collected {len(collected)}, expected {len(expected)}); columns that differ: "
             f"{', '.join(differing_columns(dataset, collected, expected)) or '(only their combination)'}"]
    for row in list(missing)[:2]:
        lines.append(f"  missing: {dict(zip(names, row))}")
    for row in list(extra)[:2]:
        lines.append(f"  unexpected: {dict(zip(names, row))}")
    return "\n".join(lines)


def diff_snapshot(frames: Mapping[str, pd.DataFrame], expected: Mapping[str, pd.DataFrame],
                  datasets: Iterable[str] | None = None) -> str:
    return "\n".join(d for d in (diff_rows(name, frames[name], expected[name]) for name in (datasets or DATASETS)) if d)


def assert_same_rows(frames: Mapping[str, pd.DataFrame], expected: Mapping[str, pd.DataFrame],
                     datasets: Iterable[str] | None = None) -> None:
    problems = diff_snapshot(frames, expected, datasets)
    assert not problems, problems


def only_subscriptions(frame: pd.DataFrame, subs: Iterable[str]) -> pd.DataFrame:
    """Rows of a frame that belong to the given subscriptions (by subscriptionId, else by id)."""
    wanted = {s.lower() for s in subs}
    if "subscriptionId" in frame.columns:
        keys = frame["subscriptionId"].fillna("").str.lower()
    elif "id" in frame.columns:
        keys = frame["id"].str.extract(r"(?i)^/subscriptions/([^/]+)")[0].fillna("").str.lower()
    else:
        keys = frame["SubscriptionId"].fillna("").str.lower()
    return frame[keys.isin(wanted)]


def only_subscriptions_of(frames: Mapping[str, pd.DataFrame], subs: Iterable[str],
                          datasets: Iterable[str]) -> dict[str, pd.DataFrame]:
    subs = list(subs)
    return {name: (only_subscriptions(frame, subs) if name in datasets else frame) for name, frame in frames.items()}
