"""Writing a pack: every registered output, the snapshot copy, README.txt, the manifest and
the signature, in a hidden folder beside the target that is swapped into place in one step.

``check_pack_target`` runs before any rendering work and refuses a target that is not ours
to replace; ``write_pack`` then builds and swaps (``reportgen.outdir``). The order inside
the folder: the snapshot copy, then each output of ``render.interface.OUTPUTS`` (a document
that hashes others comes after them), then README.txt, which indexes them, the manifest,
which hashes everything, and the signature over the manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reportgen.aggregate.model import ReportModel
from reportgen.errors import RenderError
from reportgen.outdir import build_beside, check_target, holds_only, swap_into_place
from reportgen.pack import signing
from reportgen.pack.manifest import pack_files, read_manifest, write_manifest
from reportgen.pack.readme import write_readme
from reportgen.pack.verify import verify_snapshot_copy
from reportgen.progress import QUIET, Progress
from reportgen.render.interface import MANIFEST, SIGNATURE, SNAPSHOT_DIR, outputs
from reportgen.snapshot import read_meta, utc_iso


def pack_replaceable(folder: Path) -> str | None:
    """None when ``folder`` is a reportgen pack whose manifest lists every file in it (so
    replacing it loses nothing of the user's), else why it is not."""
    if not (folder / MANIFEST).is_file() or (folder / MANIFEST).is_symlink():
        return "is not an evidence pack (no manifest.json)"
    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        return f"is not a reportgen evidence pack (manifest.json: {exc})"
    listed = {e.get("path") for e in manifest["files"] if isinstance(e, dict)} | {MANIFEST, SIGNATURE}
    return holds_only(folder, listed, "its manifest.json")


def check_pack_target(out: Path, inputs: Mapping[str, Path | None]) -> Path:
    """Refuse, before any work, an ``--out`` that render must not replace (exit 2)."""
    return check_target(out, option="--out", replaceable=pack_replaceable,
                        inputs={k: v for k, v in inputs.items() if v is not None}, create_parent=False)


def write_pack(model: ReportModel, snapshot_dir: Path, out: Path, *, progress: Progress = QUIET,
               key: Ed25519PrivateKey | None = None, extra: Callable[[Path], None] | None = None) -> list[str]:
    """Build the pack beside ``out`` and swap it into place; return its files (manifest included)."""
    out = Path(out)
    with build_beside(out) as tmp:
        write_pack_files(model, snapshot_dir, tmp, progress=progress, key=key, extra=extra)
        files = pack_files(tmp) + [MANIFEST]
        swap_into_place(tmp, out)
    return files


def write_pack_files(model: ReportModel, snapshot_dir: Path, pack: Path, *, progress: Progress = QUIET,
                     key: Ed25519PrivateKey | None = None, extra: Callable[[Path], None] | None = None) -> None:
    """Every file of the pack into the (empty) folder ``pack``; ``extra(pack)`` adds files (the
    per-owner packs) before README.txt and the manifest, which then index and hash them too."""
    copy_snapshot(snapshot_dir, pack / SNAPSHOT_DIR, model.meta.snapshot_fingerprint)
    for output in outputs():
        with progress.step(output.step or f"Writing {output.main_file}"):
            output.write(model, pack)
    if extra is not None:
        extra(pack)
    write_readme(model, pack, pack_files(pack))
    write_manifest(pack, run_id=model.meta.run_id, snapshot_fingerprint=model.meta.snapshot_fingerprint,
                   as_of=utc_iso(model.meta.as_of),
                   period={"start": model.meta.period_start.isoformat(), "end": model.meta.period_end.isoformat()})
    if key is not None:
        signing.sign_manifest(pack, key)


def copy_snapshot(snapshot_dir: Path, dest: Path, fingerprint: str) -> None:
    """Copy the snapshot's own files only (snapshot.json, data/, queries/): stray files beside
    them (editor backups, .DS_Store) are not part of the evidence and would not re-render."""
    snapshot_dir = Path(snapshot_dir)
    meta = read_meta(snapshot_dir)
    dest.mkdir()
    shutil.copyfile(snapshot_dir / "snapshot.json", dest / "snapshot.json")
    root = snapshot_dir.resolve()
    for name, entry in meta["datasets"].items():
        for rel in (entry["file"], f"queries/{name}.kql"):
            src = snapshot_dir / rel
            if src.is_file() and not src.is_symlink() and root in src.resolve().parents:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest / rel)
    problems = verify_snapshot_copy(dest.parent, {"snapshot_sha256": fingerprint})
    if problems:  # changed since it was read: the pack must not carry a snapshot that fails its own hashes
        raise RenderError(f"copying the snapshot: {problems[0]}", hint=f"check {snapshot_dir} and render again")
