"""Live collection: every dataset of the snapshot format from Azure, into a snapshot folder.

Resource Graph datasets run concurrently (``[azure] max_concurrency``) and share one
quota pacer; Log Analytics history runs when a workspace is configured and is otherwise
``skipped`` with a warning the pack states. ``findings`` is gathered from both per-CVE
sources that exist around Microsoft's change of 31 July 2026 (the legacy sub-assessments
and the individual recommendations); both are normalised to the same columns, the rows
are their union, and ``snapshot.json`` records which source delivered rows
(``findings_source``). Rows come back as Azure returns them (dynamic values as objects,
datetimes as ISO text); they are converted here to the snapshot's types (JSON text, UTC
timestamps, canonical JSON text with sorted keys), and the Kubernetes context of findings
is flattened to ``[{container, kind, name, namespace}]`` whichever shape it came in.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from reportgen.kql.catalog import Query, build_text, load_queries
from reportgen.collect.azure_auth import Credentials, Endpoints, make_credentials, resolve_endpoints
from reportgen.collect.interface import COMPLETE, PARTIAL, SKIPPED, QueryOutcome, Source
from reportgen.collect.log_analytics import LogAnalyticsSource
from reportgen.collect.resource_graph import QuotaPacer, ResourceGraphSource, RetrySettings
from reportgen.config import RunConfig
from reportgen.errors import ConfigError
from reportgen.frameworks import load_controls
from reportgen.progress import QUIET, Progress
from reportgen.snapshot import DATASETS, DatasetInfo, new_run_id, write_snapshot

log = logging.getLogger(__name__)

# Individual recommendation for running containers that replaced the c609cf0f sub-assessments.
INDIVIDUAL_ASSESSMENT_KEYS = ("e9acaf48-d2cf-45a3-a6e7-3caa2ef769e0",)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
FINDINGS_SOURCES = {"subassessments": "legacy-subassessments", "recommendations": "individual-recommendations"}
NO_WORKSPACE_WARNING = ("no Log Analytics workspace configured ([azure] log_analytics_workspace_id): "
                        "continuous-export history is not included")


@dataclass(frozen=True)
class CollectOptions:
    """Knobs for tests and benchmarks; the defaults suit real Azure."""

    retry: RetrySettings = field(default_factory=RetrySettings)
    pacer: QuotaPacer | None = None
    la_retry_total: int = 3
    now: datetime | None = None


# ---------------------------------------------------------------------------- parameters

def query_parameters(config: RunConfig, period: tuple[date, date]) -> dict[str, Any]:
    """Parameter values for every query, from the config and the controls (framework) file."""
    controls = load_controls(config.controls_file)
    return {
        "assessment_keys": list(config.policy.assessment_keys),
        "individual_assessment_keys": list(INDIVIDUAL_ASSESSMENT_KEYS),
        "policy_definition_ids": list(config.policy.definition_ids),
        "policy_groups": [c.policy_group for c in controls],
        "compliance_standards": sorted({c.defender_standard for c in controls}),
        "compliance_controls": [c.defender_control for c in controls],
        "period_start": period[0],
        "period_end": period[1] + timedelta(days=1),
    }


def default_period(now: datetime) -> tuple[date, date]:
    """The current month to date (UTC)."""
    today = now.astimezone(timezone.utc).date()
    return today.replace(day=1), today


# ---------------------------------------------------------------------------- conversion

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


def to_frame(dataset: str, rows: Iterable[Mapping[str, Any]], ordered: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Rows as the service returned them -> the dataset's contract columns and types (in stable order)."""
    rows = list(rows)
    columns = DATASETS[dataset]
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
        elif kind == "bool":
            values = [False if v is None or v == "" or (isinstance(v, float) and math.isnan(v)) else v for v in values]
        else:
            values = [v if v is None or type(v) is str else (None if _missing(v) else str(v)) for v in values]
        data[col] = values
    frame = pd.DataFrame({c: (v.to_numpy() if isinstance(v, pd.Series) else v) for c, v in data.items()},
                         columns=list(columns))
    return (stable_order(frame) if ordered else frame), notes


def stable_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in an order that does not depend on paging, batching or concurrency: by id, then every column."""
    if frame.empty:
        return frame.reset_index(drop=True)
    if "id" in frame.columns:
        ids = frame["id"].fillna("")
        dup = ids.duplicated(keep=False)
        tie = pd.Series("", index=frame.index, dtype=object)
        if dup.any():  # rows sharing an id (rare): order them by their whole content
            tie[dup] = frame[dup].astype(str).agg("\x1f".join, axis=1)
        order = pd.DataFrame({"id": ids, "tie": tie}).sort_values(["id", "tie"], kind="stable").index
    else:
        order = frame.sort_values(list(frame.columns), kind="stable", na_position="first").index
    return frame.loc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------- orchestration

@dataclass(frozen=True)
class DatasetOutcome:
    name: str
    frame: pd.DataFrame
    info: DatasetInfo
    query_text: str | None


class FrameBuilder:
    """Converts a query's pages to snapshot columns as they arrive (in the collecting thread)."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.chunks: list[pd.DataFrame] = []
        self.notes: list[str] = []

    def __call__(self, rows: Any) -> None:
        frame, notes = to_frame(self.dataset, rows, ordered=False)
        self.chunks.append(frame)
        self.notes.extend(notes)


def _merge(dataset: str, outcomes: list[QueryOutcome], builders: list[FrameBuilder], service: str) -> DatasetOutcome:
    chunks = [c for b in builders for c in b.chunks]
    for o in outcomes:  # rows a source kept instead of passing them to the sink
        if o.rows:
            chunks.append(to_frame(dataset, o.rows, ordered=False)[0])
    frame = stable_order(pd.concat(chunks, ignore_index=True)) if chunks else to_frame(dataset, [])[0]
    notes = [n for b in builders for n in b.notes]
    statuses = [o.status for o in outcomes]
    if all(s == SKIPPED for s in statuses):
        status = SKIPPED
    elif all(s == COMPLETE for s in statuses):
        status = COMPLETE
    else:
        status = PARTIAL
    warnings = [w for o in outcomes for w in o.warnings] + notes
    extra: dict[str, Any] = {
        "service": service,
        "requests": sum(o.requests for o in outcomes),
        "throttled": sum(o.throttled for o in outcomes),
        "retries": sum(o.retries for o in outcomes),
        "seconds": round(sum(o.seconds for o in outcomes), 3),
        "batches": max((o.batches for o in outcomes), default=0),
        "failed_batches": [b.to_json() for o in outcomes for b in o.failed_batches],
        "truncated": any(o.truncated for o in outcomes),
        "api_version": next((o.extra.get("api_version") for o in outcomes if o.extra.get("api_version")), None),
        "queries": {o.query: o.provenance() for o in outcomes},
    }
    if dataset == "findings":
        extra["findings_source"] = findings_source(outcomes)
    sent = [o.text for o in outcomes if o.requests]
    info = DatasetInfo(name=dataset, rows=len(frame), status=status, pages=sum(o.pages for o in outcomes),
                       warnings=tuple(warnings), extra=extra)
    return DatasetOutcome(dataset, frame, info, "\n".join(sent) if sent else None)


def findings_source(outcomes: Iterable[QueryOutcome]) -> str:
    """Which per-CVE source delivered rows: legacy-subassessments, individual-recommendations, both, none."""
    delivered = {FINDINGS_SOURCES.get(o.query.split(".", 1)[-1], o.query) for o in outcomes
                 if o.row_count or o.rows}
    if len(delivered) > 1:
        return "both"
    return delivered.pop() if delivered else "none"


def collect(config: RunConfig, period: tuple[date, date] | None, out_dir: Path, progress: Progress = QUIET,
            *, options: CollectOptions | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Collect every dataset from Azure and write the snapshot; returns its folder."""
    options = options or CollectOptions()
    now = options.now or datetime.now(timezone.utc)
    period = period or default_period(now)
    if period[1] < period[0]:
        raise ConfigError(f"report period {period[0]}..{period[1]} ends before it starts")
    workspace = config.azure.log_analytics_workspace_id
    if workspace and not _GUID.match(workspace):
        raise ConfigError(f"config [azure] log_analytics_workspace_id: {workspace!r} is not a workspace id",
                          hint="use the Workspace ID (a GUID) from the workspace's Overview page")
    endpoints = resolve_endpoints(config.azure, env)
    credentials = make_credentials(endpoints, config.scope.tenant_id, env)
    params = query_parameters(config, period)
    queries = load_queries()
    by_dataset: dict[str, list[Query]] = {d: [q for q in queries if q.dataset == d] for d in DATASETS}
    missing = [d for d, qs in by_dataset.items() if not qs]
    if missing:
        raise ConfigError(f"no query file for dataset {missing[0]!r}", hint="run `reportgen queries list`")
    texts = {q.name: build_text(q, params) for q in queries}
    started = time.monotonic()
    results = _run_all(config, endpoints, credentials, period, by_dataset, texts, options, progress)
    frames = {name: r.frame for name, r in results.items()}
    provenance = {name: r.info for name, r in results.items()}
    sent = {name: r.query_text for name, r in results.items() if r.query_text}
    totals = {k: sum(int(r.info.extra.get(k, 0) or 0) for r in results.values())
              for k in ("requests", "throttled", "retries")}
    meta = {
        "findings_source": results["findings"].info.extra["findings_source"],
        "collection": {
            **totals,
            "pages": sum(r.info.pages for r in results.values()),
            "seconds": round(time.monotonic() - started, 3),
            "arm_endpoint": endpoints.arm,
            "logs_endpoint": endpoints.logs if config.azure.log_analytics_workspace_id else None,
            "log_analytics_workspace_id": config.azure.log_analytics_workspace_id,
            "credential": credentials.description,
            "partial_datasets": sorted(n for n, r in results.items() if r.info.status == PARTIAL),
            "skipped_datasets": sorted(n for n, r in results.items() if r.info.status == SKIPPED),
        },
    }
    scope = {"tenant_id": config.scope.tenant_id, "subscriptions": list(config.scope.subscriptions),
             "management_groups": list(config.scope.management_groups)}
    with progress.step("Writing the snapshot"):
        return write_snapshot(Path(out_dir), frames, collected_at=now, period=period, source="azure",
                              run_id=new_run_id(), cloud=endpoints.cloud, scope=scope, provenance=provenance,
                              queries=sent, extra_meta=meta)


def _run_all(config: RunConfig, endpoints: Endpoints, credentials: Credentials, period: tuple[date, date],
             by_dataset: dict[str, list[Query]], texts: Mapping[str, str], options: CollectOptions,
             progress: Progress) -> dict[str, DatasetOutcome]:
    arg = ResourceGraphSource(
        endpoints, credentials.arm, subscriptions=config.scope.subscriptions,
        management_groups=config.scope.management_groups, batch_size=config.azure.subscription_batch_size,
        pacer=options.pacer or QuotaPacer(), retry=options.retry)
    workspace = config.azure.log_analytics_workspace_id
    la: Source | None = None
    if workspace:
        la = LogAnalyticsSource(endpoints, credentials.logs, workspace, period, retry_total=options.la_retry_total)
    # One task per query (findings has two), the long ones first; every task shares the quota pacer.
    tasks = sorted(((d, q) for d in DATASETS for q in by_dataset[d]), key=lambda t: -_weight(t[0]))

    builders = {q.name: FrameBuilder(d) for d, q in tasks}
    outcomes: dict[str, QueryOutcome] = {}
    results: dict[str, DatasetOutcome] = {}
    lock = threading.Lock()

    def run_query(dataset: str, query: Query) -> None:
        if query.service == "log_analytics" and la is None:
            outcome = QueryOutcome(query=query.name, text="", status=SKIPPED,
                                   warnings=(f"{dataset}: {NO_WORKSPACE_WARNING}",))
        else:
            source: Source = arg if query.service == "resource_graph" else la  # type: ignore[assignment]
            outcome = source.run(query.name, texts[query.name], sink=builders[query.name])
        with lock:
            outcomes[query.name] = outcome
            done = all(q.name in outcomes for q in by_dataset[dataset])
        if done:  # the last query of its dataset: finish the dataset here, while others still wait for quota
            queries = by_dataset[dataset]
            results[dataset] = _merge(dataset, [outcomes[q.name] for q in queries],
                                      [builders[q.name] for q in queries], queries[0].service)

    with progress.step(f"Collecting {len(DATASETS)} datasets ({len(tasks)} queries) from Azure"):
        with ThreadPoolExecutor(max_workers=max(1, config.azure.max_concurrency),
                                thread_name_prefix="reportgen-collect") as pool:
            futures = [pool.submit(run_query, d, q) for d, q in tasks]
            error: BaseException | None = None
            for future in futures:
                if future.cancelled():
                    continue
                try:
                    future.result()
                except BaseException as exc:  # the first failure ends the run; the rest are not started
                    error = error or exc
                    for other in futures:
                        other.cancel()
            if error is not None:
                raise error
    for dataset in DATASETS:
        info = results[dataset].info
        log.info("%s: %d rows, %s, %d pages", dataset, info.rows, info.status, info.pages)
    return {d: results[d] for d in DATASETS}


def _weight(dataset: str) -> int:
    return {"findings": 3, "finding_history": 2, "policy_states": 2, "assessment_history": 1}.get(dataset, 0)
