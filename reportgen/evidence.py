"""The pack's manifest (sha256 and size of every file) and its verification."""

from __future__ import annotations

import json
from pathlib import Path

from reportgen import TOOL_NAME, __version__
from reportgen.errors import UsageError
from reportgen.snapshot import sha256_file

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "reportgen.manifest/1"


def pack_files(pack_dir: Path) -> list[str]:
    """Every file of the pack except the manifest (and its signature), as sorted POSIX paths."""
    skip = {MANIFEST, MANIFEST + ".sig"}
    return sorted(p.relative_to(pack_dir).as_posix() for p in pack_dir.rglob("*")
                  if p.is_file() and p.relative_to(pack_dir).as_posix() not in skip)


def write_manifest(pack_dir: Path, *, run_id: str, snapshot_fingerprint: str, as_of: str) -> Path:
    files = [{"path": rel, "sha256": sha256_file(pack_dir / rel), "size": (pack_dir / rel).stat().st_size}
             for rel in pack_files(pack_dir)]
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "run_id": run_id,
        "snapshot_sha256": snapshot_fingerprint,
        "as_of": as_of,
        "files": files,
    }
    path = pack_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def verify_pack(pack_dir: Path) -> list[str]:
    """Problems found, one line each naming the file; empty when the pack is intact."""
    pack_dir = Path(pack_dir)
    path = pack_dir / MANIFEST
    if not pack_dir.is_dir():
        raise UsageError(f"{pack_dir}: not a folder", hint="pass the pack folder written by render or demo")
    if not path.is_file():
        return [f"{path}: missing manifest"]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        listed = {e["path"]: e for e in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{path}: unreadable manifest ({exc})"]
    problems = []
    present = set(pack_files(pack_dir))
    for rel in sorted(listed):
        entry = listed[rel]
        if rel not in present:
            problems.append(f"{rel}: missing")
        elif (pack_dir / rel).stat().st_size != entry.get("size") or sha256_file(pack_dir / rel) != entry.get("sha256"):
            problems.append(f"{rel}: changed (sha256 does not match manifest.json)")
    for rel in sorted(present - set(listed)):
        problems.append(f"{rel}: unexpected file (not in manifest.json)")
    return problems
