"""The one code path behind every command: collect -> snapshot -> aggregate -> render -> pack.

Each stage talks to the next through a value (a snapshot folder, a ReportModel), so a
pack can always be re-rendered offline from its snapshot. The pack stage
(``reportgen.pack``) writes every registered output into a hidden folder beside the
target and swaps it into place in one step, so a failed or interrupted render leaves the
old pack or the new one, and no other folder that verifies.
"""

from __future__ import annotations

import shutil
from functools import partial
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from reportgen.aggregate.build import build_model
from reportgen.aggregate.model import ReportModel
from reportgen.config import RunConfig, with_frameworks
from reportgen.errors import SnapshotError
from reportgen.frameworks import load_controls, load_crosswalk
from reportgen.outdir import build_beside, check_target
from reportgen.pack import signing
from reportgen.pack.writer import check_pack_target, pack_replaceable, write_pack
from reportgen.progress import QUIET, Progress
from reportgen.snapshot import check_snapshot_target, list_history, read_meta, read_snapshot

HISTORY_DATASETS = ("clusters", "resource_containers", "policy_states", "assessments", "findings",
                    "governance_assignments", "finding_history",
                    "known_exploited")   # optional: absent from a snapshot without a catalogue
DEMO_MONTHS = 6
DEMO_FRAMEWORKS = ("iso27001", "pci-dss", "nist-800-53", "soc2")   # the demo's crosswalk (reportgen demo --framework)


@dataclass(frozen=True)
class RenderResult:
    pack_dir: Path
    files: tuple[str, ...]
    model: ReportModel


def make_sample(out: Path, *, scale: str | int = "small", seed: int = 1, as_of: date | None = None,
                history_dir: Path | None = None, months: int = 0, progress: Progress = QUIET) -> list[Path]:
    from reportgen.collect.sample import write_sample
    check_snapshot_target(out)
    with progress.step("Generating the sample tenant"):
        return write_sample(out, scale=scale, seed=seed, as_of=as_of, history_dir=history_dir, months=months)


def collect(config: RunConfig, period: tuple[date, date] | None, out: Path, progress: Progress | None = None) -> Path:
    from reportgen.collect import live
    check_snapshot_target(out)  # before the first request
    return live.collect(config, period, out, progress=progress or Progress())


def build(snapshot_dir: Path, config: RunConfig, history_dir: Path | None = None,
          progress: Progress = QUIET) -> ReportModel:
    with progress.step("Reading snapshots"):
        snapshot = read_snapshot(snapshot_dir)
        history = [read_snapshot(p, datasets=HISTORY_DATASETS)
                   for p in list_history(history_dir, before=snapshot.collected_at)]
    with progress.step("Aggregating"):
        return build_model(snapshot, config, load_controls(config.controls_file), history)


def render(snapshot_dir: Path, out: Path, config: RunConfig, history_dir: Path | None = None,
           progress: Progress | None = None, sign_key: Path | None = None,
           split_by: str | None = None) -> RenderResult:
    """Render the pack for ``snapshot_dir`` into ``out``; ``sign_key`` (Ed25519 PEM) also signs it.

    ``out`` is checked before any work: an existing folder is replaced only when it is a
    reportgen pack whose manifest lists every file in it, and never when it holds an input.
    """
    progress = progress or Progress()
    snapshot_dir, out = Path(snapshot_dir), Path(out)
    check_pack_target(out, _inputs(config, snapshot=snapshot_dir, history_dir=history_dir, sign_key=sign_key))
    key = signing.load_private_key(sign_key) if sign_key is not None else None  # a bad key fails before the work
    if config.crosswalk.frameworks:   # a bad crosswalk file fails before the work too
        load_crosswalk(config.crosswalk.frameworks, tuple(c.id for c in load_controls(config.controls_file)))
    model = build(snapshot_dir, config, history_dir, progress)
    extra = None
    if split_by is not None:
        model, extra = _owner_split(model, snapshot_dir, config, history_dir, progress, key)
    files = write_pack(model, snapshot_dir, out, progress=progress, key=key, extra=extra)
    return RenderResult(pack_dir=out, files=tuple(files), model=model)


def _owner_split(model: ReportModel, snapshot_dir: Path, config: RunConfig, history_dir: Path | None,
                 progress: Progress, key):
    """``--split-by owner``: the main model with its by-owner index, and the step that writes the
    owner packs (each rendered by the same code path, from its filtered snapshot)."""
    from dataclasses import replace
    from reportgen.pack import split
    slices = split.owner_slices(model)
    model = replace(model, by_owner=split.by_owner_entries(slices))
    snap = read_snapshot(snapshot_dir, datasets=())
    history = list_history(history_dir, before=snap.collected_at)
    render_one = partial(_owner_pack_job, config, _raw_key(key))

    def extra(pack: Path) -> None:
        with progress.step(f"Writing {len(slices)} per-owner packs"):
            split.write_owner_packs(model, snapshot_dir, history, pack, slices, render_one=render_one,
                                    workers=owner_pack_workers(len(slices)))
    return model, extra


OWNER_PACK_WORKERS_ENV = "REPORTGEN_WORKERS"


def owner_pack_workers(packs: int) -> int:
    """Processes for the per-owner packs: REPORTGEN_WORKERS when set (1 = in this process), else the CPUs
    this process may use, at most 4 (each holds one owner's model and a PDF layout)."""
    import os
    value = os.environ.get(OWNER_PACK_WORKERS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            from reportgen.errors import UsageError
            raise UsageError(f"{OWNER_PACK_WORKERS_ENV}={value!r}: not a positive whole number",
                             hint=f"unset it, or set {OWNER_PACK_WORKERS_ENV}=1 to render in one process")
        return min(int(value), max(packs, 1))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, 4, packs))


def _raw_key(key) -> bytes | None:
    if key is None:
        return None
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def _owner_pack_job(config: RunConfig, raw_key: bytes | None, job) -> str | None:
    """Build and write one owner pack (split.OwnerJob); module-level so a worker process can run it.
    Returns the owners its model attributes clusters to when that is not only the job's owner."""
    from reportgen.pack.writer import write_pack_files
    key = None
    if raw_key is not None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        key = Ed25519PrivateKey.from_private_bytes(raw_key)
    sub = build(job.snapshot, config, job.history)
    got = {str(o) for o in sub.tables.clusters["owner"]} - {job.owner}
    if got:
        return ", ".join(sorted(got)[:3])
    write_pack_files(sub, job.snapshot, job.dest, key=key)
    return None


def _inputs(config: RunConfig, *, snapshot: Path | None = None, history_dir: Path | None = None,
            sign_key: Path | None = None) -> dict[str, Path | None]:
    """Every path a run reads: none may lie inside the folder it replaces."""
    return {"input snapshot": snapshot, "history folder": history_dir, "signing key": sign_key,
            "configuration file": config.source_file, "exceptions file": config.exceptions.file,
            "owner mapping file": config.owners.mapping_file, "controls file": config.controls_file}


def run(config: RunConfig, period: tuple[date, date] | None, out: Path, history_dir: Path | None = None,
        sign_key: Path | None = None, split_by: str | None = None) -> RenderResult:
    out = Path(out)
    check_pack_target(out, _inputs(config, history_dir=history_dir, sign_key=sign_key))  # before collecting
    with build_beside(out.with_name(f"{out.name}.collect")) as work:
        snapshot = collect(config, period, work / "snapshot")
        return render(snapshot, out, config, history_dir=history_dir, sign_key=sign_key, split_by=split_by)


def demo(out: Path, config: RunConfig | None = None, split_by: str | None = "owner") -> RenderResult:
    """Sample tenant with six months of history, rendered into ``out/pack`` (default config with the
    DEMO_FRAMEWORKS crosswalk, or ``config``: e.g. another audit sample size or seed, or crosswalk).

    ``out`` may be new, empty or an earlier demo's output (``input/`` holding only sample
    snapshots, and ``pack/``); anything else is refused before any work.
    """
    out = Path(out)
    check_target(out, option="--out", replaceable=_demo_replaceable, create_parent=True)
    progress = Progress()
    current, history = out / "input" / "current", out / "input" / "history"
    if history.exists():
        shutil.rmtree(history)   # only sample snapshots, checked above
    make_sample(current, history_dir=history, months=DEMO_MONTHS, progress=progress)
    if config is None:
        config = with_frameworks(RunConfig(), DEMO_FRAMEWORKS)
    return render(current, out / "pack", config, history_dir=history, progress=progress, split_by=split_by)


def _demo_replaceable(folder: Path) -> str | None:
    """None when ``folder`` holds only an earlier demo's output."""
    for entry in folder.iterdir():
        if entry.name not in ("input", "pack") or entry.is_symlink() or not entry.is_dir():
            return f"holds {entry.name}, which is not part of a reportgen demo"
    pack = folder / "pack"
    if pack.is_dir() and any(pack.iterdir()) and (why := pack_replaceable(pack)) is not None:
        return f"its pack/ {why}"
    inputs = folder / "input"
    snapshots = []
    if inputs.is_dir():
        for entry in inputs.iterdir():
            if entry.name == "current":
                snapshots.append(entry)
            elif entry.name == "history" and entry.is_dir() and not entry.is_symlink():
                snapshots += list(entry.iterdir())
            else:
                return f"holds input/{entry.name}, which is not part of a reportgen demo"
    for snap in snapshots:
        if not _is_sample_snapshot(snap):
            return f"holds {snap.relative_to(folder)}, which is not a sample snapshot"
    return None


def _is_sample_snapshot(folder: Path) -> bool:
    if folder.is_symlink() or (folder / "snapshot.json").is_symlink():
        return False
    try:
        return read_meta(folder)["source"] == "sample"
    except SnapshotError:
        return False
