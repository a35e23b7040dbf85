"""Row-for-row comparison of a collected snapshot with the frames the emulator served."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any, Iterable, Mapping

import pandas as pd

from reportgen.snapshot import DATASETS


def _canonical(kind: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if kind == "json":
        return json.dumps(json.loads(value), sort_keys=True)
    if kind == "ts":
        ts = pd.Timestamp(value)
        return None if pd.isna(ts) else ts.tz_convert("UTC").isoformat()
    if kind == "float":
        return round(float(value), 9)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def canonical_rows(dataset: str, frame: pd.DataFrame) -> Counter:
    """The rows of a frame as a multiset of canonical tuples (contract columns only)."""
    columns = DATASETS[dataset]
    records = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None).to_dict("records")
    return Counter(tuple(_canonical(columns[c], r[c]) for c in columns) for r in records)


def diff_rows(dataset: str, collected: pd.DataFrame, expected: pd.DataFrame) -> str:
    got, want = canonical_rows(dataset, collected), canonical_rows(dataset, expected)
    if got == want:
        return ""
    missing, extra = want - got, got - want
    lines = [f"{dataset}: {sum(missing.values())} rows missing, {sum(extra.values())} unexpected "
             f"(collected {len(collected)}, served {len(expected)})"]
    for row in list(missing)[:2]:
        lines.append(f"  missing: {row}")
    for row in list(extra)[:2]:
        lines.append(f"  unexpected: {row}")
    return "\n".join(lines)


def assert_same_rows(frames: Mapping[str, pd.DataFrame], expected: Mapping[str, pd.DataFrame],
                     datasets: Iterable[str] | None = None) -> None:
    problems = [d for d in (diff_rows(name, frames[name], expected[name]) for name in (datasets or DATASETS)) if d]
    assert not problems, "\n".join(problems)


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
