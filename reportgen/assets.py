"""Locate the editable assets (queries/, templates/, controls/).

They live at the top of the repository so compliance engineers can read and edit them,
and are copied into the wheel under ``reportgen/_assets``. An installed wheel finds the
packaged copy; a source checkout finds the top-level folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reportgen.errors import ReportgenError

_PACKAGE_DIR = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    """Return the folder for ``queries``, ``templates``, ``controls`` or ``fonts``."""
    packaged = _PACKAGE_DIR / "_assets" / name
    if packaged.is_dir():
        return packaged
    source = _PACKAGE_DIR.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(f"reportgen asset folder {name!r} not found (looked in {packaged} and {source})")


def read_yaml(path: Path, what: str, error: type[ReportgenError] = ReportgenError, hint: str | None = None) -> Any:
    """The YAML document in ``path``; a missing file or bad YAML is ``error`` naming ``what`` and the file."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} not found", hint=hint) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path}: invalid YAML ({exc})") from None
