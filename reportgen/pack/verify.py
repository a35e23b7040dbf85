"""``reportgen verify``: a pack checked against its manifest, its snapshot and its signature.

``verify_pack`` re-hashes every file, reports missing and unexpected files, re-checks the
copied snapshot's own dataset and query hashes against its ``snapshot.json`` and, given a
public key, the manifest's signature. Every problem is one line naming the file; an empty
list means the pack is intact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Mapping

from reportgen.errors import UsageError
from reportgen.pack.manifest import pack_files, read_manifest
from reportgen.pack.signing import verify_signature
from reportgen.render.interface import MANIFEST, SIGNATURE, SNAPSHOT_DIR
from reportgen.snapshot import sha256_file

_DATASET_NAME = re.compile(r"[A-Za-z0-9_]+")


def _safe_relative(path: object) -> bool:
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts and "." not in pure.parts and pure.as_posix() == path


def verify_pack(pack_dir: Path, public_key=None) -> list[str]:
    """Problems found, one line each naming the file; empty when the pack is intact.

    ``public_key`` (an Ed25519 public key) also checks ``manifest.json.sig``.
    """
    pack_dir = Path(pack_dir)
    if not pack_dir.is_dir():
        raise UsageError(f"{pack_dir}: not a folder", hint="pass the pack folder written by render or demo")
    if not (pack_dir / MANIFEST).is_file():
        return [f"{MANIFEST}: missing (not an evidence pack, or an incomplete one)"]
    try:
        manifest = read_manifest(pack_dir)
    except ValueError as exc:
        return [f"{MANIFEST}: unreadable manifest: {exc}"]
    problems: list[str] = []
    listed: dict[str, dict] = {}
    for entry in manifest["files"]:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not _safe_relative(rel) or rel in (MANIFEST, SIGNATURE):
            problems.append(f"{MANIFEST}: bad file entry {rel if isinstance(rel, str) else entry!r}"[:300])
        elif rel in listed:
            problems.append(f"{MANIFEST}: {rel} listed twice")
        else:
            listed[rel] = entry
    present = set(pack_files(pack_dir))
    hashes: dict[str, str] = {}
    for rel in sorted(listed):
        entry = listed[rel]
        if rel not in present:
            problems.append(f"{rel}: missing (listed in {MANIFEST})")
            continue
        hashes[rel] = sha256_file(pack_dir / rel)
        if (pack_dir / rel).stat().st_size != entry.get("size") or hashes[rel] != entry.get("sha256"):
            problems.append(f"{rel}: changed (sha256 does not match {MANIFEST})")
    for rel in sorted(present - set(listed)):
        problems.append(f"{rel}: unexpected file (not in {MANIFEST})")
    problems += verify_snapshot_copy(pack_dir, manifest, hashes)
    if public_key is not None:
        problems += verify_signature(pack_dir, public_key)
    return problems


def verify_snapshot_copy(pack_dir: Path, manifest: Mapping | None = None,
                         known_hashes: Mapping[str, str] | None = None) -> list[str]:
    """Re-check ``snapshot/snapshot.json``: its fingerprint in the manifest, and the sha256 of
    every dataset file and query text it lists."""
    known_hashes = known_hashes or {}
    snap = Path(pack_dir) / SNAPSHOT_DIR
    meta_rel = f"{SNAPSHOT_DIR}/snapshot.json"
    meta_path = Path(pack_dir) / meta_rel
    if not meta_path.is_file():
        return []  # a pack without a snapshot copy: the manifest check names what is missing
    problems = []
    fingerprint = known_hashes.get(meta_rel) or sha256_file(meta_path)
    if manifest is not None and manifest.get("snapshot_sha256") not in (None, fingerprint):
        problems.append(f"{meta_rel}: sha256 does not match the manifest's snapshot_sha256")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        datasets = meta["datasets"]
        if not isinstance(datasets, dict):
            raise TypeError("datasets is not an object")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        return problems + [f"{meta_rel}: unreadable ({type(exc).__name__}: {exc})"]
    for name in sorted(datasets):
        entry = datasets[name]
        file = entry.get("file") if isinstance(entry, dict) else None
        if not _safe_relative(file):
            problems.append(f"{meta_rel}: dataset {name} has no valid file entry")
            continue
        rel = f"{SNAPSHOT_DIR}/{file}"
        path = snap / file
        if not path.is_file():
            problems.append(f"{rel}: missing (listed in {meta_rel})")
        elif (known_hashes.get(rel) or sha256_file(path)) != entry.get("sha256"):
            problems.append(f"{rel}: sha256 does not match {meta_rel}")
        query_sha = entry.get("query_sha256")
        query = snap / "queries" / f"{name}.kql"
        # the query hash is of the exact text sent, which the snapshot writes as UTF-8 bytes
        if query_sha and _DATASET_NAME.fullmatch(name) and query.is_file() and sha256_file(query) != query_sha:
            problems.append(f"{SNAPSHOT_DIR}/queries/{name}.kql: sha256 does not match {meta_rel}")
    return problems
