"""evidence-pack.pdf: the report model rendered through jinja2 templates and WeasyPrint.

``write_pdf`` draws the charts into ``charts/``, renders ``templates/report.html`` with
the one jinja environment (autoescaped, strict), and lays it out with WeasyPrint using
only the fonts shipped in ``templates/fonts/``. A URL fetcher refuses everything outside
the templates and charts folders, so tenant data can never make the renderer reach the
network or read other files. The PDF's dates are the snapshot's as-of time and its file
identifier comes from the snapshot fingerprint, so the same model gives the same bytes.

The view built here only selects and shapes finished values for display (the first N
rows, grouping rows per owner or status): every figure comes from the model. Every list
stops at a fixed number of rows with a pointer to the sheet or file that has all of them,
and every printed value is tenant text made safe by the jinja environment (capped, no
invisible or bidi character, long runs breakable: ``reportgen.render.text``), so that
hostile data costs neither hours of layout nor hundreds of pages.
"""

from __future__ import annotations

import logging
import mimetypes
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import numpy as np
import pandas as pd

from reportgen.aggregate.findings import due_date_method
from reportgen.aggregate.model import SEVERITY_ORDER, ReportModel
from reportgen.assets import asset_dir
from reportgen.errors import RenderError
from reportgen.render import archival
from reportgen.render import charts as charts_mod
from reportgen.render import text
from reportgen.render.environment import TextCuts, environment
from reportgen.render.excel import WORKBOOK
from reportgen.render.interface import Output

log = logging.getLogger(__name__)

TEMPLATE = "report.html"
STYLESHEET = "report.css"
BASE_STYLESHEET = "base.css"   # fonts and palette, shared with executive.css
# Lists other than the findings stop earlier than pdf_detail_rows: they repeat clusters
# and owners that the workbook lists in full, and each row costs layout time. Together they
# keep the PDF of an estate with 10,000 clusters and owners within a few pages of a small one
# (a cluster row, wrapped, is about 18 mm tall: 50 of them fill 3-4 pages).
SCOPE_CLUSTER_ROWS = 50         # cluster inventory in "Scope and coverage"
NON_COMPLIANT_ROWS = 25         # non-compliant clusters in each control section (the same list in each)
OWNER_ROWS = 50                 # owners in the owners table, the control x owner matrix and changes by owner
OWNER_BLOCKS = 20               # owners (most open findings first) whose clusters are listed under them
OWNER_CLUSTER_ROWS = 10         # clusters listed under each owner (most overdue first)
OWNER_CLUSTER_ROWS_TOTAL = 60   # clusters listed under all owners together
CHANGE_ROWS = 25                # new, resolved and rebuilt-still-vulnerable lineages, each, listed in "Changes"
MONTH_ROWS = 78                 # month x severity rows of SLA attainment (13 months of 5 severities and All), the latest
POPULATION_ROWS = 25            # lineages of the period population listed (missed, then open and overdue)
SAMPLE_CARDS = 60               # evidence cards of the audit sample (2-3 a page); every item is in the workbook
SIGHTING_LINES = 45             # sightings printed on one card (three columns of 15)
CONFLICT_ROWS = 25              # clusters whose governance owner contradicts their owner tag
ASSESSMENT_GAP_ROWS = 30        # clusters with findings but no policy assessment, in scope and each control
GAP_MEMBERS = 12                # members of an evidence gap (subscriptions, packages) named inline
NOT_ASSESSED_ROWS = 25          # clusters without a Defender assessment, listed in "Scope and coverage"
GAP_ROWS = 20                   # evidence gaps stated (each one sentence or more)
WARNING_ROWS = 6                # warnings of one dataset, and details of one gap
SCOPE_ITEMS = 20                # configured subscriptions and management groups, locations
KEV_ROWS = 20                   # open findings flagged known exploited, listed under PV-6 remediation timeliness
HISTORY_ROWS = 24               # months of "Month by month", the latest
EXEMPTION_GROUPS = (("Expiring within 30 days", "Expiring"), ("Expired", "Expired"), ("Active", "Active"))
# The change values of tables.changes (CHANGE_COLUMNS), and the titles the PDF lists them under.
CHANGE_LISTS = (("New", "New vulnerabilities"), ("Resolved", "Resolved vulnerabilities"),
                ("Rebuilt, still vulnerable", "Rebuilt, still vulnerable"))
CLOSE_REASONS = (("fixed", "Fixed"), ("exempt", "Exempt"), ("out_of_scope", "Out of scope"))
SLA_VERDICTS = (("met", "Met"), ("missed", "Missed"), ("open_overdue", "Open, overdue"), ("open_within", "Open, within SLA"))
# Workbook sheets the PDF points to for the new tables (render/tables.py names them; keep the two in step).
POPULATION_SHEET = "Period population"
SAMPLE_SHEET = "Audit sample"
MONTH_SHEET = "SLA by month"
IPE_SHEET = "Completeness (IPE)"
RECONCILIATION_SHEET = "Reconciliation"
PDF = "evidence-pack.pdf"
SIGNOFF_ROLES = ("Prepared by", "Reviewed by", "Approved by")


# ---------------------------------------------------------------- fetching


class RefusedURL(ValueError):
    """A URL outside the pack's allowed folders; WeasyPrint skips the resource."""


def _make_fetcher(allowed_dirs: Iterable[Path]):
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class PackFetcher(URLFetcher):
        """Serves file:// URLs inside the allowed folders and data: URIs; refuses the rest."""

        def __init__(self, roots: Sequence[Path]) -> None:
            super().__init__(timeout=1, allowed_protocols=("file", "data"), allow_redirects=False)
            self.roots = tuple(Path(r).resolve() for r in roots)
            self.refused: list[str] = []
            self.served: list[str] = []

        def fetch(self, url: str, headers: Mapping[str, str] | None = None):
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file" and parts.netloc in ("", "localhost"):
                path = Path(url2pathname(unquote(parts.path))).resolve()
                if any(path == root or root in path.parents for root in self.roots) and path.is_file():
                    self.served.append(url)
                    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": mime})
            self.refused.append(url)
            log.warning("PDF renderer refused a URL outside the pack: %s", url[:200])
            raise RefusedURL(f"refused URL outside the pack: {url[:200]}")

    return PackFetcher(tuple(allowed_dirs))


def pack_fetcher(*allowed_dirs: Path):
    """The URL fetcher WeasyPrint uses: local files under ``allowed_dirs`` and data: URIs only."""
    return _make_fetcher(allowed_dirs)


# ---------------------------------------------------------------- the view


@dataclass(frozen=True)
class ChartRef:
    name: str
    title: str
    alt: str
    src: str          # relative to the HTML base (the pack folder)
    wide: bool


@dataclass(frozen=True)
class Section:
    anchor: str
    number: int
    title: str


def _records(frame: pd.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    rows = frame if limit is None else frame.head(limit)
    return [{k: (None if _nan(v) else v) for k, v in r.items()} for r in rows.to_dict("records")]


def _nan(value: Any) -> bool:
    try:
        return bool(pd.isna(value)) if not isinstance(value, (list, tuple, dict, str)) else False
    except (TypeError, ValueError):
        return False


def sections(model: ReportModel) -> list[Section]:
    titles = [("summary", "Executive summary"), ("scope", "Scope and coverage")]
    titles += [(f"control-{c.id.lower()}", f"Control {c.id}: {c.control.title}") for c in model.controls]
    titles += [("owners", "Owners"), ("findings", "Findings"), ("exemptions", "Exemptions and exceptions"),
               ("changes", "Changes since the previous period"), ("period", "Period population and roll-forward")]
    if model.crosswalk is not None:   # --framework only: no empty section without a selection
        titles += [("crosswalk", "Framework crosswalk")]
    titles += [("ipe", "Completeness and accuracy (IPE)"), ("methodology", "Methodology and provenance"),
               ("sample", "Audit sample"), ("signoff", "Sign-off")]
    return [Section(anchor=a, number=i, title=t) for i, (a, t) in enumerate(titles, start=1)]


@dataclass(frozen=True)
class Capped:
    """The first rows of a longer list, and how long the list is (for the pointer to the workbook)."""

    rows: list[Any]
    total: int

    @property
    def capped(self) -> bool:
        return len(self.rows) < self.total

    @property
    def more(self) -> int:
        """How many the PDF leaves out."""
        return self.total - len(self.rows)


def _first(values: Sequence[Any], limit: int) -> Capped:
    return Capped(rows=list(values[:limit]), total=len(values))


def _latest(values: Sequence[Any], limit: int) -> Capped:
    return Capped(rows=list(values[-limit:]) if limit else [], total=len(values))


def _capped(frame: pd.DataFrame, limit: int, mask: pd.Series | None = None) -> Capped:
    """The first ``limit`` rows (of those where ``mask`` holds), without copying the rest."""
    if mask is None:
        return Capped(rows=_records(frame, limit), total=len(frame))
    positions = np.flatnonzero(mask.to_numpy())
    return Capped(rows=_records(frame.iloc[positions[:limit]]), total=len(positions))


def _among(column: pd.Series, values: set[Any]) -> np.ndarray:
    """Where ``column`` holds one of ``values``, compared in Python: ``isin`` and ``groupby``
    convert to Arrow strings, which a name with a lone surrogate (in an object column) cannot be."""
    return np.fromiter((v in values for v in column), dtype=bool, count=len(column))


def _most_overdue(clusters: pd.DataFrame) -> pd.DataFrame:
    return clusters.sort_values(["overdue", "openFindings"], ascending=False, kind="stable")


def _items(value: Any, separator: str = "; ") -> list[str]:
    """A "; "-separated cell (digests, sightings) as its items, for one line each."""
    if value is None or _nan(value) or not str(value).strip():
        return []
    return [part for part in str(value).split(separator) if part]


DIGEST_LINES = 6                # digests of one lineage named on a card or a row


def _lineage_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the period population (or the sample) with their list cells split for display."""
    return [{**r, "digest_list": _first(_items(r.get("digests")), DIGEST_LINES),
             "sighting_list": _first(_items(r.get("sightings")), SIGHTING_LINES)} for r in rows]


def _period_view(model: ReportModel, cap: int) -> dict[str, Any]:
    """The period population's figures as the PDF lays them out: roll-forward rows (every severity,
    then the total), the months of SLA attainment, and the lineages that missed or are past due."""
    p = model.period
    population = model.tables.period_population
    if p is None:
        return {"rollforward": [], "month_rows": _latest((), MONTH_ROWS),
                "late_lineages": Capped(rows=[], total=0), "close_reasons": CLOSE_REASONS, "sla_verdicts": SLA_VERDICTS}
    rollforward = [(s, p.by_severity[s]) for s in SEVERITY_ORDER if s in p.by_severity]
    late = population["slaVerdict"].isin(("missed", "open-overdue")) if len(population) else None
    late_rows = _capped(population, min(POPULATION_ROWS, cap), mask=late) if late is not None else Capped([], 0)
    months = [r for r in p.monthly if r.fixed or r.severity == "All"]   # a severity without a fix that month: no row
    return {"rollforward": rollforward, "month_rows": _latest(months, MONTH_ROWS),
            "late_lineages": Capped(rows=_lineage_rows(late_rows.rows), total=late_rows.total),
            "close_reasons": CLOSE_REASONS, "sla_verdicts": SLA_VERDICTS}


def _sample_view(model: ReportModel) -> Capped:
    """One evidence card per drawn item, in item order, capped at ``SAMPLE_CARDS``."""
    cards = _capped(model.tables.audit_sample, SAMPLE_CARDS)
    return Capped(rows=_lineage_rows(cards.rows), total=cards.total)


def build_view(model: ReportModel, charts: Sequence[charts_mod.Chart], html_base: Path) -> dict[str, Any]:
    """Everything the templates display: the model plus capped, grouped row lists.

    Findings are capped at ``pdf_detail_rows``; the cluster, change and exemption lists at
    smaller fixed numbers (never more than ``pdf_detail_rows``), because the PDF is for people
    and every full list is in the workbook.
    """
    t = model.tables
    cap = model.meta.pdf_detail_rows
    findings = t.findings
    clusters = t.clusters

    owners = model.owners[:min(OWNER_ROWS, cap)]
    owner_blocks = []
    budget = min(OWNER_CLUSTER_ROWS_TOTAL, cap)
    shown_owners = {o.owner for o in owners}
    positions: dict[str, list[int]] = {}  # grouped in Python: see _among
    for i, name in enumerate(clusters["owner"]):
        if name in shown_owners:
            positions.setdefault(name, []).append(i)
    for owner in owners:
        if len(owner_blocks) == OWNER_BLOCKS:
            break
        grp = clusters.iloc[positions.get(owner.owner, [])]
        block = _capped(_most_overdue(grp), min(OWNER_CLUSTER_ROWS, budget))
        budget -= len(block.rows)
        if block.rows:
            owner_blocks.append({"owner": owner, "clusters": block})

    control_owner = t.control_owner[_among(t.control_owner["owner"], shown_owners)]
    cells = {(r["owner"], r["control"]): r for r in _records(control_owner)}
    matrix = [{"owner": o, "cells": [cells.get((o.owner, c.id)) for c in model.controls]} for o in owners]

    exemptions = t.exemptions
    applies = exemptions["appliesToPolicy"].eq(True)   # the others are "not applicable to this policy" (DESIGN §6)
    applicable = exemptions[applies]
    changes = t.changes
    change_cap = min(CHANGE_ROWS, cap)
    verdict_of = {str(cid).lower(): verdict for cid, verdict in zip(clusters["id"], clusters["derivedVerdict"])}
    gap_clusters = clusters[clusters["findingsWithoutAssessment"].eq(True)]
    return {
        "m": model,
        "meta": model.meta,
        "sections": sections(model),
        "severities": SEVERITY_ORDER,
        "charts": {c.name: ChartRef(name=c.name, title=c.title, alt=c.alt,
                                    src=Path(os.path.relpath(Path(c.svg).resolve(), html_base.resolve())).as_posix(),
                                    wide=c.wide) for c in charts},
        "workbook": WORKBOOK,
        "owners_charted": len([o for o in model.owners if o.open_findings][:charts_mod.TOP_OWNERS]),
        "top_findings": _capped(findings, cap, mask=findings["state"].eq("Open")),
        "kev_findings": _capped(t.known_exploited, min(KEV_ROWS, cap)),
        "clusters": _capped(clusters, min(SCOPE_CLUSTER_ROWS, cap)),
        "non_compliant": _capped(_most_overdue(clusters[clusters["policyState"].eq("NonCompliant")]),
                                 min(NON_COMPLIANT_ROWS, cap)),
        "owners": Capped(rows=list(owners), total=len(model.owners)),
        "owner_blocks": owner_blocks,
        "owner_blocks_capped": sum(len(b["clusters"].rows) for b in owner_blocks) < len(clusters),
        "owner_cluster_rows": min(OWNER_CLUSTER_ROWS, cap),
        "owner_cluster_rows_total": min(OWNER_CLUSTER_ROWS_TOTAL, cap),
        "owner_blocks_max": min(OWNER_BLOCKS, OWNER_ROWS, cap),
        "matrix": matrix,
        "policy_exemptions": _capped(applicable[applicable["kind"].eq("Policy exemption")], cap),
        "exemption_groups": [(title, _capped(applicable[applicable["status"].eq(status)], cap))
                             for title, status in EXEMPTION_GROUPS],
        "not_applicable": _capped(exemptions[~applies], cap),
        "change_lists": [(title, _capped(changes[changes["change"].eq(value)], change_cap))
                         for value, title in CHANGE_LISTS],
        "owner_conflicts": _capped(clusters, min(CONFLICT_ROWS, cap), mask=clusters["ownerConflict"].eq(True)),
        **_period_view(model, cap),
        "sample_cards": _sample_view(model),
        "population_sheet": POPULATION_SHEET,
        "sample_sheet": SAMPLE_SHEET,
        "month_sheet": MONTH_SHEET,
        "ipe_sheet": IPE_SHEET,
        "reconciliation_sheet": RECONCILIATION_SHEET,
        "changes_by_owner": _capped(t.changes_by_owner, min(OWNER_ROWS, cap)),
        "signoff_roles": SIGNOFF_ROLES,
        "due_date_method": due_date_method(model.meta.sla_days),
        "query_datasets": [d for d in model.datasets if d.query_text],
        "assessment_gap": _capped(_most_overdue(gap_clusters), min(ASSESSMENT_GAP_ROWS, cap)),
        "short_keys": [k[:8] for k in model.meta.assessment_keys],
        "not_assessed": Capped(rows=[{"id": cid, "verdict": verdict_of.get(str(cid).lower(), "No evidence")}
                                     for cid in model.coverage.not_assessed[:NOT_ASSESSED_ROWS]],
                               total=len(model.coverage.not_assessed)),
        "gaps": Capped(rows=[{"gap": g, "members": _first(g.members, GAP_MEMBERS),
                              "details": _first(g.details, WARNING_ROWS)} for g in model.gaps[:GAP_ROWS]],
                       total=len(model.gaps)),
        "dataset_warnings": {d.name: _first(d.warnings, WARNING_ROWS) for d in model.datasets},
        "scope_subscriptions": _first(model.meta.scope_subscriptions, SCOPE_ITEMS),
        "scope_management_groups": _first(model.meta.scope_management_groups, SCOPE_ITEMS),
        "locations": _first(model.coverage.locations, SCOPE_ITEMS),
        "history_rows": _latest(model.history, HISTORY_ROWS),
        "texts_cut": 0,
        "cut_note": "",
    }


# ---------------------------------------------------------------- rendering


def render_html(model: ReportModel, charts: Sequence[charts_mod.Chart], html_base: Path) -> str:
    """The report as HTML (what WeasyPrint lays out; also the golden-file output).

    When a value had to be cut (see ``reportgen.render.text``) the template is rendered a
    second time, knowing how many, so that the scope section can say what the cut mark means.
    """
    view = build_view(model, charts, html_base)
    template = environment().get_template(TEMPLATE)
    cuts = TextCuts()
    html = template.render(**view, text_cuts=cuts)
    if cuts.count:
        view.update(texts_cut=cuts.count, cut_note=text.cut_note(cuts.count))
        html = template.render(**view, text_cuts=TextCuts())
    return html


def lay_out(html: str, *, html_base: Path, stylesheets: Sequence[str], fetcher):
    """The laid-out WeasyPrint document of ``html``, styled by templates/base.css (the shipped fonts and
    palette) and then ``stylesheets`` (names in templates/), ready for the archival writer. Every PDF
    of the pack (evidence-pack.pdf, executive-summary.pdf) is laid out here."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    templates = asset_dir("templates")
    fonts = FontConfiguration()
    css = [CSS(filename=str(templates / name), font_config=fonts, url_fetcher=fetcher)
           for name in (BASE_STYLESHEET, *stylesheets)]
    return HTML(string=html, base_url=str(Path(html_base).resolve()) + "/", url_fetcher=fetcher).render(
        stylesheets=css, font_config=fonts, **archival.render_options())


def html_to_pdf(html: str, *, html_base: Path, allowed_dirs: Sequence[Path], identifier: bytes | None = None,
                fetcher=None, attachments: Sequence[archival.Embedded] = (), created: datetime | None = None) -> bytes:
    """Lay out ``html`` with the shipped stylesheet and fonts; fetch only inside ``allowed_dirs``;
    write it as tagged PDF/A-3b with ``attachments`` embedded (``reportgen.render.archival``)."""
    fetcher = fetcher or pack_fetcher(asset_dir("templates"), *allowed_dirs)
    document = lay_out(html, html_base=html_base, stylesheets=(STYLESHEET,), fetcher=fetcher)
    return archival.archival_pdf_bytes(document, attachments=attachments, identifier=identifier,
                                       created=created or datetime(1970, 1, 1, tzinfo=timezone.utc),
                                       url_fetcher=fetcher)


# Pack files embedded in the PDF (PDF/A-3 associated files), when present next to it: name, MIME,
# AFRelationship. summary.json holds the PDF's figures as data; the OSCAL results supplement it.
# The OSCAL output is written BEFORE the PDF (render/interface.py OUTPUTS) so it can be embedded;
# it therefore cites evidence-pack.pdf by path only, without a hash (the manifest hashes the PDF),
# and nothing the PDF embeds refers back to the PDF's bytes: there is no cycle.
EMBEDDED_FILES = (
    ("summary.json", "application/json", "Data",
     "summary.json: the figures of this report as data (the same numbers as printed)."),
    ("oscal/assessment-results.json", "application/json", "Supplement",
     "OSCAL 1.1.2 assessment results of this pack (observations, findings and risks per control); "
     "it cites this PDF by path, and manifest.json holds the PDF's sha256."),
)


def pack_attachments(pack_dir: Path, files=EMBEDDED_FILES, document: str = PDF) -> list[archival.Embedded]:
    """The pack files ``files`` (``EMBEDDED_FILES`` rows) in ``pack_dir``, as attachments of ``document``.

    Every one must be there: a pack PDF that silently lacks its data attachment would still look
    complete, so a missing file is a RenderError naming it (its Output runs before the PDF)."""
    out = []
    for rel, mime, relationship, description in files:
        file = Path(pack_dir) / rel
        if not file.is_file():
            raise RenderError(f"rendering {document}: {rel} is to be embedded but is not in {pack_dir}",
                              hint="the outputs it embeds are written before the PDF (render/interface.py OUTPUTS)")
        out.append(archival.Embedded(name=Path(rel).name, data=file.read_bytes(), mime=mime,
                                     description=description, relationship=relationship))
    return out


def write_pdf(model: ReportModel, path: Path, charts_dir: Path,
              attachments: Sequence[archival.Embedded] = ()) -> Path:
    """Render the evidence-pack PDF for ``model`` into ``path`` as tagged PDF/A-3b, showing the charts
    already drawn into ``charts_dir`` by the charts output and embedding ``attachments`` (the pack's
    Output passes ``pack_attachments``: the ``EMBEDDED_FILES`` already written next to the PDF)."""
    path, charts_dir = Path(path), Path(charts_dir)
    html_base = path.parent
    drawn = charts_mod.planned_charts(charts_dir)
    missing = [c.svg.name for c in drawn if not c.svg.is_file()]
    if missing:
        raise RenderError(f"rendering {path.name}: chart {missing[0]} not found in {charts_dir}",
                          hint="the charts output is written before the PDF")
    try:
        html = render_html(model, drawn, html_base)
        data = html_to_pdf(html, html_base=html_base, allowed_dirs=(charts_dir,),
                           identifier=model.meta.snapshot_fingerprint[:32].encode("ascii"),
                           attachments=attachments, created=model.meta.as_of.to_pydatetime())
    except RenderError:
        raise
    except Exception as exc:  # a template or layout bug must not leave a half-written pack
        raise RenderError(f"rendering {path.name} failed: {type(exc).__name__}: {exc}",
                          hint="run with -v for the traceback") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


OUTPUT = Output(
    name="pdf", files=(PDF,), step="Rendering the PDF",
    description="The report for people, as tagged PDF/A-3b with summary.json and the OSCAL results embedded: cover, executive summary and charts, scope and coverage, one section per "
                "control, owners, top findings, exemptions and exceptions, changes since the previous snapshot, "
                "methodology and provenance appendix (every query's text and sha256), sign-off page.",
    write=lambda model, pack: [write_pdf(model, pack / PDF, charts_dir=pack / charts_mod.CHARTS_DIR,
                                         attachments=pack_attachments(pack))],
    describe=lambda rel, model: None if model.crosswalk is None else (
        OUTPUT.description[:-1] + f"; with a framework crosswalk section ({', '.join(model.crosswalk.ids)})."),
)
