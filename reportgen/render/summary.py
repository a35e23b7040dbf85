"""summary.json (schema ``reportgen.summary/1``): the model's figures for automation.

A compliance figure without evidence is null (status "No data"), never 100 or 0; keys are
only ever added (DESIGN.md §6): ``findings.sources``, ``coverage.findings_without_assessment``,
``coverage.derived_verdicts`` and ``gaps`` came with the individual recommendations;
``changes.rebuilt_still_vulnerable`` and ``period_population`` came with the lineages (the contract
of December 2026), and ``period_population.monthly``, ``audit_sample`` and ``ipe`` beside them; ``crosswalk`` only when frameworks
are selected (--framework / [crosswalk]); ``poam`` (the POA&M export's item counts) came with issue 11.
A model without a period population, sample or IPE (built without aggregation) gives null there.
"""

from __future__ import annotations

import json
from pathlib import Path

from reportgen.aggregate.model import DERIVED_VERDICTS, SEVERITY_ORDER, Crosswalk, Ipe, ReportModel, RollForward
from reportgen.render.interface import Output
from reportgen.snapshot import utc_iso

SCHEMA = "reportgen.summary/1"
SUMMARY = "summary.json"


def summary_dict(model: ReportModel) -> dict:
    m = model.meta
    f = model.findings
    out = {
        "schema": SCHEMA,
        "tool": {"name": "reportgen", "version": m.tool_version},
        "run_id": m.run_id,
        "snapshot_sha256": m.snapshot_fingerprint,
        "generated_at": utc_iso(m.as_of),
        "as_of": utc_iso(m.as_of),
        "period": {"start": m.period_start.isoformat(), "end": m.period_end.isoformat()},
        "controls": [
            {"id": c.id, "title": c.control.title, "status": c.status, "resources": c.resources,
             "compliant": c.compliant, "non_compliant": c.non_compliant, "exempt": c.exempt, "conflict": c.conflict,
             "compliance_pct": _pct(c.compliance_pct),
             "previous_compliance_pct": _pct(c.previous_pct),
             "defender_state": c.defender.state}
            for c in model.controls
        ],
        "owners": [
            {"owner": o.owner, "source": o.source, "clusters": o.clusters,
             "non_compliant_clusters": o.non_compliant_clusters, "open_findings": o.open_findings,
             "by_severity": {s: int(o.by_severity.get(s, 0)) for s in SEVERITY_ORDER}, "overdue": o.overdue}
            for o in model.owners
        ],
        "findings": {
            "open": f.open, "exempt": f.exempt,
            "by_severity": {s: int(f.by_severity.get(s, 0)) for s in SEVERITY_ORDER},
            "fixable": f.fixable, "exploitable": f.exploitable, "overdue": f.overdue,
            "overdue_by_severity": {s: int(f.overdue_by_severity.get(s, 0)) for s in SEVERITY_ORDER},
            "duplicates_dropped": f.duplicates_dropped,
            "sources": dict(f.sources),
        },
        "coverage": {"clusters": model.coverage.clusters, "assessed": model.coverage.assessed,
                     "not_assessed": list(model.coverage.not_assessed),
                     "findings_without_assessment": list(model.coverage.findings_without_assessment),
                     "derived_verdicts": {_verdict_key(v): int(model.coverage.derived_verdicts.get(v, 0))
                                          for v in DERIVED_VERDICTS}},
        "changes": None if model.changes is None else {
            "new": model.changes.new, "resolved": model.changes.resolved, "persisting": model.changes.persisting,
            "rebuilt_still_vulnerable": model.changes.rebuilt_still_vulnerable,
            "previous_as_of": utc_iso(model.changes.previous_as_of),
        },
        "period_population": _period(model),
        "audit_sample": _audit_sample(model),
        "ipe": None if model.ipe is None else _ipe(model.ipe),
        "executive": _executive(model),
        "known_exploited": known_exploited_dict(f.known_exploited),
        "poam": _poam(model),
        "datasets": {d.name: {"status": d.status, "rows": d.rows, "warnings": list(d.warnings)}
                     for d in model.datasets},
        "gaps": [{"kind": g.kind, "title": g.title, "message": g.message, "dataset": g.dataset,
                  "members": list(g.members)} for g in model.gaps],
    }
    if model.by_owner:  # --split-by owner only: the owner -> folder index of by-owner/
        out["by_owner"] = [dict(e) for e in model.by_owner]
    if model.crosswalk is not None:  # --framework / [crosswalk] only; verify --deep re-renders with its ids
        out["crosswalk"] = _crosswalk(model.crosswalk)
    return out


def _crosswalk(cw: Crosswalk) -> dict:
    """The framework crosswalk (aggregate/crosswalk.py): each requirement with its figures, read at the
    summary.json paths they name, and its clock figure."""
    return {
        "frameworks": [{
            "id": f.id, "name": f.name, "version": f.version, "source_url": f.source_url, "note": f.note,
            "mcsb_mapping": f.mcsb_mapping,
            "requirements": [{
                "id": r.id, "oscal_id": r.oscal_id, "topic": r.topic, "paraphrase": r.paraphrase,
                "mcsb": list(r.mcsb), "note": r.note or None,
                "figures": [{"path": x.path, "label": x.label, "value": x.value} for x in r.figures],
                "clock": None if r.clock is None else {
                    "kind": r.clock.kind, "rule": r.clock.rule, "days": r.clock.days,
                    "severities": list(r.clock.severities), "basis": r.clock.basis, "value": r.clock.value,
                    "fixable": r.clock.fixable, "undated": r.clock.undated, "applies_to": r.clock.applies_to,
                    "statement": r.clock.statement},
            } for r in f.requirements],
        } for f in cw.frameworks],
        "disclaimer": cw.disclaimer,
    }


def _poam(model: ReportModel) -> dict | None:
    """The POA&M export's figures (aggregate/poam.py; poam/poam.xlsx)."""
    p = model.poam
    if p is None:
        return None
    due = p.earliest_scheduled_completion
    return {"items": p.items, "findings": p.findings, "open_items": p.open_items,
            "deviation_items": p.deviation_items, "overdue_items": p.overdue_items,
            "earliest_scheduled_completion": None if due is None else due.strftime("%Y-%m-%d"),
            "closed_items": p.closed_items}


def _executive(model: ReportModel) -> dict | None:
    """Every figure of executive-summary.pdf (aggregate/executive.py)."""
    e = model.executive
    if e is None:
        return None
    return {
        "status_rule": e.amber_rule,
        "status": [{"name": r.name, "value": r.value, "target": r.target, "comparison": r.comparison,
                    "status": r.status} for r in e.rag],
        "trends": [{"name": t.name, "current": t.current, "previous": t.previous, "change": t.change,
                    "direction": t.direction, "series": [[label, v] for label, v in t.series]} for t in e.trends],
        "monthly": [{"month": m, "sla_attainment_pct": a, "median_days_to_fix": d} for m, a, d in e.monthly],
        "top_images": [{"image": i.image, "critical": i.critical, "clusters": i.clusters, "cves": i.cves,
                        "fixable": i.fixable, "leverage": i.leverage}
                       for i in e.top_images],
        "base_images": e.base_images,
        "unique_cves": {s: {"cves": c, "findings": n} for s, (c, n) in e.unique_cves.items()},
        "environments": {k: dict(v) for k, v in e.environments.items()},
        "environment_tag_keys": list(e.environment_tag_keys),
        "production_values": list(e.production_values),
        "owners_overdue_critical": [{"owner": o, "overdue_critical": n, "clusters": c}
                                    for o, n, c in e.owners_overdue_critical],
    }


def _roll(r: RollForward) -> dict:
    return {"opening": int(r.opening), "new": int(r.new), "closed": int(r.closed), "closing": int(r.closing)}


def _period(model: ReportModel) -> dict | None:
    p = model.period
    if p is None:
        return None
    return {
        **_roll(p.total),
        "closed_by_reason": {k: int(p.closed_by_reason[k]) for k in ("fixed", "exempt", "out_of_scope")},
        "sla": {k: int(p.sla[k]) for k in ("met", "missed", "open_overdue", "open_within")},
        "sla_attainment_pct": _pct(p.sla_attainment_pct),
        "by_severity": {s: _roll(p.by_severity[s]) for s in SEVERITY_ORDER},
        "reconciles": p.total.reconciles and all(p.by_severity[s].reconciles for s in SEVERITY_ORDER),
        "period_start": utc_iso(p.period_start),
        "opening_as_of": None if p.opening_as_of is None else utc_iso(p.opening_as_of),
        "opening_run_id": p.opening_run_id,
        "sightings": p.sightings,
        "monthly": [{"month": m.month, "severity": m.severity, "fixed": int(m.fixed), "met": int(m.met),
                     "missed": int(m.missed),
                     "attainment_pct": _pct(m.attainment_pct), "mean_days_to_fix": m.mean_days_to_fix,
                     "median_days_to_fix": m.median_days_to_fix} for m in p.monthly],
        "statement": p.statement,
    }


def _audit_sample(model: ReportModel) -> dict | None:
    a = model.audit_sample
    if a is None:
        return None
    return {"size": a.size, "seed": a.seed, "drawn": a.drawn, "population": a.population,
            "strata": [{"stratum": name, "population": population, "drawn": drawn}
                       for name, population, drawn in a.strata],
            "items": [str(x) for x in model.tables.audit_sample["lineageId"]],
            "method": a.method}


def _ipe(ipe: Ipe) -> dict:
    c = ipe.collector
    return {
        "datasets": [{"name": d.name, "status": d.status, "query_sha256": d.query_sha256, "rows": d.rows,
                      "total_records": d.total_records, "pages": d.pages,
                      "subscriptions_asked": d.subscriptions_asked, "subscriptions_seen": d.subscriptions_seen}
                     for d in ipe.datasets],
        "reconciliations": [{"check": r.check, "ours": r.ours, "defender": r.defender, "difference": r.difference}
                            for r in ipe.reconciliations],
        "collector": {"tenant_id": c.tenant_id, "object_id": c.object_id, "app_id": c.app_id, "upn": c.upn,
                      "identity_type": c.identity_type, "collected_at": utc_iso(c.collected_at),
                      "tool_version": c.tool_version, "source": c.source},
        "render_tool_version": ipe.render_tool_version,
    }


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _verdict_key(verdict: str) -> str:
    """"No evidence" -> "no_evidence"."""
    return verdict.lower().replace(" ", "_")


def write_summary(model: ReportModel, path: Path) -> Path:
    path.write_text(json.dumps(summary_dict(model), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


OUTPUT = Output(
    name="summary", files=(SUMMARY,), step="Writing summary.json",
    description="The headline figures for automation (schema reportgen.summary/1).",
    write=lambda model, pack: [write_summary(model, pack / SUMMARY)],
)


def known_exploited_dict(k) -> dict:
    """The known-exploited figures; ``{"checked": false, ...}`` with every figure null when the snapshot holds
    no catalogue (not checked is not zero)."""
    return {
        "checked": k.checked,
        "statement": None if k.checked else NOT_CHECKED,
        "catalog": None if not k.checked else {
            "title": k.title, "catalog_version": k.catalog_version, "date_released": k.date_released,
            "source": k.source, "source_sha256": k.source_sha256, "dataset_sha256": k.dataset_sha256,
            "entries": k.entries},
        "open_flagged": k.open_flagged, "distinct_cves": k.distinct_cves, "overdue": k.overdue,
        "kev_due_applies": k.kev_due_applies, "overdue_because_kev": k.overdue_because_kev,
        "ransomware_known": k.ransomware_known,
    }


NOT_CHECKED = ("Known exploited vulnerabilities were not checked: the snapshot holds no known-exploited catalogue "
               "(configure [known_exploited] source to collect the CISA KEV catalogue).")
