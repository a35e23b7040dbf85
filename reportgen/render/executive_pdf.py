"""executive-summary.pdf: the executive one-pager (issue 11 item 1), one landscape A4 page.

Every figure on the page is a figure of ``ReportModel.executive`` (reportgen/aggregate/executive.py),
the same ones summary.json lists under ``executive``; this module only selects and formats them:
a fixed number of rows per list ("and K more"), names clipped to the width of their column, values
with their units and targets. Status is written as a word with its own shape (colour is never the
only signal), arrows come from ``Trend.direction`` only.

The page is laid out by WeasyPrint from ``templates/executive.html`` and ``executive.css`` (the
shipped fonts only, the pack's URL fetcher: data: URIs and the templates folder) and written by
``reportgen.render.archival.write_archival_pdf`` as tagged PDF/A-3b with summary.json embedded
(AFRelationship ``Data``). Charts are drawn in memory: the sparklines
and the month chart with matplotlib (``reportgen.render.charts.style``: text as paths, fixed SVG
id salt, no date), as data: URIs, so the same model gives the same bytes. The PDF's dates are
the snapshot's as-of time and its file identifier comes from the snapshot fingerprint.

One page at any scale: every list is capped below, every tenant name is clipped to its column, and
``write_executive_pdf`` refuses (RenderError) a layout that is not exactly one page rather than
ship a second one silently.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from markupsafe import Markup, escape
from matplotlib.figure import Figure

from reportgen.aggregate.executive import Executive, Trend
from reportgen.aggregate.model import ReportModel
from reportgen.assets import asset_dir
from reportgen.errors import RenderError
from reportgen.render import archival
from reportgen.render import charts as charts_mod
from reportgen.render import text
from reportgen.render.environment import environment, fmt_datetime, fmt_date
from reportgen.render.interface import Output
from reportgen.render.summary import SUMMARY

log = logging.getLogger(__name__)

PDF = "executive-summary.pdf"
TEMPLATE = "executive.html"
STYLESHEET = "executive.css"
EMBEDDED_FILES = ((SUMMARY, "application/json", "Data", "summary.json: this page's figures as data (key executive)"),)

# Caps that keep the page one page, whatever the estate (tests/test_executive_pdf.py renders a large one).
STATUS_TILES = 6        # status tiles (one per control, overdue critical, SLA attainment)
TREND_ROWS = 6          # rows of "Change since last month"
MONTHS = 12             # months of SLA attainment and time to fix (the latest)
IMAGES = 5              # images by critical exposure (Executive.top_images holds at most 5)
OWNERS = 5              # owners with overdue critical findings named
# Characters of a tenant name shown in its column (the rest becomes "…"); the workbook, the CSV
# files and summary.json hold every name in full.
NAME_CHARS = {"organization": 60, "run_id": 36, "image": 62, "owner": 44, "tag": 48, "control": 20}
CLIP = "\u2026"
ZWSP = "\u200b"
COMPLIANCE = " compliance"   # Rag.name of a control: "<control id> compliance"

FOOTER = "Figures as in summary.json (executive) of this pack"
STATUS_MARK = {"green": "\u25cf", "amber": "\u25b2", "red": "\u25a0", "No data": "\u25cb"}  # ● ▲ ■ ○
ARROW = {"up": "\u2191", "down": "\u2193", "same": "\u2192"}
# Whether a rise is good news, per trend name (compliance: yes; open or overdue findings: no).
RISE_IS_BETTER = {"open": False, "overdue": False, "overdue_critical": False}
TREND_LABELS = {"open": "Open findings", "overdue": "Overdue findings",
                "overdue_critical": "Overdue critical findings"}

SPARK_SIZE = (0.87, 0.205)         # inches: drawn 22 mm x 5.2 mm
CHART_SIZE = (5.0, 1.4)            # inches: the month chart, the width of its panel


# ---------------------------------------------------------------- formatting (display only)


def clip(value: Any, kind: str) -> Markup:
    """A tenant name made safe by ``text.shown`` and clipped to ``NAME_CHARS[kind]`` characters ("…" at
    the cut), as markup: the clipped text is final (``finalize`` would show its break marks again)."""
    shown, _ = text.shown(value, "name")
    shown = shown.replace(ZWSP, "")   # shown's own break opportunities; a tenant's U+200B is already escaped
    limit = NAME_CHARS[kind]
    if len(shown) > limit:
        shown = shown[:limit - 1].rstrip() + CLIP
    return escape(shown)


def number(value: float | None) -> str:
    """A percentage as summary.json holds it (rounded to two decimals), never abbreviated: 4.55, 50.0, 0.0."""
    if value is None:
        return "No data"
    value = round(float(value), 2)
    return f"{value:,.1f}" if value == round(value, 1) else f"{value:,.2f}"


def count(value: float | None) -> str:
    return "No data" if value is None else f"{int(round(float(value))):,}"


def pct(value: float | None) -> str:
    return "No data" if value is None else f"{number(value)} %"


def days(value: float | None) -> str:
    if value is None:
        return "No data"
    value = round(float(value), 1)
    return f"{int(value):,} d" if value == int(value) else f"{value:,.1f} d"


def _is_pct(name: str) -> bool:
    return name.startswith("compliance:") or name.endswith("compliance") or name == "SLA attainment"


def _value(name: str, value: float | None) -> str:
    return pct(value) if _is_pct(name) else count(value)


def target_text(comparison: str, target: float, is_pct: bool) -> str:
    sign = "\u2265" if comparison == ">=" else "\u2264"
    shown = f"{target:g} %" if is_pct else f"{int(target):,}"
    return f"target {sign} {shown}"


# ---------------------------------------------------------------- the view


@dataclass(frozen=True)
class Capped:
    rows: list
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def _trend_row(t: Trend) -> dict:
    is_pct = t.name.startswith("compliance:")
    label = TREND_LABELS.get(t.name) or (clip(t.name.split(":", 1)[1], "control") + " compliance" if is_pct
                                         else clip(t.name, "control"))
    fmt = pct if is_pct else count
    if t.direction == "none":
        change = "no monthly history" if not t.series else "no earlier month"
        arrow, verdict = "", ""
    else:
        unit = " pts" if is_pct else ""
        delta = t.change if t.change is not None else 0.0
        amount = f"{abs(delta):,.2f}".rstrip("0").rstrip(".") if is_pct else f"{abs(int(round(delta))):,}"
        arrow = ARROW[t.direction]
        change = "same" if t.direction == "same" else f"{t.direction} {amount}{unit}"
        better = RISE_IS_BETTER.get(t.name, True)
        verdict = "" if t.direction == "same" else (
            "better" if (t.direction == "up") == better else "worse")
    values = [v for _, v in t.series if v is not None]
    return {"label": label, "current": fmt(t.current), "previous": fmt(t.previous) if t.previous is not None else "\u2014",
            "arrow": arrow, "change": change, "verdict": verdict,
            "spark": sparkline(t.series) if len(values) > 1 else None,
            "spark_alt": _spark_alt(label, t.series, fmt),
            "months": f"{t.series[0][0]} to {t.series[-1][0]}" if t.series else "",
            "low": fmt(min(values)) if values else "", "high": fmt(max(values)) if values else ""}


def _spark_alt(label: str, series, fmt) -> str:
    if not series:
        return f"{label}: no monthly history"
    return f"{label} by month: " + ", ".join(f"{m} {fmt(v) if v is not None else 'no data'}" for m, v in series)


def sparkline(series: Sequence[tuple[str, float | None]]) -> Markup:
    """A twelve-month sparkline as an SVG data: URI (matplotlib, the report's style): the line through
    the months that have a value (a month without one is a gap), the latest one marked."""
    x = [i for i, (_, v) in enumerate(series) if v is not None]
    y = [float(v) for _, v in series if v is not None]
    with charts_mod.style():
        fig = Figure(figsize=SPARK_SIZE, dpi=100)
        ax = fig.add_axes((0.03, 0.12, 0.94, 0.76))
        ax.plot(range(len(series)), [float("nan") if v is None else float(v) for _, v in series],
                color=charts_mod.NAVY, linewidth=1.1, solid_joinstyle="round", solid_capstyle="round")
        ax.plot([x[-1]], [y[-1]], "o", color=charts_mod.NAVY, markersize=2.6)
        ax.axhline(min(y), color=charts_mod.GRID, linewidth=0.6, zorder=0)
        ax.set_xlim(-0.3, max(len(series) - 1, 1) + 0.3)
        span = (max(y) - min(y)) or 1.0
        ax.set_ylim(min(y) - 0.12 * span, max(y) + 0.12 * span)
        ax.set_axis_off()
        return _svg_uri(fig)


def _svg_uri(fig: Figure) -> Markup:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata=charts_mod.SVG_METADATA, transparent=True)
    return Markup("data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))


def month_chart(monthly: Sequence[tuple[str, float | None, float | None]]) -> str | None:
    """SLA attainment (%) as bars and median days to fix as a line on its own axis, per month, as an
    SVG data: URI drawn with the report's matplotlib style; None without any month."""
    if not monthly:
        return None
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    labels = [m for m, _, _ in monthly]
    x = list(range(len(labels)))
    with charts_mod.style():
        fig = charts_mod._figure(CHART_SIZE)
        ax = fig.add_subplot()
        att = [a for _, a, _ in monthly]
        ax.bar([i for i, a in zip(x, att) if a is not None], [a for a in att if a is not None],
               width=0.58, color="#B4C6D8", label="SLA attainment (%, bars)", zorder=2)
        ax.set_ylim(0, 100)
        ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
        ax.set_ylabel("SLA attainment (%)", fontsize=6.5)
        ax.grid(axis="y", zorder=0)
        # "04" under each month, the year under the first month and each January: twelve labels fit
        ticks = [m[5:] + ("\n" + m[:4] if i == 0 or m[5:] == "01" else "") if len(m) == 7 else m
                 for i, m in enumerate(labels)]
        ax.set_xticks(x, ticks, fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax2 = ax.twinx()
        med = [(i, d) for i, (_, _, d) in zip(x, monthly) if d is not None]
        if med:
            ax2.plot([i for i, _ in med], [d for _, d in med], color=charts_mod.NAVY, marker="o", markersize=2.8,
                     linewidth=1.2, label="median days to fix (line)", zorder=3)
        ax2.set_ylim(0, max([d for _, d in med] + [1]) * 1.15)
        ax2.yaxis.set_major_locator(MaxNLocator(4, integer=True))
        ax2.set_ylabel("median days to fix", fontsize=6.5)
        ax2.tick_params(axis="y", labelsize=6, colors=charts_mod.MUTED)
        ax2.spines["right"].set_visible(True)
        ax2.spines["top"].set_visible(False)
        ax.set_xlabel("month the findings were fixed in", fontsize=6.5)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        fig.legend(handles=handles, loc="outside upper left", ncols=2, fontsize=6)
        return _svg_uri(fig)


def build_view(model: ReportModel) -> dict:
    """The page's values, selected and formatted from ``model.executive`` (no figure computed here)."""
    e: Executive = model.executive
    meta = model.meta
    tiles = []
    for r in e.rag[:STATUS_TILES]:
        is_pct = _is_pct(r.name)
        name = clip(r.name[:-len(COMPLIANCE)], "control") + COMPLIANCE if r.name.endswith(COMPLIANCE) else r.name
        tiles.append({"name": name,
                      "value": _value(r.name, r.value), "target": target_text(r.comparison, r.target, is_pct),
                      "status": r.status, "word": r.status if r.status == "No data" else r.status.upper(),
                      "mark": STATUS_MARK.get(r.status, ""), "css": r.status.lower().replace(" ", "-")})
    trends = [_trend_row(t) for t in e.trends[:TREND_ROWS]]
    monthly = list(e.monthly[-MONTHS:])
    images = []
    for i in e.top_images[:IMAGES]:
        lead, _, rest = i.leverage.partition(i.image)   # the sentence around the image name, which is clipped
        images.append({"image": clip(i.image, "image"), "lead": lead, "rest": rest, "critical": i.critical})
    owners = Capped([{"owner": clip(o, "owner"), "n": n, "clusters": c}
                     for o, n, c in e.owners_overdue_critical[:OWNERS]], len(e.owners_overdue_critical))
    more_findings = sum(n for _, n, _ in e.owners_overdue_critical[OWNERS:])
    crit_cves, crit_findings = e.unique_cves.get("Critical", (0, 0))   # open critical findings
    return {
        "meta": meta,
        "organization": clip(meta.organization, "organization"),
        "as_of": fmt_datetime(meta.as_of),
        "period": f"{fmt_date(meta.period_start)} to {fmt_date(meta.period_end)}",
        "run_id": clip(meta.run_id, "run_id"),
        "fingerprint": meta.fingerprint_short,
        "tiles": tiles, "tiles_more": max(0, len(e.rag) - STATUS_TILES),
        "status_rule": e.amber_rule,
        "months_range": next((f"{t.series[0][0]} to {t.series[-1][0]}" for t in e.trends if len(t.series) > 1), ""),
        "trends": trends, "trends_more": max(0, len(e.trends) - TREND_ROWS),
        "monthly": [{"month": m, "year": m[:4] if i == 0 or m[5:] == "01" else "", "mm": m[5:] if len(m) == 7 else m,
                     "sla": number(a), "days": "No data" if d is None else days(d)[:-2]}
                    for i, (m, a, d) in enumerate(monthly)],
        "months_total": len(e.monthly),
        "month_chart": month_chart(monthly),
        "images": images, "critical_total": crit_findings,
        "images_critical": sum(i.critical for i in e.top_images[:IMAGES]),
        "base_images": e.base_images,
        "unique": [{"severity": s, "cves": c, "findings": n} for s, (c, n) in e.unique_cves.items()],
        "critical_line": f"{crit_findings:,} critical finding{'' if crit_findings == 1 else 's'}, "
                         f"{crit_cves:,} distinct CVE{'' if crit_cves == 1 else 's'}",
        "environments": [{"name": k, **v} for k, v in e.environments.items()],
        "tag_keys": clip(", ".join(e.environment_tag_keys), "tag") if e.environment_tag_keys else "not configured",
        "production_values": clip(", ".join(e.production_values), "tag") if e.production_values else "not configured",
        "owners": owners, "owners_more_findings": more_findings,
        "overdue_critical": int(model.findings.overdue_by_severity.get("Critical", 0)),
        "footer": FOOTER,
    }


# ---------------------------------------------------------------- rendering


def render_html(model: ReportModel) -> str:
    return environment().get_template(TEMPLATE).render(**build_view(model))


def render_document(model: ReportModel):
    """The laid-out WeasyPrint document of the page (before writing) and the fetcher it used."""
    from reportgen.render.pdf import lay_out, pack_fetcher

    templates = asset_dir("templates")
    fetcher = pack_fetcher(templates)
    return lay_out(render_html(model), html_base=templates, stylesheets=(STYLESHEET,), fetcher=fetcher), fetcher


def identifier(model: ReportModel) -> bytes:
    """The PDF file identifier: from the snapshot fingerprint, distinct from evidence-pack.pdf's."""
    return hashlib.sha256(f"{model.meta.snapshot_fingerprint}:{PDF}".encode("ascii")).hexdigest()[:32].encode("ascii")


def write_executive_pdf(model: ReportModel, path: Path, attachments: Sequence[archival.Embedded] | None = None) -> Path:
    """Write the one-page executive summary of ``model`` to ``path`` (summary.json next to it embedded)."""
    path = Path(path)
    if model.executive is None:
        raise RenderError(f"rendering {path.name}: the model has no executive figures",
                          hint="build the model with reportgen.aggregate.build.build_model")
    if attachments is None:   # summary.json beside it, which must be there (its Output is written first)
        from reportgen.render.pdf import pack_attachments
        attachments = pack_attachments(path.parent, EMBEDDED_FILES, PDF)
    try:
        document, fetcher = render_document(model)
    except Exception as exc:  # a template or layout bug must not leave a half-written pack
        raise RenderError(f"rendering {path.name} failed: {type(exc).__name__}: {exc}",
                          hint="run with -v for the traceback") from exc
    if len(document.pages) != 1:
        raise RenderError(f"rendering {path.name}: the executive summary took {len(document.pages)} pages, not one",
                          hint="a list cap in reportgen/render/executive_pdf.py is too large for the page")
    created: datetime = model.meta.as_of.to_pydatetime()
    return archival.write_archival_pdf(document, path, attachments=attachments, identifier=identifier(model),
                                       created=created, url_fetcher=fetcher)


def _describe(rel: str, model: ReportModel) -> str | None:
    return ("The executive summary on one landscape A4 page, as tagged PDF/A-3b with summary.json embedded: "
            "status of each control, overdue critical findings and SLA attainment against their targets "
            "(red, amber, green), the change since last month with twelve-month sparklines, SLA attainment and "
            "time to fix by month, the top images by critical exposure, distinct CVEs against findings, "
            "production against non-production, and the owners with overdue critical findings. Its figures are "
            "summary.json's executive figures.")


OUTPUT = Output(
    name="executive", files=(PDF,), step="Rendering the executive summary",
    description="The executive summary on one landscape page (PDF/A-3b), with the figures of summary.json.",
    write=lambda model, pack: [write_executive_pdf(model, pack / PDF)],
    describe=_describe,
)
