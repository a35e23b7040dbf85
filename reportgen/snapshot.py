"""Write, read and validate snapshots (schema ``reportgen.snapshot/1``).

A snapshot is a frozen folder: ``snapshot.json`` (metadata and per-dataset provenance),
``data/<dataset>.parquet`` and, for collected data, ``queries/<dataset>.kql``. Everything
after collection reads only snapshots, so a pack can always be re-rendered offline.

Reading validates everything an auditor would: the schema version, every dataset file's
sha256, every contract column and its type. Each problem is one ``SnapshotError`` naming
the file and the column or key. Extra columns are kept.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reportgen import TOOL_NAME, __version__
from reportgen.errors import SnapshotError
from reportgen.outdir import build_beside, check_target, holds_only, swap_into_place
from reportgen.redact import redact
from reportgen.surrogates import fix_surrogates

SCHEMA = "reportgen.snapshot/1"
# complete: every request answered; partial: some of the data is missing (the warnings say
# what); skipped: the source is not configured; failed: every request for it failed.
STATUSES = ("complete", "partial", "skipped", "failed")

# Column kinds: str (text), json (JSON text), ts (UTC timestamp), float, int, nint (a whole
# number or null), bool.
DATASETS: dict[str, dict[str, str]] = {
    "clusters": {
        "id": "str", "name": "str", "subscriptionId": "str", "resourceGroup": "str", "location": "str",
        "tags": "json",
    },
    "resource_containers": {
        "id": "str", "type": "str", "name": "str", "subscriptionId": "str", "resourceGroup": "str", "tags": "json",
    },
    "policy_states": {
        "id": "str", "resourceId": "str", "resourceType": "str", "subscriptionId": "str", "resourceGroup": "str",
        "complianceState": "str", "policyAssignmentId": "str", "policyAssignmentName": "str",
        "policyDefinitionId": "str", "policyDefinitionReferenceId": "str", "policySetDefinitionId": "str",
        "policyDefinitionGroupNames": "json", "timestamp": "ts",
    },
    "assessments": {
        "id": "str", "assessmentKey": "str", "resourceId": "str", "subscriptionId": "str", "resourceGroup": "str",
        "statusCode": "str", "statusCause": "str", "severity": "str", "displayName": "str",
        "firstEvaluationDate": "ts", "statusChangeDate": "ts",
    },
    "findings": {
        "id": "str", "assessmentKey": "str", "resourceId": "str", "subscriptionId": "str", "resourceGroup": "str",
        "cveId": "str", "title": "str", "severity": "str", "cvssScore": "float", "statusCode": "str",
        "statusCause": "str", "registryHost": "str", "repositoryName": "str", "imageDigest": "str",
        "imageTags": "json", "packageName": "str", "packageVersion": "str", "fixedVersion": "str",
        "fixStatus": "str", "osPlatform": "str", "osVersion": "str", "publishedDate": "ts", "exploitable": "bool",
        "timeGenerated": "ts", "workloads": "json",
    },
    "exemptions": {
        "id": "str", "name": "str", "subscriptionId": "str", "resourceGroup": "str", "scope": "str",
        "policyAssignmentId": "str", "policyDefinitionReferenceIds": "json", "category": "str",
        "displayName": "str", "description": "str", "expiresOn": "ts",
    },
    "governance_assignments": {
        "id": "str", "assessmentId": "str", "owner": "str", "remediationDueDate": "ts", "isGracePeriod": "bool",
    },
    "regulatory_compliance": {
        "id": "str", "subscriptionId": "str", "standard": "str", "control": "str", "assessmentKey": "str",
        "state": "str", "passedResources": "int", "failedResources": "int", "skippedResources": "int",
    },
    "assessment_history": {
        "TimeGenerated": "ts", "AssessedResourceId": "str", "RecommendationName": "str",
        "RecommendationState": "str", "IsSnapshot": "bool", "SubscriptionId": "str",
    },
    "finding_history": {
        "TimeGenerated": "ts", "AssessedResourceId": "str", "VulnerabilityId": "str", "imageDigest": "str",
        "packageName": "str", "RecommendationState": "str", "RecommendationSeverity": "str", "IsSnapshot": "bool",
    },
}

# Datasets added after the format was first defined (DESIGN.md §5), written only when collected:
# a snapshot without one still reads (its absence means "not checked", never "none").
# known_exploited: the CISA KEV catalogue (reportgen.collect.kev names the format's source).
OPTIONAL_DATASETS: dict[str, dict[str, str]] = {
    "known_exploited": {
        "cveID": "str", "vendorProject": "str", "product": "str", "vulnerabilityName": "str", "dateAdded": "ts",
        "shortDescription": "str", "requiredAction": "str", "dueDate": "ts", "knownRansomwareCampaignUse": "str",
        "forensicTriage": "str", "notes": "str", "cwes": "json",
    },
}


def _contract(dataset: str) -> dict[str, str]:
    return DATASETS[dataset] if dataset in DATASETS else OPTIONAL_DATASETS[dataset]


# Columns added to a dataset after the format was first defined (DESIGN.md §5): written when
# present, read when present, never required, so that older snapshots keep reading.
OPTIONAL_COLUMNS: dict[str, dict[str, str]] = {
    "findings": {
        "source": "str",                  # legacy-subassessments | individual-recommendations
        "firstEvaluationDate": "ts",      # Defender's first evaluation of the package on the container
        "packageCveCount": "nint",        # CVEs the package has (the query expands at most 400)
    },
    "exemptions": {
        "metadata": "json",               # properties.metadata, a JSON object as Azure stores it
        "createdBy": "str",               # systemData: who created the exemption, and when
        "createdAt": "ts",
        "lastModifiedBy": "str",          # systemData: who changed it last, and when
        "lastModifiedAt": "ts",
    },
}

_ARROW_TYPES = {
    "str": pa.string(), "json": pa.string(), "ts": pa.timestamp("us", tz="UTC"),
    "float": pa.float64(), "int": pa.int64(), "nint": pa.int64(), "bool": pa.bool_(),
}


@dataclass(frozen=True)
class DatasetInfo:
    """Provenance of one dataset, as recorded in snapshot.json."""

    name: str
    rows: int
    status: str = "complete"
    sha256: str = ""
    query_sha256: str | None = None
    pages: int = 0
    warnings: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {"file": f"data/{self.name}.parquet", "rows": self.rows, "sha256": self.sha256,
               "status": self.status, "query_sha256": self.query_sha256, "pages": self.pages,
               "warnings": list(self.warnings)}
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Snapshot:
    """A snapshot read from disk and validated. ``frames`` holds every dataset."""

    path: Path
    meta: Mapping[str, Any]
    frames: Mapping[str, pd.DataFrame]
    datasets: Mapping[str, DatasetInfo]
    queries: Mapping[str, str]
    fingerprint: str  # sha256 of snapshot.json

    @property
    def collected_at(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta["collected_at"]).tz_convert("UTC")

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def empty_frame(dataset: str) -> pd.DataFrame:
    """A zero-row frame with the dataset's contract columns and types."""
    return coerce_frame(dataset, pd.DataFrame({c: [] for c in _contract(dataset)}), origin=f"<empty {dataset}>")


def _coerce_column(series: pd.Series, kind: str) -> pd.Series:
    if kind in ("str", "json"):
        if isinstance(series.dtype, pd.StringDtype) or (
                series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")):
            return pd.Series(series.to_numpy(dtype=object, na_value=None), index=series.index, dtype=object)
        if series.dtype == object:
            sample = next((v for v in series if v is not None and not isinstance(v, str)
                           and not (isinstance(v, float) and pd.isna(v))), None)
            if kind == "json" and isinstance(sample, (dict, list)):
                raise TypeError(f"holds {type(sample).__name__} values, expected JSON text")
            return pd.Series([None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in series],
                             index=series.index, dtype=object)
        if series.isna().all():
            return pd.Series([None] * len(series), index=series.index, dtype=object)
        raise TypeError(f"has type {series.dtype}, expected text")
    if kind == "ts":
        if pd.api.types.is_datetime64_any_dtype(series):
            out = series
        elif series.dtype == object or pd.api.types.is_string_dtype(series) or series.isna().all():
            out = pd.to_datetime(series, utc=True, errors="raise", format="ISO8601")
        else:
            raise TypeError(f"has type {series.dtype}, expected a timestamp")
        if getattr(out.dt, "tz", None) is None:
            out = out.dt.tz_localize("UTC")
        return out.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if kind == "float":
        if pd.api.types.is_bool_dtype(series):
            raise TypeError("has type bool, expected a number")
        return pd.to_numeric(series, errors="raise").astype("float64")
    if kind in ("int", "nint"):
        num = pd.to_numeric(series, errors="raise")
        if kind == "int" and num.isna().any():
            raise TypeError("has empty values, expected whole numbers")
        if (num.dropna() != num.dropna().round()).any():
            raise TypeError("has fractional values, expected whole numbers")
        return num.astype("int64") if kind == "int" else num.astype("Int64")
    if kind == "bool":
        if pd.api.types.is_bool_dtype(series):
            return series.astype(bool)
        mapping = {"true": True, "false": False, "1": True, "0": False}
        def to_bool(v: Any) -> bool:
            if isinstance(v, bool):
                return v
            if v is None or (isinstance(v, float) and pd.isna(v)):
                return False
            if isinstance(v, (int, float)) and v in (0, 1):
                return bool(v)
            key = str(v).strip().lower()
            if key not in mapping:
                raise TypeError(f"has value {v!r}, expected true/false")
            return mapping[key]
        return series.map(to_bool).astype(bool)
    raise AssertionError(kind)


def coerce_frame(dataset: str, frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Check contract columns exist and cast them and the optional ones present; other columns are kept."""
    columns = _contract(dataset)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SnapshotError(f"{origin}: missing column {missing[0]!r}",
                            hint=f"dataset {dataset} needs columns {', '.join(columns)}")
    out = frame.copy()
    typed = {**columns, **{c: k for c, k in OPTIONAL_COLUMNS.get(dataset, {}).items() if c in frame.columns}}
    for col, kind in typed.items():
        try:
            out[col] = _coerce_column(frame[col], kind)
        except (TypeError, ValueError, OverflowError) as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SnapshotError(f"{origin}: column {col!r} {detail}") from None
    ordered = list(columns) + [c for c in out.columns if c not in columns]
    return out[ordered].reset_index(drop=True)


def _to_arrow(dataset: str, frame: pd.DataFrame) -> pa.Table:
    columns = {**_contract(dataset),
               **{c: k for c, k in OPTIONAL_COLUMNS.get(dataset, {}).items() if c in frame.columns}}
    fields = [pa.field(c, _ARROW_TYPES[k]) for c, k in columns.items()]
    arrays = [pa.array(frame[c], type=_ARROW_TYPES[k], from_pandas=True) for c, k in columns.items()]
    for col in frame.columns:
        if col not in columns:
            arr = pa.array(frame[col], from_pandas=True)
            fields.append(pa.field(col, arr.type))
            arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


_FAST_KINDS = {"str": "object", "json": "object", "float": "float64", "int": "int64", "bool": "bool",
               "nint": "Int64", "ts": "datetime64[us, UTC]"}


def _arrow_of(dataset: str, frame: pd.DataFrame) -> pa.Table:
    table = _typed_arrow(dataset, frame)   # a frame already of the contract types goes straight to Arrow
    if table is None:
        table = _to_arrow(dataset, coerce_frame(dataset, frame, origin=f"dataset {dataset}"))
    return table


def _replace_lone_surrogates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``frame`` with ``fix_surrogates`` applied to its text values, and the number of values changed."""
    out, changed = frame.copy(), 0
    for col in frame.columns:
        if frame[col].dtype == object:
            values = list(frame[col])
            fixed = [fix_surrogates(v) if type(v) is str else v for v in values]
            n = sum(1 for old, new in zip(values, fixed) if old is not new)
            if n:
                out[col], changed = pd.Series(fixed, index=frame.index, dtype=object), changed + n
    return out, changed


def _typed_arrow(dataset: str, frame: pd.DataFrame) -> pa.Table | None:
    """The frame as Arrow when every contract and optional column already has its snapshot type and
    holds nothing else (Arrow checks each value); None when any column needs ``coerce_frame``."""
    columns = {**_contract(dataset),
               **{c: k for c, k in OPTIONAL_COLUMNS.get(dataset, {}).items() if c in frame.columns}}
    if any(c not in frame.columns or str(frame[c].dtype) != _FAST_KINDS[k] for c, k in columns.items()):
        return None
    extra = [c for c in frame.columns if c not in columns]
    try:
        arrays = [pa.array(frame[c], type=_ARROW_TYPES[k], from_pandas=True) for c, k in columns.items()]
        arrays += [pa.array(frame[c], from_pandas=True) for c in extra]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    fields = [pa.field(c, _ARROW_TYPES[k]) for c, k in columns.items()] + [pa.field(c, a.type) for c, a in
                                                                          zip(extra, arrays[len(columns):])]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def utc_iso(ts: datetime | pd.Timestamp) -> str:
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id() -> str:
    return uuid.uuid4().hex


def write_snapshot(
    out_dir: Path,
    frames: Mapping[str, pd.DataFrame],
    *,
    collected_at: datetime | pd.Timestamp,
    period: tuple[date, date],
    source: str,
    run_id: str,
    cloud: str = "AzureCloud",
    scope: Mapping[str, Any] | None = None,
    provenance: Mapping[str, DatasetInfo] | None = None,
    queries: Mapping[str, str] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a complete snapshot atomically (a temp folder renamed into place).

    ``frames`` must hold every dataset; ``provenance`` supplies status, pages, warnings and
    query hashes per dataset (rows and sha256 are always computed here).
    """
    out_dir = Path(out_dir)
    unknown = sorted(set(frames) - set(DATASETS) - set(OPTIONAL_DATASETS))
    missing = sorted(set(DATASETS) - set(frames))
    if unknown or missing:
        raise SnapshotError(f"snapshot {out_dir}: datasets {'unknown ' + str(unknown) if unknown else ''}"
                            f"{' missing ' + str(missing) if missing else ''}".strip())
    provenance = provenance or {}
    queries = queries or {}
    check_snapshot_target(out_dir)
    with build_beside(out_dir) as tmp:
        (tmp / "data").mkdir()
        infos = {}
        written = list(DATASETS) + [n for n in OPTIONAL_DATASETS if n in frames]
        for name in written:
            frame = frames[name]
            replaced = ()
            try:
                table = _arrow_of(name, frame)
            except UnicodeEncodeError:  # a lone surrogate: JSON may escape one, UTF-8 (Parquet) cannot hold it
                frame, count = _replace_lone_surrogates(frame)
                table = _arrow_of(name, frame)
                replaced = (f"{count:,} text value{'s' if count != 1 else ''} held a lone surrogate (invalid "
                            f"Unicode), replaced with U+FFFD",)
            path = tmp / "data" / f"{name}.parquet"
            pq.write_table(table, path, compression="zstd", write_statistics=False)
            base = provenance.get(name, DatasetInfo(name=name, rows=len(frame)))
            query_sha = base.query_sha256
            if name in queries:
                (tmp / "queries").mkdir(exist_ok=True)
                (tmp / "queries" / f"{name}.kql").write_text(queries[name], encoding="utf-8")
                query_sha = sha256_text(queries[name])
            infos[name] = DatasetInfo(
                name=name, rows=table.num_rows, status=base.status, sha256=sha256_file(path),
                query_sha256=query_sha, pages=base.pages, extra=base.extra,
                warnings=tuple(redact(w) for w in base.warnings) + replaced,  # may quote a server: the last gate
            )
        meta = {
            "schema": SCHEMA,
            "tool": {"name": TOOL_NAME, "version": __version__},
            "run_id": run_id,
            "collected_at": utc_iso(collected_at),
            "period": {"start": period[0].isoformat(), "end": period[1].isoformat()},
            "source": source,
            "cloud": cloud,
            "scope": dict(scope or {"tenant_id": None, "subscriptions": [], "management_groups": []}),
            "datasets": {name: infos[name].to_json() for name in written},
        }
        if extra_meta:
            meta.update(extra_meta)
        (tmp / "snapshot.json").write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        swap_into_place(tmp, out_dir)
    return out_dir


def check_snapshot_target(out_dir: Path) -> Path:
    """Refuse (exit 2), before any work, a snapshot ``--out`` that is not ours to replace:
    an existing non-empty folder is replaced only when it is a reportgen snapshot holding
    nothing but its own files. A missing parent folder is created."""
    return check_target(Path(out_dir), option="--out", replaceable=snapshot_replaceable, create_parent=True)


def snapshot_replaceable(folder: Path) -> str | None:
    """None when ``folder`` is a snapshot whose snapshot.json lists every file in it."""
    try:
        meta = read_meta(folder)
    except SnapshotError as exc:
        return f"is not a reportgen snapshot ({exc.one_line()})"
    own = {"snapshot.json"} | {f"queries/{name}.kql" for name in meta["datasets"]} | {
        entry.get("file") for entry in meta["datasets"].values() if isinstance(entry, dict)}
    return holds_only(folder, own, "its snapshot.json")


def _require(meta: Mapping, key: str, kind: type | tuple, where: str) -> Any:
    if key not in meta:
        raise SnapshotError(f"{where}: missing key {key!r}")
    if not isinstance(meta[key], kind):
        raise SnapshotError(f"{where}: key {key!r} has the wrong type ({type(meta[key]).__name__})")
    return meta[key]


def read_meta(snapshot_dir: Path) -> dict:
    """Read and validate snapshot.json only."""
    snapshot_dir = Path(snapshot_dir)
    meta_path = snapshot_dir / "snapshot.json"
    if not snapshot_dir.is_dir():
        raise SnapshotError(f"{snapshot_dir}: not a folder", hint="pass a snapshot folder written by collect or sample")
    if not meta_path.is_file():
        raise SnapshotError(f"{meta_path}: missing", hint="is this a snapshot folder?")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise SnapshotError(f"{meta_path}: expected a JSON object")
    schema = _require(meta, "schema", str, str(meta_path))
    if schema != SCHEMA:
        raise SnapshotError(f"{meta_path}: unknown schema version {schema!r}", hint=f"this reportgen reads {SCHEMA}")
    for key, kind in (("run_id", str), ("collected_at", str), ("period", dict), ("source", str), ("datasets", dict)):
        _require(meta, key, kind, str(meta_path))
    try:
        pd.Timestamp(meta["collected_at"])
        date.fromisoformat(meta["period"]["start"])
        date.fromisoformat(meta["period"]["end"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{meta_path}: bad collected_at or period ({exc})") from None
    for name in list(DATASETS) + [n for n in OPTIONAL_DATASETS if n in meta["datasets"]]:
        if name not in meta["datasets"]:
            raise SnapshotError(f"{meta_path}: datasets has no entry for {name!r}")
        entry = meta["datasets"][name]
        where = f"{meta_path} datasets.{name}"
        if not isinstance(entry, dict):
            raise SnapshotError(f"{where}: expected an object")
        for key, kind in (("file", str), ("rows", int), ("sha256", str), ("status", str)):
            _require(entry, key, kind, where)
        if entry["status"] not in STATUSES:
            raise SnapshotError(f"{where}: status {entry['status']!r} is not one of {', '.join(STATUSES)}")
    return meta


def read_snapshot(snapshot_dir: Path, datasets: Iterable[str] | None = None) -> Snapshot:
    """Read and validate a snapshot. ``datasets`` limits which parquet files are loaded."""
    snapshot_dir = Path(snapshot_dir)
    meta = read_meta(snapshot_dir)
    present = list(DATASETS) + [n for n in OPTIONAL_DATASETS if n in meta["datasets"]]
    wanted = present if datasets is None else list(datasets)
    frames: dict[str, pd.DataFrame] = {}
    infos: dict[str, DatasetInfo] = {}
    queries: dict[str, str] = {}
    for name in present:
        entry = meta["datasets"][name]
        infos[name] = DatasetInfo(
            name=name, rows=entry["rows"], status=entry["status"], sha256=entry["sha256"],
            query_sha256=entry.get("query_sha256"), pages=int(entry.get("pages") or 0),
            warnings=tuple(entry.get("warnings") or ()),
            extra={k: v for k, v in entry.items()
                   if k not in ("file", "rows", "sha256", "status", "query_sha256", "pages", "warnings")},
        )
        qpath = snapshot_dir / "queries" / f"{name}.kql"
        if qpath.is_file():
            queries[name] = qpath.read_text(encoding="utf-8")
        if name not in wanted:
            continue
        path = snapshot_dir / entry["file"]
        if not path.is_file():
            raise SnapshotError(f"{path}: dataset file missing", hint="the snapshot is incomplete; collect it again")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise SnapshotError(f"{path}: sha256 does not match snapshot.json",
                                hint="the file was changed after collection; collect again or restore it")
        try:
            frame = _read_frame(path)
        except (pa.ArrowException, OSError) as exc:
            raise SnapshotError(f"{path}: not a readable Parquet file ({exc})") from None
        frames[name] = coerce_frame(name, frame, origin=str(path))
        del frame
        if len(frames[name]) != entry["rows"]:
            raise SnapshotError(f"{path}: has {len(frames[name])} rows, snapshot.json says {entry['rows']}")
    fingerprint = sha256_file(snapshot_dir / "snapshot.json")
    return Snapshot(path=snapshot_dir, meta=meta, frames=frames, datasets=infos, queries=queries,
                    fingerprint=fingerprint)


def _read_frame(path: Path) -> pd.DataFrame:
    """A Parquet file as a DataFrame whose text columns hold one Python str per distinct value.

    Text is read dictionary-encoded and spread back by its codes, so the million cells of a
    column that repeats a few hundred values (a cluster id per finding) share those few
    hundred objects: a fraction of the memory of one str per cell. Columns are read one at
    a time and Arrow's memory is handed back after each, so the file is never held twice.
    """
    schema = pq.read_schema(path)
    text_columns = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    parquet = pq.ParquetFile(path, read_dictionary=text_columns)
    pool = pa.default_memory_pool()
    columns = {}
    try:
        for name in schema.names:
            column = parquet.read(columns=[name]).column(0)
            columns[name] = _shared_text(column) if name in text_columns else column.to_pandas()
            del column
            pool.release_unused()
    finally:
        parquet.close()
    return pd.DataFrame(columns, index=pd.RangeIndex(parquet.metadata.num_rows), copy=False)  # no block copy


def _shared_text(column: pa.ChunkedArray) -> pd.Series:
    """A dictionary-encoded text column as object values (None where null), equal values one object.

    Chunks of one row group share their dictionary: each dictionary is turned into Python
    strings once (unifying them instead would copy the dictionary into every chunk).
    """
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    values_of: dict[tuple[int, int], np.ndarray] = {}
    parts = []
    for chunk in column.chunks:
        dictionary = chunk.dictionary
        key = (dictionary.buffers()[-1].address if dictionary.buffers()[-1] is not None else 0, len(dictionary))
        values = values_of.get(key)
        if values is None:
            values = values_of[key] = np.append(dictionary.to_numpy(zero_copy_only=False).astype(object), None)
        parts.append(values[chunk.indices.fill_null(len(dictionary)).to_numpy()])
    return pd.Series(np.concatenate(parts) if parts else np.array([], dtype=object), dtype=object)


def list_history(history_dir: Path | None, before: pd.Timestamp | None = None) -> list[Path]:
    """Snapshot folders in ``history_dir``, oldest first by collected_at (optionally before a time)."""
    if history_dir is None:
        return []
    history_dir = Path(history_dir)
    if not history_dir.is_dir():
        raise SnapshotError(f"{history_dir}: history folder not found", hint="pass --history-dir with earlier snapshots")
    found = []
    for child in sorted(history_dir.iterdir()):
        if (child / "snapshot.json").is_file():
            meta = read_meta(child)
            ts = pd.Timestamp(meta["collected_at"])
            if before is None or ts < before:
                found.append((ts, child))
    return [p for _, p in sorted(found)]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
