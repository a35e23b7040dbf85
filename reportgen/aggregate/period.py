"""Lineages over time: changes between snapshots and the period population (DESIGN §6).

A snapshot is a sighting of every lineage at its ``collected_at``: a lineage is open there when
one of its rows is Unhealthy and not excepted. A ``finding_history`` row is a sighting of its
lineage at its ``TimeGenerated``. The period population is every lineage open in the opening
snapshot (the latest one collected at or before the period start) or at any sighting inside the
period; each is closed at the first sighting after its last open one, when it is not open at the
as-of time, for a reason (fixed, exempt, out_of_scope), and gets an SLA verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.aggregate.common import lower_id, object_frame
from reportgen.aggregate.lineage import SEV_RANK, SIGHTING, UNKNOWN_RANK, EvidenceStart, LineageKeys, LineageTracker, severity_rank
from reportgen.aggregate.model import SEVERITY_ORDER, MonthlySla, PeriodPopulation, RollForward

REASONS = ("fixed", "exempt", "out_of_scope")
VERDICTS = ("met", "missed", "open-overdue", "open-within")
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class SnapPoint:
    """What the lineage rules read of one snapshot."""

    as_of: pd.Timestamp
    run_id: str
    period_start: pd.Timestamp         # the first instant of this snapshot's own period
    rows: pd.DataFrame                 # distinct findings: lineage, state, sevrank, imageDigest, rid
    clusters: pd.DataFrame             # rid, id, name, owner, governanceDueDate (the snapshot's cluster universe)
    label: str                         # "2026-10"

    def open_rows(self) -> pd.DataFrame:
        return self.rows[self.rows["state"].eq("Open")]

    def open_lineages(self) -> np.ndarray:
        return pd.unique(self.open_rows()["lineage"].to_numpy())


def isin(values, members) -> np.ndarray:
    """``values`` in ``members``, by hashing (numpy's sort-based isin is slow for text and large ids)."""
    return pd.Index(members).unique().get_indexer(pd.Index(values)) >= 0 if len(values) else np.zeros(0, dtype=bool)


def snap_point(facts, timeline_rows: pd.DataFrame, period_start: pd.Timestamp) -> SnapPoint:
    rows = object_frame({
        "lineage": timeline_rows["lineage"].to_numpy(dtype=np.int64), "state": timeline_rows["state"].to_numpy(),
        "sevrank": timeline_rows["sev"].map(SEV_RANK).fillna(UNKNOWN_RANK).to_numpy(dtype=np.int8),
        "imageDigest": timeline_rows["imageDigest"].to_numpy(dtype=object), "rid": timeline_rows["rid"].to_numpy(),
    })
    clusters = facts.clusters[["rid", "id", "name", "owner", "governanceDueDate"]].drop_duplicates("rid")
    return SnapPoint(as_of=facts.as_of, run_id=facts.run_id, period_start=period_start, rows=rows,
                     clusters=clusters.reset_index(drop=True), label=facts.as_of.strftime("%Y-%m"))


def history_rows(history: pd.DataFrame, lineages: LineageKeys) -> pd.DataFrame:
    """finding_history rows as sightings: lineage, at, open, sevrank, imageDigest, rid."""
    if history.empty:
        return empty_history()
    state = history["RecommendationState"].fillna("").astype(str).str.strip().str.lower()
    return object_frame({
        "lineage": lineages.of_history(history), "at": pd.to_datetime(history["TimeGenerated"], utc=True).astype("datetime64[us, UTC]").array,
        "open": state.eq("unhealthy").to_numpy(), "sevrank": severity_rank(history["RecommendationSeverity"]),
        "imageDigest": history["imageDigest"].fillna("").astype(str).to_numpy(dtype=object),
        "rid": lower_id(history["AssessedResourceId"]).to_numpy(),
    }).dropna(subset=["at"])


def empty_history() -> pd.DataFrame:
    return pd.DataFrame({"lineage": pd.Series([], dtype=np.int64),
                         "at": pd.Series([], dtype="datetime64[us, UTC]"), "open": pd.Series([], dtype=bool),
                         "sevrank": pd.Series([], dtype=np.int8), "imageDigest": pd.Series([], dtype=object),
                         "rid": pd.Series([], dtype=object)})


# -- changes between two snapshots ---------------------------------------------------------------

@dataclass(frozen=True)
class LineageChanges:
    new: np.ndarray            # lineages open now, not open then
    resolved: np.ndarray       # open then, not open now
    persisting: np.ndarray     # open in both
    rebuilt: np.ndarray        # persisting, with an open digest now that was not open then


def lineage_changes(before: SnapPoint, now: SnapPoint) -> LineageChanges:
    b_rows, n_rows = before.open_rows(), now.open_rows()
    b, n = pd.unique(b_rows["lineage"].to_numpy()), pd.unique(n_rows["lineage"].to_numpy())
    persisting = n[isin(n, b)]
    # (lineage, digest) pairs as whole numbers: digests coded over both snapshots, lower-cased
    codes = _lower_codes(pd.concat([b_rows["imageDigest"], n_rows["imageDigest"]], ignore_index=True))
    l_codes, _ = pd.factorize(np.concatenate([b_rows["lineage"].to_numpy(), n_rows["lineage"].to_numpy()]))
    pair = l_codes.astype(np.int64) * (int(codes.max()) + 2 if len(codes) else 1) + codes
    b_pairs, n_pairs = pair[:len(b_rows)], pair[len(b_rows):]
    fresh = n_rows["lineage"].to_numpy()[~isin(n_pairs, b_pairs)]
    rebuilt = persisting[isin(persisting, pd.unique(fresh))]
    return LineageChanges(new=n[~isin(n, b)], resolved=b[~isin(b, n)], persisting=persisting, rebuilt=rebuilt)


def _lower_codes(series: pd.Series) -> np.ndarray:
    """Codes of the lower-cased, trimmed values (equal text, whatever its case, gets one code)."""
    codes, uniques = pd.factorize(series.fillna("").astype(object).to_numpy(dtype=object), sort=False)
    low_codes, _ = pd.factorize(np.array([str(u).strip().lower() for u in uniques] or [""], dtype=object))
    return low_codes[codes].astype(np.int64) if len(codes) else np.array([], dtype=np.int64)


# -- the period population ------------------------------------------------------------------------

@dataclass(frozen=True)
class Population:
    """The period population of one snapshot (``points[index]``), one row per lineage."""

    frame: pd.DataFrame        # lineage, sevrank, firstSeen, firstSeenSource, dueDate, dueSource, openAtStart,
                               # openAtAsOf, closed, closeReason, slaVerdict, daysToFix, rid
    opening: SnapPoint | None
    sightings: int             # snapshots and distinct history times inside the period
    events: pd.DataFrame       # lineage, at, kind (snapshot | history), open — every sighting in the period
    open_digests: pd.DataFrame  # lineage, imageDigest — open at some sighting of the period


def population(points: list[SnapPoint], index: int, history: pd.DataFrame, tracker: LineageTracker,
               sla_days: dict[str, int], evidence_start: EvidenceStart, known_exploited: pd.DataFrame | None = None,
               lineages: LineageKeys | None = None) -> Population:
    """``known_exploited``: the KEV catalogue of ``points[index]``'s snapshot (None: not checked); with it
    (and ``lineages``, to name each lineage's CVE) due dates follow the findings' rule: the earlier of the
    SLA/governance date and the catalogue's dueDate, source "kev" when the catalogue's applies."""
    cur = points[index]
    start = cur.period_start
    opening = next((p for p in reversed(points[:index]) if p.as_of <= start), None)
    inside = [p for p in points[:index + 1] if start < p.as_of <= cur.as_of]
    seen = ([opening] if opening is not None else []) + inside
    hist = history[(history["at"] >= start) & (history["at"] <= cur.as_of)]

    opened = [p.open_lineages() for p in seen] + [pd.unique(hist.loc[hist["open"], "lineage"].to_numpy())]
    pop = pd.unique(np.concatenate(opened)) if opened else np.array([], dtype=np.int64)
    pop = np.sort(pop.astype(np.int64))
    n = len(pop)
    events = [object_frame({"lineage": pop, "at": np.repeat(p.as_of.to_datetime64(), n), "kind": "snapshot",
                            "open": isin(pop, o)}) for p, o in zip(seen, opened)]
    h = hist[isin(hist["lineage"].to_numpy(), pop)]
    if len(h):
        h_ev = h.groupby(["lineage", "at"], sort=False)["open"].any().reset_index()
        events.append(h_ev.assign(kind="history"))
    ev = (pd.concat(events, ignore_index=True) if events else
          pd.DataFrame({"lineage": pd.Series([], dtype=np.int64), "at": pd.Series([], dtype="datetime64[us, UTC]"),
                        "kind": pd.Series([], dtype=object), "open": pd.Series([], dtype=bool)}))
    ev["at"] = pd.to_datetime(ev["at"], utc=True).astype("datetime64[us, UTC]")
    ev = ev.sort_values(["lineage", "at", "kind"], kind="stable").reset_index(drop=True)

    index_ = pd.Index(pop, dtype=np.int64)
    last_open = _times(ev[ev["open"]].groupby("lineage")["at"].max(), index_)
    last = pd.Series(last_open.reindex(ev["lineage"].to_numpy()).array, index=ev.index)
    closing_ev = ev[~ev["open"] & (ev["at"] > last)]
    closed = _times(closing_ev.groupby("lineage")["at"].min(), index_)
    open_now = isin(pop, opened[len(seen) - 1]) if seen and seen[-1] is cur else np.zeros(n, dtype=bool)
    open_start = isin(pop, opened[0]) if opening is not None else np.zeros(n, dtype=bool)
    closed = closed.where(~open_now, pd.NaT)
    closed = closed.where(closed.notna() | pd.Series(open_now, index=index_), cur.as_of).astype("datetime64[us, UTC]")

    # lineage severity: the highest among its open rows at any sighting of the period
    sev_parts = [p.open_rows()[["lineage", "sevrank"]] for p in seen] + [hist.loc[hist["open"], ["lineage", "sevrank"]]]
    sev_all = pd.concat(sev_parts, ignore_index=True)
    sevrank = sev_all.groupby("lineage")["sevrank"].min().reindex(index_).fillna(UNKNOWN_RANK).astype(np.int8)

    rid = _rid_of(pop, seen, hist)
    first, first_source = tracker.first_seen(pop)
    first = pd.Series(first.array, index=index_).fillna(start).astype("datetime64[us, UTC]")
    lower_bound = evidence_start.lower_bound(first, first_source, rid)
    gov = _cluster_value(rid, [cur] + ([opening] if opening is not None else []), "governanceDueDate")
    gov = pd.to_datetime(gov, utc=True).astype("datetime64[us, UTC]")
    gov.index = index_
    days = pd.Series([sla_days.get(SEVERITY_ORDER[r].lower(), np.nan) for r in sevrank.to_numpy()], index=index_,
                     dtype=float)
    sla_due = first + pd.to_timedelta(days, unit="D")
    gov_applies = gov.notna() & (first <= gov)
    due = gov.where(gov_applies, sla_due)
    due_source = np.where(gov_applies, "governance", np.where(sla_due.notna(), "sla", "none"))
    if known_exploited is not None and lineages is not None and n:
        from reportgen.aggregate.findings import kev_due_of, kev_lookup, stricter_due
        cves = pd.Series(lineages.parts(pop)["cveId"].to_numpy(dtype=object), index=index_)
        due, due_source = stricter_due(due, due_source, kev_due_of(cves, kev_lookup(known_exploited)))

    in_scope = pd.Index(cur.clusters["rid"]).unique()
    cur_exempt = pd.unique(cur.rows.loc[cur.rows["state"].eq("Exempt"), "lineage"].to_numpy())
    reason = np.where(open_now, "", np.where(~isin(rid, in_scope), "out_of_scope",
                                             np.where(isin(pop, cur_exempt), "exempt", "fixed")))
    fixed = reason == "fixed"
    has_due = due.notna().to_numpy()
    on_time = (closed <= due).to_numpy()
    late = (due < cur.as_of).to_numpy()
    verdict = np.select([fixed & has_due & on_time, fixed & has_due, open_now & has_due & late, open_now],
                        ["met", "missed", "open-overdue", "open-within"], default="")
    days_to_fix = ((closed - first).dt.total_seconds() / 86400).where(fixed).round(1)
    frame = object_frame({
        "lineage": pop, "sevrank": sevrank.to_numpy(), "rid": rid, "firstSeen": first.array,
        "firstSeenSource": first_source.to_numpy(dtype=object), "dueDate": due.array, "dueSource": due_source,
        "openAtStart": open_start, "openAtAsOf": open_now, "closed": closed.array, "closeReason": reason,
        "slaVerdict": verdict, "daysToFix": days_to_fix.to_numpy(), "ageIsLowerBound": lower_bound,
    })
    frame["firstSeenSource"] = frame["firstSeenSource"].replace("", "sighting")
    digests = pd.concat([p.open_rows()[["lineage", "imageDigest"]] for p in seen]
                        + [hist.loc[hist["open"], ["lineage", "imageDigest"]]], ignore_index=True).drop_duplicates()
    return Population(frame=frame, opening=opening, sightings=len(inside) + int(hist["at"].nunique()), events=ev,
                      open_digests=digests)


def _times(values: pd.Series, index: pd.Index) -> pd.Series:
    """``values`` reindexed to ``index`` as UTC times (an empty group-by loses the type)."""
    out = values.reindex(index)
    return out.astype("datetime64[us, UTC]") if len(values) else pd.Series(pd.NaT, index=index,
                                                                            dtype="datetime64[us, UTC]")


def _rid_of(pop: np.ndarray, seen: list[SnapPoint], hist: pd.DataFrame) -> np.ndarray:
    """The cluster of each lineage (every row of a lineage names the same one)."""
    parts = [p.rows[["lineage", "rid"]] for p in reversed(seen)] + [hist[["lineage", "rid"]]]
    frame = pd.concat(parts, ignore_index=True).drop_duplicates("lineage")
    return frame.set_index("lineage")["rid"].reindex(pd.Index(pop, dtype=np.int64)).fillna("").to_numpy(dtype=object)


def _cluster_value(rid: np.ndarray, points: list[SnapPoint], column: str) -> pd.Series:
    """``column`` of each lineage's cluster in the first of ``points`` that knows the cluster
    (looked up once per distinct cluster)."""
    codes, uniques = pd.factorize(np.asarray(rid, dtype=object), sort=False)
    found = pd.Series([None] * len(uniques), dtype=object)
    for p in points:
        values = p.clusters.drop_duplicates("rid").set_index("rid")[column]
        got = pd.Series(values.reindex(uniques).to_numpy(dtype=object), dtype=object)
        found = found.where(found.notna(), got)
    taken = found.to_numpy(dtype=object)[codes] if len(codes) else np.array([], dtype=object)
    return pd.Series(taken, dtype=object)


def roll_forward(frame: pd.DataFrame) -> RollForward:
    opening = int(frame["openAtStart"].sum())
    closing = int(frame["openAtAsOf"].sum())
    return RollForward(opening=opening, new=len(frame) - opening, closed=len(frame) - closing, closing=closing)


def attainment(met: int, missed: int) -> float | None:
    return round(100.0 * met / (met + missed), 2) if met + missed else None


def period_figures(pop: Population, cur: SnapPoint, monthly: tuple[MonthlySla, ...]) -> PeriodPopulation:
    f = pop.frame
    by_sev = {s: roll_forward(f[f["sevrank"].eq(i)]) for i, s in enumerate(SEVERITY_ORDER)}
    verdicts = f["slaVerdict"].value_counts()
    reasons = f["closeReason"].value_counts()
    sla = {"met": int(verdicts.get("met", 0)), "missed": int(verdicts.get("missed", 0)),
           "open_overdue": int(verdicts.get("open-overdue", 0)), "open_within": int(verdicts.get("open-within", 0))}
    statement = None
    if pop.opening is None:
        statement = (f"No snapshot was collected at or before the period start ({cur.period_start:%d %b %Y}): the "
                     "opening balance is 0 and every lineage open in the period counts as new.")
    return PeriodPopulation(
        period_start=cur.period_start, opening_as_of=pop.opening.as_of if pop.opening else None,
        opening_run_id=pop.opening.run_id if pop.opening else None, sightings=pop.sightings,
        total=roll_forward(f), by_severity=by_sev, closed_by_reason={r: int(reasons.get(r, 0)) for r in REASONS},
        sla=sla, sla_attainment_pct=attainment(sla["met"], sla["missed"]), monthly=monthly, statement=statement)


def monthly_sla(label: str, frame: pd.DataFrame) -> list[MonthlySla]:
    """SLA attainment and days to fix of the lineages fixed in one period, per severity and "All"."""
    fixed = frame[frame["closeReason"].eq("fixed")]
    out = []
    for name, part in [*((s, fixed[fixed["sevrank"].eq(i)]) for i, s in enumerate(SEVERITY_ORDER)), ("All", fixed)]:
        met, missed = int(part["slaVerdict"].eq("met").sum()), int(part["slaVerdict"].eq("missed").sum())
        days = part["daysToFix"].dropna()
        out.append(MonthlySla(month=label, severity=name, fixed=len(part), met=met, missed=missed,
                              attainment_pct=attainment(met, missed),
                              mean_days_to_fix=round(float(days.mean()), 1) if len(days) else None,
                              median_days_to_fix=round(float(days.median()), 1) if len(days) else None))
    return out


# -- the population table ---------------------------------------------------------------------------

def _time_text(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%MZ")


def sightings_text(events: pd.DataFrame) -> pd.Series:
    """Per lineage (index), "<UTC time> <snapshot|history> <open|not open>; ..." in time order.

    Every lineage of a population has one event per snapshot sighting, at the same times: a lineage
    without history rows is told by the pattern of its open flags, whose text is made once; only
    lineages with history rows are joined one by one."""
    if events.empty:
        return pd.Series(dtype=object)
    word = {True: "open", False: "not open"}
    snap = events[events["kind"].eq("snapshot")].sort_values(["lineage", "at"], kind="stable")
    times = [pd.Timestamp(t) for t in np.sort(pd.unique(snap["at"]))]
    lineages = pd.unique(snap["lineage"].to_numpy())
    k = len(times)
    flags = snap["open"].to_numpy(dtype=bool).reshape(len(lineages), k)
    masks = (flags.astype(np.int64) << np.arange(k, dtype=np.int64)).sum(axis=1)
    texts = {m: "; ".join(f"{_time_text(t)} snapshot {word[bool(m >> j & 1)]}" for j, t in enumerate(times))
             for m in pd.unique(masks).tolist()}
    out = pd.Series([texts[m] for m in masks.tolist()], index=pd.Index(lineages, dtype=np.int64), dtype=object)
    with_history = pd.unique(events.loc[events["kind"].eq("history"), "lineage"].to_numpy())
    if len(with_history):
        ev = events[events["lineage"].isin(with_history)].sort_values(["lineage", "at", "kind"], kind="stable")
        joined: dict[int, list[str]] = {}
        for lineage, at, kind, open_ in zip(ev["lineage"].tolist(), ev["at"].tolist(), ev["kind"].tolist(),
                                            ev["open"].tolist()):
            joined.setdefault(lineage, []).append(f"{_time_text(pd.Timestamp(at))} {kind} {word[bool(open_)]}")
        extra = pd.Series({lin: "; ".join(parts) for lin, parts in joined.items()}, dtype=object)
        out = pd.concat([out[~out.index.isin(extra.index)], extra]).sort_index()
    return out


def digests_text(open_digests: pd.DataFrame) -> pd.Series:
    """Per lineage (index), its open digests sorted and "; "-joined (one digest: no join)."""
    if open_digests.empty:
        return pd.Series(dtype=object)
    codes, uniques = pd.factorize(open_digests["imageDigest"].fillna("").astype(object).to_numpy(dtype=object))
    names = np.array([str(u) for u in uniques] + [""], dtype=object)
    order = np.argsort(names[:-1], kind="stable")
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    sorted_names = names[:-1][order]
    pairs = pd.DataFrame({"lineage": open_digests["lineage"].to_numpy(dtype=np.int64), "d": rank[codes]})
    pairs = pairs[sorted_names[pairs["d"].to_numpy()] != ""]
    pairs = pairs.drop_duplicates().sort_values(["lineage", "d"], kind="stable")
    lin, d = pairs["lineage"].to_numpy(), pairs["d"].to_numpy()
    many = pairs["lineage"].duplicated(keep=False).to_numpy()
    single = pd.Series(sorted_names[d[~many]], index=lin[~many], dtype=object)
    multi: dict[int, list[str]] = {}
    for lineage, code in zip(lin[many].tolist(), d[many].tolist()):
        multi.setdefault(lineage, []).append(sorted_names[code])
    joined = pd.Series({k: "; ".join(v) for k, v in multi.items()}, dtype=object)
    return pd.concat([single, joined]).sort_index() if len(joined) else single.sort_index()


def population_table(pop: Population, cur: SnapPoint, opening: SnapPoint | None, lineages: LineageKeys,
                     evidence: pd.Series, query_sha: str | None, history_sha: str | None,
                     fallback_owner: str) -> pd.DataFrame:
    """The period population for display (POPULATION_COLUMNS), sorted by severity then lineage id.

    ``evidence``: per lineage (index), the exemption or exception that covers it now, "" if none."""
    f = pop.frame
    lineage = f["lineage"].to_numpy(dtype=np.int64)
    parts = lineages.parts(lineage)
    known = [cur] + ([opening] if opening is not None else [])
    rid = f["rid"].to_numpy(dtype=object)
    name = _cluster_value(rid, known, "name").fillna("")
    cluster_id = _cluster_value(rid, known, "id")
    owner = _cluster_value(rid, known, "owner").fillna(fallback_owner)
    sightings = sightings_text(pop.events).reindex(lineage).fillna("")
    from_history = pd.unique(pop.events.loc[pop.events["kind"].eq("history"), "lineage"].to_numpy())
    query = f"findings {query_sha}" if query_sha else ""
    query_h = "; ".join(p for p in (query, f"finding_history {history_sha}" if history_sha else "") if p)
    table = object_frame({
        "lineageId": lineages.lineage_ids(lineage),
        "severity": np.array(SEVERITY_ORDER, dtype=object)[f["sevrank"].to_numpy(dtype=np.int64)],
        "cveId": parts["cveId"].to_numpy(), "packageName": parts["packageName"].to_numpy(),
        "repository": parts["repository"].to_numpy(), "clusterName": name.to_numpy(),
        "resourceId": cluster_id.where(cluster_id.notna(), pd.Series(rid)).to_numpy(),
        "owner": owner.to_numpy(), "firstSeen": f["firstSeen"].array, "firstSeenSource": f["firstSeenSource"],
        "ageIsLowerBound": False, "dueDate": f["dueDate"].array, "dueSource": f["dueSource"],
        "openAtStart": f["openAtStart"], "openAtAsOf": f["openAtAsOf"], "closed": f["closed"].array,
        "closeReason": f["closeReason"], "slaVerdict": f["slaVerdict"], "daysToFix": f["daysToFix"],
        "digests": digests_text(pop.open_digests).reindex(lineage).fillna("").to_numpy(),
        "sightings": sightings.to_numpy(), "exemption": evidence.reindex(lineage).fillna("").to_numpy(),
        "querySha256": np.where(isin(lineage, from_history), query_h, query).astype(object),
    })
    table["ageIsLowerBound"] = f["ageIsLowerBound"].to_numpy(dtype=bool) if "ageIsLowerBound" in f else False
    table = table.assign(_r=f["sevrank"].to_numpy()).sort_values(["_r", "lineageId"], kind="stable")
    return table.drop(columns="_r").reset_index(drop=True)
