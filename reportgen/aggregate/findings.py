"""Per-snapshot facts: distinct findings with their state and owner, and policy roll-ups.

Findings are distinct by (resourceId case-insensitive, imageDigest, cveId, packageName);
duplicates count once. The individual recommendations give one row per CVE per container,
so one finding can have several rows (several containers run the image) and can come from
both per-CVE sources. The row that represents it is chosen in this order: an Unhealthy row
before any other (a CVE open in one container is open), then source
``individual-recommendations`` before ``legacy-subassessments`` (before anything else), then
the latest timeGenerated, then the row id. Its workloads are the union of the workloads of
all its rows. A finding is Open when its status is Unhealthy and no unexpired local
exception matches it; Exempt when its status is NotApplicable with cause Exempt, or it is
Unhealthy and excepted locally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reportgen.aggregate import controls as ctl
from reportgen.aggregate.common import lower_id, normalize_severity, parse_json, text
from reportgen.aggregate.exceptions import LocalException, match_mask
from reportgen.aggregate.model import ControlDef
from reportgen.aggregate.owners import cluster_universe, resolve_owners
from reportgen.config import RunConfig
from reportgen.snapshot import Snapshot

SEP = "\x1f"
INDIVIDUAL = "individual-recommendations"
LEGACY = "legacy-subassessments"
UNRECORDED = "unrecorded"     # a row without a source (snapshots written before the column existed)
_SOURCE_RANK = {INDIVIDUAL: 0, LEGACY: 1}
_WORKLOAD_FIELDS = ("namespace", "kind", "name", "container")


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
    source_counts: dict[str, int] = field(default_factory=dict)  # representative source -> distinct findings;
                                                                 # "both": delivered by both sources
    cluster_sources: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))  # rid -> "a, b"

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
    source = (text(findings["source"]).str.strip().str.lower() if "source" in findings.columns
              else pd.Series("", index=findings.index, dtype=object))
    unhealthy = text(findings["statusCode"]).str.strip().str.lower().eq("unhealthy")
    # Unhealthy first, then the individual recommendations (today's source), then the latest sighting;
    # ties broken by row id so the result never depends on input order.
    order = findings.assign(
        _open=np.where(unhealthy, 0, 1), _src=source.map(_SOURCE_RANK).fillna(len(_SOURCE_RANK)).astype(int),
        _id=text(findings["id"]),
    ).sort_values(["_open", "_src", "timeGenerated", "_id"], ascending=[True, True, False, True], kind="stable",
                  na_position="last").index
    workloads = _workload_union(key, findings["workloads"])
    distinct = findings.loc[order].assign(rid=rid.loc[order], key=key.loc[order], source=source.loc[order],
                                          workloads=workloads.loc[order])
    distinct = distinct[~distinct["key"].duplicated(keep="first")]
    duplicates = len(findings) - len(distinct)
    source_counts = _source_counts(key, source, distinct["source"])
    cluster_sources = _cluster_sources(rid, source)

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
                         exception_matches=matches, source_counts=source_counts, cluster_sources=cluster_sources)


def _workload_items(value) -> tuple[str, ...]:
    """One row's workloads as canonical JSON objects (sorted keys, compact)."""
    items = parse_json(value, [])
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return ()
    return tuple(json.dumps(w, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                 for w in items if isinstance(w, dict))


def _workload_sort_key(item: str) -> tuple:
    w = json.loads(item)
    return tuple(str(w.get(f, "")) for f in _WORKLOAD_FIELDS) + (item,)


def _workloads_json(items) -> str:
    """De-duplicated, in a fixed order (namespace, kind, name, container), as one JSON array."""
    return "[" + ",".join(sorted(set(items), key=_workload_sort_key)) + "]"


def _workload_union(key: pd.Series, workloads: pd.Series) -> pd.Series:
    """Per row, the union of the workloads of every row with the same finding key.

    Rows repeat a few workload lists (every CVE of an image shares its containers), so each
    distinct list is parsed once and each distinct combination of lists is merged once.
    """
    w_codes, w_uniques = pd.factorize(text(workloads), sort=False)
    items = [_workload_items(v) for v in w_uniques]
    canonical = np.array([_workloads_json(i) for i in items] or [""], dtype=object)
    union = canonical[w_codes] if len(w_codes) else np.array([], dtype=object)
    k_codes = pd.factorize(key, sort=False)[0]
    repeated = pd.Series(k_codes).duplicated(keep=False).to_numpy()
    if repeated.any():
        pairs = pd.DataFrame({"k": k_codes[repeated], "w": w_codes[repeated]}).drop_duplicates()
        pairs = pairs.sort_values(["k", "w"], kind="stable")
        ks, ws = pairs["k"].to_numpy(), pairs["w"].to_numpy()
        bounds = np.flatnonzero(np.diff(ks)) + 1
        merged_by_code: dict[tuple, str] = {}
        merged: dict[int, str] = {}
        for start, end in zip(np.r_[0, bounds], np.r_[bounds, len(ks)]):
            codes = tuple(ws[start:end].tolist())
            if len(codes) == 1:
                merged[int(ks[start])] = canonical[codes[0]]
                continue
            text_ = merged_by_code.get(codes)
            if text_ is None:
                text_ = merged_by_code[codes] = _workloads_json(i for c in codes for i in items[c])
            merged[int(ks[start])] = text_
        union = union.copy()
        union[repeated] = [merged[int(k)] for k in k_codes[repeated]]
    return pd.Series(union, index=key.index, dtype=object)


def _source_counts(key: pd.Series, source: pd.Series, representative: pd.Series) -> dict[str, int]:
    """Distinct findings per source of their representative row, and how many both sources delivered."""
    named = representative.where(representative.ne(""), UNRECORDED)
    counts = {INDIVIDUAL: 0, LEGACY: 0, **{str(k): int(v) for k, v in named.value_counts(sort=False).items()}}
    in_individual = set(key[source.eq(INDIVIDUAL)])
    counts["both"] = len(in_individual.intersection(key[source.eq(LEGACY)])) if in_individual else 0
    return {k: counts[k] for k in sorted(counts, key=lambda k: (k == "both", _SOURCE_RANK.get(k, 2), k))}


def _cluster_sources(rid: pd.Series, source: pd.Series) -> pd.Series:
    """rid -> the sources that delivered finding rows for it, e.g. "individual-recommendations"."""
    pairs = pd.DataFrame({"rid": rid, "source": source.where(source.ne(""), UNRECORDED)}).drop_duplicates()
    if pairs.empty:
        return pd.Series(dtype=object)
    pairs = pairs.assign(_r=pairs["source"].map(_SOURCE_RANK).fillna(2)).sort_values(["rid", "_r", "source"])
    return pairs.groupby("rid", sort=True)["source"].agg(", ".join)


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
