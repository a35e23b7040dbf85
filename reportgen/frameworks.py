"""Load a compliance framework mapping (controls/*.yaml): controls and what evidences them.

One generic renderer serves every framework; a framework is data, not code. The crosswalk
files (controls/crosswalk/<framework>.yaml) map the same evidence to other frameworks'
requirements; ``load_crosswalk`` reads and checks them.
"""

from __future__ import annotations

import re
from pathlib import Path


from reportgen.aggregate.model import SEVERITY_ORDER, ClockDef, ControlDef, FrameworkDef, RequirementDef
from reportgen.assets import asset_dir, read_yaml
from reportgen.errors import ConfigError

DEFAULT_FRAMEWORK = "mcsb.yaml"
_REQUIRED = ("id", "title", "policy_group", "defender_control", "objective", "evidence")


def default_framework_file() -> Path:
    return asset_dir("controls") / DEFAULT_FRAMEWORK


def load_controls(path: Path | None = None) -> tuple[ControlDef, ...]:
    path = Path(path) if path else default_framework_file()
    data = read_yaml(path, "controls file", ConfigError, hint="check [controls] framework")
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


# --- framework crosswalk (controls/crosswalk/<id>.yaml) ------------------------------------------

CROSSWALK_DIR = "crosswalk"
_FRAMEWORK_KEYS = ("framework", "name", "version", "source_url", "note", "mcsb_mapping", "requirements")
_REQUIREMENT_KEYS = ("id", "oscal_id", "topic", "paraphrase", "mcsb", "figures", "clock", "note")
_CLOCK_KEYS = ("kind", "rule", "days", "severities")
_OSCAL_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")   # OSCAL 1.1 token (ASCII subset)


def crosswalk_dir() -> Path:
    return asset_dir("controls") / CROSSWALK_DIR


def known_frameworks(directory: Path | None = None) -> tuple[str, ...]:
    """The framework ids there is a crosswalk file for (the files' stems), sorted."""
    directory = Path(directory) if directory else crosswalk_dir()
    return tuple(sorted(p.stem for p in directory.glob("*.yaml") if p.is_file()))


def parse_selection(text: str, option: str = "--framework") -> tuple[str, ...]:
    """``"iso27001,pci-dss"`` -> ("iso27001", "pci-dss"); ``"none"`` or "" -> () (no crosswalk)."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if names == ("none",):
        return ()
    check_selection(names, option)
    return names


def check_selection(names: tuple[str, ...], where: str = "[crosswalk] frameworks",
                    directory: Path | None = None) -> None:
    known = known_frameworks(directory)
    for name in names:
        if name not in known:
            raise ConfigError(f"{where}: unknown framework {name!r}", hint=f"known frameworks: {', '.join(known)}")


def load_crosswalk(names: tuple[str, ...], control_ids: tuple[str, ...],
                   directory: Path | None = None) -> tuple[FrameworkDef, ...]:
    """The crosswalk files of ``names``, in that order, each validated (see ``load_framework``)."""
    directory = Path(directory) if directory else crosswalk_dir()
    check_selection(names, directory=directory)
    return tuple(load_framework(directory / f"{name}.yaml", control_ids) for name in names)


def load_framework(path: Path, control_ids: tuple[str, ...]) -> FrameworkDef:
    """One crosswalk file; every error names the file, the requirement and the key."""
    from reportgen.aggregate.crosswalk import CLOCK_KINDS, figure_problem
    path = Path(path)
    data = read_yaml(path, "crosswalk file", ConfigError)
    if not isinstance(data, dict):
        raise ConfigError(f"crosswalk file {path}: expected a mapping with the keys {', '.join(_FRAMEWORK_KEYS)}")
    _unknown_keys(data, _FRAMEWORK_KEYS, f"crosswalk file {path}")
    where = f"crosswalk file {path}"
    text = {key: _text(data.get(key), f"{where}: {key!r}") for key in _FRAMEWORK_KEYS[:-1]}
    if text["framework"] != path.stem:
        raise ConfigError(f"{where}: framework {text['framework']!r} must equal the file name {path.stem!r}")
    reqs = data.get("requirements")
    if not isinstance(reqs, list) or not reqs:
        raise ConfigError(f"{where}: 'requirements' must be a non-empty list")
    out = []
    for i, entry in enumerate(reqs):
        at = f"{where}: requirements[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at} is not a mapping")
        rid = _text(entry.get("id"), f"{at}: 'id'")
        at = f"{where}: requirement {rid}"
        _unknown_keys(entry, _REQUIREMENT_KEYS, at)
        oscal_id = _text(entry.get("oscal_id"), f"{at}: 'oscal_id'")
        if not _OSCAL_TOKEN.fullmatch(oscal_id):
            raise ConfigError(f"{at}: 'oscal_id' {oscal_id!r} is not an OSCAL token (a letter or _, then letters, "
                              f"digits, '.', '-' or '_')")
        mcsb = _text_list(entry.get("mcsb"), f"{at}: 'mcsb'")
        for cid in mcsb:
            if cid not in control_ids:
                raise ConfigError(f"{at}: 'mcsb' names {cid!r}, not one of the controls {', '.join(control_ids)}")
        figures = _text_list(entry.get("figures"), f"{at}: 'figures'")
        for fig in figures:
            problem = figure_problem(fig, control_ids)
            if problem:
                raise ConfigError(f"{at}: figure path {fig!r}: {problem}")
        out.append(RequirementDef(
            id=rid, oscal_id=oscal_id, topic=_text(entry.get("topic"), f"{at}: 'topic'"),
            paraphrase=_text(entry.get("paraphrase"), f"{at}: 'paraphrase'"), mcsb=mcsb, figures=figures,
            clock=_clock(entry.get("clock"), f"{at}: clock", CLOCK_KINDS) if "clock" in entry else None,
            note=_text(entry["note"], f"{at}: 'note'") if "note" in entry else ""))
    ids = [r.id for r in out]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: duplicate requirement ids in {ids}")
    return FrameworkDef(id=text["framework"], name=text["name"], version=text["version"],
                        source_url=text["source_url"], note=text["note"], mcsb_mapping=text["mcsb_mapping"],
                        requirements=tuple(out), file=str(path))


def _clock(data: object, at: str, kinds: tuple[str, ...]) -> ClockDef:
    if not isinstance(data, dict):
        raise ConfigError(f"{at}: expected a mapping with the keys {', '.join(_CLOCK_KEYS)}")
    _unknown_keys(data, _CLOCK_KEYS, at)
    kind = _text(data.get("kind"), f"{at}: 'kind'")
    if kind not in kinds:
        raise ConfigError(f"{at}: 'kind' {kind!r} is not one of {', '.join(kinds)}")
    days = data.get("days")
    if kind == "due":
        if days is not None:
            raise ConfigError(f"{at}: 'days' is not used by kind 'due' (its days are the configured SLA)")
    elif isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ConfigError(f"{at}: 'days' must be an integer >= 0 for kind {kind!r}, got {days!r}")
    severities = _text_list(data.get("severities", []), f"{at}: 'severities'", allow_empty=True)
    for s in severities:
        if s not in SEVERITY_ORDER:
            raise ConfigError(f"{at}: severity {s!r} is not one of {', '.join(SEVERITY_ORDER)}")
    return ClockDef(kind=kind, rule=_text(data.get("rule"), f"{at}: 'rule'"), days=days, severities=severities)


def _unknown_keys(data: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}", hint=f"allowed keys: {', '.join(allowed)}")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty text, got {value!r}")
    return " ".join(value.split())


def _text_list(value: object, where: str, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise ConfigError(f"{where}: expected a {'' if allow_empty else 'non-empty '}list of texts, got {value!r}")
    return tuple(_text(v, where) for v in value)
