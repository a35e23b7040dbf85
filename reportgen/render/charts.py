"""Executive charts: pure functions of the report model, drawn with matplotlib.

Each chart function takes the model and returns a ``Figure`` built without pyplot (no
global figure registry), inside ``style()``, which restores matplotlib's settings when it
ends. ``write_charts`` saves every chart as SVG (embedded in the PDF: vector, text drawn
as paths in the shipped Inter font) and PNG (for people and spreadsheets) into
``charts/``. Files carry no timestamp or tool banner, and SVG ids come from a fixed salt,
so the same model always gives byte-identical files.

Severity colours darken monotonically from Unknown to Critical, so they stay apart when
printed in greyscale; every bar also carries its number.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import matplotlib
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from reportgen.aggregate.model import SEVERITY_ORDER, ReportModel
from reportgen.assets import asset_dir
from reportgen.render import text as tenant_text
from reportgen.render.interface import Output

# Relative luminance falls steadily from Unknown to Critical (L* about 90, 79, 72, 53, 26).
SEVERITY_COLORS = {
    "Critical": "#7A1414",
    "High": "#D4561C",
    "Medium": "#E9A23B",
    "Low": "#B4C6D8",
    "Unknown": "#E4E4E4",
}
INK = "#1B2733"
MUTED = "#5B6875"
GRID = "#DCE1E6"
NAVY = "#1F3A5F"
TEAL = "#2A8C82"
CONTROL_STYLES = (  # colour, line style, marker: distinct in colour and in greyscale
    (NAVY, "-", "o"),
    (TEAL, "--", "s"),
    ("#8A5A00", ":", "^"),
    ("#6B4C9A", "-.", "D"),
)
NEW_COLOR = "#B5441B"
RESOLVED_COLOR = "#9CC9B4"
OVERDUE_COLOR = SEVERITY_COLORS["Critical"]
WITHIN_COLOR = "#B4C6D8"

FONT_FAMILY = "Inter"
DPI_PNG = 200
WIDE = (6.6, 2.55)   # inches: full text width of the A4 page
HALF = (3.2, 2.45)   # inches: half the text width
TOP_OWNERS = 12

# Age buckets (days since first seen) follow the default SLA steps.
AGE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0\u201315", 0, 15), ("16\u201330", 15, 30), ("31\u201390", 30, 90), ("91\u2013180", 90, 180),
    ("181\u2013365", 180, 365), (">365", 365, float("inf")),
)

STYLE = {
    "font.family": FONT_FAMILY,
    "font.size": 7.5,
    "axes.titlesize": 8,
    "axes.labelsize": 7.5,
    "axes.labelcolor": MUTED,
    "axes.edgecolor": "#9AA5B1",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "xtick.major.size": 2.5,
    "ytick.major.size": 0,
    "xtick.major.width": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 7,
    "legend.handlelength": 1.4,
    "legend.handleheight": 0.9,
    "legend.columnspacing": 1.2,
    "text.color": INK,
    "hatch.linewidth": 0.6,
    "svg.fonttype": "path",
    "svg.hashsalt": "reportgen",
    "savefig.facecolor": "white",
    "pdf.compression": 6,
    "path.simplify": True,
}
SVG_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class Chart:
    """One chart written to the pack: where it is, and what it says for people who can't see it."""

    name: str
    title: str
    alt: str
    svg: Path
    png: Path
    wide: bool


@functools.lru_cache(maxsize=1)
def _register_fonts() -> None:
    # Additive and idempotent: the shipped Inter files join matplotlib's font list, so
    # charts use the same font as the PDF whatever the machine has installed.
    for path in sorted((asset_dir("templates") / "fonts").glob("Inter-*.otf")):
        font_manager.fontManager.addfont(str(path))


@contextlib.contextmanager
def style() -> Iterator[None]:
    """matplotlib settings for the report's charts, restored afterwards."""
    _register_fonts()
    with matplotlib.rc_context(STYLE):
        yield


def _figure(size: tuple[float, float]) -> Figure:
    return Figure(figsize=size, dpi=100, layout="constrained")


def _empty(fig: Figure, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, fontsize=8, transform=ax.transAxes)
    return fig


def _legend_above(ax, ncols: int, handles=None) -> None:
    """Legends sit above the plot, left-aligned, where they never cover data."""
    kwargs = {"handles": handles} if handles else {}
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=ncols, borderaxespad=0.3,
              handlelength=1.1, handletextpad=0.4, columnspacing=1.0, **kwargs)


def _compact(value: float) -> str:
    """Bar labels that fit over a narrow bar: 987, 1.2k, 12k, 1.5M."""
    value = int(value)
    if abs(value) < 1000:
        return f"{value:,}"
    if abs(value) < 10_000:
        return f"{value / 1000:.1f}k"
    if abs(value) < 1_000_000:
        return f"{value / 1000:.0f}k"
    return f"{value / 1_000_000:.1f}M"


COUNT_FORMAT = FuncFormatter(lambda value, _pos: _compact(value))


def _bar_labels(ax, containers, fontsize: float = 6.5) -> None:
    for container in containers:
        ax.bar_label(container, labels=[_compact(v) if v else "" for v in container.datavalues],
                     padding=1.5, fontsize=fontsize, color=INK)


def _month_labels(points) -> list[str]:
    """'Apr' under each point, with the year under the first month and every January."""
    labels = []
    for i, p in enumerate(points):
        month = pd.Timestamp(p.as_of)
        labels.append(f"{month:%b}\n{month:%Y}" if i == 0 or month.month == 1 else f"{month:%b}")
    return labels


def _sev_present(counts: Sequence[dict]) -> list[str]:
    """Severities to show: the four named ones always, Unknown only when it has findings."""
    return [s for s in SEVERITY_ORDER if s != "Unknown" or any(c.get(s, 0) for c in counts)]


# ---------------------------------------------------------------- the charts


def compliance_trend(model: ReportModel) -> Figure:
    """Compliance % per control, one point per month of history (current month last)."""
    fig = _figure(HALF)
    points = model.history
    if not points:
        return _empty(fig, "No compliance history")
    ax = fig.add_subplot()
    labels = _month_labels(points)
    x = range(len(points))
    missing = set()
    for i, control in enumerate(model.controls):
        color, line, marker = CONTROL_STYLES[i % len(CONTROL_STYLES)]
        values = [p.compliance_pct.get(control.id) for p in points]
        missing.update(j for j, v in enumerate(values) if v is None)
        # A month without a figure is a gap in the line (NaN), never a point at 0 or 100.
        ax.plot(x, [math.nan if v is None else v for v in values], color=color, linestyle=line, marker=marker,
                markersize=3.5, linewidth=1.4, label=control.id, zorder=3 + i)
    for j in sorted(missing):
        without = [c.id for c in model.controls if points[j].compliance_pct.get(c.id) is None]
        text = "No data" if len(without) == len(model.controls) else f"{' / '.join(without)}\nno data"
        ax.text(j, 3, text, ha="center", va="bottom", fontsize=5.8, color=MUTED, zorder=2)
    last = [p.compliance_pct.get(c.id) for c in model.controls for p in points[-1:]]
    present = [v for v in last if v is not None]
    label = " / ".join(f"{v:.1f}%" for v in dict.fromkeys(present))
    if label:
        ax.annotate(label, xy=(len(points) - 1, present[0]), xytext=(0, 7), textcoords="offset points",
                    ha="right" if len(points) > 1 else "center", fontsize=6.5, color=INK)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.grid(axis="y")
    ax.set_xticks(list(x), labels)
    ax.set_xlim(-0.4, len(points) - 0.6)
    _legend_above(ax, ncols=len(model.controls))
    return fig


def new_vs_resolved(model: ReportModel) -> Figure:
    """Findings that appeared and that were resolved, per month with a previous month."""
    fig = _figure(HALF)
    points = [p for p in model.history if p.new is not None]
    if not points:
        return _empty(fig, "Needs at least two months of history")
    ax = fig.add_subplot()
    x = list(range(len(points)))
    width = 0.38
    new = ax.bar([i - width / 2 for i in x], [p.new for p in points], width, color=NEW_COLOR, label="New")
    resolved = ax.bar([i + width / 2 for i in x], [p.resolved for p in points], width, color=RESOLVED_COLOR,
                      edgecolor="#5E8F79", linewidth=0.5, hatch="////", label="Resolved")
    _bar_labels(ax, [new, resolved], fontsize=6 if len(points) <= 6 else 5.2)
    ax.set_xticks(x, _month_labels(points))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.yaxis.set_major_formatter(COUNT_FORMAT)
    ax.grid(axis="y")
    ax.margins(y=0.15)
    _legend_above(ax, ncols=2)
    return fig


def owners_by_severity(model: ReportModel) -> Figure:
    """Open findings of the owners with the most, stacked by severity."""
    owners = [o for o in model.owners if o.open_findings][:TOP_OWNERS]
    height = max(1.6, 0.75 + 0.2 * len(owners))
    fig = _figure((WIDE[0], height))
    if not owners:
        return _empty(fig, "No open findings")
    ax = fig.add_subplot()
    names = [_clip(o.owner, 38) for o in owners]
    y = list(range(len(owners)))
    left = [0] * len(owners)
    severities = _sev_present([o.by_severity for o in owners])
    for sev in severities:
        values = [o.by_severity.get(sev, 0) for o in owners]
        ax.barh(y, values, left=left, color=SEVERITY_COLORS[sev], edgecolor="white", linewidth=0.4,
                label=sev, height=0.68)
        left = [a + b for a, b in zip(left, values)]
    for yi, o in zip(y, owners):
        ax.text(left[yi], yi, f" {o.open_findings:,}", va="center", ha="left", fontsize=6.5, color=INK)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(COUNT_FORMAT)
    ax.grid(axis="x")
    ax.margins(x=0.08)
    _legend_above(ax, ncols=len(severities))
    return fig


def sla_status(model: ReportModel) -> Figure:
    """Open findings within SLA and overdue, per severity."""
    fig = _figure(HALF)
    rows = [r for r in model.sla if r.severity != "Unknown" or r.open]
    if not any(r.open for r in rows):
        return _empty(fig, "No open findings")
    ax = fig.add_subplot()
    y = list(range(len(rows)))
    within = ax.barh(y, [r.within_sla for r in rows], color=WITHIN_COLOR, height=0.62, label="Within SLA")
    overdue = ax.barh(y, [r.overdue for r in rows], left=[r.within_sla for r in rows], color=OVERDUE_COLOR,
                      height=0.62, hatch="////", edgecolor="white", linewidth=0, label="Overdue")
    for yi, r in zip(y, rows):
        text = f"  {r.overdue:,} overdue" if r.overdue else "  none overdue"
        ax.text(r.within_sla + r.overdue, yi, text, va="center", ha="left", fontsize=6.5, color=INK)
    ax.set_yticks(y, [f"{r.severity} ({r.days} d)" if r.days else r.severity for r in rows])
    ax.invert_yaxis()
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.xaxis.set_major_formatter(COUNT_FORMAT)
    ax.grid(axis="x")
    ax.margins(x=0.32)
    _legend_above(ax, handles=[within, overdue], ncols=2)
    return fig


def open_age_buckets(model: ReportModel) -> list[tuple[str, dict[str, int]]]:
    """Open findings per age bucket and severity (days since first seen), for the age chart."""
    table = model.tables.findings
    open_ = table.loc[table["state"].eq("Open"), ["ageDays", "severity"]]
    out = []
    for label, low, high in AGE_BUCKETS:
        in_bucket = open_[(open_["ageDays"] > low if low else open_["ageDays"] >= low) & (open_["ageDays"] <= high)]
        counts = in_bucket["severity"].value_counts()
        out.append((label, {s: int(counts.get(s, 0)) for s in SEVERITY_ORDER}))
    return out


def age_of_open_findings(model: ReportModel) -> Figure:
    """Open findings by age since first seen, stacked by severity."""
    fig = _figure(HALF)
    buckets = open_age_buckets(model)
    if not any(sum(c.values()) for _, c in buckets):
        return _empty(fig, "No open findings")
    ax = fig.add_subplot()
    x = list(range(len(buckets)))
    bottom = [0] * len(buckets)
    severities = _sev_present([c for _, c in buckets])
    for sev in severities:
        values = [c.get(sev, 0) for _, c in buckets]
        ax.bar(x, values, bottom=bottom, color=SEVERITY_COLORS[sev], edgecolor="white", linewidth=0.4,
               label=sev, width=0.66)
        bottom = [a + b for a, b in zip(bottom, values)]
    for xi, total in zip(x, bottom):
        if total:
            ax.text(xi, total, _compact(total), ha="center", va="bottom", fontsize=6.5, color=INK)
    ax.set_xticks(x, [label for label, _, _ in AGE_BUCKETS])
    ax.set_xlabel("days since first seen")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.yaxis.set_major_formatter(COUNT_FORMAT)
    ax.grid(axis="y")
    ax.margins(y=0.12)
    _legend_above(ax, ncols=len(severities))
    return fig


ATTAINMENT_COLOR = "#3E7C5E"
TIME_TO_FIX_COLOR = NAVY


def sla_attainment(model: ReportModel) -> Figure:
    """SLA attainment % per month (all severities; bars) and the median days to fix (line, right
    axis), of the lineages fixed in each month of the period population. A month whose fixes had
    no due date has no bar and says so, never 100 %."""
    fig = _figure((WIDE[0], 2.2))
    months = [r for r in (model.period.monthly if model.period else ()) if r.severity == "All"]
    if not months:
        return _empty(fig, "No lineage was fixed in the period")
    ax = fig.add_subplot()
    x = list(range(len(months)))
    labels = []
    for r in months:
        month = pd.Timestamp(f"{r.month}-01")
        labels.append(f"{month:%b}\n{month:%Y}")
    values = [math.nan if r.attainment_pct is None else r.attainment_pct for r in months]
    bars = ax.bar(x, [0 if math.isnan(v) else v for v in values], width=0.5, color=ATTAINMENT_COLOR,
                  label="SLA attainment (met / (met + missed))")
    for xi, r in zip(x, months):
        text = "no fix with a due date" if r.attainment_pct is None else f"{r.attainment_pct:.2f}%"
        ax.text(xi, 0 if r.attainment_pct is None else r.attainment_pct, text, ha="center", va="bottom",
                fontsize=6.3, color=INK if r.attainment_pct is not None else MUTED)
    ax.set_ylim(0, 118)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylabel("SLA attainment")
    ax.grid(axis="y")
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.6, len(months) - 0.4)
    handles = [bars]
    medians = [math.nan if r.median_days_to_fix is None else r.median_days_to_fix for r in months]
    if any(not math.isnan(v) for v in medians):
        right = ax.twinx()
        right.spines["right"].set_visible(True)
        (line,) = right.plot(x, medians, color=TIME_TO_FIX_COLOR, linestyle="--", marker="o", markersize=3.2,
                             linewidth=1.2, label="Median days to fix")
        for xi, v in zip(x, medians):
            if not math.isnan(v):
                right.annotate(f"{v:.1f} d", xy=(xi, v), xytext=(6, 2), textcoords="offset points", fontsize=6.3,
                               color=TIME_TO_FIX_COLOR)
        right.set_ylim(0, max(v for v in medians if not math.isnan(v)) * 1.35 or 1)
        right.set_ylabel("median days to fix")
        right.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        handles.append(line)
    _legend_above(ax, handles=handles, ncols=len(handles))
    return fig


def _clip(value: str, limit: int) -> str:
    """Tenant text as a label: at most ``limit`` characters, nothing matplotlib cannot draw."""
    return tenant_text.label(value, limit)


# name, title, alt text, function, full width
CHARTS: tuple[tuple[str, str, str, Callable[[ReportModel], Figure], bool], ...] = (
    ("compliance-trend", "Compliance per control over time",
     "Line chart of each control's compliance percentage per month; a month without a counted policy state has "
     "no point and is labelled No data.", compliance_trend, False),
    ("new-vs-resolved", "New and resolved findings per month",
     "Bar chart of findings that appeared and that were resolved each month.", new_vs_resolved, False),
    ("owners-by-severity", "Open findings by owner",
     "Horizontal bar chart of open findings per owner, stacked by severity.", owners_by_severity, True),
    ("sla-status", "SLA status by severity",
     "Horizontal bar chart of open findings within SLA and overdue, per severity.", sla_status, False),
    ("age-of-open-findings", "Age of open findings",
     "Bar chart of open findings by days since first seen, stacked by severity.", age_of_open_findings, False),
    ("sla-attainment", "SLA attainment and median time to fix per month",
     "Bar chart of the SLA attainment of the lineages fixed each month, with their median days to fix as a line; "
     "a month without a fix that had a due date has no bar.",
     sla_attainment, True),
)


def render_chart(fig: Figure, svg: Path, png: Path) -> None:
    fig.savefig(svg, format="svg", metadata=SVG_METADATA)
    fig.savefig(png, format="png", dpi=DPI_PNG, metadata=PNG_METADATA)


def planned_charts(charts_dir: Path) -> tuple[Chart, ...]:
    """The charts ``write_charts`` draws, with their file names, without drawing them."""
    charts_dir = Path(charts_dir)
    return tuple(Chart(name=name, title=title, alt=alt, svg=charts_dir / f"{name}.svg", png=charts_dir / f"{name}.png",
                       wide=wide) for name, title, alt, _, wide in CHARTS)


def write_charts(model: ReportModel, charts_dir: Path) -> tuple[Chart, ...]:
    """Draw every chart into ``charts_dir`` (SVG and PNG) and describe them for the PDF."""
    charts_dir = Path(charts_dir)
    charts_dir.mkdir(parents=True, exist_ok=True)
    draw = {name: fn for name, _, _, fn, _ in CHARTS}
    planned = planned_charts(charts_dir)
    with style():
        for chart in planned:
            render_chart(draw[chart.name](model), chart.svg, chart.png)
    return planned


CHARTS_DIR = "charts"


def _describe(rel: str, model: ReportModel) -> str | None:
    titles = {name: title for name, title, *_ in CHARTS}
    stem = Path(rel).stem
    if stem not in titles:
        return None
    kind = "a vector image (SVG)" if rel.endswith(".svg") else "an image (PNG)"
    return f"Chart \u201c{titles[stem]}\u201d as {kind}, as shown in the PDF."


def _write(model: ReportModel, pack: Path) -> list[Path]:
    return [p for chart in write_charts(model, pack / CHARTS_DIR) for p in (chart.svg, chart.png)]


OUTPUT = Output(
    name="charts", files=(f"{CHARTS_DIR}/*.svg", f"{CHARTS_DIR}/*.png"), step="Drawing the charts",
    description="The executive summary's charts (SVG and PNG), for the PDF and any other document.",
    write=_write, describe=_describe,
)
