"""Build the ReportModel from the current snapshot and the earlier ones (history).

Pure functions of their inputs: time comes from the snapshots' collected_at, never from
the clock, so the same snapshot and config always give the same model.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd

from reportgen import __version__
from reportgen.aggregate import controls as ctl
from reportgen.aggregate.common import lower_id, parse_json, pct, severity_counts, text
from reportgen.aggregate.exceptions import LocalException, load_exceptions
from reportgen.aggregate.findings import (SnapshotFacts, record_history_sightings, record_sightings,
                                          snapshot_facts, timeline)
from reportgen.aggregate.model import (
    CHANGE_COLUMNS, CLUSTER_COLUMNS, CONTROL_OWNER_COLUMNS, EXEMPTION_COLUMNS, FINDING_COLUMNS, SEVERITY_ORDER,
    Changes, ControlDef, ControlResult, Coverage, DatasetStatus, FindingsSummary, HistoryPoint, OwnerResult,
    ReportMeta, ReportModel, ReportTables, SlaRow,
)
from reportgen.aggregate.owners import SOURCES, load_mapping
from reportgen.config import SEVERITIES, RunConfig
from reportgen.snapshot import Snapshot

EXPIRING_DAYS = 30
_SEV_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}


def build_model(snapshot: Snapshot, config: RunConfig, controls: tuple[ControlDef, ...],
                history: list[Snapshot] | tuple[Snapshot, ...] = ()) -> ReportModel:
    """``history``: earlier snapshots (any order); only those before the current as-of count."""
    exceptions = load_exceptions(config.exceptions.file)
    mapping = load_mapping(config.owners.mapping_file) if config.owners.mapping_file else []
    earlier = sorted((h for h in history if h.collected_at < snapshot.collected_at), key=lambda h: h.collected_at)
    sla = {k.lower(): int(v) for k, v in config.sla_days.items()}

    # Walk the months oldest first, carrying each finding's first sighting forward.
    seen: dict[str, pd.Timestamp] = {}
    points: list[HistoryPoint] = []
    timelines: list[tuple[SnapshotFacts, pd.DataFrame]] = []
    for snap in [*earlier, snapshot]:
        facts = snapshot_facts(snap, config, controls, exceptions, mapping)
        if "finding_history" in snap.frames:
            record_history_sightings(seen, snap.frames["finding_history"])
        tl = timeline(facts, seen, sla)
        points.append(_history_point(facts, tl, controls, timelines[-1][1] if timelines else None))
        timelines.append((facts, tl))
        record_sightings(seen, facts)
    facts, findings = timelines[-1]
    previous = timelines[-2] if len(timelines) > 1 else None

    owner_of = facts.clusters.set_index("rid")
    findings = findings.assign(owner=findings["rid"].map(owner_of["owner"]).fillna(config.owners.fallback),
                               ownerSource=findings["rid"].map(owner_of["ownerSource"]).fillna("fallback"))
    open_ = findings[findings["state"].eq("Open")]

    control_results = tuple(_control_result(c, facts, previous[0] if previous else None, snapshot, config)
                            for c in controls)
    coverage = _coverage(snapshot)
    changes, change_rows, changes_by_owner = _changes(findings, facts, previous, config)
    clusters_table = _clusters_table(facts, open_, snapshot, coverage)
    owners = _owners(clusters_table, open_)
    summary = _findings_summary(findings, open_, facts, timelines, snapshot)
    sla_rows = tuple(
        SlaRow(severity=s, days=sla.get(s.lower()), open=int(open_["sev"].eq(s).sum()),
               within_sla=int((open_["sev"].eq(s) & ~open_["overdue"]).sum()),
               overdue=int((open_["sev"].eq(s) & open_["overdue"]).sum()))
        for s in SEVERITY_ORDER)
    exemptions_table = _exemptions_table(snapshot, exceptions, facts, findings)
    meta = _meta(snapshot, config)
    model_tables = ReportTables(
        findings=_findings_table(findings, facts),
        clusters=clusters_table[list(CLUSTER_COLUMNS)],
        exemptions=exemptions_table,
        control_owner=_control_owner(controls, facts, open_),
        changes=change_rows,
        changes_by_owner=changes_by_owner,
    )
    datasets = tuple(
        DatasetStatus(name=name, status=info.status, rows=info.rows, pages=info.pages, sha256=info.sha256,
                      query_sha256=info.query_sha256, warnings=tuple(info.warnings),
                      query_text=snapshot.queries.get(name))
        for name, info in snapshot.datasets.items())
    model = ReportModel(meta=meta, controls=control_results, owners=owners, findings=summary, sla=sla_rows,
                        coverage=coverage, changes=changes, datasets=datasets, history=tuple(points),
                        insights=(), tables=model_tables)
    return replace(model, insights=insights(model))


def _history_point(facts: SnapshotFacts, tl: pd.DataFrame, controls, before: pd.DataFrame | None) -> HistoryPoint:
    open_keys = set(tl.loc[tl["state"].eq("Open"), "key"])
    new = resolved = None
    if before is not None:
        before_open = set(before.loc[before["state"].eq("Open"), "key"])
        new, resolved = len(open_keys - before_open), len(before_open - open_keys)
    opened = tl[tl["state"].eq("Open")]
    return HistoryPoint(
        label=facts.as_of.strftime("%Y-%m"), as_of=facts.as_of,
        compliance_pct={c.id: ctl.count(facts.control_weights[c.id]).compliance_pct for c in controls},
        open_by_severity=severity_counts(opened["sev"]), overdue=int(opened["overdue"].sum()),
        new=new, resolved=resolved)


def _control_result(control: ControlDef, facts: SnapshotFacts, prev: SnapshotFacts | None, snapshot: Snapshot,
                    config: RunConfig) -> ControlResult:
    counts = ctl.count(facts.control_weights[control.id])
    previous_pct = None
    if prev is not None:
        prev_counts = ctl.count(prev.control_weights[control.id])
        previous_pct = prev_counts.compliance_pct if prev_counts.resources else None
    return ControlResult(
        control=control, status=counts.status, resources=counts.resources, compliant=counts.compliant,
        non_compliant=counts.non_compliant, exempt=counts.exempt, conflict=counts.conflict, other=counts.other,
        compliance_pct=counts.compliance_pct, previous_pct=previous_pct,
        defender=ctl.defender_cross_check(snapshot.frames["regulatory_compliance"], control,
                                          config.policy.assessment_keys))


def _coverage(snapshot: Snapshot) -> Coverage:
    clusters = snapshot.frames["clusters"]
    rids = lower_id(clusters["id"])
    assessed = set(lower_id(snapshot.frames["assessments"]["resourceId"]))
    first = ~rids.duplicated()
    not_assessed = sorted(text(clusters["id"])[first & ~rids.isin(assessed)], key=str.lower)
    return Coverage(
        clusters=int(first.sum()), assessed=int((first & rids.isin(assessed)).sum()),
        not_assessed=tuple(not_assessed),
        subscriptions=int(lower_id(clusters["subscriptionId"]).nunique()),
        resource_groups=int((lower_id(clusters["subscriptionId"]) + "/" + text(clusters["resourceGroup"]).str.lower()).nunique()),
        locations=tuple(sorted(text(clusters["location"]).str.lower().unique())),
    )


def _changes(findings: pd.DataFrame, facts: SnapshotFacts, previous, config: RunConfig):
    empty_rows = pd.DataFrame(columns=list(CHANGE_COLUMNS))
    empty_owner = pd.DataFrame(columns=["owner", "new", "resolved", "persisting"])
    if previous is None:
        return None, empty_rows, empty_owner
    prev_facts, prev_tl = previous
    now_open = findings[findings["state"].eq("Open")]
    prev_open = prev_tl[prev_tl["state"].eq("Open")]
    prev_owner = prev_facts.clusters.set_index("rid")["owner"]
    prev_open = prev_open.assign(owner=prev_open["rid"].map(prev_owner).fillna(config.owners.fallback))
    prev_keys, now_keys = set(prev_open["key"]), set(now_open["key"])
    new = now_open[~now_open["key"].isin(prev_keys)]
    resolved = prev_open[~prev_open["key"].isin(now_keys)]
    persisting = now_open[now_open["key"].isin(prev_keys)]
    changes = Changes(previous_as_of=prev_facts.as_of, previous_run_id=prev_facts.run_id,
                      new=len(new), resolved=len(resolved), persisting=len(persisting))
    prev_names = prev_facts.clusters.set_index("rid")["name"]
    now_names = facts.clusters.set_index("rid")["name"]

    def rows(df: pd.DataFrame, label: str, names: pd.Series) -> pd.DataFrame:
        return pd.DataFrame({
            "change": label, "severity": df["sev"], "cveId": df["cveId"], "packageName": df["packageName"],
            "repositoryName": df["repositoryName"], "imageDigest": df["imageDigest"],
            "clusterName": df["rid"].map(names).fillna(""), "resourceId": df["resourceId"], "owner": df["owner"],
        })
    table = pd.concat([rows(new, "New", now_names), rows(resolved, "Resolved", prev_names)], ignore_index=True)
    if len(table):
        table = table.assign(_r=table["severity"].map(_SEV_RANK)).sort_values(
            ["change", "_r", "owner", "cveId", "resourceId"], kind="stable").drop(columns="_r")
    by_owner = pd.concat([
        new.groupby("owner").size().rename("new"),
        resolved.groupby("owner").size().rename("resolved"),
        persisting.groupby("owner").size().rename("persisting"),
    ], axis=1).fillna(0).astype(int).reset_index(names="owner")
    by_owner = by_owner.sort_values(["new", "owner"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return changes, table.reset_index(drop=True)[list(CHANGE_COLUMNS)], by_owner


def _clusters_table(facts: SnapshotFacts, open_: pd.DataFrame, snapshot: Snapshot, coverage: Coverage) -> pd.DataFrame:
    c = facts.clusters
    assess = snapshot.frames["assessments"]
    a_status = pd.Series(text(assess["statusCode"]).to_numpy(), index=lower_id(assess["resourceId"]))
    a_status = a_status[~a_status.index.duplicated()]
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
    )
    for sev in SEVERITY_ORDER:
        col = by_sev[sev] if sev in by_sev.columns else pd.Series(dtype=int)
        out[sev.lower()] = c["rid"].map(col).fillna(0).astype(int)
    out = out[out["inInventory"] | out["openFindings"].gt(0) | out["rid"].isin(facts.overall_weights.index)]
    return out.sort_values(["name", "id"], key=lambda s: s.str.lower(), kind="stable").reset_index(drop=True)


def _owners(clusters: pd.DataFrame, open_: pd.DataFrame) -> tuple[OwnerResult, ...]:
    results = []
    rank = {s: i for i, s in enumerate(SOURCES)}
    for owner, group in clusters.groupby("owner", sort=True):
        sources = sorted(set(group["ownerSource"]), key=lambda s: rank.get(s, 99))
        mine = open_[open_["owner"].eq(owner)]
        results.append(OwnerResult(
            owner=owner, source=", ".join(sources), clusters=len(group),
            non_compliant_clusters=int(group["policyState"].eq("NonCompliant").sum()),
            open_findings=len(mine), by_severity=severity_counts(mine["sev"]), overdue=int(mine["overdue"].sum()),
            overdue_critical=int((mine["overdue"] & mine["sev"].eq("Critical")).sum()),
        ))
    return tuple(sorted(results, key=lambda o: (-o.open_findings, o.owner)))


def _findings_summary(findings, open_, facts, timelines, snapshot) -> FindingsSummary:
    fixable = _fixable(open_)
    ttf = _time_to_fix(timelines, snapshot)
    return FindingsSummary(
        open=len(open_), exempt=int(findings["state"].eq("Exempt").sum()),
        by_severity=severity_counts(open_["sev"]), fixable=int(fixable.sum()),
        exploitable=int(open_["exploitable"].fillna(False).astype(bool).sum()), overdue=int(open_["overdue"].sum()),
        overdue_by_severity=severity_counts(open_.loc[open_["overdue"], "sev"]),
        duplicates_dropped=facts.duplicates,
        median_age_days=float(open_["ageDays"].median()) if len(open_) else None,
        median_time_to_fix_days=ttf,
    )


def _fixable(df: pd.DataFrame) -> pd.Series:
    status = text(df["fixStatus"]).str.strip().str.lower()
    return status.eq("fixavailable") | (status.isin(["", "unknown"]) & text(df["fixedVersion"]).str.strip().ne(""))


def _time_to_fix(timelines, snapshot: Snapshot) -> float | None:
    """Median days from first seen to the first snapshot where a finding is no longer open."""
    durations = []
    for (_, before), (after_facts, after) in zip(timelines, timelines[1:]):
        was_open = before[before["state"].eq("Open")]
        fixed = was_open[~was_open["key"].isin(set(after.loc[after["state"].eq("Open"), "key"]))]
        durations.append((after_facts.as_of - fixed["firstSeen"]).dt.total_seconds() / 86400)
    if not durations:
        return None
    all_ = pd.concat(durations)
    return round(float(all_.median()), 1) if len(all_) else None


def _exemptions_table(snapshot: Snapshot, exceptions: tuple[LocalException, ...], facts: SnapshotFacts,
                      findings: pd.DataFrame) -> pd.DataFrame:
    as_of = snapshot.collected_at
    ex = snapshot.frames["exemptions"]
    rows = []
    open_or_exempt = findings[findings["state"].isin(["Open", "Exempt"])]
    for _, r in ex.iterrows():
        expires = r["expiresOn"]
        scope = str(r["scope"] or "").rstrip("/").lower()
        matched = int((open_or_exempt["rid"].eq(scope) | open_or_exempt["rid"].str.startswith(scope + "/")).sum()) if scope else 0
        rows.append({
            "kind": "Policy exemption", "name": r["name"], "category": r["category"], "scope": r["scope"],
            "displayName": r["displayName"], "reason": r["description"], "approver": "", "ticket": "",
            "expiresOn": expires, **_expiry(expires, as_of), "matchedFindings": matched,
        })
    for exc in exceptions:
        expires = pd.Timestamp(exc.expires, tz="UTC")
        rows.append({
            "kind": "Local exception", "name": exc.id, "category": "Risk acceptance", "scope": exc.describe_scope(),
            "displayName": exc.id, "reason": exc.reason, "approver": exc.approver, "ticket": exc.ticket,
            "expiresOn": expires, **_expiry(expires + timedelta(days=1), as_of),
            "matchedFindings": facts.exception_matches.get(exc.id, 0),
        })
    table = pd.DataFrame(rows, columns=list(EXEMPTION_COLUMNS))
    if len(table):
        order = {"Expired": 0, "Expiring": 1, "Active": 2}
        table = table.assign(_o=table["status"].map(order)).sort_values(
            ["_o", "expiresOn", "name"], na_position="last", kind="stable").drop(columns="_o").reset_index(drop=True)
    table["expiresOn"] = pd.to_datetime(table["expiresOn"], utc=True)
    return table


def _expiry(expires, as_of: pd.Timestamp) -> dict:
    if expires is None or pd.isna(expires):
        return {"status": "Active", "daysToExpiry": None}
    days = int((pd.Timestamp(expires) - as_of).total_seconds() // 86400)
    if pd.Timestamp(expires) <= as_of:
        return {"status": "Expired", "daysToExpiry": days}
    return {"status": "Expiring" if days <= EXPIRING_DAYS else "Active", "daysToExpiry": days}


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
                "overdue": int(overdue_by_owner.get(owner, 0)),
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


def _findings_table(findings: pd.DataFrame, facts: SnapshotFacts) -> pd.DataFrame:
    names = facts.clusters.set_index("rid")["name"]
    tags = findings["imageTags"].map(lambda v: ", ".join(str(t) for t in parse_json(v, [])) if v else "")
    state_rank = findings["state"].map({"Open": 0, "Exempt": 1, "Other": 2, "Healthy": 3})
    table = pd.DataFrame({
        "state": findings["state"], "severity": findings["sev"], "cveId": findings["cveId"],
        "title": findings["title"], "cvssScore": findings["cvssScore"],
        "exploitable": findings["exploitable"].fillna(False).astype(bool), "fixStatus": findings["fixStatus"],
        "fixable": _fixable(findings), "packageName": findings["packageName"],
        "packageVersion": findings["packageVersion"], "fixedVersion": findings["fixedVersion"],
        "registryHost": findings["registryHost"], "repositoryName": findings["repositoryName"],
        "imageDigest": findings["imageDigest"], "imageTags": tags,
        "clusterName": findings["rid"].map(names).fillna(""), "resourceId": findings["resourceId"],
        "subscriptionId": findings["subscriptionId"], "resourceGroup": findings["resourceGroup"],
        "owner": findings["owner"], "ownerSource": findings["ownerSource"],
        "firstSeen": findings["firstSeen"], "dueDate": findings["dueDate"], "dueSource": findings["dueSource"], "ageDays": findings["ageDays"],
        "overdue": findings["overdue"], "daysOverdue": findings["daysOverdue"], "exemption": findings["exemption"],
        "workloads": findings["workloads"].map(_workloads_text), "publishedDate": findings["publishedDate"],
        "statusCode": findings["statusCode"], "statusCause": findings["statusCause"],
        "_state": state_rank, "_sev": findings["sev"].map(_SEV_RANK), "_rid": findings["rid"],
    })
    table = table.sort_values(
        ["_state", "overdue", "_sev", "exploitable", "cvssScore", "cveId", "_rid", "imageDigest", "packageName"],
        ascending=[True, False, True, False, False, True, True, True, True], kind="stable", na_position="last")
    return table.drop(columns=["_state", "_sev", "_rid"]).reset_index(drop=True)[list(FINDING_COLUMNS)]


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


def insights(model: ReportModel) -> tuple[str, ...]:
    """Three to five plain sentences that say what matters, generated from the figures."""
    out = []
    for c in model.controls:
        if c.status == "No data":
            out.append(f"{c.id} has no policy evidence in scope: no cluster was evaluated against the policy.")
            continue
        change = ""
        if c.change_pct is not None:
            change = (" unchanged since last month" if c.change_pct == 0 else
                      f" {'up' if c.change_pct > 0 else 'down'} {abs(c.change_pct):.2f} points since last month")
        out.append(f"{c.id} is at {c.compliance_pct:.2f}% compliance ({c.compliant + c.exempt} of "
                   f"{c.compliant + c.exempt + c.non_compliant + c.conflict} clusters compliant or exempt),{change}.")
        break  # both controls share the same policy evidence; one sentence is enough unless they differ
    f = model.findings
    crit_overdue = f.overdue_by_severity.get("Critical", 0)
    owners = sorted(model.owners, key=lambda o: (-o.overdue_critical, o.owner))
    if crit_overdue:
        top = [o for o in owners[:3] if o.overdue_critical]
        share = pct(sum(o.overdue_critical for o in top), crit_overdue)
        out.append(f"{len(top)} owner{'s' if len(top) != 1 else ''} hold{'' if len(top) != 1 else 's'} "
                   f"{share:.0f}% of the {crit_overdue:,} overdue critical findings.")
    elif f.overdue:
        out.append(f"{f.overdue:,} open findings are past their due date; none of them is critical.")
    else:
        out.append("No open finding is past its due date.")
    if f.open:
        out.append(f"{f.fixable_pct:.0f}% of the {f.open:,} open findings have a fix available, and "
                   f"{f.exploitable:,} are known to be exploitable.")
    if model.coverage.not_assessed:
        n = len(model.coverage.not_assessed)
        out.append(f"{n} cluster{'s are' if n != 1 else ' is'} not assessed by Defender and "
                   f"count{'' if n != 1 else 's'} as non-compliant until covered.")
    if model.changes is not None:
        out.append(f"Since {model.changes.previous_as_of:%d %b %Y}, {model.changes.new:,} findings appeared and "
                   f"{model.changes.resolved:,} were resolved; {model.changes.persisting:,} persist.")
    return tuple(out[:5])
