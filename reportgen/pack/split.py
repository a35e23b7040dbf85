"""Per-owner packs (issue 11 item 4): ``render --split-by owner`` writes ``by-owner/<slug>/``
inside the main pack, one complete, verifiable pack per owner.

Each owner pack is rendered by the same code path as the main pack
(``writer.write_pack_files``) from a FILTERED snapshot: every dataset reduced to the rows of
that owner's clusters (DESIGN §5 columns: cluster ``id`` / ``resourceId`` /
``AssessedResourceId``; governance assignments by the kept assessments' ids; exemptions by
scope prefix; resource containers and subscription-level datasets by the owner's
subscriptions and resource groups). Its ``snapshot.json`` records ``derived_from`` (main run
id, main snapshot sha256, the filter and the cluster ids), so the copy is a valid snapshot
that ``read_snapshot`` and ``verify --deep`` accept on its own.

Owner attribution is the main model's: the owner -> cluster ids come from the main model's
clusters table. The filtered snapshot keeps every row the attribution reads (the cluster's
tags, its group and subscription, its assessments and governance assignments), so with the
same configuration the owner pack attributes its clusters to the same owner; ``split_models``
checks this and refuses a split that would not.

Folder names come from untrusted owner text: ``owner_slugs`` keeps [a-z0-9-] only, caps the
length and makes them unique, so no name can leave ``by-owner/``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pandas as pd

from reportgen.errors import RenderError
from reportgen.snapshot import DATASETS, Snapshot, read_snapshot, write_snapshot

BY_OWNER = "by-owner"
SLUG_MAX = 40
SPLIT_KEYS = ("owner",)


@dataclass(frozen=True)
class OwnerSlice:
    owner: str
    folder: str                      # by-owner/<slug>
    cluster_ids: tuple[str, ...]     # lower-cased ARM ids, sorted
    open_findings: int


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    slug = slug[:SLUG_MAX].strip("-")
    return slug or "owner"


def owner_slugs(owners: Iterable[str]) -> dict[str, str]:
    """owner -> unique safe folder name ([a-z0-9-], at most SLUG_MAX + a short hash)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    owners = sorted(set(owners))
    clean = [o for o in owners if slugify(o) == o]     # already a safe name: kept as it is
    for owner in clean + [o for o in owners if slugify(o) != o]:
        slug = slugify(owner)
        if slug in used or slug != owner:
            # lossy or colliding: a stable suffix from the exact owner text keeps it unique
            slug = f"{slug}-{hashlib.sha256(str(owner).encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
        n = 2
        base = slug
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        out[owner] = slug
    return out


def _low(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str).str.strip().str.lower()


def filter_frames(frames: Mapping[str, pd.DataFrame], rids: set[str]) -> dict[str, pd.DataFrame]:
    """Every dataset reduced to the rows that concern the clusters ``rids`` (lower-cased ARM ids)."""
    subs = {r.split("/")[2] for r in rids if r.startswith("/subscriptions/") and len(r.split("/")) > 2}
    groups = {f"{r.split('/')[2]}/{r.split('/')[4]}" for r in rids if len(r.split("/")) > 4}
    out: dict[str, pd.DataFrame] = {}

    def keep(name: str, mask: pd.Series) -> None:
        out[name] = frames[name][mask.to_numpy()].reset_index(drop=True)

    keep("clusters", _low(frames["clusters"]["id"]).isin(rids))
    rc = frames["resource_containers"]
    rc_type = _low(rc["type"])
    rc_sub = _low(rc["subscriptionId"])
    rc_group = rc_sub + "/" + _low(rc["resourceGroup"]).where(_low(rc["resourceGroup"]).ne(""), _low(rc["name"]))
    keep("resource_containers",
         (rc_type.eq("microsoft.resources/subscriptions") & rc_sub.isin(subs))
         | (rc_type.eq("microsoft.resources/subscriptions/resourcegroups") & rc_group.isin(groups)))
    for name in ("policy_states", "assessments", "findings"):
        keep(name, _low(frames[name]["resourceId"]).isin(rids))
    kept_assessments = set(_low(out["assessments"]["id"]))
    keep("governance_assignments", _low(frames["governance_assignments"]["assessmentId"]).isin(kept_assessments))
    scopes = _low(frames["exemptions"]["scope"])
    keep("exemptions", scopes.map(lambda s: bool(s) and any(r == s or r.startswith(s.rstrip("/") + "/")
                                                               for r in rids)))
    keep("regulatory_compliance", _low(frames["regulatory_compliance"]["subscriptionId"]).isin(subs))
    for name in ("assessment_history", "finding_history"):
        keep(name, _low(frames[name]["AssessedResourceId"]).isin(rids))
    for name, frame in frames.items():
        out.setdefault(name, frame)   # tenant-independent data (the known-exploited catalogue) is kept whole
    missing = (set(DATASETS) & set(frames)) - set(out)
    assert not missing, missing
    return out


def write_filtered(snap: Snapshot, rids: set[str], out: Path, *, derived_from: Mapping) -> Path:
    """``snap`` filtered to ``rids``, written as a snapshot at ``out`` recording ``derived_from``."""
    frames = filter_frames(snap.frames, rids)
    provenance = {name: replace(info, rows=len(frames[name])) for name, info in snap.datasets.items()}
    meta = snap.meta
    return write_snapshot(
        out, frames, collected_at=snap.collected_at,
        period=(pd.Timestamp(meta["period"]["start"]).date(), pd.Timestamp(meta["period"]["end"]).date()),
        source=meta["source"], run_id=derived_run_id(snap.run_id, derived_from.get("filter", "")),
        cloud=meta.get("cloud", "AzureCloud"), scope=meta.get("scope"), provenance=provenance,
        queries=dict(snap.queries), extra_meta={"derived_from": dict(derived_from)})


def filtered_history(history: list[Snapshot], cluster_ids: Iterable[str], filter_text: str, out: Path) -> Path | None:
    """The earlier snapshots ``history`` filtered like an owner pack's snapshot, as a history folder at
    ``out`` (None without history). The owner packs are built with it, and ``verify --deep`` rebuilds it
    from the main history folder to re-render an owner pack on its own."""
    if not history:
        return None
    ids = sorted(cluster_ids)
    out.mkdir(parents=True)
    for j, h in enumerate(history):
        write_filtered(h, set(ids), out / f"h{j:03d}", derived_from={
            "run_id": h.run_id, "snapshot_sha256": h.fingerprint, "filter": filter_text, "cluster_ids": ids})
    return out


def derived_run_id(main_run_id: str, filter_text: str) -> str:
    """Deterministic, so the same main snapshot always gives the same owner packs."""
    return hashlib.sha256(f"{main_run_id}\x00{filter_text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def owner_slices(model) -> list[OwnerSlice]:
    """One slice per owner of the main model's clusters table, sorted by owner."""
    clusters = model.tables.clusters
    by_owner: dict[str, set[str]] = {}
    for owner, rid in zip(clusters["owner"], clusters["id"]):
        by_owner.setdefault(str(owner), set()).add(str(rid).strip().lower())
    open_by_owner = {o.owner: o.open_findings for o in model.owners}
    slugs = owner_slugs(by_owner)
    return [OwnerSlice(owner=o, folder=f"{BY_OWNER}/{slugs[o]}", cluster_ids=tuple(sorted(by_owner[o])),
                       open_findings=int(open_by_owner.get(o, 0)))
            for o in sorted(by_owner)]


def by_owner_entries(slices: Iterable[OwnerSlice]) -> tuple[dict, ...]:
    """summary.json "by_owner" and the README's index."""
    return tuple({"owner": s.owner, "folder": s.folder, "clusters": len(s.cluster_ids),
                  "open_findings": s.open_findings} for s in slices)


@dataclass(frozen=True)
class OwnerJob:
    """One owner pack to render: its filtered snapshot (and history), where it goes, whose it is."""
    snapshot: Path
    history: Path | None
    dest: Path
    owner: str


def write_owner_packs(model, snapshot_dir: Path, history_dirs: list[Path], pack: Path, slices: list[OwnerSlice],
                      render_one: Callable[[OwnerJob], str | None], workers: int = 1) -> None:
    """Every owner pack into ``pack/by-owner/``. The filtered snapshots are written here, one after
    the other; ``render_one(job)`` then builds the owner model (same configuration as the main one)
    and writes its pack, returning None, or the owners the pack attributed its clusters to when that
    is not only the job's owner. With ``workers`` > 1 the packs are rendered in that many processes
    (``render_one`` must then be picklable: a module-level function or a partial of one); each pack
    depends only on its own inputs, so the bytes are the same either way."""
    main = read_snapshot(snapshot_dir)
    history = [read_snapshot(p) for p in history_dirs]
    root = (pack / BY_OWNER)
    root.mkdir()
    with tempfile.TemporaryDirectory(prefix="reportgen-split-") as tmp:
        jobs = []
        for i, s in enumerate(slices):
            rids = set(s.cluster_ids)
            derived = {"run_id": main.run_id, "snapshot_sha256": main.fingerprint, "filter": f"owner = {s.owner}",
                       "cluster_ids": list(s.cluster_ids)}
            snap_dir = write_filtered(main, rids, Path(tmp) / f"s{i}" / "current", derived_from=derived)
            hist_dir = filtered_history(history, s.cluster_ids, f"owner = {s.owner}", Path(tmp) / f"s{i}" / "history")
            dest = pack / s.folder
            assert dest.resolve().parent == root.resolve()  # slugs never leave by-owner/
            dest.mkdir()
            jobs.append(OwnerJob(snap_dir, hist_dir, dest, s.owner))
        del main, history
        workers = max(1, min(workers, len(jobs)))
        if workers == 1:
            results = [render_one(job) for job in jobs]
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            # spawn, not fork: the parent may run a progress thread and holds loaded font libraries
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                results = list(pool.map(render_one, jobs))
        for job, other in zip(jobs, results):
            if other:
                raise RenderError(f"--split-by owner: the pack for owner {job.owner!r} attributes its clusters to "
                                  f"{other}", hint="report this: owner attribution differs")
