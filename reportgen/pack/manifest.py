"""The pack's manifest: sha256 and size of every file.

``manifest.json`` (schema ``reportgen.manifest/1``) lists every file of the pack except
itself and its detached signature ``manifest.json.sig``, with the tool version, the
library versions that shaped the bytes, the run id, the snapshot fingerprint and the
as-of time. ``reportgen.pack.verify`` checks a pack against it.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Mapping

from reportgen import TOOL_NAME, __version__
from reportgen.render.interface import MANIFEST, SIGNATURE
from reportgen.snapshot import sha256_file

MANIFEST_SCHEMA = "reportgen.manifest/1"
# Libraries whose versions decide the exact bytes of the PDF, workbook, charts and snapshot
# copy: re-rendering gives identical files only with the same versions.
RENDER_LIBRARIES = ("weasyprint", "pydyf", "fonttools", "matplotlib", "openpyxl", "jinja2", "pandas", "pyarrow", "numpy")


def pack_files(pack_dir: Path) -> list[str]:
    """Every file of the pack except the manifest (and its signature), as sorted POSIX paths."""
    pack_dir = Path(pack_dir)
    skip = {MANIFEST, SIGNATURE}
    return sorted(p.relative_to(pack_dir).as_posix() for p in pack_dir.rglob("*")
                  if p.is_file() and p.relative_to(pack_dir).as_posix() not in skip)


def render_environment() -> dict[str, str]:
    """Versions of Python and the rendering libraries (recorded so a re-render can match them)."""
    import platform
    versions = {"python": platform.python_version()}
    for name in RENDER_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_manifest(pack_dir: Path, *, run_id: str, snapshot_fingerprint: str, as_of: str,
                   period: Mapping[str, str] | None = None) -> Path:
    pack_dir = Path(pack_dir)
    files = [{"path": rel, "sha256": sha256_file(pack_dir / rel), "size": (pack_dir / rel).stat().st_size}
             for rel in pack_files(pack_dir)]
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "environment": render_environment(),
        "run_id": run_id,
        "snapshot_sha256": snapshot_fingerprint,
        "as_of": as_of,
        **({"period": dict(period)} if period else {}),
        "files": files,
    }
    path = pack_dir / MANIFEST
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_manifest(pack_dir: Path) -> dict:
    """The manifest as a dict; ``ValueError`` naming the problem when it is unreadable."""
    path = Path(pack_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ValueError("expected an object with a 'files' list")
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise ValueError(f"unknown schema {manifest.get('schema')!r}, this reportgen reads {MANIFEST_SCHEMA}")
    return manifest
