"""The one code path behind every command: collect -> snapshot -> aggregate -> render.

Each stage talks to the next through a value (a snapshot folder, a ReportModel), so a
pack can always be re-rendered offline from its snapshot. Packs are written into a
temporary folder beside the target and moved into place only when complete (manifest
and, when a key is given, its signature included), so a failed or interrupted render
leaves no folder that verifies.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reportgen import signing
from reportgen.aggregate.build import build_model
from reportgen.aggregate.model import ReportModel
from reportgen.config import RunConfig
from reportgen.errors import RenderError, UsageError
from reportgen.evidence import pack_files, verify_snapshot_copy, write_manifest
from reportgen.frameworks import load_controls
from reportgen.progress import QUIET, Progress
from reportgen.snapshot import list_history, read_meta, read_snapshot, utc_iso

HISTORY_DATASETS = ("clusters", "resource_containers", "policy_states", "assessments", "findings",
                    "governance_assignments", "finding_history")
DEMO_MONTHS = 6


@dataclass(frozen=True)
class RenderResult:
    pack_dir: Path
    files: tuple[str, ...]
    model: ReportModel


def make_sample(out: Path, *, scale: str | int = "small", seed: int = 1, as_of: date | None = None,
                history_dir: Path | None = None, months: int = 0, progress: Progress = QUIET) -> list[Path]:
    from reportgen.collect.sample import write_sample
    with progress.step("Generating the sample tenant"):
        return write_sample(out, scale=scale, seed=seed, as_of=as_of, history_dir=history_dir, months=months)


def collect(config: RunConfig, period: tuple[date, date] | None, out: Path, progress: Progress | None = None) -> Path:
    from reportgen.collect import live
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
           progress: Progress | None = None, sign_key: Path | None = None) -> RenderResult:
    """Render the pack for ``snapshot_dir`` into ``out``; ``sign_key`` (Ed25519 PEM) also signs it."""
    progress = progress or Progress()
    snapshot_dir, out = Path(snapshot_dir), Path(out)
    if out.resolve() == snapshot_dir.resolve() or snapshot_dir.resolve() in out.resolve().parents:
        raise UsageError(f"--out {out}: must not be inside the snapshot folder {snapshot_dir}")
    key = signing.load_private_key(sign_key) if sign_key is not None else None  # a bad key fails before the work
    model = build(snapshot_dir, config, history_dir, progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        _write_pack(model, snapshot_dir, tmp, progress, key)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp made it private; the pack is for handing over
        if out.exists():
            if not (out / "manifest.json").is_file() and any(out.iterdir()):
                raise UsageError(f"--out {out}: exists and is not an evidence pack; refusing to overwrite",
                                 hint="choose a new or empty folder")
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RenderResult(pack_dir=out, files=tuple(pack_files(out)) + ("manifest.json",), model=model)


def _write_pack(model: ReportModel, snapshot_dir: Path, pack: Path, progress: Progress,
                key: Ed25519PrivateKey | None = None) -> None:
    """Every file of the pack; the OSCAL results and README.txt come after the evidence they
    describe and before the manifest that hashes them; the signature comes last."""
    from reportgen import oscal
    from reportgen.render import csv_export, excel, handoff, pdf
    from reportgen.render.summary import write_summary
    write_summary(model, pack / "summary.json")
    with progress.step("Writing the Excel workbook"):
        excel.write_workbook(model, pack / "evidence-pack.xlsx")
    with progress.step("Writing the CSV exports"):
        csv_export.write_csv_exports(model, pack / "data")
    with progress.step("Rendering the PDF"):
        pdf.write_pdf(model, pack / "evidence-pack.pdf", charts_dir=pack / "charts")
    _copy_snapshot(snapshot_dir, pack / "snapshot", model.meta.snapshot_fingerprint)
    with progress.step("Writing the OSCAL assessment results"):
        oscal.write_assessment_results(model, pack)
    handoff.write_readme(model, pack, pack_files(pack))
    write_manifest(pack, run_id=model.meta.run_id, snapshot_fingerprint=model.meta.snapshot_fingerprint,
                   as_of=utc_iso(model.meta.as_of),
                   period={"start": model.meta.period_start.isoformat(), "end": model.meta.period_end.isoformat()})
    if key is not None:
        signing.sign_manifest(pack, key)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _copy_snapshot(snapshot_dir: Path, dest: Path, fingerprint: str) -> None:
    """Copy the snapshot's own files only (snapshot.json, data/, queries/): stray files beside
    them (editor backups, .DS_Store) are not part of the evidence and would not re-render."""
    meta = read_meta(snapshot_dir)
    dest.mkdir()
    shutil.copyfile(snapshot_dir / "snapshot.json", dest / "snapshot.json")
    for name, entry in meta["datasets"].items():
        for rel in (entry["file"], f"queries/{name}.kql"):
            src = snapshot_dir / rel
            if src.is_file() and (snapshot_dir.resolve() in src.resolve().parents):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest / rel)
    problems = verify_snapshot_copy(dest.parent, {"snapshot_sha256": fingerprint})
    if problems:  # changed since it was read: the pack must not carry a snapshot that fails its own hashes
        raise RenderError(f"copying the snapshot: {problems[0]}", hint=f"check {snapshot_dir} and render again")


def run(config: RunConfig, period: tuple[date, date] | None, out: Path, history_dir: Path | None = None,
        sign_key: Path | None = None) -> RenderResult:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.collect-", dir=out.parent))
    try:
        snapshot = collect(config, period, work / "snapshot")
        return render(snapshot, out, config, history_dir=history_dir, sign_key=sign_key)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def demo(out: Path) -> RenderResult:
    """Sample tenant with six months of history, rendered into ``out/pack``."""
    out = Path(out)
    progress = Progress()
    current, history = out / "input" / "current", out / "input" / "history"
    if history.exists():
        shutil.rmtree(history)
    make_sample(current, history_dir=history, months=DEMO_MONTHS, progress=progress)
    return render(current, out / "pack", RunConfig(), history_dir=history, progress=progress)
