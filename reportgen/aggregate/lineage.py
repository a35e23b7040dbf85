"""Lineages: the same vulnerability on the same workload across image rebuilds (DESIGN §6).

Lineage key = (resourceId case-insensitive, registryHost/repositoryName case-insensitive, cveId
upper-cased, packageName case-insensitive); the image digest is not part of it, so a rebuilt
image that still carries the CVE continues its lineage and its clock. ``finding_history`` rows
carry no repository: it is taken from findings rows with the same imageDigest (any snapshot),
and where none is known the digest stands in for the repository.

First seen of a lineage = the earliest of every sighting at which it was open and Defender's
``firstEvaluationDate`` of any of its rows, each raised to that row's CVE ``publishedDate``
where both are known (publishedDate bounds only firstEvaluationDate).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from reportgen.aggregate.common import lower_id, normalize_severity, object_frame, pair_ids, per_value, text
from reportgen.aggregate.model import SEVERITY_ORDER

SEV_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
UNKNOWN_RANK = SEV_RANK["Unknown"]
# first-seen sources, as the pack names them
SIGHTING, FIRST_EVALUATION, PUBLISHED = "sighting", "firstEvaluationDate", "publishedDate"
_EMPTY_TIMES = pd.Series(pd.DatetimeIndex([], tz="UTC").as_unit("us"), index=pd.Index([], dtype=np.int64))


class LineageKeys:
    """Whole-number ids of lineage keys, the same in every snapshot of one build.

    The (cluster, repository) and (CVE, package) pairs are numbered once each; a key is the two
    numbers side by side, as for finding keys. ``lineage_id`` gives the text id the pack shows.
    """

    def __init__(self) -> None:
        self._images: dict[tuple[str, str], int] = {}
        self._vulns: dict[tuple[str, str], int] = {}
        self._repo_of_digest: dict[str, str] = {}
        self._image_list: list[tuple[str, str]] | None = None
        self._vuln_list: list[tuple[str, str]] | None = None
        self._ids: dict[int, str] = {}

    def learn_repositories(self, findings: pd.DataFrame) -> None:
        """Remember the repository of every image digest of a snapshot's findings rows (the first one
        learnt wins, snapshots are fed oldest first)."""
        if findings.empty:
            return
        digest = per_value(text(findings["imageDigest"]), lambda v: v.strip().lower())
        repo = repository_key(findings)
        pairs = object_frame({"d": digest.to_numpy(), "r": repo.to_numpy()}).drop_duplicates("d")
        for d, r in zip(pairs["d"].tolist(), pairs["r"].tolist()):
            if d and not r.startswith("@"):
                self._repo_of_digest.setdefault(d, r)

    def of_findings(self, findings: pd.DataFrame, rid: pd.Series | None = None) -> np.ndarray:
        """Lineage ids of findings rows (snapshot columns); ``rid``: their lower-cased cluster ids if known."""
        rid = lower_id(findings["resourceId"]) if rid is None else rid
        return self._of(rid, repository_key(findings), findings["cveId"], findings["packageName"])

    def of_history(self, history: pd.DataFrame) -> np.ndarray:
        """Lineage ids of finding_history rows: the repository from the digest, else the digest."""
        digest = per_value(text(history["imageDigest"]), lambda v: v.strip().lower())
        repo = per_value(digest, lambda d: self._repo_of_digest.get(d or "", "@" + (d or "")))
        return self._of(lower_id(history["AssessedResourceId"]), repo, history["VulnerabilityId"],
                        history["packageName"])

    def _of(self, rid: pd.Series, repo: pd.Series, cve: pd.Series, package: pd.Series) -> np.ndarray:
        self._image_list = self._vuln_list = None
        cve_u = per_value(text(cve), lambda v: v.strip().upper())
        pkg_l = per_value(text(package), lambda v: v.strip().lower())
        images = pair_ids(self._images, rid, repo)
        vulns = pair_ids(self._vulns, cve_u, pkg_l)
        return (images << 32) | vulns

    def parts(self, lineages: np.ndarray) -> pd.DataFrame:
        """rid, repository, cveId, packageName of each lineage (canonical case), in order."""
        if self._image_list is None:
            self._image_list = [k for k, _ in sorted(self._images.items(), key=lambda kv: kv[1])]
            self._vuln_list = [k for k, _ in sorted(self._vulns.items(), key=lambda kv: kv[1])]
        lineages = np.asarray(lineages, dtype=np.int64)
        images = np.array(self._image_list + [("", "")], dtype=object)
        vulns = np.array(self._vuln_list + [("", "")], dtype=object)
        img = images[(lineages >> 32).astype(np.int64)] if len(lineages) else np.array([], dtype=object)
        vul = vulns[(lineages & 0xFFFFFFFF).astype(np.int64)] if len(lineages) else np.array([], dtype=object)
        return object_frame({
            "rid": [i[0] for i in img], "repository": [i[1] for i in img],
            "cveId": [v[0] for v in vul], "packageName": [v[1] for v in vul],
        })

    def lineage_ids(self, lineages: np.ndarray) -> np.ndarray:
        """``L-`` + the first 16 hex digits of sha256("<rid>|<repository>|<CVE>|<package>")."""
        lineages = np.asarray(lineages, dtype=np.int64)
        codes, uniques = pd.factorize(lineages, sort=False)
        known = self._ids
        missing = np.array([u for u in uniques.tolist() if u not in known], dtype=np.int64)
        if len(missing):
            parts = self.parts(missing)
            known.update(zip(missing.tolist(), (lineage_id(*row) for row in zip(
                parts["rid"].tolist(), parts["repository"].tolist(), parts["cveId"].tolist(),
                parts["packageName"].tolist()))))
        ids = np.array([known[u] for u in uniques.tolist()] or [""], dtype=object)
        return ids[codes] if len(codes) else np.array([], dtype=object)


def lineage_id(rid: str, repository: str, cve: str, package: str) -> str:
    """The text id of a lineage key (canonical case), reproducible by anyone with the key."""
    return "L-" + hashlib.sha256(f"{rid}|{repository}|{cve}|{package}".encode("utf-8")).hexdigest()[:16]


def repository_key(findings: pd.DataFrame) -> pd.Series:
    """registryHost/repositoryName lower-cased (just the repository without a host); "@<digest>"
    where neither is known. Computed once per distinct (host, repository, digest)."""
    codes, uniques = [], []
    for column in ("registryHost", "repositoryName", "imageDigest"):
        c, u = pd.factorize(text(findings[column]).to_numpy(dtype=object), sort=False)
        codes.append(c.astype(np.int64))
        uniques.append(u)
    combined = (codes[0] * (len(uniques[1]) + 1) + codes[1]) * (len(uniques[2]) + 1) + codes[2]
    combo_codes, combos = pd.factorize(combined, sort=False)
    width_d = len(uniques[2]) + 1
    width_r = len(uniques[1]) + 1
    values = []
    for combo in combos.tolist():
        h, rest = divmod(combo, width_r * width_d)
        r, d = divmod(rest, width_d)
        host = uniques[0][h].strip().lower().rstrip("/")
        repo = uniques[1][r].strip().lower().strip("/")
        values.append(f"{host}/{repo}" if host and repo else (repo or ("@" + uniques[2][d].strip().lower())))
    out = np.array(values or [""], dtype=object)
    return pd.Series(out[combo_codes] if len(combo_codes) else np.array([], dtype=object), index=findings.index,
                     dtype=object)


def severity_rank(series: pd.Series) -> np.ndarray:
    """0 (Critical) .. 4 (Unknown) of a raw severity column."""
    return per_value(normalize_severity(series), SEV_RANK.get, int).to_numpy().astype(np.int8)


def first_evaluations(lineages: np.ndarray, first_evaluation: pd.Series | None,
                      published: pd.Series | None) -> pd.DataFrame:
    """Per lineage, the earliest firstEvaluationDate of its rows raised to the row's publishedDate.

    Columns: at (UTC), source (firstEvaluationDate | publishedDate); indexed by lineage."""
    if first_evaluation is None or not len(lineages):
        return pd.DataFrame({"at": _EMPTY_TIMES, "source": pd.Series([], dtype=object)})
    fed = pd.to_datetime(first_evaluation, utc=True).astype("datetime64[us, UTC]").reset_index(drop=True)
    pub = (pd.to_datetime(published, utc=True).astype("datetime64[us, UTC]").reset_index(drop=True)
           if published is not None else pd.Series(pd.NaT, index=fed.index, dtype="datetime64[us, UTC]"))
    known = fed.notna().to_numpy()
    if not known.any():
        return pd.DataFrame({"at": _EMPTY_TIMES, "source": pd.Series([], dtype=object)})
    raised = (pub > fed).to_numpy() & known
    at = fed.where(~pd.Series(raised), pub)
    frame = object_frame({"lineage": np.asarray(lineages, dtype=np.int64)[known], "at": at[known].array,
                          "source": np.where(raised[known], PUBLISHED, FIRST_EVALUATION).astype(object)})
    frame = frame.sort_values(["lineage", "at", "source"], kind="stable").drop_duplicates("lineage")
    return frame.set_index("lineage")[["at", "source"]]


class EvidenceStart:
    """The earliest sighting that could have seen a lineage of each cluster: the oldest snapshot, or the
    cluster's earliest finding_history row when that is earlier. A lineage first sighted at (or before)
    its cluster's start may be older than the evidence: its age is a lower bound."""

    def __init__(self, oldest_snapshot: pd.Timestamp, history: pd.DataFrame) -> None:
        self.default = pd.Timestamp(oldest_snapshot)
        by_rid = history.groupby("rid")["at"].min() if len(history) else pd.Series(dtype="datetime64[us, UTC]")
        self._by_rid = {r: min(pd.Timestamp(t), self.default) for r, t in by_rid.items()}

    def of(self, rid: pd.Series | np.ndarray) -> pd.Series:
        """Per row, the start of its cluster's evidence."""
        values = per_value(pd.Series(np.asarray(rid, dtype=object), dtype=object),
                           lambda r: self._by_rid.get(r, self.default), "datetime64[us, UTC]")
        return values.reset_index(drop=True)

    def lower_bound(self, first: pd.Series, source: pd.Series, rid) -> np.ndarray:
        """First seen from a sighting, at or before the start of its cluster's evidence."""
        start = self.of(rid)
        return (pd.Series(source.to_numpy(dtype=object)) == SIGHTING).to_numpy() & \
            (pd.Series(first.array) <= start).to_numpy()


class LineageTracker:
    """What the snapshots, fed oldest first, tell of each lineage's first seen."""

    def __init__(self) -> None:
        self._open = _EMPTY_TIMES.copy()       # earliest sighting at which the lineage was open
        self._evaluated = pd.DataFrame({"at": _EMPTY_TIMES, "source": pd.Series([], dtype=object)})

    def record_open(self, lineages: np.ndarray, times: pd.Series | pd.Timestamp) -> None:
        """Lineages open at these sightings (one time for all, or one per lineage)."""
        lineages = np.asarray(lineages, dtype=np.int64)
        if not len(lineages):
            return
        if isinstance(times, pd.Timestamp):
            times = pd.Series(times, index=range(len(lineages)))
        at = pd.Series(pd.to_datetime(times, utc=True).astype("datetime64[us, UTC]").array,
                       index=pd.Index(lineages, dtype=np.int64))
        earliest = at.groupby(level=0, sort=False).min()
        self._open = _lower(self._open, earliest)

    def record_evaluations(self, evaluated: pd.DataFrame) -> None:
        if evaluated.empty:
            return
        both = pd.concat([self._evaluated, evaluated]) if len(self._evaluated) else evaluated
        both = both.reset_index(names="lineage").sort_values(["lineage", "at", "source"], kind="stable")
        self._evaluated = both.drop_duplicates("lineage").set_index("lineage")[["at", "source"]]

    def first_seen(self, lineages: np.ndarray) -> tuple[pd.Series, pd.Series]:
        """(first seen or NaT, its source) of each lineage, in order."""
        index = pd.Index(np.asarray(lineages, dtype=np.int64), dtype=np.int64)
        sighted = self._open.reindex(index).reset_index(drop=True)
        evaluated = self._evaluated.reindex(index).reset_index(drop=True)
        use_eval = evaluated["at"].notna() & (sighted.isna() | (evaluated["at"] < sighted))
        first = sighted.where(~use_eval, evaluated["at"]).astype("datetime64[us, UTC]")
        source = pd.Series(np.where(use_eval, evaluated["source"].fillna(FIRST_EVALUATION).to_numpy(dtype=object),
                                    np.where(sighted.notna(), SIGHTING, "")), dtype=object)
        return first, source


def _lower(current: pd.Series, more: pd.Series) -> pd.Series:
    """Per lineage, the earlier of the two times (NaT never replaces nor is replaced)."""
    if not len(current):
        return more.astype("datetime64[us, UTC]")
    known = more.index.isin(current.index)
    if known.any():
        old = current.reindex(more.index[known])
        update = (more[known] < old).to_numpy()
        if update.any():
            current = current.copy()
            current.loc[old.index[update]] = more[known][update]
    fresh = more[~known]
    return pd.concat([current, fresh.astype("datetime64[us, UTC]")]) if len(fresh) else current
