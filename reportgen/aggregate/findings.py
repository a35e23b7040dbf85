"""Per-snapshot facts: distinct findings with their state and owner, and policy roll-ups.

Findings are distinct by (resourceId case-insensitive, imageDigest, cveId, packageName);
duplicates count once (the latest timeGenerated wins). A finding is Open when its status
is Unhealthy and no unexpired local exception matches it; Exempt when its status is
NotApplicable with cause Exempt, or it is Unhealthy and excepted locally.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.aggregate import controls as ctl
from reportgen.aggregate.common import lower_id, normalize_severity, text
from reportgen.aggregate.exceptions import LocalException, match_mask
from reportgen.aggregate.model import ControlDef
from reportgen.aggregate.owners import cluster_universe, resolve_owners
from reportgen.config import RunConfig
from reportgen.snapshot import Snapshot

SEP = "\x1f"


def finding_keys(rid: pd.Series, digest: pd.Series, cve: pd.Series, package: pd.Series) -> pd.Series:
    # object dtype: membership tests (isin) on hashed Python strings are far faster than on Arrow strings
    return (rid + SEP + text(digest) + SEP + text(cve) + SEP + text(package)).astype(object)


@dataclass(frozen=True)
class SnapshotFacts:
    as_of: pd.Timestamp
    run_id: str
    clusters: pd.DataFrame          # cluster universe + owner, ownerSource, governanceDueDate
    findings: pd.DataFrame          # distinct findings: snapshot columns + rid, key, sev, state, exemption
    duplicates: int
    control_weights: dict[str, pd.Series]   # control id -> worst weight per rid
    overall_weights: pd.Series               # worst weight per rid over all configured controls
    exception_matches: dict[str, int]        # local exception id -> Unhealthy findings matched (if active)

    @property
    def open(self) -> pd.DataFrame:
        return self.findings[self.findings["state"].eq("Open")]


def snapshot_facts(snap: Snapshot, config: RunConfig, controls: tuple[ControlDef, ...],
                   exceptions: tuple[LocalException, ...], mapping: list[tuple[str, str]]) -> SnapshotFacts:
    f = snap.frames
    as_of = snap.collected_at

    states = ctl.relevant_states(f["policy_states"], config.policy.definition_ids)
    control_weights = {c.id: ctl.rollup(states, c.policy_group) for c in controls}
    groups = {c.policy_group.lower() for c in controls}
    in_any = states[states["groups"].map(lambda s: bool(s & groups))]
    overall = in_any.groupby("rid")["weight"].max() if len(in_any) else pd.Series(dtype="int64")

    findings = f["findings"]
    universe = cluster_universe(f["clusters"], pd.concat([f["policy_states"].loc[states.index, "resourceId"],
                                                           findings["resourceId"]], ignore_index=True))
    clusters = resolve_owners(universe, f["resource_containers"], f["assessments"], f["governance_assignments"],
                              config.policy.assessment_keys, config.owners.tag_keys, mapping, config.owners.fallback)

    rid = lower_id(findings["resourceId"])
    key = finding_keys(rid, findings["imageDigest"], findings["cveId"], findings["packageName"])
    # Latest sighting wins; ties broken by row id so the result never depends on input order.
    order = findings.assign(_id=text(findings["id"])).sort_values(
        ["timeGenerated", "_id"], ascending=[False, True], kind="stable", na_position="last").index
    distinct = findings.loc[order].assign(rid=rid.loc[order], key=key.loc[order])
    distinct = distinct[~distinct["key"].duplicated(keep="first")]
    duplicates = len(findings) - len(distinct)

    status = text(distinct["statusCode"]).str.strip().str.lower()
    cause = text(distinct["statusCause"]).str.strip().str.lower()
    state = np.select(
        [status.eq("unhealthy"), status.eq("notapplicable") & cause.eq("exempt"), status.eq("healthy")],
        ["Open", "Exempt", "Healthy"], default="Other")
    distinct = distinct.assign(sev=normalize_severity(distinct["severity"]), state=state,
                               exemption=np.where(state == "Exempt", "Exempt in Defender", ""))
    as_of_date = as_of.date()
    matches: dict[str, int] = {}
    for exc in exceptions:
        if not exc.active(as_of_date):
            matches[exc.id] = 0
            continue
        hit = match_mask(distinct, exc) & distinct["state"].eq("Open")
        matches[exc.id] = int(hit.sum())
        distinct.loc[hit, "state"] = "Exempt"
        distinct.loc[hit, "exemption"] = f"Local exception {exc.id}: {exc.reason}"
    distinct = distinct.reset_index(drop=True)
    return SnapshotFacts(as_of=as_of, run_id=snap.run_id, clusters=clusters, findings=distinct,
                         duplicates=duplicates, control_weights=control_weights, overall_weights=overall,
                         exception_matches=matches)


def record_sightings(seen: dict, facts: SnapshotFacts) -> None:
    """Remember the as-of time of every distinct finding (any state) not seen before.

    Snapshots are fed oldest first, so the first time a key is recorded is its first sighting.
    """
    as_of = facts.as_of
    for key in facts.findings["key"]:
        if key not in seen:
            seen[key] = as_of


def record_history_sightings(seen: dict, finding_history: pd.DataFrame) -> None:
    """Lower first sightings with the earliest TimeGenerated in continuous-export finding history."""
    if finding_history.empty:
        return
    keys = finding_keys(lower_id(finding_history["AssessedResourceId"]), finding_history["imageDigest"],
                        finding_history["VulnerabilityId"], finding_history["packageName"])
    earliest = finding_history["TimeGenerated"].groupby(keys.to_numpy(), sort=False).min()
    for key, ts in earliest.items():
        if key not in seen or ts < seen[key]:
            seen[key] = ts


def timeline(facts: SnapshotFacts, first_seen_index: dict, sla_days: dict[str, int]) -> pd.DataFrame:
    """Add firstSeen, dueDate, ageDays, overdue, daysOverdue to a snapshot's distinct findings."""
    df = facts.findings
    as_of = facts.as_of
    first = pd.to_datetime(df["key"].map(first_seen_index), utc=True).astype("datetime64[us, UTC]")
    first = first.fillna(as_of).clip(upper=as_of).astype("datetime64[us, UTC]")
    days = df["sev"].str.lower().map(sla_days)
    sla_due = first + pd.to_timedelta(days, unit="D")
    gov = facts.clusters.set_index("rid")["governanceDueDate"]
    gov_due = pd.Series(gov[~gov.index.duplicated()].reindex(df["rid"]).to_numpy(), index=df.index,
                        dtype="datetime64[us, UTC]")
    due = gov_due.where(gov_due.notna(), sla_due)
    is_open = df["state"].eq("Open")
    overdue = is_open & due.notna() & (due < as_of)
    days_over = ((as_of - due).dt.total_seconds() // 86400).where(overdue)
    return df.assign(firstSeen=first, dueDate=due, dueSource=np.where(gov_due.notna(), "governance", "sla"),
                     ageDays=((as_of - first).dt.total_seconds() // 86400).astype("int64"),
                     overdue=overdue, daysOverdue=days_over.astype("Int64"))
