"""The known limits of a pack's evidence, as plain sentences: README.txt, the OSCAL results
and any other document state the same ones.

Each sentence names what is missing (a skipped or partial dataset, an evidence gap recorded
at collection, unassessed clusters, a control without a figure) and where the full list
is; names are listed up to ``LIST_CAP`` and then counted.
"""

from __future__ import annotations

from reportgen.aggregate.build import DATASET_GAP_EFFECT
from reportgen.aggregate.model import ReportModel
from reportgen.render.csv_export import table_file

LIST_CAP = 20  # names listed inline (unassessed clusters, ...) before "and N more"

# How README.txt says what an incomplete dataset means (the effect on the figures).
DATASET_EFFECT = {
    "skipped": "its rows are missing from every figure that uses it",
    "partial": "some of its rows may be missing",
    "failed": "every request for it failed, so its rows are missing from every figure that uses it",
}
_STATUS_WORDS = {"skipped": "is SKIPPED", "partial": "is PARTIAL", "failed": "FAILED"}



def limits(model: ReportModel) -> list[str]:
    """Plain sentences on what this pack's evidence does not cover."""
    m = model.meta
    notes: list[str] = []
    if m.source == "sample":
        notes.append("Sample data: the built-in sample tenant, not a real Azure estate.")
    for g in model.gaps:
        members = f" Concerns: {capped(g.members)}." if g.members else ""
        if g.status is None:
            notes.append(f"{g.title} {g.message}{members}")
            continue
        warnings = "; ".join(g.details)
        recorded = "" if g.message == DATASET_GAP_EFFECT.get(g.status) else f" {g.message}"
        notes.append(f"Dataset {g.dataset} {_STATUS_WORDS.get(g.status, 'is ' + g.status.upper())}: "
                     f"{DATASET_EFFECT.get(g.status, 'its rows may be incomplete')}"
                     + (f" ({warnings})." if warnings else ".") + recorded + members)
    for d in model.datasets:
        if d.status == "complete" and d.warnings:
            notes.append(f"Dataset {d.name}: {'; '.join(d.warnings)}")
    if model.coverage.assessment_gap_statement:
        notes.append(f"{model.coverage.assessment_gap_statement} Clusters concerned: "
                     f"{capped(model.coverage.findings_without_assessment)}. See {table_file('clusters.csv')} (column "
                     f"\u201cFindings but no policy assessment\u201d).")
    for c in model.controls:
        if c.compliance_pct is None:
            notes.append(f"{c.id} has no compliance figure: no cluster has a counted policy state for it "
                         f"(status No data).")
    n = len(model.coverage.not_assessed)
    if n:
        with_findings = len({i.lower() for i in model.coverage.not_assessed}
                            & {i.lower() for i in model.coverage.findings_without_assessment})
        why = (f"no assessment row; {with_findings:,} of them {'has' if with_findings == 1 else 'have'} findings from "
               f"the individual recommendations, shown with a verdict derived from the findings" if with_findings else
               f"no vulnerability data; {'they count' if n != 1 else 'it counts'} as non-compliant")
        notes.append(f"{n:,} cluster{'s are' if n != 1 else ' is'} not assessed by Defender ({why}): "
                     f"{capped(model.coverage.not_assessed)}. See {table_file('clusters.csv')}.")
    if model.changes is None:
        notes.append("No earlier snapshot was given: changes since the previous month are not shown, and first "
                     "seen dates (hence due dates) rely on this snapshot's finding history alone.")
    if model.period is not None and model.period.statement:
        notes.append(model.period.statement)
    local = model.tables.exemptions
    local = local[local["kind"].eq("Local exception")] if len(local) else local
    if len(local):
        notes.append(f"{len(local):,} local risk acceptance{'s' if len(local) != 1 else ''} from the exceptions "
                     f"file (not part of the snapshot) {'were' if len(local) != 1 else 'was'} applied; see the "
                     f"Exemptions sheet and data/exemptions.csv.")
    total = len(model.tables.findings)
    if total > m.pdf_detail_rows:
        notes.append(f"The PDF lists the first {m.pdf_detail_rows:,} of {total:,} findings; the workbook and "
                     f"{table_file('findings.csv')} list all of them.")
    if not notes:
        notes.append("None found: every dataset was collected completely and every cluster is assessed.")
    return notes


def clean_line(text: object) -> str:
    """Tenant text on one line: control characters become spaces."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())


def capped(values, cap: int = LIST_CAP) -> str:
    """``a, b, c and 17 more``: at most ``cap`` names, cleaned to one line each."""
    values = [clean_line(v) for v in values]
    shown = ", ".join(values[:cap])
    return shown + (f" and {len(values) - cap:,} more" if len(values) > cap else "")
