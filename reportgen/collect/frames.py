"""Turning what a source returned into snapshot frames: the contract columns and types.

Rows come back as the services return them (dynamic values as JSON objects, datetimes as
ISO 8601 text with seven fractional digits, numbers and booleans sometimes as strings), or
as an Arrow table from the embedded engine (dynamic values as JSON text). Either way they
become the dataset's contract columns and types (plus the optional columns present), with
JSON columns as canonical JSON text (sorted keys, no spaces), so equal values give equal
text and equal hashes. The Kubernetes context of findings is flattened to
``[{container, kind, name, namespace}]`` whichever shape it came in.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reportgen.snapshot import DATASETS, OPTIONAL_COLUMNS
from reportgen.surrogates import fix_surrogates

def _json_value(value: Any) -> Any:
    """A dynamic value as a Python object: ARG sends objects; some paths send JSON text."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") or text in ("null", "true", "false"):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _lookup(lower: Mapping[str, Any], *names: str) -> Any:
    """The first present key of a dynamic object whose keys were lower-cased (Azure mixes cases)."""
    for name in names:
        value = lower.get(name)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return value
    return None


_FLAT_KEYS = ("container", "kind", "name", "namespace")


def normalise_workloads(value: Any) -> list[dict] | None:
    """Flatten a finding's Kubernetes context to ``[{container, kind, name, namespace}]``.

    Accepts the legacy ``kubernetesContext.workloads`` (workloads with ``containers``), the
    newer flat ``kubernetesDetails`` (``controllerKind``, ``controllerName``, ``containerName``),
    a single object, or the already-flat form; keys in any letter case.
    """
    value = _json_value(value)
    if _missing(value):
        return None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    out: list[dict] = []
    for item in value:
        item = _json_value(item)
        if not isinstance(item, dict):
            continue
        if len(item) == 4 and all(k in item for k in _FLAT_KEYS):  # already flat: the common case
            out.append({k: item[k] for k in _FLAT_KEYS})
            continue
        lower = {str(k).lower(): v for k, v in item.items()}
        namespace = _lookup(lower, "namespace")
        kind = _lookup(lower, "kind", "controllerkind", "ownerkind", "workloadkind")
        name = _lookup(lower, "name", "controllername", "ownername", "workloadname")
        containers = _lookup(lower, "containers")
        if isinstance(containers, list):
            for container in containers:
                if isinstance(container, dict):
                    cname = _lookup({str(k).lower(): v for k, v in container.items()}, "name", "containername")
                else:
                    cname = container
                out.append({"container": cname, "kind": kind, "name": name, "namespace": namespace})
            continue
        container = _lookup(lower, "container", "containername")
        if namespace is None and kind is None and name is None and container is None:
            continue
        out.append({"container": container, "kind": kind, "name": name, "namespace": namespace})
    return out


def canonical_json(value: Any) -> str:
    """JSON text with sorted keys and no spaces: equal values give equal text (and equal hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _json_text(value: Any) -> str | None:
    value = _json_value(value)
    if _missing(value):
        return None
    return canonical_json(value)


_FRACTION = r"(\.\d{6})\d+"


def _timestamps(values: list) -> pd.Series:
    """ISO 8601 text (7-digit fractions, as Azure writes them) or datetimes -> UTC timestamps."""
    series = pd.Series(values, dtype=object)
    series = series.where(series.map(lambda v: not (v is None or v == "" or (isinstance(v, float) and math.isnan(v)))),
                          None)
    text = series.map(lambda v: isinstance(v, str))
    if text.any():
        series[text] = series[text].str.strip().str.replace(_FRACTION, r"\1", regex=True)
    if text.all() or not series.notna().any() or (text | series.isna()).all():
        return pd.to_datetime(series, utc=True, format="ISO8601")
    return pd.Series([pd.NaT if v is None else pd.Timestamp(v) for v in series], dtype=object).pipe(
        pd.to_datetime, utc=True)


def _number(value: Any) -> float:
    if _missing(value) or value == "":
        return math.nan
    return float(value)


def columns_of(dataset: str, present: Iterable[str]) -> dict[str, str]:
    """The dataset's contract columns, then its optional columns that are ``present``, with their kinds."""
    present = set(present)
    return {**DATASETS[dataset], **{c: k for c, k in OPTIONAL_COLUMNS.get(dataset, {}).items() if c in present}}


def to_frame(dataset: str, rows: Iterable[Mapping[str, Any]] | pa.Table,
             ordered: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Rows as a source returned them -> the dataset's columns and types (in stable order)."""
    if isinstance(rows, pa.Table):
        frame, notes = _arrow_frame(dataset, rows)
        return (stable_order(frame, dataset) if ordered else frame), notes
    rows = list(rows)
    columns = columns_of(dataset, {k for r in rows for k in r})
    notes: list[str] = []
    data: dict[str, Any] = {}
    for col, kind in columns.items():
        values = [row.get(col) for row in rows]
        if kind == "json":
            if dataset == "findings" and col == "workloads":
                values = [None if (w := normalise_workloads(v)) is None else canonical_json(w) for v in values]
            else:
                values = [_json_text(v) for v in values]
        elif kind == "ts":
            values = _timestamps(values)
        elif kind == "float":
            values = [_number(v) for v in values]
        elif kind == "int":
            empty = sum(1 for v in values if _missing(v) or v == "")
            if empty:
                notes.append(f"{dataset}: {empty} rows had no value for {col}; counted as 0")
            values = [0 if _missing(v) or v == "" else int(float(v)) for v in values]
        elif kind == "nint":
            values = pd.array([None if _missing(v) or v == "" else int(float(v)) for v in values], dtype="Int64")
        elif kind == "bool":
            values = [False if v is None or v == "" or (isinstance(v, float) and math.isnan(v)) else v for v in values]
        else:
            values = [v if v is None or type(v) is str else (None if _missing(v) else str(v)) for v in values]
        data[col] = values
    try:
        frame = _frame_of(data, columns)
    except UnicodeEncodeError:  # a lone surrogate (JSON can escape one; no UTF-8 or Arrow string holds it)
        count = 0
        for col, values in data.items():
            if isinstance(values, list):
                fixed = [fix_surrogates(v) if type(v) is str else v for v in values]
                count += sum(1 for a, b in zip(values, fixed) if a is not b)
                data[col] = fixed
        frame = _frame_of(data, columns)
        notes.append(f"{dataset}: {count:,} text value{'s' if count != 1 else ''} held a lone surrogate "
                     f"(invalid Unicode), replaced with U+FFFD")
    return (stable_order(frame, dataset) if ordered else frame), notes


def _frame_of(data: dict[str, Any], columns: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: (v.to_numpy() if isinstance(v, pd.Series) else v) for c, v in data.items()},
                        columns=list(columns))


def _canonical_texts(values: np.ndarray, convert) -> np.ndarray:
    """Apply ``convert`` to each distinct value once (JSON columns repeat the same few values)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    converted = np.array([convert(u) for u in uniques] + [None], dtype=object)
    return converted[codes]   # code -1 (null) takes the trailing None


def _shared_strings(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Text values as a Python object array in which equal values are one object: a million rows
    of a few hundred distinct values then cost a pointer each, not a string each."""
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    words = np.array(encoded.dictionary.to_pylist() + [None], dtype=object)
    return words[pc.fill_null(encoded.indices, len(words) - 1).to_numpy(zero_copy_only=False)]


def _arrow_frame(dataset: str, table: pa.Table) -> tuple[pd.DataFrame, list[str]]:
    """An engine result (Arrow; dynamic values as JSON text) -> snapshot columns, column at a time."""
    columns = columns_of(dataset, table.column_names)
    missing = [c for c in DATASETS[dataset] if c not in table.column_names]
    if missing:
        raise ValueError(f"{dataset}: the result has no column {missing[0]!r}")
    notes: list[str] = []
    data: dict[str, Any] = {}
    for col, kind in columns.items():
        arr = table[col]
        if kind == "ts":
            if not pa.types.is_timestamp(arr.type):
                data[col] = _timestamps(arr.to_pylist())
            else:
                data[col] = pd.Series(arr.cast(pa.timestamp("us", tz="UTC")).to_pandas(), dtype="datetime64[us, UTC]")
        elif kind == "json":
            if dataset == "findings" and col == "workloads":
                convert = lambda v: None if (w := normalise_workloads(v)) is None else canonical_json(w)  # noqa: E731
            else:
                convert = _json_text
            data[col] = pd.Series(_canonical_texts(arr.to_numpy(zero_copy_only=False), convert), dtype=object)
        elif kind == "float":
            data[col] = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        elif kind == "int":
            empty = arr.null_count
            if empty:
                notes.append(f"{dataset}: {empty} rows had no value for {col}; counted as 0")
            data[col] = pc.fill_null(pc.cast(arr, pa.int64()), 0).to_numpy(zero_copy_only=False)
        elif kind == "nint":
            data[col] = pd.array(pc.cast(arr, pa.int64()).to_pandas(), dtype="Int64")
        elif kind == "bool":
            data[col] = pc.fill_null(pc.cast(arr, pa.bool_()), False).to_numpy(zero_copy_only=False)
        else:
            values = arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else pc.cast(arr, pa.string())
            data[col] = pd.Series(_shared_strings(values), dtype=object)
    frame = pd.DataFrame(data, columns=list(columns))
    return frame, notes


# Row order that does not depend on paging, batching or concurrency: by these columns, then
# every column for rows that still tie. Findings share an id across the CVEs of one package.
_ORDER_KEYS = {"findings": ("id", "cveId", "packageName", "imageDigest", "resourceId")}


def stable_order(frame: pd.DataFrame, dataset: str | None = None) -> pd.DataFrame:
    """Rows in an order that does not depend on paging, batching or concurrency (sorted in Arrow)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    keys = [c for c in _ORDER_KEYS.get(dataset or "", ("id",)) if c in frame.columns] or list(frame.columns)
    sort = {f"k{i}": _sort_key(frame[c]) for i, c in enumerate(keys)}
    table = pa.table(sort)
    order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in table.column_names])
    ordered = table.take(order)
    n = len(frame)
    same = np.ones(n - 1, dtype=bool)
    for name in ordered.column_names:  # rows whose keys equal the previous row's
        col = ordered[name]
        same &= pc.fill_null(pc.equal(col.slice(1), col.slice(0, n - 1)), True).to_numpy(zero_copy_only=False)
    if same.any():  # rows that tie on the keys (rare): order them by their whole content
        tied = np.zeros(n, dtype=bool)
        tied[1:] |= same
        tied[:-1] |= same
        rows = order.to_numpy()[tied]
        tie = np.full(n, "", dtype=object)
        tie[rows] = frame.iloc[rows].astype(object).map(lambda v: "" if v is None or v != v else str(v)) \
            .agg("\x1f".join, axis=1).to_numpy()
        sort["tie"] = pa.array(tie, pa.string())
        table = pa.table(sort)
        order = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in table.column_names])
    return frame.iloc[order.to_numpy()].reset_index(drop=True)


def _sort_key(column: pd.Series) -> pa.Array:
    if column.dtype == object:
        try:
            return pc.fill_null(pa.array(column, pa.string(), from_pandas=True), "")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return pa.array(column.astype(str).where(column.notna(), ""), pa.string())
