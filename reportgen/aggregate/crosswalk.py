"""The framework crosswalk: DS-6/PV-6 evidence mapped to other frameworks' requirements.

A framework is data (``controls/crosswalk/<id>.yaml``, read by ``reportgen.frameworks``); this
module gives each of its requirements the values of the pack figures that evidence it and, where
the requirement has a clock, that clock's figure computed from the findings.

Figure paths mirror summary.json's keys (``findings.overdue``, ``period_population.sla_attainment_pct``,
``controls[id=PV-6].compliance_pct``), so an auditor can find every value in summary.json. They
are resolved here against the model's own dataclasses, never against a renderer (aggregation
does not import ``reportgen.render``); ``FIGURES`` lists every path that can be used, and the
test suite checks each one against a rendered summary.json.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

import pandas as pd

from reportgen.aggregate.model import (
    SEVERITY_ORDER, ClockDef, ControlResult, Crosswalk, CrosswalkClock, CrosswalkFigure, CrosswalkFramework,
    CrosswalkRequirement, FrameworkDef, ReportModel,
)
from reportgen.snapshot import utc_iso

DISCLAIMER = (
    "This crosswalk is reportgen's own mapping of the evidence for Microsoft cloud security benchmark "
    "controls DS-6 and PV-6 (vulnerable running container images in AKS) to requirements of other frameworks. "
    "Requirements are identified by their number and paraphrased in our own words; read the framework itself "
    "for its text. A figure listed against a requirement is evidence towards it for this scope only: it does "
    "not show that the requirement is met across the organisation, and it is no substitute for the assessor's "
    "own judgement. Microsoft's published MCSB mappings cite older framework versions; the mappings to the "
    "versions named here are ours.")

Getter = Callable[[ReportModel], object]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 2)   # as summary.json rounds it


def _or_none(part: Callable[[ReportModel], object], get: Callable[[object], object]) -> Getter:
    """``get(part(model))``, or None (no data) when the model has no such part."""
    return lambda m: None if part(m) is None else get(part(m))


def _figures() -> dict[str, tuple[str, Getter]]:
    """path -> (label, value getter) for every figure that is not per control (those: CONTROL_FIELDS)."""
    f: dict[str, tuple[str, Getter]] = {
        "as_of": ("As-of time of the evidence (UTC)", lambda m: utc_iso(m.meta.as_of)),
        "findings.open": ("Open findings", lambda m: m.findings.open),
        "findings.exempt": ("Exempt findings", lambda m: m.findings.exempt),
        "findings.fixable": ("Open findings with a fix available", lambda m: m.findings.fixable),
        "findings.exploitable": ("Open findings with a known exploit", lambda m: m.findings.exploitable),
        "findings.overdue": ("Open findings past their due date", lambda m: m.findings.overdue),
        "coverage.clusters": ("AKS clusters in scope", lambda m: m.coverage.clusters),
        "coverage.assessed": ("AKS clusters assessed by Defender", lambda m: m.coverage.assessed),
    }
    for s in SEVERITY_ORDER:
        f[f"findings.by_severity.{s}"] = (f"Open {s.lower()} findings",
                                          lambda m, s=s: int(m.findings.by_severity.get(s, 0)))
        f[f"findings.overdue_by_severity.{s}"] = (f"Overdue {s.lower()} findings",
                                                  lambda m, s=s: int(m.findings.overdue_by_severity.get(s, 0)))
    changes = lambda m: m.changes  # noqa: E731
    for key, label in (("new", "New lineages since the previous snapshot"),
                       ("resolved", "Lineages resolved since the previous snapshot"),
                       ("persisting", "Lineages open in both snapshots"),
                       ("rebuilt_still_vulnerable", "Rebuilt images still vulnerable")):
        f[f"changes.{key}"] = (label, _or_none(changes, lambda c, key=key: getattr(c, key)))
    period = lambda m: m.period  # noqa: E731
    for key, label, get in (
            ("opening", "Period population: open at the period start", lambda p: int(p.total.opening)),
            ("new", "Period population: new in the period", lambda p: int(p.total.new)),
            ("closed", "Period population: closed by the as-of time", lambda p: int(p.total.closed)),
            ("closing", "Period population: open at the as-of time", lambda p: int(p.total.closing)),
            ("sla_attainment_pct", "SLA attainment of lineages fixed in the period (%)",
             lambda p: _pct(p.sla_attainment_pct))):
        f[f"period_population.{key}"] = (label, _or_none(period, get))
    for key, label in (("met", "Fixed within SLA in the period"), ("missed", "Fixed after the SLA in the period"),
                       ("open_overdue", "Open and past the SLA at the as-of time"),
                       ("open_within", "Open and within the SLA at the as-of time")):
        f[f"period_population.sla.{key}"] = (label, _or_none(period, lambda p, key=key: int(p.sla[key])))
    for key in ("fixed", "exempt", "out_of_scope"):
        f[f"period_population.closed_by_reason.{key}"] = (
            f"Lineages closed in the period: {key.replace('_', ' ')}",
            _or_none(period, lambda p, key=key: int(p.closed_by_reason[key])))
    sample = lambda m: m.audit_sample  # noqa: E731
    for key, label in (("population", "Audit sample: population"), ("drawn", "Audit sample: items drawn")):
        f[f"audit_sample.{key}"] = (label, _or_none(sample, lambda a, key=key: getattr(a, key)))
    return f


FIGURES: dict[str, tuple[str, Getter]] = _figures()

# controls[id=<MCSB control>].<field>: the control's figures as summary.json's "controls" list holds them
CONTROL_FIELDS: dict[str, tuple[str, Callable[[ControlResult], object]]] = {
    "status": ("status", lambda c: c.status),
    "compliance_pct": ("compliance (%)", lambda c: _pct(c.compliance_pct)),
    "previous_compliance_pct": ("compliance in the previous snapshot (%)", lambda c: _pct(c.previous_pct)),
    "resources": ("clusters evaluated", lambda c: c.resources),
    "compliant": ("compliant clusters", lambda c: c.compliant),
    "non_compliant": ("non-compliant clusters", lambda c: c.non_compliant),
    "exempt": ("exempt clusters", lambda c: c.exempt),
    "defender_state": ("Defender regulatory-compliance state", lambda c: c.defender.state),
}
_CONTROL_PATH = re.compile(r"controls\[id=([A-Za-z0-9.\-]+)\]\.([a-z_]+)")
# datasets.<name>.<field>: the dataset's collection status and rows (summary.json "datasets")
_DATASET_PATH = re.compile(r"datasets\.([A-Za-z0-9_]+)\.(status|rows)")


def figure_problem(path: str, control_ids: Iterable[str]) -> str | None:
    """Why ``path`` is not a figure the crosswalk can show (None when it is)."""
    if path in FIGURES or _DATASET_PATH.fullmatch(path):
        return None
    match = _CONTROL_PATH.fullmatch(path)
    if match:
        ids = tuple(control_ids)
        if match.group(1) not in ids:
            return f"control {match.group(1)!r} is not one of {', '.join(ids)}"
        if match.group(2) not in CONTROL_FIELDS:
            return f"control field {match.group(2)!r} is not one of {', '.join(CONTROL_FIELDS)}"
        return None
    return ("not a known figure; use one of " + ", ".join(sorted(FIGURES))
            + ", controls[id=<control>].<" + "|".join(CONTROL_FIELDS) + ">, datasets.<name>.<status|rows>")


def figure(model: ReportModel, path: str) -> CrosswalkFigure:
    """The value at ``path`` (see ``figure_problem``); None when the model has no data there."""
    match = _CONTROL_PATH.fullmatch(path)
    if match:
        cid, field = match.groups()
        label, get = CONTROL_FIELDS[field]
        control = next((c for c in model.controls if c.id == cid), None)
        return CrosswalkFigure(path=path, label=f"{cid} {label}", value=None if control is None else get(control))
    match = _DATASET_PATH.fullmatch(path)
    if match:
        name, field = match.groups()
        dataset = next((d for d in model.datasets if d.name == name), None)
        return CrosswalkFigure(path=path, label=f"Dataset {name}: {'collection status' if field == 'status' else 'rows'}",
                               value=None if dataset is None else getattr(dataset, field))
    label, get = FIGURES[path]
    return CrosswalkFigure(path=path, label=label, value=get(model))


# --- clocks -----------------------------------------------------------------------------------

CLOCK_KINDS = ("published", "first-seen", "due")
_BASIS = {"published": "publishedDate", "first-seen": "firstSeen", "due": "dueDate"}


def clock_figure(model: ReportModel, clock: ClockDef) -> CrosswalkClock:
    """Open findings (of the clock's severities) past the clock at the as-of time, and how many can be fixed."""
    f = model.tables.findings
    open_ = f[f["state"].eq("Open")]
    if clock.severities:
        open_ = open_[open_["severity"].isin(clock.severities)]
    basis = _BASIS[clock.kind]
    as_of = pd.Timestamp(model.meta.as_of)
    dates = pd.to_datetime(open_[basis], utc=True, errors="coerce")
    fixable = open_["fixable"].fillna(False).astype(bool)
    if clock.kind == "due":
        past = open_["overdue"].fillna(False).astype(bool)
    else:
        past = dates.notna() & (dates < as_of - pd.Timedelta(days=int(clock.days or 0)))
    value, n_fixable, undated = int(past.sum()), int((past & fixable).sum()), int(dates.isna().sum())
    which = (" and ".join(s.lower() for s in clock.severities) + " " if clock.severities else "")
    when = utc_iso(as_of)
    if clock.kind == "published":
        statement = (f"{value:,} open {which}findings whose CVE was published more than {clock.days} days before the "
                     f"as-of time ({when}); {n_fixable:,} of them have a fix available. The clock runs from the CVE "
                     f"publish date (publishedDate) because the fix release date is not in Defender's data; a fix "
                     f"may be released before or after the CVE is published, so this approximates the "
                     f"requirement's clock.")
    elif clock.kind == "first-seen":
        lower = int(open_.loc[past, "ageIsLowerBound"].fillna(False).astype(bool).sum())
        statement = (f"{value:,} open {which}findings first seen more than {clock.days} days before the as-of time "
                     f"({when}); {n_fixable:,} of them have a fix available. The clock runs from the first seen date "
                     f"(firstSeen) of the finding's lineage"
                     + (f"; for {lower:,} of them that date is the start of the available evidence, so their age is "
                        f"a lower bound." if lower else "."))
    else:
        statement = (f"{value:,} open {which}findings past their due date (dueDate) at the as-of time ({when}); "
                     f"{n_fixable:,} of them have a fix available. The due date is the Defender governance date or "
                     f"first seen plus the configured SLA days of the severity.")
    if undated:
        statement += f" {undated:,} of the {len(open_):,} findings the clock applies to have no {basis} and are not counted."
    return CrosswalkClock(kind=clock.kind, rule=clock.rule, days=clock.days, severities=clock.severities, basis=basis,
                          value=value, fixable=n_fixable, undated=undated, applies_to=int(len(open_)),
                          statement=statement)


def build_crosswalk(model: ReportModel, frameworks: Iterable[FrameworkDef]) -> Crosswalk | None:
    """The selected frameworks with their figures resolved; None when none is selected."""
    out = tuple(CrosswalkFramework(
        id=fw.id, name=fw.name, version=fw.version, source_url=fw.source_url, note=fw.note,
        mcsb_mapping=fw.mcsb_mapping,
        requirements=tuple(CrosswalkRequirement(
            id=r.id, oscal_id=r.oscal_id, topic=r.topic, paraphrase=r.paraphrase, mcsb=r.mcsb,
            figures=tuple(figure(model, p) for p in r.figures),
            clock=None if r.clock is None else clock_figure(model, r.clock), note=r.note) for r in fw.requirements))
        for fw in frameworks)
    return Crosswalk(frameworks=out, disclaimer=DISCLAIMER) if out else None
