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
from typing import Mapping

import numpy as np
import pandas as pd

from reportgen.aggregate import controls as ctl
from reportgen.aggregate.common import lower_id, normalize_severity, pair_ids, parse_json, per_value, sort_codes, text
from reportgen.aggregate.exceptions import LocalException, match_mask
from reportgen.aggregate.lineage import SIGHTING, EvidenceStart, LineageKeys, LineageTracker, first_evaluations
from reportgen.aggregate.model import ControlDef
from reportgen.aggregate.owners import cluster_universe, resolve_owners
from reportgen.config import RunConfig
from reportgen.snapshot import Snapshot

INDIVIDUAL = "individual-recommendations"
LEGACY = "legacy-subassessments"
UNRECORDED = "unrecorded"     # a row without a source (snapshots written before the column existed)
_SOURCE_RANK = {INDIVIDUAL: 0, LEGACY: 1}
_WORKLOAD_FIELDS = ("namespace", "kind", "name", "container")
_STATES = np.array(["Open", "Exempt", "Healthy", "Other"], dtype=object)


class FindingKeys:
    """Whole-number ids of finding keys (cluster id, image digest, CVE, package), the same in
    every snapshot of one build.

    A million findings are a million int64s instead of a million joined strings: the
    (cluster, digest) and (CVE, package) pairs, a few thousand each, are numbered once and a
    key is the two numbers side by side.
    """

    def __init__(self) -> None:
        self._images: dict[tuple[str, str], int] = {}
        self._vulns: dict[tuple[str, str], int] = {}

    def of(self, rid: pd.Series, digest: pd.Series, cve: pd.Series, package: pd.Series) -> np.ndarray:
        images = pair_ids(self._images, rid, text(digest))
        vulns = pair_ids(self._vulns, text(cve), text(package))
        return (images << 32) | vulns


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
    # per lineage (index), the earliest firstEvaluationDate of its rows raised to publishedDate: at, source
    evaluated: pd.DataFrame = field(default_factory=lambda: first_evaluations(np.array([], dtype=np.int64), None, None))

    @property
    def open(self) -> pd.DataFrame:
        return self.findings[self.findings["state"].eq("Open")]


def snapshot_facts(snap: Snapshot, config: RunConfig, controls: tuple[ControlDef, ...],
                   exceptions: tuple[LocalException, ...], mapping: list[tuple[str, str]],
                   keys: FindingKeys | None = None, lineages: LineageKeys | None = None) -> SnapshotFacts:
    """``keys`` and ``lineages``: shared by the snapshots of one build, so that their keys compare.
    The distinct findings carry their lineage (column ``lineage``)."""
    f = snap.frames
    as_of = snap.collected_at
    keys = keys or FindingKeys()

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
    key = keys.of(rid, findings["imageDigest"], findings["cveId"], findings["packageName"])
    lineages = lineages or LineageKeys()
    lineage = lineages.of_findings(findings, rid)
    evaluated = first_evaluations(lineage, findings.get("firstEvaluationDate"), findings["publishedDate"])
    source = (per_value(text(findings["source"]), lambda v: v.strip().lower()) if "source" in findings.columns
              else pd.Series("", index=findings.index, dtype=object))
    unhealthy = per_value(text(findings["statusCode"]), lambda v: v.strip().lower() == "unhealthy", bool)
    # Unhealthy first, then the individual recommendations (today's source), then the latest sighting;
    # ties broken by row id so the result never depends on input order.
    order = _representative_order(unhealthy.to_numpy(), source.map(_SOURCE_RANK).fillna(len(_SOURCE_RANK)).to_numpy(),
                                  findings["timeGenerated"], text(findings["id"]))
    first_of_key = ~pd.Series(key[order]).duplicated(keep="first").to_numpy()
    rows = order[first_of_key]
    workloads = _workload_union(key, findings["workloads"])
    distinct = findings.take(rows).reset_index(drop=True)
    distinct = distinct.assign(rid=_objects(rid.to_numpy()[rows]), key=key[rows], lineage=lineage[rows],
                               source=_objects(source.to_numpy()[rows]), workloads=_objects(workloads[rows]))
    duplicates = len(findings) - len(distinct)
    source_counts = _source_counts(key, source, distinct["source"])
    cluster_sources = _cluster_sources(rid, source)
    del rid, key, lineage, source, unhealthy, order, workloads

    status = per_value(text(distinct["statusCode"]), lambda v: v.strip().lower())
    cause = per_value(text(distinct["statusCause"]), lambda v: v.strip().lower())
    state = _STATES[np.select([status.eq("unhealthy"), status.eq("notapplicable") & cause.eq("exempt"),
                               status.eq("healthy")], [0, 1, 2], default=3)]
    distinct = distinct.assign(sev=normalize_severity(distinct["severity"]), state=_objects(state),
                               exemption=_objects(np.where(state == "Exempt", "Exempt in Defender", "")))
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
    return SnapshotFacts(as_of=as_of, run_id=snap.run_id, clusters=clusters, findings=distinct,
                         duplicates=duplicates, control_weights=control_weights, overall_weights=overall,
                         exception_matches=matches, source_counts=source_counts, cluster_sources=cluster_sources,
                         evaluated=evaluated)


def _objects(values: np.ndarray) -> pd.Series:
    """Text values as an object column: pandas would otherwise copy them into Arrow strings."""
    return pd.Series(values.astype(object, copy=False), dtype=object)


def _representative_order(unhealthy: np.ndarray, source_rank: np.ndarray, time_generated: pd.Series,
                          row_id: pd.Series) -> np.ndarray:
    """Row positions sorted Unhealthy first, then by source rank, latest timeGenerated (missing
    last), row id; stable, as a pandas sort of those columns would be."""
    times = pd.to_datetime(time_generated, utc=True).array.asi8
    missing = time_generated.isna().to_numpy()
    latest_first = np.where(missing, np.iinfo(np.int64).max, -np.where(missing, 0, times))
    return np.lexsort((sort_codes(row_id), latest_first, source_rank.astype(np.int64),
                       np.where(unhealthy, 0, 1)))


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


def _workload_union(key: np.ndarray, workloads: pd.Series) -> np.ndarray:
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
        union[repeated] = [merged[k] for k in k_codes[repeated].tolist()]
    return union


def _source_counts(key: np.ndarray, source: pd.Series, representative: pd.Series) -> dict[str, int]:
    """Distinct findings per source of their representative row, and how many both sources delivered."""
    named = representative.where(representative.ne(""), UNRECORDED)
    counts = {INDIVIDUAL: 0, LEGACY: 0, **{str(k): int(v) for k, v in named.value_counts(sort=False).items()}}
    sources = source.to_numpy()
    individual = pd.unique(key[sources == INDIVIDUAL])
    counts["both"] = int(pd.Index(individual).isin(key[sources == LEGACY]).sum()) if len(individual) else 0
    return {k: counts[k] for k in sorted(counts, key=lambda k: (k == "both", _SOURCE_RANK.get(k, 2), k))}


def _cluster_sources(rid: pd.Series, source: pd.Series) -> pd.Series:
    """rid -> the sources that delivered finding rows for it, e.g. "individual-recommendations"."""
    pairs = pd.DataFrame({"rid": rid, "source": source.where(source.ne(""), UNRECORDED)}).drop_duplicates()
    if pairs.empty:
        return pd.Series(dtype=object)
    pairs = pairs.assign(_r=pairs["source"].map(_SOURCE_RANK).fillna(2)).sort_values(["rid", "_r", "source"])
    return pairs.groupby("rid", sort=True)["source"].agg(", ".join)


def timeline(facts: SnapshotFacts, tracker: LineageTracker, sla_days: dict[str, int],
             evidence_start: EvidenceStart | None = None) -> pd.DataFrame:
    """Add firstSeen, firstSeenSource, ageIsLowerBound, dueDate, dueSource, ageDays, overdue, daysOverdue
    to a snapshot's distinct findings.

    First seen is the lineage's (``tracker``, fed with every earlier sighting); a lineage never
    sighted open before is first seen now. The age is a lower bound when the first seen comes
    from a sighting at the start of its cluster's evidence (``evidence_start``: the oldest snapshot, or
    the cluster's earliest history row):
    the finding may be older than the evidence. Due date (DESIGN §6): the cluster's governance
    remediationDueDate when the first seen is on or before it, else first seen + the SLA days of
    the row's severity; none for unknown severity.
    """
    df = facts.findings
    as_of = facts.as_of
    first, first_source = tracker.first_seen(df["lineage"].to_numpy())
    never = first.isna() | (first > as_of)
    first = first.where(~never, as_of).astype("datetime64[us, UTC]")
    first_source = first_source.where(~never, SIGHTING)
    lower_bound = (evidence_start.lower_bound(first, first_source, df["rid"].to_numpy()) if evidence_start is not None
                   else np.zeros(len(df), dtype=bool))
    days = per_value(df["sev"], lambda v: sla_days.get(v.lower(), np.nan), float)
    sla_due = first + pd.to_timedelta(days, unit="D")
    gov = facts.clusters.set_index("rid")["governanceDueDate"]
    gov = gov[~gov.index.duplicated()]
    gov_due = per_value(df["rid"], lambda r: gov.get(r, pd.NaT), "datetime64[us, UTC]").reset_index(drop=True)
    gov_applies = gov_due.notna() & (first <= gov_due)
    due = gov_due.where(gov_applies, sla_due)
    source = np.where(gov_applies, "governance", np.where(sla_due.notna(), "sla", "none"))
    is_open = df["state"].eq("Open").to_numpy()
    overdue = pd.Series(is_open & due.notna().to_numpy() & (due < as_of).to_numpy(), index=df.index)
    days_over = ((as_of - due).dt.total_seconds() // 86400).where(overdue.to_numpy())
    return df.assign(firstSeen=first.array, firstSeenSource=_objects(first_source.to_numpy()),
                     ageIsLowerBound=np.asarray(lower_bound, dtype=bool), dueDate=due.array,
                     dueSource=_objects(source),
                     ageDays=((as_of - first).dt.total_seconds() // 86400).astype("int64").to_numpy(),
                     overdue=overdue, daysOverdue=pd.array(days_over.to_numpy(), dtype="Int64"))


def due_date_method(sla_days: Mapping[str, int]) -> str:
    """How ``timeline`` sets due dates and overdue flags, in one sentence for every document."""
    sla = ", ".join(f"{severity} {days} days" for severity, days in sla_days.items())
    return ("Due date: the remediation due date of the cluster's Defender governance assignment when the finding "
            f"was first seen on or before it, otherwise first seen plus the SLA days of the finding's severity "
            f"({sla}); a finding of unknown severity has no SLA and is due only by a governance date. First seen "
            "is that of the finding's lineage (the same CVE and package on the same cluster and repository, "
            "across image rebuilds): its earliest open sighting or Defender's firstEvaluationDate, raised to the "
            "CVE's published date. When the snapshot holds the known-exploited catalogue (CISA KEV), a finding whose "
            "CVE is in it is due by the earlier of that date and the catalogue's due date for the CVE (due date source \"kev\" when the "
            "catalogue's date applies). Overdue: open, and due before the as-of time.")


KNOWN_EXPLOITED = "known_exploited"     # the optional snapshot dataset (reportgen/collect/kev.py)


def known_exploited_catalogue(snap: Snapshot) -> pd.DataFrame | None:
    """The snapshot's KEV catalogue (``known_exploited``), or None when it was not collected (not checked)."""
    return snap.frames.get(KNOWN_EXPLOITED) if KNOWN_EXPLOITED in snap.datasets else None


def kev_lookup(catalogue: pd.DataFrame | None) -> pd.DataFrame | None:
    """The catalogue by upper-case CVE id: dateAdded, dueDate, knownRansomwareCampaignUse (None: not checked)."""
    if catalogue is None:
        return None
    cve = per_value(catalogue["cveID"], lambda v: "" if v is None else str(v).strip().upper())
    table = pd.DataFrame({"dateAdded": pd.to_datetime(catalogue["dateAdded"], utc=True).astype("datetime64[us, UTC]"),
                          "dueDate": pd.to_datetime(catalogue["dueDate"], utc=True).astype("datetime64[us, UTC]"),
                          "ransomware": catalogue["knownRansomwareCampaignUse"].fillna("").astype(object)})
    table.index = pd.Index(cve.to_numpy(dtype=object))
    # one row per CVE; a repeated CVE keeps its earliest due date
    table = table.sort_values("dueDate", kind="stable")
    return table[~table.index.duplicated()]


def kev_due_of(cves: pd.Series, lookup: pd.DataFrame | None, column: str = "dueDate") -> pd.Series:
    """Per CVE id, ``column`` of its catalogue entry (NaT / None when it is not in the catalogue)."""
    if lookup is None or lookup.empty:
        return (pd.Series(pd.NaT, index=cves.index, dtype="datetime64[us, UTC]") if column != "ransomware"
                else pd.Series(None, index=cves.index, dtype=object))
    values = lookup[column]
    if column == "ransomware":
        return per_value(cves, lambda v: values.get(str(v).strip().upper()) if v is not None else None)
    return per_value(cves, lambda v: values.get(str(v).strip().upper(), pd.NaT) if v is not None else pd.NaT,
                     "datetime64[us, UTC]")


def stricter_due(due: pd.Series, source, kev_due: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """The due date rule for known-exploited CVEs (issue 11 item 5): the earlier of the SLA/governance due date
    and the KEV dueDate; the source is "kev" where the KEV date is strictly earlier (or the only one)."""
    due = pd.Series(due.array, index=kev_due.index).astype("datetime64[us, UTC]")
    kev_wins = (kev_due.notna() & (due.isna() | (kev_due < due))).to_numpy()
    return due.where(~kev_wins, kev_due), np.where(kev_wins, "kev", np.asarray(source, dtype=object)).astype(object)


def apply_known_exploited(findings: pd.DataFrame, catalogue: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """Flag findings whose CVE is in the KEV catalogue (``known_exploited`` dataset) and give them the stricter
    (earlier) of their SLA/governance due date and the KEV due date; dueSource "kev" when the KEV date wins.

    ``findings`` needs cveId, state, dueDate, dueSource (``timeline``'s output); overdue and daysOverdue are
    recomputed from the new due date. Adds knownExploited, kevDateAdded, kevDueDate, kevRansomware
    (the catalogue's knownRansomwareCampaignUse) and slaDueDate (the due date before this rule). ``catalogue`` None (not checked) leaves the due dates as
    they are, with knownExploited all False and the kev columns empty."""
    out = findings            # not changed in place: assign returns a new frame
    lookup = kev_lookup(catalogue)
    cve = out["cveId"]
    kev_due = kev_due_of(cve, lookup)
    added = kev_due_of(cve, lookup, "dateAdded")
    ransomware = kev_due_of(cve, lookup, "ransomware")
    in_kev = added.notna() | kev_due.notna()
    sla_due = pd.Series(out["dueDate"].array, index=out.index).astype("datetime64[us, UTC]")
    due, source = stricter_due(out["dueDate"], out["dueSource"].to_numpy(dtype=object), kev_due)
    is_open = out["state"].eq("Open").to_numpy()
    overdue = pd.Series(is_open & due.notna().to_numpy() & (due < as_of).to_numpy(), index=out.index)
    days_over = ((as_of - due).dt.total_seconds() // 86400).where(overdue.to_numpy())
    # not checked: knownExploited is empty (None), never False ("not in the catalogue" needs a catalogue)
    flag = (in_kev.to_numpy(dtype=bool) if lookup is not None
            else pd.Series(None, index=out.index, dtype=object))
    return out.assign(knownExploited=flag, kevDateAdded=added.array, kevDueDate=kev_due.array,
                      kevRansomware=pd.Series(ransomware.where(in_kev, "").to_numpy(dtype=object), index=out.index,
                                              dtype=object),
                      slaDueDate=sla_due.array, dueDate=due.array, dueSource=pd.Series(source, index=out.index, dtype=object), overdue=overdue,
                      daysOverdue=pd.array(days_over.to_numpy(), dtype="Int64"))
