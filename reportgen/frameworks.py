"""Load a compliance framework mapping (controls/*.yaml): controls and what evidences them.

One generic renderer serves every framework; a framework is data, not code.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from reportgen.aggregate.model import ControlDef
from reportgen.assets import asset_dir
from reportgen.errors import ConfigError

DEFAULT_FRAMEWORK = "mcsb.yaml"
_REQUIRED = ("id", "title", "policy_group", "defender_control", "objective", "evidence")


def default_framework_file() -> Path:
    return asset_dir("controls") / DEFAULT_FRAMEWORK


def load_controls(path: Path | None = None) -> tuple[ControlDef, ...]:
    path = Path(path) if path else default_framework_file()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"controls file {path} not found", hint="check [controls] framework") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"controls file {path}: invalid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("controls"), list) or not data["controls"]:
        raise ConfigError(f"controls file {path}: expected a mapping with a non-empty 'controls' list")
    standard = str(data.get("defender_standard", "Microsoft-cloud-security-benchmark"))
    out = []
    for i, entry in enumerate(data["controls"]):
        if not isinstance(entry, dict):
            raise ConfigError(f"controls file {path}: controls[{i}] is not a mapping")
        for key in _REQUIRED:
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ConfigError(f"controls file {path}: controls[{i}] needs a text value for {key!r}")
        out.append(ControlDef(
            id=entry["id"].strip(), title=entry["title"].strip(), objective=" ".join(entry["objective"].split()),
            evidence=" ".join(entry["evidence"].split()), policy_group=entry["policy_group"].strip(),
            defender_control=entry["defender_control"].strip(), defender_standard=standard,
            remediation_timeliness=bool(entry.get("remediation_timeliness", False)),
        ))
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"controls file {path}: duplicate control ids in {ids}")
    return tuple(out)
