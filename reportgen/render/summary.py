"""summary.json (schema ``reportgen.summary/1``): the model's figures for automation.

A compliance figure without evidence is null (status "No data"), never 100 or 0; keys are
only ever added (DESIGN.md §6): ``findings.sources``, ``coverage.findings_without_assessment``,
``coverage.derived_verdicts`` and ``gaps`` came with the individual recommendations.
"""

from __future__ import annotations

import json
from pathlib import Path

from reportgen.aggregate.model import DERIVED_VERDICTS, SEVERITY_ORDER, ReportModel
from reportgen.render.interface import Output
from reportgen.snapshot import utc_iso

SCHEMA = "reportgen.summary/1"
SUMMARY = "summary.json"


def summary_dict(model: ReportModel) -> dict:
    m = model.meta
    f = model.findings
    return {
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
            "previous_as_of": utc_iso(model.changes.previous_as_of),
        },
        "datasets": {d.name: {"status": d.status, "rows": d.rows, "warnings": list(d.warnings)}
                     for d in model.datasets},
        "gaps": [{"kind": g.kind, "title": g.title, "message": g.message, "dataset": g.dataset,
                  "members": list(g.members)} for g in model.gaps],
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
