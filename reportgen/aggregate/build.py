"""Build the ReportModel from the current snapshot and the earlier ones (history).

Pure functions of their inputs: time comes from the snapshots' collected_at, never from
the clock, so the same snapshot and config always give the same model.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from reportgen import __version__
from reportgen.aggregate import controls as ctl
from reportgen.aggregate.common import lower_id, parse_json, pct, per_value, severity_counts, sort_codes, text
from reportgen.aggregate.exceptions import LocalException, load_exceptions
from reportgen.aggregate.audit_sample import with_audit_sample
from reportgen.aggregate.crosswalk import build_crosswalk
from reportgen.aggregate.exemptions import covering, crediting_order, exemptions_table
from reportgen.aggregate.findings import (INDIVIDUAL, KNOWN_EXPLOITED, UNRECORDED, FindingKeys, SnapshotFacts,
                                         apply_known_exploited, known_exploited_catalogue, snapshot_facts, timeline)
from reportgen.aggregate.ipe import build_ipe
from reportgen.aggregate.lineage import EvidenceStart, LineageKeys, LineageTracker
from reportgen.aggregate.executive import build_executive, environment_of
from reportgen.aggregate.poam import build_poam
from reportgen.aggregate.period import (SnapPoint, digests_text, empty_history, history_rows, lineage_changes,
                                        monthly_sla, period_figures, population, population_table, snap_point)
from reportgen.aggregate.model import (
    CHANGE_COLUMNS, CLUSTER_COLUMNS, CONTROL_OWNER_COLUMNS, DERIVED_VERDICTS, EXEMPTION_COLUMNS, FINDING_COLUMNS,
    SEVERITY_ORDER, Changes, ControlDef, ControlResult, Coverage, DatasetStatus, EvidenceGap, FindingsSummary,
    HistoryPoint, KnownExploited, OwnerResult, ReportMeta, ReportModel, ReportTables, SlaRow,
)
from reportgen.aggregate.owners import SOURCES, load_mapping
from reportgen.config import SEVERITIES, RunConfig
from reportgen.snapshot import Snapshot

_SEV_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
_STATE_RANK = {"Open": 0, "Exempt": 1, "Other": 2, "Healthy": 3}
# What the figures read of the open findings, and of an earlier month's findings (the changes,
# time to fix and the trend): copies of a million rows hold only these columns.
_OPEN_COLUMNS = ["key", "lineage", "rid", "sev", "overdue", "owner", "ageDays", "exploitable", "fixStatus", "fixedVersion",
                 "cveId", "packageName", "repositoryName", "imageDigest", "resourceId"]
def build_model(snapshot: Snapshot, config: RunConfig, controls: tuple[ControlDef, ...],
                history: list[Snapshot] | tuple[Snapshot, ...] = ()) -> ReportModel:
    """``history``: earlier snapshots (any order); only those before the current as-of count."""
    exceptions = load_exceptions(config.exceptions.file)
    mapping = load_mapping(config.owners.mapping_file) if config.owners.mapping_file else []
    earlier = sorted((h for h in history if h.collected_at < snapshot.collected_at), key=lambda h: h.collected_at)
    sla = {k.lower(): int(v) for k, v in config.sla_days.items()}

    # Walk the months oldest first, carrying each lineage's first sighting forward.
    snaps = [*earlier, snapshot]
    keys, lineages, tracker = FindingKeys(), LineageKeys(), LineageTracker()
    for snap in snaps:
        lineages.learn_repositories(snap.frames["findings"])
    history_frames = [history_rows(s.frames["finding_history"], lineages) if "finding_history" in s.frames
                      else empty_history() for s in snaps]
    history_all = pd.concat(history_frames, ignore_index=True).drop_duplicates(["lineage", "at", "imageDigest", "open"])
    evidence_start = EvidenceStart(snaps[0].collected_at, history_all)
    points: list[HistoryPoint] = []
    snap_points: list[SnapPoint] = []
    facts = findings = None
    for snap, h in zip(snaps, history_frames):
        facts = snapshot_facts(snap, config, controls, exceptions, mapping, keys, lineages)
        tracker.record_evaluations(facts.evaluated)
        tracker.record_open(h.loc[h["open"], "lineage"].to_numpy(), h.loc[h["open"], "at"])
        # each snapshot's own known-exploited catalogue (what was known at its as-of); none: not checked
        tl = apply_known_exploited(timeline(facts, tracker, sla, evidence_start), known_exploited_catalogue(snap),
                                   facts.as_of)
        point = snap_point(facts, tl, _period_start(snap))
        points.append(_history_point(facts, tl, controls, point, snap_points[-1] if snap_points else None))
        snap_points.append(point)
        tracker.record_open(point.open_lineages(), facts.as_of)
        if snap is snapshot:
            findings = tl
        else:   # an earlier month: only the slim point and the facts without findings are kept
            facts_earlier = replace(facts, findings=facts.findings.iloc[0:0])
    previous_facts = facts_earlier if len(snap_points) > 1 else None
    previous = snap_points[-2] if len(snap_points) > 1 else None

    owner_of = facts.clusters.set_index("rid")
    owners, sources = owner_of["owner"].to_dict(), owner_of["ownerSource"].to_dict()
    findings = findings.assign(owner=per_value(findings["rid"], lambda r: owners.get(r, config.owners.fallback)),
                               ownerSource=per_value(findings["rid"], lambda r: sources.get(r, "fallback")))
    open_ = findings.loc[findings["state"].eq("Open"), _OPEN_COLUMNS]

    control_results = tuple(_control_result(c, facts, previous_facts, snapshot, config) for c in controls)
    changes, change_rows, changes_by_owner = _changes(findings, snap_points[-1], previous, lineages, config)
    pops = [population(snap_points, i, history_all, tracker, sla, evidence_start,
                       known_exploited=known_exploited_catalogue(snaps[i]), lineages=lineages)
            for i in range(len(snap_points))]
    monthly = tuple(m for pt, pop in zip(snap_points, pops) for m in monthly_sla(pt.label, pop.frame))
    period = period_figures(pops[-1], snap_points[-1], monthly)
    clusters_table = _clusters_table(facts, findings, open_, snapshot, config.policy.assessment_keys)
    coverage = _coverage(snapshot, clusters_table, config.policy.assessment_keys)
    owners = _owners(clusters_table, open_)
    summary = _findings_summary(findings, open_, facts, pops)
    by_sla = open_.groupby(["sev", "overdue"], sort=False).size()
    sla_rows = tuple(
        SlaRow(severity=s, days=sla.get(s.lower()), open=int(by_sla.get((s, False), 0) + by_sla.get((s, True), 0)),
               within_sla=int(by_sla.get((s, False), 0)), overdue=int(by_sla.get((s, True), 0)))
        for s in SEVERITY_ORDER)
    exemptions, unattributed = exemptions_table(snapshot, exceptions, findings, config)
    meta = _meta(snapshot, config)
    findings_table = _findings_table(findings, facts, lineages)
    summary = replace(summary, known_exploited=known_exploited_summary(snapshot, findings_table))
    model_tables = ReportTables(
        findings=findings_table,
        clusters=clusters_table[list(CLUSTER_COLUMNS)],
        exemptions=exemptions,
        control_owner=_control_owner(controls, facts, open_),
        changes=change_rows,
        changes_by_owner=changes_by_owner,
        overdue_critical=overdue_critical(findings_table),
        known_exploited=known_exploited_open(findings_table),
        period_population=population_table(
            pops[-1], snap_points[-1], pops[-1].opening, lineages, _exemption_evidence(findings, exceptions, exemptions),
            snapshot.datasets["findings"].query_sha256 if "findings" in snapshot.datasets else None,
            snapshot.datasets["finding_history"].query_sha256 if "finding_history" in snapshot.datasets else None,
            config.owners.fallback),
    )
    datasets = tuple(
        DatasetStatus(name=name, status=info.status, rows=info.rows, pages=info.pages, sha256=info.sha256,
                      query_sha256=info.query_sha256, warnings=tuple(info.warnings),
                      query_text=snapshot.queries.get(name))
        for name, info in snapshot.datasets.items())
    model = ReportModel(meta=meta, controls=control_results, owners=owners, findings=summary, sla=sla_rows,
                        coverage=coverage, changes=changes, datasets=datasets, history=tuple(points),
                        insights=(), tables=model_tables, gaps=evidence_gaps(snapshot, datasets),
                        earliest_due=earliest_due(findings_table), period=period,
                        ipe=build_ipe(snapshot, control_results, coverage, summary, clusters_table[list(CLUSTER_COLUMNS)],
                                      findings_table, config.policy.assessment_keys),
                        exemptions_unattributed=unattributed)
    model = with_audit_sample(model, config.audit_sample.size, config.audit_sample.seed)
    poam_open, poam_closed, poam_summary = build_poam(findings_table, model_tables.period_population, meta.as_of)
    model = replace(model, tables=replace(model.tables, poam=poam_open, poam_closed=poam_closed), poam=poam_summary)
    executive = build_executive(model, environment_of(
        facts.clusters, snapshot.frames["resource_containers"], config.environment.tag_keys,
        config.environment.production_values), config.targets)
    model = replace(model, executive=replace(executive, environment_tag_keys=tuple(config.environment.tag_keys),
                                             production_values=tuple(config.environment.production_values)))
    if config.crosswalk.frameworks:   # --framework / [crosswalk]: the selected frameworks' figures and clocks
        from reportgen.frameworks import load_crosswalk
        model = replace(model, crosswalk=build_crosswalk(
            model, load_crosswalk(config.crosswalk.frameworks, tuple(c.id for c in controls))))
    return replace(model, insights=insights(model))


def _history_point(facts: SnapshotFacts, tl: pd.DataFrame, controls, point: SnapPoint,
                   before: SnapPoint | None) -> HistoryPoint:
    """One month of the trend; new and resolved count lineages (DESIGN §6), as the changes do."""
    new = resolved = None
    if before is not None:
        moved = lineage_changes(before, point)
        new, resolved = len(moved.new), len(moved.resolved)
    opened = tl.loc[tl["state"].eq("Open"), ["sev", "overdue"]]
    counts = {c.id: ctl.count(facts.control_weights[c.id]) for c in controls}
    return HistoryPoint(
        label=facts.as_of.strftime("%Y-%m"), as_of=facts.as_of,
        compliance_pct={cid: n.compliance_pct for cid, n in counts.items()},
        open_by_severity=severity_counts(opened["sev"]), overdue=int(opened["overdue"].sum()),
        new=new, resolved=resolved, control_status={cid: n.status for cid, n in counts.items()})


def _period_start(snap: Snapshot) -> pd.Timestamp:
    """The first instant (00:00 UTC) of the snapshot's period."""
    return pd.Timestamp(str((snap.meta.get("period") or {}).get("start") or snap.collected_at.date()), tz="UTC")


def _control_result(control: ControlDef, facts: SnapshotFacts, prev: SnapshotFacts | None, snapshot: Snapshot,
                    config: RunConfig) -> ControlResult:
    counts = ctl.count(facts.control_weights[control.id])
    # None without a previous snapshot, and None when that snapshot had no figure (No data)
    previous_pct = ctl.count(prev.control_weights[control.id]).compliance_pct if prev is not None else None
    return ControlResult(
        control=control, status=counts.status, resources=counts.resources, compliant=counts.compliant,
        non_compliant=counts.non_compliant, exempt=counts.exempt, conflict=counts.conflict, other=counts.other,
        compliance_pct=counts.compliance_pct, previous_pct=previous_pct,
        defender=ctl.defender_cross_check(snapshot.frames["regulatory_compliance"], control,
                                          config.policy.assessment_keys))


RETIRED_KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
RETIRED_ON = "31 July 2026"


def _coverage(snapshot: Snapshot, clusters_table: pd.DataFrame, assessment_keys: tuple[str, ...]) -> Coverage:
    clusters = snapshot.frames["clusters"]
    rids = lower_id(clusters["id"])
    assessed = set(lower_id(snapshot.frames["assessments"]["resourceId"]))
    first = ~rids.duplicated()
    not_assessed = sorted(text(clusters["id"])[first & ~rids.isin(assessed)], key=str.lower)
    inventory = clusters_table[clusters_table["rid"].isin(set(rids))]
    gap = inventory[inventory["findingsWithoutAssessment"]]
    gap_ids = tuple(sorted(gap["id"], key=str.lower))
    verdicts = {v: int(inventory["derivedVerdict"].eq(v).sum()) for v in DERIVED_VERDICTS}
    total = int(first.sum())
    return Coverage(
        clusters=total, assessed=int((first & rids.isin(assessed)).sum()),
        not_assessed=tuple(not_assessed),
        subscriptions=int(lower_id(clusters["subscriptionId"]).nunique()),
        resource_groups=int((lower_id(clusters["subscriptionId"]) + "/" + text(clusters["resourceGroup"]).str.lower()).nunique()),
        locations=tuple(sorted(text(clusters["location"]).str.lower().unique())),
        findings_without_assessment=gap_ids, derived_verdicts=verdicts,
        assessment_gap_statement=assessment_gap_statement(
            len(gap_ids), total, assessment_keys, {v: int(gap["derivedVerdict"].eq(v).sum()) for v in DERIVED_VERDICTS}),
    )


def assessment_gap_statement(n: int, total: int, assessment_keys: tuple[str, ...],
                             verdicts: dict[str, int]) -> str | None:
    """The plain statement on clusters with individual-recommendation findings but no assessment
    of a configured key (AZURE-NOTES "Read first" 3 and 5); None when there is none."""
    if not n:
        return None
    keys = [k.strip().lower() for k in assessment_keys]
    have = "has" if n == 1 else "have"
    cluster_word = "cluster" if total == 1 else "clusters"
    verdict = []
    for label, word in (("Unhealthy", "unhealthy (at least one open finding)"), ("Healthy", "healthy (no open finding)")):
        if verdicts.get(label):
            verdict.append(f"{verdicts[label]:,} {word}")
    by_findings = (f" By their findings, {' and '.join(verdict)}." if verdict else "")
    if RETIRED_KEY in keys:
        short = RETIRED_KEY[:8]
        return (f"Microsoft retired the grouped assessment {RETIRED_KEY} on {RETIRED_ON} and replaced it with "
                f"individual recommendations. {n:,} of {total:,} {cluster_word} {have} vulnerability findings from "
                f"the individual recommendations but no {short} assessment. The policy still names {short}, and how "
                f"Azure evaluates it now is not documented: for {'this cluster' if n == 1 else 'these clusters'} the "
                f"policy state is shown as Azure reports it, with a verdict derived from the findings beside it."
                + by_findings)
    named = ", ".join(assessment_keys) or "(none configured)"
    return (f"{n:,} of {total:,} {cluster_word} {have} vulnerability findings from the individual recommendations but "
            f"no assessment of the configured key{'s' if len(keys) != 1 else ''} {named}: for "
            f"{'this cluster' if n == 1 else 'these clusters'} the policy state is shown as Azure reports it, with a "
            f"verdict derived from the findings beside it." + by_findings)


def _changes(findings: pd.DataFrame, now: SnapPoint, previous: SnapPoint | None, lineages: LineageKeys,
             config: RunConfig):
    """Changes since the previous snapshot over lineages: one row per new, resolved and rebuilt lineage."""
    empty_rows = pd.DataFrame(columns=list(CHANGE_COLUMNS))
    empty_owner = pd.DataFrame(columns=["owner", "new", "resolved", "persisting", "rebuilt_still_vulnerable"])
    if previous is None:
        return None, empty_rows, empty_owner
    moved = lineage_changes(previous, now)
    changes = Changes(previous_as_of=previous.as_of, previous_run_id=previous.run_id, new=len(moved.new),
                      resolved=len(moved.resolved), persisting=len(moved.persisting),
                      rebuilt_still_vulnerable=len(moved.rebuilt))
    now_open = findings[findings["state"].eq("Open")]
    before_open = previous.open_rows()
    now_digests = digests_text(pd.DataFrame({"lineage": now_open["lineage"].to_numpy(),
                                             "imageDigest": now_open["imageDigest"].to_numpy()}))
    before_digests = digests_text(before_open[["lineage", "imageDigest"]])
    # one row per lineage: its most severe open row (then the findings' own order)
    rep = now_open.assign(_r=now_open["sev"].map(_SEV_RANK)).sort_values("_r", kind="stable").drop_duplicates("lineage")
    rep = rep.set_index("lineage")
    now_names = now.clusters.set_index("rid")["name"]
    prev_clusters = previous.clusters.set_index("rid")

    def current_rows(ids: np.ndarray, label: str) -> pd.DataFrame:
        r = rep.reindex(pd.Index(ids, dtype=np.int64))
        return pd.DataFrame({
            "change": label, "severity": r["sev"].to_numpy(), "cveId": r["cveId"].to_numpy(),
            "packageName": r["packageName"].to_numpy(), "repositoryName": r["repositoryName"].to_numpy(),
            "imageDigest": now_digests.reindex(ids).fillna("").to_numpy(),
            "clusterName": r["rid"].map(now_names).fillna("").to_numpy(), "resourceId": r["resourceId"].to_numpy(),
            "owner": r["owner"].to_numpy(), "lineage": ids,
            "previousDigests": before_digests.reindex(ids).fillna("").to_numpy() if label != "New" else "",
        })

    b = before_open.assign(_r=before_open["sevrank"]).sort_values("_r", kind="stable").drop_duplicates("lineage")
    b = b.set_index("lineage").reindex(pd.Index(moved.resolved, dtype=np.int64))
    parts = lineages.parts(moved.resolved) if len(moved.resolved) else None
    resolved_rows = pd.DataFrame({
        "change": "Resolved", "severity": [SEVERITY_ORDER[int(r)] for r in b["sevrank"].to_numpy()],
        "cveId": parts["cveId"].to_numpy() if parts is not None else [],
        "packageName": parts["packageName"].to_numpy() if parts is not None else [],
        "repositoryName": parts["repository"].to_numpy() if parts is not None else [],
        "imageDigest": before_digests.reindex(moved.resolved).fillna("").to_numpy(),
        "clusterName": b["rid"].map(prev_clusters["name"]).fillna("").to_numpy(),
        "resourceId": b["rid"].map(prev_clusters["id"]).fillna("").to_numpy(),
        "owner": b["rid"].map(prev_clusters["owner"]).fillna(config.owners.fallback).to_numpy(),
        "lineage": moved.resolved, "previousDigests": "",
    })
    table = pd.concat([current_rows(moved.new, "New"), resolved_rows,
                       current_rows(moved.rebuilt, REBUILT)], ignore_index=True)
    table["lineageId"] = lineages.lineage_ids(table["lineage"].to_numpy(dtype=np.int64)) if len(table) else ""
    if len(table):
        order = {"New": 0, "Resolved": 1, REBUILT: 2}
        table = table.assign(_c=table["change"].map(order), _r=table["severity"].map(_SEV_RANK)).sort_values(
            ["_c", "_r", "owner", "cveId", "resourceId", "lineageId"], kind="stable").drop(columns=["_c", "_r"])
    owner_now = rep["owner"]
    persisting_owner = owner_now.reindex(pd.Index(moved.persisting, dtype=np.int64))
    by_owner = pd.concat([
        table[table["change"].eq("New")].groupby("owner").size().rename("new"),
        table[table["change"].eq("Resolved")].groupby("owner").size().rename("resolved"),
        persisting_owner.groupby(persisting_owner.to_numpy()).size().rename("persisting"),
        table[table["change"].eq(REBUILT)].groupby("owner").size().rename("rebuilt_still_vulnerable"),
    ], axis=1).fillna(0).astype(int).reset_index(names="owner")
    by_owner = by_owner.sort_values(["new", "owner"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return changes, table.reset_index(drop=True)[list(CHANGE_COLUMNS)], by_owner


REBUILT = "Rebuilt, still vulnerable"


def _exemption_evidence(findings: pd.DataFrame, exceptions: tuple[LocalException, ...],
                        exemptions: pd.DataFrame) -> pd.Series:
    """Per lineage, what exempts its rows now, with its approval: a local exception (approver, ticket,
    expiry), or for Defender's Exempt state the applicable, unexpired policy exemption with the longest
    scope over its cluster (as ``exemptions_table`` credits it), else "no applicable exemption found"."""
    exempt = findings.loc[findings["state"].eq("Exempt"), ["lineage", "rid", "exemption"]].drop_duplicates("lineage")
    approvals = {f"Local exception {e.id}: {e.reason}": (f"Local exception {e.id}: {e.reason} (approved by {e.approver}"
                                                         + (f", ticket {e.ticket}" if e.ticket else "")
                                                         + f", expires {e.expires:%Y-%m-%d})") for e in exceptions}
    rows = exemptions.to_dict("records")
    candidates = crediting_order(rows)   # the order exemptions_table credits exempt findings in

    def policy_text(rid: str) -> str:
        i = covering(candidates, rid)
        if i is None:
            return "Exempt in Defender: no applicable policy exemption in the snapshot covers its cluster"
        r = rows[i]
        approval = ", ".join(f"{label} {r[col]}" for label, col in (
            ("approved by", "approver"), ("requested by", "requester"), ("ticket", "ticket"),
            ("created by", "createdBy")) if str(r[col] or "").strip())
        expiry = "no expiry" if r["noExpiry"] else f"expires {pd.Timestamp(r['expiresOn']):%Y-%m-%d}"
        return (f"Exempt in Defender: policy exemption {r['name']} ({r['category']}; "
                f"{approval or 'no approval recorded'}; {expiry})")

    texts = {}
    for lineage, rid, text_ in zip(exempt["lineage"].tolist(), exempt["rid"].tolist(), exempt["exemption"].tolist()):
        texts[lineage] = approvals.get(text_) or (policy_text(rid) if text_ == "Exempt in Defender" else text_)
    return pd.Series(texts, dtype=object)


def _configured_assessment_rids(assessments: pd.DataFrame, assessment_keys: tuple[str, ...]) -> set[str]:
    """Clusters with an assessment row of a configured key (by assessmentKey, or the key ending its id)."""
    keys = {k.strip().lower() for k in assessment_keys}
    key = text(assessments["assessmentKey"]).str.strip().str.lower()
    tail = lower_id(assessments["id"]).str.rsplit("/", n=1).str[-1]
    return set(lower_id(assessments["resourceId"])[key.isin(keys) | tail.isin(keys)])


def _clusters_table(facts: SnapshotFacts, findings: pd.DataFrame, open_: pd.DataFrame, snapshot: Snapshot,
                    assessment_keys: tuple[str, ...]) -> pd.DataFrame:
    c = facts.clusters
    assess = snapshot.frames["assessments"]
    a_status = pd.Series(text(assess["statusCode"]).to_numpy(), index=lower_id(assess["resourceId"]))
    a_status = a_status[~a_status.index.duplicated()]
    with_key = _configured_assessment_rids(assess, assessment_keys)
    by_rid = facts.cluster_sources.to_dict()
    sources = pd.Series([by_rid.get(r, "") for r in c["rid"]], index=c.index, dtype=object)
    has_rows = c["rid"].isin(pd.unique(findings["rid"].to_numpy()))
    has_open = c["rid"].isin(pd.unique(open_["rid"].to_numpy()))
    assessed = c["rid"].isin(set(a_status.index))
    derived = np.select([has_open, has_rows, assessed], ["Unhealthy", "Healthy", "No findings"], default="No evidence")
    individual = sources.str.split(", ").map(lambda s: INDIVIDUAL in s)
    weight = c["rid"].map(facts.overall_weights)
    policy_state = weight.map(ctl.WEIGHT_LABELS).fillna("No policy state")
    by_sev = open_.groupby(["rid", "sev"]).size().unstack(fill_value=0)
    exempt_scopes = lower_id(snapshot.frames["exemptions"]["scope"])
    exempted = c["rid"].map(lambda r: any(r == s or r.startswith(s + "/") for s in exempt_scopes if s))
    out = c.assign(
        assessed=c["rid"].isin(set(a_status.index)),
        assessmentStatus=pd.Series(a_status.reindex(c["rid"]).to_numpy(), index=c.index, dtype=object).fillna("Not assessed"),
        policyState=policy_state, exempted=exempted,
        openFindings=c["rid"].map(open_.groupby("rid").size()).fillna(0).astype(int),
        overdue=c["rid"].map(open_.groupby("rid")["overdue"].sum()).fillna(0).astype(int),
        derivedVerdict=derived, findingsSources=sources,
        findingsWithoutAssessment=(individual & ~c["rid"].isin(with_key)).astype(bool),
    )
    for sev in SEVERITY_ORDER:
        col = by_sev[sev] if sev in by_sev.columns else pd.Series(dtype=int)
        out[sev.lower()] = c["rid"].map(col).fillna(0).astype(int)
    out = out[out["inInventory"] | out["openFindings"].gt(0) | out["rid"].isin(facts.overall_weights.index)]
    return out.sort_values(["name", "id"], key=lambda s: s.str.lower(), kind="stable").reset_index(drop=True)


def _owners(clusters: pd.DataFrame, open_: pd.DataFrame) -> tuple[OwnerResult, ...]:
    results = []
    rank = {s: i for i, s in enumerate(SOURCES)}
    by_owner = open_.groupby("owner", sort=False)
    open_findings, overdue = by_owner.size(), by_owner["overdue"].sum()
    overdue_critical = (open_["overdue"] & open_["sev"].eq("Critical")).groupby(open_["owner"], sort=False).sum()
    by_severity = open_.groupby(["owner", "sev"], sort=False).size()
    for owner, group in clusters.groupby("owner", sort=True):
        sources = sorted(set(group["ownerSource"]), key=lambda s: rank.get(s, 99))
        results.append(OwnerResult(
            owner=owner, source=", ".join(sources), clusters=len(group),
            non_compliant_clusters=int(group["policyState"].eq("NonCompliant").sum()),
            open_findings=int(open_findings.get(owner, 0)),
            by_severity={s: int(by_severity.get((owner, s), 0)) for s in SEVERITY_ORDER},
            overdue=int(overdue.get(owner, 0)), overdue_critical=int(overdue_critical.get(owner, 0)),
        ))
    return tuple(sorted(results, key=lambda o: (-o.open_findings, o.owner)))


def _findings_summary(findings, open_, facts, pops) -> FindingsSummary:
    fixable = _fixable(open_)
    return FindingsSummary(
        open=len(open_), exempt=int(findings["state"].eq("Exempt").sum()),
        by_severity=severity_counts(open_["sev"]), fixable=int(fixable.sum()), sources=dict(facts.source_counts),
        exploitable=int(open_["exploitable"].fillna(False).astype(bool).sum()), overdue=int(open_["overdue"].sum()),
        overdue_by_severity=severity_counts(open_.loc[open_["overdue"], "sev"]),
        duplicates_dropped=facts.duplicates,
        median_age_days=float(open_["ageDays"].median()) if len(open_) else None,
        median_time_to_fix_days=_time_to_fix(pops),
    )


def _fixable(df: pd.DataFrame) -> pd.Series:
    status = per_value(df["fixStatus"], lambda v: ("" if v is None else str(v)).strip().lower())
    fixed_version = per_value(df["fixedVersion"], lambda v: ("" if v is None else str(v)).strip() != "", bool)
    return status.eq("fixavailable") | (status.isin(["", "unknown"]) & fixed_version)


def _time_to_fix(pops) -> float | None:
    """Median days from first seen to the fix, over the lineages fixed in every period of the history."""
    fixed = [p.frame.loc[p.frame["closeReason"].eq("fixed"), ["lineage", "closed", "daysToFix"]] for p in pops]
    all_ = pd.concat(fixed, ignore_index=True).drop_duplicates(["lineage", "closed"]) if fixed else None
    return round(float(all_["daysToFix"].median()), 1) if all_ is not None and len(all_) else None


def _control_owner(controls, facts: SnapshotFacts, open_: pd.DataFrame) -> pd.DataFrame:
    owners = facts.clusters.set_index("rid")["owner"]
    rows = []
    open_by_owner = open_.groupby("owner").size()
    overdue_by_owner = open_.groupby("owner")["overdue"].sum()
    for c in controls:
        w = facts.control_weights[c.id]
        frame = pd.DataFrame({"weight": w.to_numpy(), "owner": w.index.map(owners)})
        for owner, grp in frame.groupby("owner", sort=True):
            counts = ctl.count(grp["weight"])
            rows.append({
                "control": c.id, "owner": owner, "resources": counts.resources, "compliant": counts.compliant,
                "nonCompliant": counts.non_compliant, "exempt": counts.exempt, "conflict": counts.conflict,
                "compliancePct": counts.compliance_pct, "openFindings": int(open_by_owner.get(owner, 0)),
                "overdue": int(overdue_by_owner.get(owner, 0)), "status": counts.status,
            })
    return pd.DataFrame(rows, columns=list(CONTROL_OWNER_COLUMNS))


def _workloads_text(value) -> str:
    items = parse_json(value, [])
    if not isinstance(items, list):
        return ""
    parts = []
    for w in items:
        if isinstance(w, dict):
            parts.append(f"{w.get('namespace', '')}/{w.get('kind', '')}/{w.get('name', '')}:{w.get('container', '')}")
    return "; ".join(parts)


def _findings_table(findings: pd.DataFrame, facts: SnapshotFacts, lineages: LineageKeys) -> pd.DataFrame:
    """Every distinct finding for display, sorted: open first, then overdue, severity, exploitable,
    CVSS (highest first, missing last), CVE, cluster, digest, package (the last four make the
    order total). Text derived from JSON is computed once per distinct value."""
    names = facts.clusters.set_index("rid")["name"]
    cvss = findings["cvssScore"].to_numpy(dtype=float)
    exploitable = findings["exploitable"].fillna(False).astype(bool)
    order = np.lexsort((
        sort_codes(findings["packageName"]), sort_codes(findings["imageDigest"]), sort_codes(findings["rid"]),
        sort_codes(findings["cveId"]), -np.nan_to_num(cvss, nan=0.0), np.isnan(cvss),
        ~exploitable.to_numpy(), per_value(findings["sev"], _SEV_RANK.get, int).to_numpy(),
        ~findings["overdue"].to_numpy(dtype=bool), per_value(findings["state"], lambda v: _STATE_RANK.get(v, 4), int).to_numpy(),
    ))

    def column(values: pd.Series) -> pd.Series:
        return values.take(order).reset_index(drop=True)

    source = column(findings["source"])
    table = {
        "state": column(findings["state"]), "severity": column(findings["sev"]), "cveId": column(findings["cveId"]),
        "title": column(findings["title"]), "cvssScore": column(findings["cvssScore"]),
        "exploitable": column(exploitable), "fixStatus": column(findings["fixStatus"]),
        "fixable": column(_fixable(findings)), "packageName": column(findings["packageName"]),
        "packageVersion": column(findings["packageVersion"]), "fixedVersion": column(findings["fixedVersion"]),
        "registryHost": column(findings["registryHost"]), "repositoryName": column(findings["repositoryName"]),
        "imageDigest": column(findings["imageDigest"]),
        "imageTags": per_value(column(findings["imageTags"]),
                               lambda v: ", ".join(str(t) for t in parse_json(v, [])) if v else ""),
        "clusterName": per_value(column(findings["rid"]), lambda r: names.get(r, "")),
        "resourceId": column(findings["resourceId"]), "subscriptionId": column(findings["subscriptionId"]),
        "resourceGroup": column(findings["resourceGroup"]), "owner": column(findings["owner"]),
        "ownerSource": column(findings["ownerSource"]), "firstSeen": column(findings["firstSeen"]),
        "dueDate": column(findings["dueDate"]), "dueSource": column(findings["dueSource"]),
        "ageDays": column(findings["ageDays"]), "overdue": column(findings["overdue"]),
        "daysOverdue": column(findings["daysOverdue"]), "exemption": column(findings["exemption"]),
        "workloads": per_value(column(findings["workloads"]), _workloads_text),
        "publishedDate": column(findings["publishedDate"]), "statusCode": column(findings["statusCode"]),
        "statusCause": column(findings["statusCause"]),
        "source": source.where(source.ne(""), UNRECORDED),
        "ageIsLowerBound": column(findings["ageIsLowerBound"]),
        "lineageId": pd.Series(lineages.lineage_ids(findings["lineage"].to_numpy()[order]), dtype=object),
        "knownExploited": column(findings["knownExploited"]), "kevDateAdded": column(findings["kevDateAdded"]),
        "kevDueDate": column(findings["kevDueDate"]), "kevRansomware": column(findings["kevRansomware"]),
        "slaDueDate": column(findings["slaDueDate"]),
    }
    return pd.DataFrame(table, columns=list(FINDING_COLUMNS), copy=False)   # no copy into one block


def overdue_critical(findings: pd.DataFrame) -> pd.DataFrame:
    """The rows of the findings table that are open, overdue and critical, in its order."""
    at_risk = findings["state"].eq("Open") & findings["overdue"].fillna(False).astype(bool) & findings["severity"].eq(
        "Critical")
    return findings[at_risk].reset_index(drop=True)


def known_exploited_open(findings: pd.DataFrame) -> pd.DataFrame:
    """The rows of the findings table that are open and whose CVE is in the known-exploited catalogue."""
    flagged = findings["state"].eq("Open") & findings["knownExploited"].fillna(False).astype(bool)
    return findings[flagged].reset_index(drop=True)


def known_exploited_summary(snapshot: Snapshot, findings: pd.DataFrame) -> KnownExploited:
    """The known-exploited figures; not checked (every figure None) when the snapshot has no catalogue."""
    info = snapshot.datasets.get(KNOWN_EXPLOITED)
    if info is None:
        return KnownExploited(checked=False)
    catalog = (info.extra or {}).get("catalog") or {}
    rows = known_exploited_open(findings)
    overdue = rows["overdue"].fillna(False).astype(bool)
    by_kev = rows["dueSource"].eq("kev")
    as_of = snapshot.collected_at
    sla_due = pd.to_datetime(rows["slaDueDate"], utc=True)
    only_kev = overdue & by_kev & (sla_due.isna() | (sla_due >= as_of))
    return KnownExploited(
        checked=True, catalog_version=catalog.get("catalog_version"), date_released=catalog.get("date_released"),
        title=catalog.get("title") or None, source=catalog.get("source"), source_sha256=catalog.get("source_sha256"),
        dataset_sha256=info.sha256, entries=int(info.rows), open_flagged=len(rows),
        distinct_cves=int(rows["cveId"].dropna().str.upper().nunique()), overdue=int(overdue.sum()),
        kev_due_applies=int(by_kev.sum()), overdue_because_kev=int(only_kev.sum()),
        ransomware_known=int(rows["kevRansomware"].fillna("").str.strip().str.lower().eq("known").sum()))


def earliest_due(findings: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """Per cluster (resource id lower-cased), the earliest due date of its open findings."""
    open_ = findings.loc[findings["state"].eq("Open") & findings["dueDate"].notna(), ["resourceId", "dueDate"]]
    if open_.empty:
        return {}
    clusters = per_value(open_["resourceId"], lambda v: None if v is None else str(v).lower())
    return open_["dueDate"].groupby(clusters.to_numpy(), sort=True).min().to_dict()


def _meta(snapshot: Snapshot, config: RunConfig) -> ReportMeta:
    m = snapshot.meta
    scope = m.get("scope") or {}
    return ReportMeta(
        organization=config.report.organization, title=config.report.title, tool_version=__version__,
        run_id=snapshot.run_id, snapshot_fingerprint=snapshot.fingerprint, as_of=snapshot.collected_at,
        period_start=date.fromisoformat(m["period"]["start"]), period_end=date.fromisoformat(m["period"]["end"]),
        source=str(m.get("source")), cloud=str(m.get("cloud") or "AzureCloud"), tenant_id=scope.get("tenant_id"),
        scope_subscriptions=tuple(scope.get("subscriptions") or ()),
        scope_management_groups=tuple(scope.get("management_groups") or ()),
        sla_days={s: int(config.sla_days[s.lower()]) for s in SEVERITIES},
        owner_tag_keys=tuple(config.owners.tag_keys), owner_fallback=config.owners.fallback,
        policy_definition_ids=tuple(config.policy.definition_ids), assessment_keys=tuple(config.policy.assessment_keys),
        pdf_detail_rows=config.report.pdf_detail_rows, findings_source=m.get("findings_source"),
    )


DATASET_GAP_EFFECT = {
    "failed": "Every request for it failed, so its rows are missing from every figure that uses it.",
    "partial": "Some of its rows may be missing from the figures that use it.",
    "skipped": "It was not collected (its source is not configured), so its rows are missing from every figure "
               "that uses it.",
}
_STATUS_GAP_KINDS = ("dataset-failed", "dataset-partial", "dataset-skipped", "not-configured")


def _gap_title(kind: str, dataset: str | None, members: tuple[str, ...]) -> str:
    n = len(members)
    if kind == "unreadable-subscriptions":
        return (f"{n:,} subscription{'s' if n != 1 else ''} could not be read." if n
                else "Some subscriptions could not be read.")
    if kind == "subscription-limit":
        return "Resource Graph's subscription limit was reached."
    if kind == "cve-limit":
        return (f"{n:,} package{'s have' if n != 1 else ' has'} more CVEs than were read." if n
                else "Some packages have more CVEs than were read.")
    if kind == "dataset-failed" and dataset:
        return f"Dataset {dataset} failed."
    if kind == "dataset-partial" and dataset:
        return f"Dataset {dataset} is partial."
    if kind in ("not-configured", "dataset-skipped"):
        return f"Dataset {dataset} is not configured." if dataset else "A source is not configured."
    return f"Evidence gap ({kind})."


def evidence_gaps(snapshot: Snapshot, datasets: tuple[DatasetStatus, ...]) -> tuple[EvidenceGap, ...]:
    """Every limit the pack must state: snapshot.json ``gaps`` (any kind, unknown kinds by their
    message) and every dataset that is partial, skipped or failed. A gap that only restates a
    dataset's status is told with that dataset, not twice."""
    raw = snapshot.meta.get("gaps") or []
    raw = raw if isinstance(raw, list) else [raw]
    recorded = []
    for g in raw:
        if not isinstance(g, dict):
            recorded.append(("unknown", " ".join(str(g).split()), None, ()))
            continue
        members = g.get("members") or []
        members = members if isinstance(members, list) else [members]
        dataset = g.get("dataset")
        recorded.append((" ".join(str(g.get("kind") or "unknown").split()) or "unknown",
                         " ".join(str(g.get("message") or "").split()),
                         str(dataset) if dataset not in (None, "") else None,
                         tuple(str(m) for m in members if m is not None and str(m).strip())))
    incomplete = {d.name: d for d in datasets if d.status != "complete"}
    merged = {i for i, (kind, _, ds, _) in enumerate(recorded) if ds in incomplete and kind in _STATUS_GAP_KINDS}
    out = []
    for i, (kind, message, dataset, members) in enumerate(recorded):
        if i in merged:
            continue
        out.append(EvidenceGap(kind=kind, title=_gap_title(kind, dataset, members),
                               message=message or f"The snapshot records a gap of kind {kind}.",
                               dataset=dataset, members=members))
    for d in incomplete.values():
        mine = [recorded[i] for i in sorted(merged) if recorded[i][2] == d.name]
        messages = " ".join(m for _, m, _, _ in mine if m) or DATASET_GAP_EFFECT.get(d.status, "")
        title = f"Dataset {d.name} failed." if d.status == "failed" else f"Dataset {d.name} is {d.status}."
        out.append(EvidenceGap(kind=f"dataset-{d.status}", title=title, message=messages, dataset=d.name,
                               members=tuple(dict.fromkeys(m for *_, ms in mine for m in ms)), status=d.status,
                               details=d.warnings))
    return tuple(out)


def not_assessed_sentence(not_assessed: tuple[str, ...], clusters: pd.DataFrame) -> str:
    """What the pack can say of clusters Defender does not assess: their policy state as Azure gives it,
    which is no evidence about their vulnerabilities either way."""
    n = len(not_assessed)
    ids = {i.lower().rstrip("/") for i in not_assessed}
    states = clusters.loc[clusters["id"].str.lower().str.rstrip("/").isin(ids), "policyState"].value_counts()
    told = " and ".join(f"{c:,} {state}" for state, c in sorted(states.items(), key=lambda kv: (-kv[1], kv[0])))
    one = n == 1
    return (f"{n:,} cluster{'' if one else 's'} {'is' if one else 'are'} not assessed by Defender, so "
            f"{'its' if one else 'their'} vulnerabilities are not known; the policy reports "
            f"{'it' if one else 'them'} as {told or 'no state'}, which is no evidence of "
            f"{'its' if one else 'their'} images' vulnerabilities.")


ROUTINE_GAPS = ("dataset-skipped", "not-configured")   # a source nobody configured: stated, not headlined


def insights(model: ReportModel) -> tuple[str, ...]:
    """Three to five plain sentences that say what matters, generated from the figures.

    Sentences keep their reading order; when there are more than five, the least important
    go (by rank: a control without a figure or the compliance figure, then serious evidence
    gaps, then the retired assessment, overdue findings, changes, fixable findings).
    """
    ranked: list[tuple[int, str]] = []
    for c in model.controls:
        if c.compliance_pct is None:
            ranked.append((0, f"{c.id} has no compliance figure: no cluster has a Compliant, NonCompliant, Conflict "
                              f"or Exempt policy state for it, so there is no evidence either way."))
            continue
        change = ""
        if c.change_pct is not None:
            change = (", unchanged since last month" if c.change_pct == 0 else
                      f", {'up' if c.change_pct > 0 else 'down'} {abs(c.change_pct):.2f} points since last month")
        ranked.append((0, f"{c.id} is at {c.compliance_pct:.2f}% compliance ({c.compliant + c.exempt} of "
                          f"{c.compliant + c.exempt + c.non_compliant + c.conflict} clusters compliant or exempt)"
                          f"{change}."))
        break  # both controls share the same policy evidence; one sentence is enough unless they differ
    serious = [g for g in model.gaps if g.kind not in ROUTINE_GAPS]
    if serious:
        n = len(serious)
        first = serious[0].title
        ranked.append((1, f"{n:,} evidence gap{'s limit' if n != 1 else ' limits'} this pack (stated under scope "
                          f"and coverage){', first' if n != 1 else ''}: {first[0].lower() + first[1:]}"))
    f = model.findings
    crit_overdue = f.overdue_by_severity.get("Critical", 0)
    owners = sorted(model.owners, key=lambda o: (-o.overdue_critical, o.owner))
    if crit_overdue:
        top = [o for o in owners[:3] if o.overdue_critical]
        share = pct(sum(o.overdue_critical for o in top), crit_overdue)
        ranked.append((3, f"{len(top)} owner{'s' if len(top) != 1 else ''} hold{'' if len(top) != 1 else 's'} "
                          f"{share:.0f}% of the {crit_overdue:,} overdue critical findings."))
    elif f.overdue:
        ranked.append((3, f"{f.overdue:,} open findings are past their due date; none of them is critical."))
    else:
        ranked.append((3, "No open finding is past its due date."))
    if f.open:
        ranked.append((5, f"{f.fixable_pct:.0f}% of the {f.open:,} open findings have a fix available, and "
                          f"{f.exploitable:,} are known to be exploitable."))
    cov = model.coverage
    if cov.findings_without_assessment:
        n = len(cov.findings_without_assessment)
        ranked.append((2, f"{n:,} of {cov.clusters:,} clusters {'has' if n == 1 else 'have'} findings from the "
                          f"individual recommendations but no assessment of the key the policy names; beside "
                          f"{'its' if n == 1 else 'their'} policy state the pack shows a verdict derived from the "
                          f"findings."))
    elif cov.not_assessed:
        ranked.append((2, not_assessed_sentence(cov.not_assessed, model.tables.clusters)))
    if model.changes is not None:
        ch = model.changes
        rebuilt = (f", {ch.rebuilt_still_vulnerable:,} of them in a rebuilt image that still carries the CVE"
                   if ch.rebuilt_still_vulnerable else "")
        ranked.append((4, f"Since {ch.previous_as_of:%d %b %Y}, {ch.new:,} vulnerabilities (a CVE in a package of a "
                          f"repository on a cluster) appeared and {ch.resolved:,} were resolved; "
                          f"{ch.persisting:,} persist{rebuilt}."))
    p = model.period
    if p is not None and p.sla["met"] + p.sla["missed"]:
        ranked.append((4, f"{p.sla['met'] + p.sla['missed']:,} vulnerabilities with a due date were fixed in the "
                          f"period, {p.sla['met']:,} of them by their due date: SLA attainment "
                          f"{p.sla_attainment_pct:.2f}%."))
    keep = sorted(range(len(ranked)), key=lambda i: (ranked[i][0], i))[:5]
    return tuple(ranked[i][1] for i in sorted(keep))
