"""The IPE workpaper: completeness and accuracy of the information the report is produced from.

An auditor relying on a system-generated report (information produced by the entity, IPE)
tests that its data is complete and accurate. For each dataset this states what was asked
and what came back: the sha256 of the exact query text, the rows kept, Azure's own
``totalRecords`` and the pages read, and the subscriptions asked for against those the rows
name (Resource Graph leaves out unreadable subscriptions without an error). It reconciles our
counts with Defender's own totals (regulatory compliance per control, the assessment's
Unhealthy clusters) and the findings rows collected with the distinct findings counted, and
explains every difference from the evidence, saying so where the evidence cannot. It also
records who collected the data, from the access token's claims as collection read them
(never verified: they identify, they prove nothing), when, and with which tool version.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pandas as pd

from reportgen import __version__
from reportgen.aggregate.model import (Collector, ControlResult, Coverage, FindingsSummary, Ipe, IpeDataset,
                                       Reconciliation)
from reportgen.snapshot import DATASETS, OPTIONAL_DATASETS, Snapshot

SUBSCRIPTION_COLUMNS = ("subscriptionId", "SubscriptionId", "_SubscriptionId")
LOG_ANALYTICS_DATASETS = ("assessment_history", "finding_history")
NOT_EXPLAINED = ("the snapshot holds no evidence that explains the rest (Defender computes its figures "
                 "separately, and they may lag the policy evaluation)")


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _lower_ids(values: Iterable[Any]) -> set[str]:
    """Distinct ids, trimmed and lower-cased; each distinct value is looked at once (a million rows name
    a few thousand clusters)."""
    distinct = pd.unique(pd.Series(values, dtype=object).dropna().to_numpy(dtype=object))
    return {str(v).strip().lower() for v in distinct.tolist() if not (isinstance(v, float) and pd.isna(v))
            and str(v).strip()}


# ---------------------------------------------------------------------------- per dataset

def subscriptions_seen(frame: pd.DataFrame | None) -> set[str] | None:
    """Distinct subscription ids (lower-cased) the rows name; None when the frame has no such column."""
    if frame is None:
        return None
    columns = [c for c in SUBSCRIPTION_COLUMNS if c in frame.columns]
    if not columns:
        return None
    return set().union(*(_lower_ids(frame[c]) for c in columns))


def _dataset_note(name: str, status: str, rows: int, total: int | None, service: str, asked: list[str],
                  seen: set[str] | None, warnings: tuple[str, ...]) -> str:
    parts = []
    if service == "kev":   # the known-exploited catalogue: one JSON document, its own count as the total
        if total is None:
            return "the catalogue states no count"
        return ("rows (distinct CVEs) equal the catalogue's count" if rows == total else
                f"{rows:,} distinct CVEs but the catalogue's count is {total:,}")
    if status == "skipped":
        parts.append(f"not collected{': ' + warnings[0] if warnings else ''}")
    elif status in ("partial", "failed"):
        parts.append(f"{status}{': ' + warnings[0] if warnings else ''}")
    if total is None:
        parts.append("no totalRecords: Log Analytics reports none" if service == "log_analytics"
                     else "no totalRecords: the source reported none")
    elif rows == total:
        parts.append("rows equal totalRecords")
    elif rows < total:
        parts.append(f"{_plural(total - rows, 'row')} fewer than totalRecords ({total}): the result was not read "
                     "in full")
    else:
        parts.append(f"{_plural(rows - total, 'row')} more than totalRecords ({total}): the data changed while "
                     "it was paged")
    if asked and seen is not None and status != "skipped":
        missing = [s for s in dict.fromkeys(a.lower() for a in asked) if s not in seen]
        extra = seen - {a.lower() for a in asked}
        if missing:
            parts.append(f"{_plural(len(missing), 'subscription')} asked for returned nothing")
        else:
            parts.append("every subscription asked for returned rows")
        if extra:
            parts.append(f"{_plural(len(extra), 'subscription')} not asked for appear in the rows")
    return "; ".join(parts)


def ipe_datasets(snapshot: Snapshot) -> tuple[IpeDataset, ...]:
    asked = [str(s) for s in (snapshot.meta.get("scope") or {}).get("subscriptions") or [] if str(s).strip()]
    out = []
    # the optional known-exploited catalogue too, when the snapshot holds it (absent: not checked)
    for name in [*DATASETS, *(n for n in OPTIONAL_DATASETS if n in snapshot.datasets)]:
        info = snapshot.datasets[name]
        extra = info.extra or {}
        service = str(extra.get("service") or ("log_analytics" if name in LOG_ANALYTICS_DATASETS else "resource_graph"))
        total = extra.get("total_records")
        total = None if total is None else int(total)
        seen = subscriptions_seen(snapshot.frames.get(name))
        out.append(IpeDataset(
            name=name, status=info.status, query_sha256=info.query_sha256, rows=info.rows, total_records=total,
            pages=info.pages, subscriptions_asked=len({a.lower() for a in asked}) if asked else None,
            subscriptions_seen=None if seen is None else len(seen),
            note=_dataset_note(name, info.status, info.rows, total, service, asked, seen, info.warnings)))
    return tuple(out)


# ---------------------------------------------------------------------------- reconciliations

def _reconciliation(check: str, ours: int | None, defender: int | None, explain) -> Reconciliation:
    if ours is None or defender is None:
        return Reconciliation(check, ours, defender, None, explain(None))
    difference = ours - defender
    return Reconciliation(check, ours, defender, difference, "the counts agree" if difference == 0 else explain(difference))


def control_reconciliations(controls: Iterable[ControlResult], coverage: Coverage,
                            clusters_table: pd.DataFrame) -> list[Reconciliation]:
    """Per control: Defender's regulatory-compliance failed / passed resources against our non-compliant /
    compliant clusters."""
    subscriptions = len(_lower_ids(clusters_table["subscriptionId"])) if "subscriptionId" in clusters_table else 0
    not_assessed = len(coverage.not_assessed)
    out = []
    for c in controls:
        d = c.defender
        has_defender = d.subscriptions > 0

        def lead() -> list[str]:
            if d.subscriptions < subscriptions:
                return [f"Defender reported {c.control.defender_control} for {d.subscriptions} of the "
                        f"{_plural(subscriptions, 'subscription')} with clusters"]
            return []

        def failed(diff: int | None) -> str:
            if diff is None:
                return (f"Defender's regulatory compliance has no row for {c.control.defender_control}: "
                        "nothing to compare")
            parts, explained = lead(), 0
            if diff > 0 and not_assessed:
                share = min(diff, not_assessed)
                parts.append(f"{_plural(not_assessed, 'cluster has', 'clusters have')} no Defender assessment: the "
                             "policy (AuditIfNotExists) counts such a cluster non-compliant, Defender has no "
                             "assessment to count as failed")
                explained = share
            if abs(diff) > explained:
                parts.append(f"{_plural(abs(diff) - explained, 'resource')}: {NOT_EXPLAINED}")
            return f"ours {'exceeds' if diff > 0 else 'is below'} Defender's by {abs(diff)}: " + "; ".join(parts)

        def passed(diff: int | None) -> str:
            if diff is None:
                return (f"Defender's regulatory compliance has no row for {c.control.defender_control}: "
                        "nothing to compare")
            parts, explained = lead(), 0
            if diff < 0 and c.exempt:
                share = min(-diff, c.exempt)
                parts.append(f"we count {_plural(c.exempt, 'exempt cluster')} apart from the compliant ones "
                             f"(Defender's skipped resources: {d.skipped_resources})")
                explained = share
            if abs(diff) > explained:
                parts.append(f"{_plural(abs(diff) - explained, 'resource')}: {NOT_EXPLAINED}")
            return f"ours {'exceeds' if diff > 0 else 'is below'} Defender's by {abs(diff)}: " + "; ".join(parts)

        out.append(_reconciliation(
            f"{c.id}: non-compliant clusters (policy state) vs Defender's failed resources ({c.control.defender_control})",
            c.non_compliant, d.failed_resources if has_defender else None, failed))
        out.append(_reconciliation(
            f"{c.id}: compliant clusters (policy state) vs Defender's passed resources ({c.control.defender_control})",
            c.compliant, d.passed_resources if has_defender else None, passed))
    return out


def assessment_reconciliation(snapshot: Snapshot, assessment_keys: Iterable[str], coverage: Coverage,
                              findings_rows: pd.DataFrame) -> Reconciliation:
    """Clusters with an open finding against clusters Defender's configured assessment calls Unhealthy."""
    keys = {k.strip().lower() for k in assessment_keys}
    a = snapshot.frames["assessments"]
    of_keys = a[a["assessmentKey"].fillna("").str.lower().isin(keys)]
    unhealthy = _lower_ids(of_keys.loc[of_keys["statusCode"].fillna("").str.lower().eq("unhealthy"), "resourceId"])
    assessed = _lower_ids(of_keys["resourceId"])
    states = findings_rows["state"] if "state" in findings_rows else pd.Series(dtype=object)
    rids = findings_rows["resourceId"].fillna("").astype(str).str.lower() if "resourceId" in findings_rows \
        else pd.Series(dtype=object)
    open_ = _lower_ids(rids[states.eq("Open")])
    exempt_only = _lower_ids(rids[states.eq("Exempt")]) - open_
    without_assessment = {i.lower() for i in coverage.findings_without_assessment}

    def explain(diff: int | None) -> str:
        parts = []
        only_ours, only_defender = open_ - unhealthy, unhealthy - open_
        if only_ours:
            no_row = len(only_ours - assessed)
            retired = len((only_ours - assessed) & without_assessment)
            text = f"{_plural(len(only_ours), 'cluster has', 'clusters have')} an open finding but no Unhealthy assessment"
            if no_row:
                text += (f" ({no_row} of them no assessment of a configured key at all"
                         + (f", {retired} with individual-recommendation findings: the grouped assessment was "
                            "retired on 31 July 2026" if retired else "") + ")")
            parts.append(text)
        if only_defender:
            exempt = len(only_defender & exempt_only)
            text = (f"{_plural(len(only_defender), 'cluster is', 'clusters are')} Unhealthy in Defender without an "
                    "open finding here")
            if exempt:
                text += f" ({exempt} of them with exempt findings only: excepted locally or exempt)"
            if len(only_defender) > exempt:
                text += f"; for {len(only_defender) - exempt}: {NOT_EXPLAINED}"
            parts.append(text)
        return "; ".join(parts) or NOT_EXPLAINED

    return _reconciliation("clusters with an open finding vs clusters Defender's assessment calls Unhealthy",
                           len(open_), len(unhealthy), explain)


def findings_reconciliation(snapshot: Snapshot, findings_summary: FindingsSummary,
                            findings_rows: pd.DataFrame) -> Reconciliation:
    """Distinct findings counted against the finding rows collected: the difference is the duplicates dropped."""
    collected = snapshot.datasets["findings"].rows
    distinct = len(findings_rows)

    def explain(diff: int | None) -> str:
        dropped = findings_summary.duplicates_dropped
        both = int((findings_summary.sources or {}).get("both", 0))
        parts = []
        if dropped:
            parts.append(f"{_plural(dropped, 'duplicate row')} dropped: the same cluster, image digest, CVE and "
                         "package delivered more than once"
                         + (f" ({both} findings came from both the legacy sub-assessments and the individual "
                            "recommendations)" if both else " (one row per container running the image)"))
        if abs(diff or 0) != dropped:
            parts.append(f"{_plural(abs(abs(diff or 0) - dropped), 'row')}: not explained by the duplicates "
                         "dropped (a defect to report)")
        return "; ".join(parts)

    return _reconciliation("distinct findings counted vs finding rows collected", distinct, collected, explain)


# ---------------------------------------------------------------------------- who collected

def collector_of(snapshot: Snapshot) -> Collector:
    meta = snapshot.meta
    tool = meta.get("tool") or {}
    record = meta.get("collector")
    base = dict(collected_at=snapshot.collected_at, tool_version=str(tool.get("version") or ""),
                source=str(meta.get("source") or ""))
    if not isinstance(record, Mapping):
        return Collector(tenant_id=None, object_id=None, app_id=None, upn=None, identity_type=None,
                         note="not recorded: the snapshot was collected by a reportgen version that did not record "
                              "who collected", **base)
    fields = {k: (str(record[k]) if record.get(k) not in (None, "") else None)
              for k in ("tenant_id", "object_id", "app_id", "upn", "identity_type")}
    note = "; ".join(str(record[k]) for k in ("read_from", "note") if record.get(k))
    return Collector(**fields, note=note, **base)


# ---------------------------------------------------------------------------- the workpaper

def build_ipe(snapshot: Snapshot, controls: Iterable[ControlResult], coverage: Coverage,
              findings_summary: FindingsSummary, clusters_table: pd.DataFrame, findings_rows: pd.DataFrame,
              assessment_keys: Iterable[str]) -> Ipe:
    """The IPE workpaper of one snapshot.

    ``clusters_table``: the model's clusters table (CLUSTER_COLUMNS); ``findings_rows``: one row per
    distinct finding (FINDING_COLUMNS: ``state``, ``resourceId``); ``assessment_keys``: the
    configured Defender assessment keys (config.policy.assessment_keys)."""
    reconciliations = control_reconciliations(controls, coverage, clusters_table)
    reconciliations.append(assessment_reconciliation(snapshot, assessment_keys, coverage, findings_rows))
    reconciliations.append(findings_reconciliation(snapshot, findings_summary, findings_rows))
    return Ipe(datasets=ipe_datasets(snapshot), reconciliations=tuple(reconciliations),
               collector=collector_of(snapshot), render_tool_version=__version__)
