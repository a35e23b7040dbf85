"""Collection: every query file run against a set of sources, into one snapshot folder.

The sources come from the registry (``registry.py``): "azure" for a real tenant, "sample"
for the built-in one, or a test's own. Every query of a service runs on that service's
``Source``; a dataset whose service is not there is ``skipped`` with the reason. The
datasets run concurrently (``[azure] max_concurrency``); each page is converted to
snapshot columns as it arrives (``frames.py``). ``findings`` has two queries, the legacy
sub-assessments and the individual recommendations: its rows are their union, each row
carrying its ``source``; a finding delivered by both counts once when aggregated.

A failure is never reported as success. A Resource Graph dataset whose requests all
failed makes the collection fail (``SourceError``, exit 1) naming the dataset and the
reason, and nothing is written that looks like a snapshot. Every other gap is written into
snapshot.json (``gaps``) for the pack to state: partial and failed datasets, sources not
configured, subscriptions asked for that Resource Graph returned nothing for (it drops
unreadable subscriptions without an error), the tenant subscription limit, and packages
with more CVEs than one query can expand.

Whatever a source returns is redacted (``reportgen.redact``) as it arrives: its warnings,
failed-batch reasons and gaps are written into the snapshot and may quote a server.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from reportgen.collect import kev, registry
from reportgen.collect.azure_auth import not_recorded_collector
from reportgen.collect.frames import stable_order, to_frame
from reportgen.collect.interface import COMPLETE, FAILED, PARTIAL, SKIPPED, Gap, QueryOutcome, Sources
from reportgen.config import RunConfig
from reportgen.errors import ConfigError, SourceError
from reportgen.frameworks import load_controls
from reportgen.kql.catalog import Query, build_text, load_queries
from reportgen.progress import QUIET, Progress
from reportgen.redact import redact
from reportgen.snapshot import DATASETS, DatasetInfo, new_run_id, write_snapshot

log = logging.getLogger(__name__)

FINDINGS_SOURCES = {"subassessments": "legacy-subassessments", "recommendations": "individual-recommendations"}
MV_EXPAND_LIMIT = 400   # Resource Graph expands at most 400 values per row (query-language page)


# ---------------------------------------------------------------------------- parameters

def query_parameters(config: RunConfig, period: tuple[date, date]) -> dict[str, Any]:
    """Parameter values for every query, from the config and the controls (framework) file."""
    controls = load_controls(config.controls_file)
    return {
        "assessment_keys": list(config.policy.assessment_keys),
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


# ---------------------------------------------------------------------------- one dataset

@dataclass(frozen=True)
class DatasetOutcome:
    name: str
    frame: pd.DataFrame
    info: DatasetInfo
    query_text: str | None
    service: str
    gaps: tuple[Gap, ...]


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


def merged_status(statuses: Iterable[str]) -> str:
    """A dataset's status from its queries': all skipped -> skipped, all failed -> failed, all complete
    -> complete, anything else -> partial (some of it is missing)."""
    statuses = list(statuses)
    for status in (SKIPPED, FAILED, COMPLETE):
        if statuses and all(s == status for s in statuses):
            return status
    return PARTIAL


def _merge(dataset: str, outcomes: list[QueryOutcome], builders: list[FrameBuilder], service: str) -> DatasetOutcome:
    chunks = [c for b in builders for c in b.chunks]
    for b in builders:   # the dataset's frame is all that is kept of its pages
        b.chunks.clear()
    for o in outcomes:  # rows a source kept instead of passing them to the sink
        if o.rows:
            chunks.append(to_frame(dataset, o.rows, ordered=False)[0])
    chunks = [c for c in chunks if len(c)] or chunks[:1]
    frame = to_frame(dataset, [])[0] if not chunks else \
        stable_order(chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True), dataset)
    del chunks
    notes = [n for b in builders for n in b.notes]
    status = merged_status(o.status for o in outcomes)
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
        "total_records": summed_total_records(outcomes),
    }
    if dataset == "findings":
        extra["findings_source"] = findings_source(outcomes)
    sent = [o.text for o in outcomes if o.text]
    info = DatasetInfo(name=dataset, rows=len(frame), status=status, pages=sum(o.pages for o in outcomes),
                       warnings=tuple(warnings), extra=extra)
    gaps = [g for o in outcomes for g in o.gaps]
    if status in (PARTIAL, FAILED):
        reasons = "; ".join(dict.fromkeys(b.reason for o in outcomes for b in o.failed_batches)) \
            or "; ".join(o.warnings[0] for o in outcomes if o.status != COMPLETE and o.warnings) or "see the warnings"
        word = "failed" if status == FAILED else "is incomplete"
        gaps.append(Gap("dataset-failed" if status == FAILED else "dataset-partial",
                        f"Dataset {dataset} {word}: {reasons}", dataset=dataset))
    return DatasetOutcome(dataset, frame, info, "\n".join(sent) if sent else None, service, tuple(gaps))


def summed_total_records(outcomes: Iterable[QueryOutcome]) -> int | None:
    """Azure's totalRecords over a dataset's queries (Resource Graph reports it per batch, Log Analytics
    never): the sum of those that reported one, None when none did."""
    known = [o.extra.get("total_records") for o in outcomes if o.extra.get("total_records") is not None]
    return sum(int(t) for t in known) if known else None


def redacted(outcome: QueryOutcome) -> QueryOutcome:
    """The outcome with every text that may quote a server redacted: its warnings, reasons and gaps."""
    return replace(
        outcome,
        warnings=tuple(redact(w) for w in outcome.warnings),
        failed_batches=tuple(replace(b, reason=redact(b.reason)) for b in outcome.failed_batches),
        gaps=tuple(replace(g, message=redact(g.message)) for g in outcome.gaps))


def findings_source(outcomes: Iterable[QueryOutcome]) -> str:
    """Which per-CVE source delivered rows: legacy-subassessments, individual-recommendations, both, none."""
    delivered = {FINDINGS_SOURCES.get(o.query.split(".", 1)[-1], o.query) for o in outcomes
                 if o.row_count or o.rows}
    if len(delivered) > 1:
        return "both"
    return delivered.pop() if delivered else "none"


# ---------------------------------------------------------------------------- the collection

def collect(config: RunConfig, period: tuple[date, date] | None, out_dir: Path, progress: Progress = QUIET, *,
            source: str = "azure", options: Mapping[str, Any] | None = None, now: datetime | None = None,
            run_id: str | None = None) -> Path:
    """Run every query against the named source's ``Sources`` and write the snapshot; returns its folder."""
    now = now or datetime.now(timezone.utc)
    period = period or default_period(now)
    if period[1] < period[0]:
        raise ConfigError(f"report period {period[0]}..{period[1]} ends before it starts")
    params = query_parameters(config, period)
    queries = load_queries()
    by_dataset: dict[str, list[Query]] = {d: [q for q in queries if q.dataset == d] for d in DATASETS}
    missing = [d for d, qs in by_dataset.items() if not qs]
    if missing:
        raise ConfigError(f"no query file for dataset {missing[0]!r}", hint="run `reportgen queries list`")
    texts = {q.name: build_text(q, params) for q in queries}
    # read first: a catalogue that cannot be read or is malformed stops the run before Azure is queried
    known_exploited = kev.collect_dataset(options_kev_source(config, options),
                                          (options or {}).get("known_exploited_label"))
    sources = registry.open_sources(source, config, period, options or {})
    try:
        clock = sources.clock or (lambda: 0.0)
        started = clock()
        results = _run_all(config, sources, by_dataset, texts, progress)
        seconds = clock() - started
    finally:
        sources.close()
    _fail_on_resource_graph_failures(results)
    gaps = [g for r in results.values() for g in r.gaps]
    gaps += _unreadable_subscriptions(sources.subscriptions, results)
    gaps += _cve_limit(results["findings"].frame)
    frames = {name: r.frame for name, r in results.items()}
    provenance = {name: r.info for name, r in results.items()}
    if known_exploited is not None:     # not configured: no dataset at all (the pack says "not checked")
        frames[kev.DATASET], provenance[kev.DATASET] = known_exploited
    sent = {name: r.query_text for name, r in results.items() if r.query_text}
    totals = {k: sum(int(r.info.extra.get(k, 0) or 0) for r in results.values())
              for k in ("requests", "throttled", "retries")}
    meta = {
        "findings_source": results["findings"].info.extra["findings_source"],
        "collection": {
            **totals,
            "pages": sum(r.info.pages for r in results.values()),
            "seconds": round(seconds, 3),
            **dict(sources.meta),
            "partial_datasets": sorted(n for n, r in results.items() if r.info.status == PARTIAL),
            "skipped_datasets": sorted(n for n, r in results.items() if r.info.status == SKIPPED),
            "failed_datasets": sorted(n for n, r in results.items() if r.info.status == FAILED),
        },
        "gaps": [g.to_json() for g in _unique(gaps)],
        "collector": dict(sources.collector()) if sources.collector else not_recorded_collector(sources.source),
    }
    with progress.step("Writing the snapshot"):
        return write_snapshot(Path(out_dir), frames, collected_at=now, period=period, source=sources.source,
                              run_id=run_id or new_run_id(), cloud=sources.cloud, scope=sources.scope,
                              provenance=provenance, queries=sent, extra_meta=meta)


def options_kev_source(config: RunConfig, options: Mapping[str, Any] | None) -> str | None:
    """The KEV catalogue to read: a source's option ``known_exploited`` (the sample tenant's own) or the config's."""
    return (options or {}).get("known_exploited") or config.known_exploited.source


def _unique(gaps: Iterable[Gap]) -> list[Gap]:
    return list(dict.fromkeys(gaps))


def _run_all(config: RunConfig, sources: Sources, by_dataset: dict[str, list[Query]], texts: Mapping[str, str],
             progress: Progress) -> dict[str, DatasetOutcome]:
    # One task per query (findings has two), the long ones first.
    tasks = sorted(((d, q) for d in DATASETS for q in by_dataset[d]), key=lambda t: -_weight(t[0]))
    builders = {q.name: FrameBuilder(d) for d, q in tasks}
    outcomes: dict[str, QueryOutcome] = {}
    results: dict[str, DatasetOutcome] = {}
    lock = threading.Lock()

    def run_query(dataset: str, query: Query) -> None:
        source = sources.by_service.get(query.service)
        if source is None:
            reason = sources.unavailable.get(query.service, f"no source for {query.service}")
            outcome = QueryOutcome(query=query.name, text="", status=SKIPPED, warnings=(f"{dataset}: {reason}",),
                                   gaps=(Gap("not-configured", f"Dataset {dataset} was not collected: {reason}.",
                                             dataset=dataset),))
        else:
            outcome = redacted(source.run(query.name, texts[query.name], sink=builders[query.name]))
        with lock:
            outcomes[query.name] = outcome
            done = all(q.name in outcomes for q in by_dataset[dataset])
        if done:  # the last query of its dataset: finish the dataset here, while others still wait for quota
            queries = by_dataset[dataset]
            results[dataset] = _merge(dataset, [outcomes[q.name] for q in queries],
                                      [builders[q.name] for q in queries], queries[0].service)

    with progress.step(f"Collecting {len(DATASETS)} datasets ({len(tasks)} queries) from {sources.source}"):
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


def _fail_on_resource_graph_failures(results: Mapping[str, DatasetOutcome]) -> None:
    failed = [r for r in results.values() if r.service == "resource_graph" and r.info.status == FAILED]
    if not failed:
        return
    first = failed[0]
    batches = first.info.extra.get("failed_batches") or []
    reason = batches[0]["reason"] if batches else (first.info.warnings[0] if first.info.warnings else "no answer")
    total = sum(1 for r in results.values() if r.service == "resource_graph")
    names = ", ".join(r.name for r in failed[:4]) + (f" and {len(failed) - 4} more" if len(failed) > 4 else "")
    which = f"all {total} Resource Graph datasets failed" if len(failed) == total \
        else f"{len(failed)} of {total} Resource Graph datasets failed ({names})"
    raise SourceError(
        f"collection failed: {which}; {first.name}: {reason}; no snapshot written",
        hint="check the endpoint, the network and the identity's Reader access, then collect again")


def _unreadable_subscriptions(asked: Iterable[str], results: Mapping[str, DatasetOutcome]) -> list[Gap]:
    """Subscriptions asked for that Resource Graph returned nothing for: it drops unreadable ones silently.

    Every readable subscription has its own row in ``resourcecontainers`` (type
    microsoft.resources/subscriptions), so one missing there was not read."""
    asked = [s.strip() for s in asked if s.strip()]
    if not asked:
        return []
    containers = results["resource_containers"]
    if containers.info.status in (SKIPPED, FAILED):
        return []   # cannot tell (stated as the dataset's own gap)
    # A batch refused with NoValidSubscriptionsInQueryRequest held only unreadable subscriptions;
    # one that failed for another reason tells nothing about its members (it is its own gap).
    unknown = {m.lower() for b in containers.info.extra.get("failed_batches") or []
               if "NoValidSubscriptionsInQueryRequest" not in str(b.get("reason")) for m in b.get("members") or []}
    frame = containers.frame
    seen = set(frame.loc[frame["type"].fillna("").str.lower().eq("microsoft.resources/subscriptions"),
                         "subscriptionId"].fillna("").str.lower())
    missing = [s for s in dict.fromkeys(asked) if s.lower() not in seen and s.lower() not in unknown]
    if not missing:
        return []
    shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
    return [Gap("unreadable-subscriptions",
                f"{len(missing)} of {len(set(s.lower() for s in asked))} subscriptions asked for returned nothing "
                f"from Resource Graph ({shown}): the identity cannot read them, or they do not exist. Resource Graph "
                "leaves such subscriptions out without an error, so their clusters are not in this pack.",
                members=tuple(missing))]


def _cve_limit(findings: pd.DataFrame) -> list[Gap]:
    if "packageCveCount" not in findings.columns or findings.empty:
        return []
    counts = findings["packageCveCount"]
    over = findings[counts.notna() & (counts.fillna(0) > MV_EXPAND_LIMIT)]
    if over.empty:
        return []
    per_package = over.groupby("id", sort=True)["packageCveCount"].max()
    unread = int((per_package - MV_EXPAND_LIMIT).sum())
    return [Gap("cve-limit",
                f"{len(per_package)} vulnerable packages list more than {MV_EXPAND_LIMIT} CVEs; Resource Graph expands "
                f"at most {MV_EXPAND_LIMIT} per package, so {unread} CVEs of these packages were not read.",
                dataset="findings", members=tuple(per_package.index[:50]))]
