"""The Excel evidence workbook (evidence-pack.xlsx), built with openpyxl's write-only mode.

A README sheet explains every sheet and the rules behind the figures; every other sheet
is one real Excel table (``tables.py`` defines them, shared with the CSV export) with a
frozen header row, real dates, numbers and percentages, and row highlights for overdue
and critical findings.

openpyxl builds the package: sheets, header rows, tables, widths, frozen panes,
conditional formatting, styles, properties and the README. The table rows are then
streamed into each sheet's ``<sheetData>`` while the zip is rewritten, by a small
serializer below: openpyxl's own per-cell writer costs about 18 µs a cell, a minute for
100k findings. The serializer renders each distinct value of a block of rows once (the
table's column codes, ``tables.iter_blocks``) and joins the rows from those renderings
without running Python code per cell, so a million findings cost little more than
deflating their XML, and a second thread deflates and writes each block while the next
is made. Memory stays bounded: rows are produced block by block from the model and
compressed straight into the zip entry.

Text from the tenant is always an inline string (``t="inlineStr"``), never a formula or
an error value; text that a spreadsheet could take for a formula is also marked
quote-prefixed so that editing it in Excel keeps it text. The file is byte-identical for
the same model: workbook properties come from the snapshot's as-of time and every zip
entry gets a fixed timestamp and mode.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import threading
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path
from itertools import repeat
from typing import Any, Callable, Iterator, Mapping
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import numpy as np
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.formatting.rule import Rule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo
from openpyxl.xml.constants import ARC_CORE
from openpyxl.xml.functions import tostring

from reportgen.aggregate.findings import due_date_method
from reportgen.aggregate.model import SEVERITY_ORDER, ReportModel
from reportgen.render.interface import Output
from reportgen.render.tables import Column, Highlight, TableSpec, iter_blocks, iter_rows, table_specs, utc_naive

# Excel's own limit, header row included. A module constant so tests can lower it.
WORKBOOK = "evidence-pack.xlsx"
SHEET_ROW_LIMIT = 1_048_576
CELL_TEXT_LIMIT = 32_767
WIDTH_SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH = 8, 60
TABLE_STYLE = "TableStyleMedium2"
FORMATS = {"datetime": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd", "pct": "0.00%"}
ZIP64_CELLS = 5_000_000   # a sheet this big may pass 2 GiB of XML: give its zip entry 64-bit sizes

# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Text with any of these needs cleaning or escaping before it goes into the XML.
_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Text starting with one of these could be read as a formula when edited in Excel.
_FORMULA_START = frozenset("=+-@\t\r")
_ERROR_CODES = frozenset(ERROR_CODES)
_HIGHLIGHT_STYLES = {
    "bad": DifferentialStyle(fill=PatternFill(bgColor="FFC7CE"), font=Font(color="9C0006")),
    "critical": DifferentialStyle(font=Font(bold=True, color="9C0006")),
    "warning": DifferentialStyle(fill=PatternFill(bgColor="FFEB9C"), font=Font(color="9C5700")),
    "muted": DifferentialStyle(font=Font(color="808080")),
}
# Excel day numbers count from 1899-12-30 from March 1900 on (before, Excel's 1900 leap-year bug
# shifts them; openpyxl's to_excel handles those rare dates).
_EPOCH, _EXACT_FROM, _DAY = datetime(1899, 12, 30), datetime(1900, 3, 1), timedelta(days=1)
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")

RowSource = Callable[[], Iterator[bytes]]


def write_workbook(model: ReportModel, path: Path) -> None:
    specs = table_specs(model)
    write_table_workbook(model, path, specs, first_sheet=lambda wb: _write_readme(wb, model, specs))


def write_table_workbook(model: ReportModel, path: Path, specs, *, first_sheet: Callable[[Workbook], Any] | None = None,
                         preamble: Callable[[TableSpec], list[list[str]]] | None = None,
                         title: str | None = None, subject: str | None = None) -> None:
    """A workbook of table sheets (``specs``), rows streamed as described in the module docstring.

    ``first_sheet(wb)`` writes a sheet before the tables (the README) and returns it; ``preamble(spec)``
    gives text rows written above a table's header row (the header then sits below them, and the
    Excel table, the frozen pane and the highlights start there). ``title``/``subject`` replace the
    workbook properties' defaults. Byte-identical for the same model and specs."""
    path = Path(path)
    wb = Workbook(write_only=True)
    _set_properties(wb, model, title=title, subject=subject)
    lead = first_sheet(wb) if first_sheet is not None else None
    styles = _Styles(lead) if lead is not None else None   # registered before the tables' header cells
    sheets = [(spec, part) for spec in specs
              for part in _add_table_sheets(wb, spec, preamble(spec) if preamble is not None else [])]
    if styles is None:
        styles = _Styles(sheets[0][1][0] if sheets else wb.create_sheet("Sheet"))
    # Row sources are made before saving: making them registers the cell styles they use.
    parts = [(ws, _row_source(spec, start, stop, styles, first), (stop - start) * len(spec.columns) > ZIP64_CELLS)
             for spec, (ws, start, stop, first) in sheets]
    partial = path.with_name(f".{path.name}.partial")
    try:
        wb.save(partial)
        # openpyxl stamps "modified" with the clock when saving; put the as-of time back.
        wb.properties.modified = wb.properties.created
        sources = {ws.path.lstrip("/"): source for ws, source, _ in parts}  # paths are known once saved
        big = {ws.path.lstrip("/") for ws, _, large in parts if large}
        _rewrite_zip(partial, path, core_xml=tostring(wb.properties.to_tree()), when=wb.properties.created,
                     sheet_rows=sources, zip64=big)
    finally:
        partial.unlink(missing_ok=True)


def sheet_parts(spec: TableSpec, header_row: int = 1) -> list[tuple[str, str, int, int]]:
    """(sheet title, table name, first row, end row) of each sheet a table fills."""
    per_sheet = SHEET_ROW_LIMIT - header_row
    n = len(spec)
    if n <= per_sheet:
        return [(spec.sheet, spec.table, 0, n)]
    return [(spec.sheet if i == 1 else f"{spec.sheet} ({i})", spec.table if i == 1 else f"{spec.table}{i}",
             start, min(start + per_sheet, n))
            for i, start in enumerate(range(0, n, per_sheet), 1)]


# --- text --------------------------------------------------------------------------------------

def _clean_text(value: str, csv_name: str | None = None) -> str:
    """Text Excel can hold: no XML-illegal characters, at most 32,767 characters."""
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub("\ufffd", value)
    if len(value) > CELL_TEXT_LIMIT:
        where = f"; the full text is in data/{csv_name}" if csv_name else ""
        marker = f" [truncated at {CELL_TEXT_LIMIT:,} characters{where}]"
        value = value[:CELL_TEXT_LIMIT - len(marker)] + marker
    return value


def _looks_like_formula(value: str) -> bool:
    return value[0] in _FORMULA_START or value in _ERROR_CODES


def _text_cell(ws, value: str, *, alignment: Alignment | None = None, font: Font | None = None) -> Any:
    """An openpyxl cell (README, header rows) that stays text whatever it looks like."""
    value = _clean_text(value)
    if not value:
        return None
    risky = _looks_like_formula(value)
    if not (risky or alignment or font):
        return value  # openpyxl stores a plain str as an inline string
    cell = WriteOnlyCell(ws, value)
    if risky:
        cell.data_type = "s"  # openpyxl would otherwise make "=..." a formula and "#N/A" an error
        cell.quotePrefix = True
    if alignment:
        cell.alignment = alignment
    if font:
        cell.font = font
    return cell


# --- table sheets ----------------------------------------------------------------------------

def _display_width(value: Any, kind: str) -> int:
    if value is None:
        return 0
    if kind == "datetime":
        return 16
    if kind == "date":
        return 10
    if kind == "pct":
        return 8
    if isinstance(value, bool):
        return 5
    if isinstance(value, str):
        return max(len(line) for line in value.split("\n"))
    return len(f"{value:,}" if isinstance(value, int) else f"{value:,.2f}")


def _widths(spec: TableSpec) -> list[float]:
    sample = list(iter_rows(spec, 0, WIDTH_SAMPLE_ROWS))
    widths = []
    for i, column in enumerate(spec.columns):
        longest = max([len(column.header) + 3] + [_display_width(row[i], column.kind) for row in sample])
        widths.append(float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2))))
    return widths


def _highlight_formula(h: Highlight, letter: str, row: int = 2) -> str:
    ref = f"${letter}{row}"   # relative row: the rule is evaluated for each row of the range
    if h.test == "true":
        return f"{ref}=TRUE"
    if h.test == "false":
        return f"{ref}=FALSE"
    if h.test == "positive":
        return f"AND(ISNUMBER({ref}),{ref}>0)"
    if h.test == "nonzero":
        return f"AND(ISNUMBER({ref}),{ref}<>0)"
    if h.test == "equals":
        return f'{ref}="{h.value}"'
    raise AssertionError(h.test)


def _add_table_sheets(wb: Workbook, spec: TableSpec, preamble: list[list[str]] = ()) -> list[tuple[Any, int, int, int]]:
    """Create the table's sheet(s) with header, table, highlights; rows come later (_row_source).
    (sheet, first row, end row, sheet row of the first data row) per sheet."""
    widths = _widths(spec)
    last = get_column_letter(len(spec.columns))
    letters = {c.key: get_column_letter(i) for i, c in enumerate(spec.columns, 1)}
    head = len(preamble) + 1    # the header's sheet row
    out = []
    for title, name, start, stop in sheet_parts(spec, head):
        ws = wb.create_sheet(title)
        for i, width in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = f"A{head + 1}"
        n = stop - start
        # An Excel table always has at least one data row; an empty table gets an empty one.
        ref = f"A{head}:{last}{max(n, 1) + head}"
        table = Table(displayName=name, ref=ref, autoFilter=AutoFilter(ref=ref),
                      tableStyleInfo=TableStyleInfo(name=TABLE_STYLE, showRowStripes=True),
                      tableColumns=[TableColumn(id=i, name=h) for i, h in enumerate(spec.headers, 1)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "add table columns manually in write-only mode": we do
            ws.add_table(table)
        if n:
            for h in spec.highlights:
                rule = Rule(type="expression", dxf=_HIGHLIGHT_STYLES[h.style],
                            formula=[_highlight_formula(h, letters[h.column], head + 1)])
                ws.conditional_formatting.add(f"A{head + 1}:{last}{n + head}", rule)
        for row in preamble:
            ws.append([_text_cell(ws, v) for v in row])
        ws.append([_text_cell(ws, h) for h in spec.headers])
        out.append((ws, start, stop, head + 1))
    return out


class _Styles:
    """Cell style ids (registered in the workbook's stylesheet through openpyxl) for the rows."""

    def __init__(self, ws) -> None:
        self._ws = ws
        self._ids: dict[tuple[str | None, bool], int] = {}
        self.quoted = self.get(quote_prefix=True)
        for fmt in FORMATS.values():
            self.get(fmt)

    def get(self, number_format: str | None = None, quote_prefix: bool = False) -> int:
        key = (number_format, quote_prefix)
        if key not in self._ids:
            cell = WriteOnlyCell(self._ws)
            if number_format:
                cell.number_format = number_format
            if quote_prefix:
                cell.quotePrefix = True
            self._ids[key] = cell.style_id
        return self._ids[key]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _serial_date(v: date) -> int | float:
    """Excel's day number (1900 date system) of a date."""
    return (v - _EPOCH.date()).days if v >= _EXACT_FROM.date() else to_excel(v)


def _serial_datetime(v: datetime) -> int | float:
    return (v - _EPOCH) / _DAY if v >= _EXACT_FROM else to_excel(v)


def _inline_string(v: str, quoted_style: int, csv_name: str) -> str:
    """Everything of a text cell's element after ``<c r="A1"`` ("" for no cell)."""
    if not v:
        return ""
    special = _SPECIAL.search(v) is not None or len(v) > CELL_TEXT_LIMIT
    if special:
        v = _clean_text(v, csv_name)
    style = f' s="{quoted_style}"' if _looks_like_formula(v) else ""
    space = ' xml:space="preserve"' if v[0].isspace() or v[-1].isspace() else ""
    return f'{style} t="inlineStr"><is><t{space}>{_escape(v) if special else v}</t></is></c>'


def _cell_rest(column: Column, styles: _Styles, csv_name: str) -> Callable[[Any], str]:
    """How one column's plain value becomes the end of its ``<c>`` element, everything after
    ``<c r="A1`` ("" for no cell; missing values never get here)."""
    kind = column.kind
    if kind == "text":
        quoted = styles.quoted
        return lambda v: '"' + rest if (rest := _inline_string(v, quoted, csv_name)) else ""
    if kind == "bool":
        return lambda v: f'" t="b"><v>{1 if v else 0}</v></c>'
    number_format = column.number_format or FORMATS.get(kind)
    s = f' s="{styles.get(number_format)}"' if number_format else ""
    if kind == "date":
        return lambda v: f'"{s}><v>{_serial_date(v)!r}</v></c>'
    if kind == "datetime":
        return lambda v: f'"{s}><v>{_serial_datetime(v)!r}</v></c>'
    if kind == "pct":
        return lambda v: f'"{s}><v>{round(v / 100.0, 10)!r}</v></c>'
    return lambda v: f'"{s}><v>{v!r}</v></c>'


def _row_source(spec: TableSpec, start: int, stop: int, styles: _Styles, first_row: int = 2) -> RowSource:
    """The sheet's ``<row>`` elements, a block of rows at a time.

    Each distinct value of a block is rendered once; a row is then joined from, per cell, the
    column's ``<c r="`` and letter, the row number and the value's rendering (three empty
    strings for no cell), so that no Python code runs per cell."""
    rests = [_cell_rest(c, styles, spec.csv) for c in spec.columns]
    opens = [np.array(["", f'<c r="{get_column_letter(i)}'], dtype=object) for i in range(1, len(spec.columns) + 1)]
    no_number = np.array("", dtype=object)

    def blocks() -> Iterator[bytes]:
        first = first_row
        for n, block in iter_blocks(spec, start, stop):
            numbers = np.arange(first, first + n).astype(str).astype(object)
            first += n
            parts = []
            for rest, open_, column in zip(rests, opens, block):
                rendered = [("" if v is None else rest(v)) for v in column.values] + [""]
                present = np.fromiter(map(bool, rendered), dtype=bool, count=len(rendered))[column.codes]
                parts += [open_[present.view(np.uint8)], np.where(present, numbers, no_number),
                          column.cells(rendered)]
            yield "".join(map("".join, zip(repeat('<row r="'), numbers, repeat('">'), *parts,
                                           repeat("</row>")))).encode("utf-8")
    return blocks


# --- README ----------------------------------------------------------------------------------

def _readme_rows(model: ReportModel, specs: tuple[TableSpec, ...]) -> list[tuple[str, str, Any]]:
    """(style, label, value) rows; style is title, heading, row or blank."""
    m = model.meta
    defender = ", ".join(f"{c.control.defender_control}" for c in model.controls) or "none"
    standard = model.controls[0].control.defender_standard if model.controls else "-"
    sla = ", ".join(f"{s} {d} days" for s, d in m.sla_days.items())
    rows: list[tuple[str, str, Any]] = [
        ("title", m.title, None),
        ("row", "Organization", m.organization),
        ("row", "Controls", "; ".join(f"{c.id} {c.control.title}" for c in model.controls)),
        ("blank", "", None),
        ("heading", "Provenance", None),
        ("row", "Report period", f"{m.period_start.isoformat()} to {m.period_end.isoformat()}"),
        ("row", "As of (UTC)", utc_naive(m.as_of)),
        ("row", "About the as-of time", "The snapshot's collection time. Every age, due date and overdue flag is "
                                        "computed at this time, never at the time the workbook was opened."),
        ("row", "Source", f"{m.source} ({m.cloud})"),
        ("row", "Tenant", m.tenant_id or "not recorded"),
        ("row", "Subscriptions in scope", ", ".join(m.scope_subscriptions) or "all the credential can read"),
        ("row", "Management groups in scope", ", ".join(m.scope_management_groups) or "none"),
        ("row", "Policy definitions", ", ".join(m.policy_definition_ids)),
        ("row", "Defender assessment keys", ", ".join(m.assessment_keys)),
        ("row", "Per-CVE findings source", m.findings_source or "not recorded"),
        ("row", "Snapshot run id", m.run_id),
        ("row", "Snapshot fingerprint", f"{m.snapshot_fingerprint} (sha256 of snapshot.json; the snapshot is copied "
                                        "into the pack's snapshot/ folder)"),
        ("row", "Tool", f"reportgen {m.tool_version}"),
        ("row", "Verification", "manifest.json lists the sha256 and size of every file in the pack; "
                                "`reportgen verify PACK_DIR` checks them."),
        ("blank", "", None),
        ("heading", "Sheets", None),
        ("row", "README", "This sheet: provenance, the sheets and the rules used."),
    ]
    for spec in specs:
        parts = sheet_parts(spec)
        rows.append(("row", spec.sheet, f"{spec.description} Excel table {spec.table}; also data/{spec.csv}."))
        for title, _, start, stop in parts[1:]:
            rows.append(("row", title, f"{spec.sheet}, continued: rows {start + 1:,} to {stop:,}."))
    rows += [
        ("row", "Data files", "Each table is also in the pack's data/ folder as a UTF-8 CSV with a header row "
                              "(all findings in one file). Text cells that begin with =, +, -, @, tab or carriage "
                              "return are prefixed with a single quote there so no spreadsheet evaluates them."),
        ("blank", "", None),
        ("heading", "Rules", None),
        ("row", "Control compliance",
         "policy_states rows whose policy definition is one of the configured definitions and whose policy "
         "group names contain the control's group (both compared case-insensitively) are rolled up per "
         "resource (resource id, case-insensitive), keeping the worst state by weight."),
        ("row", "Roll-up weights", "NonCompliant 300 > Compliant 200 > Conflict 100 > Exempt 50 > any other "
                                   "state 0 (other states are counted as Other and left out of the formula)."),
        ("row", "Compliance formula", "Compliance % = 100 x (compliant + exempt) / (compliant + non-compliant + "
                                      "conflict + exempt) (Azure's own formula). When that total is 0 there is no "
                                      "figure: the cell is empty and the status is No data, never 0 or 100 %. "
                                      "Percentages are rounded to 2 decimals."),
        ("row", "Control status", "No data when no cluster has a counted state (compliant, non-compliant, conflict "
                                  "or exempt); else Passed when no cluster is non-compliant or in conflict (from the "
                                  "counts, not the rounded figure), Failed otherwise. A change since the previous "
                                  "snapshot is shown only when both months have a figure."),
        ("row", "Defender cross-check",
         f"Defender's own regulatory-compliance state for {defender} in {standard}: the worst state over "
         "subscriptions (Failed > Passed > Skipped > Unsupported, else No data). Shown beside the policy "
         "figure; it does not change it."),
        ("row", "Severity", "Normalised case-insensitively to Critical, High, Medium, Low; anything else is "
                            "Unknown."),
        ("row", "Distinct findings", "Findings are distinct by (cluster resource id case-insensitive, image "
                                     "digest, CVE, package); duplicate rows count once. The individual "
                                     "recommendations give one row per CVE per container, so a finding may have "
                                     "several rows, from either source or both. The row that represents it: an "
                                     "Unhealthy row before others (a CVE open in one container is open), then source "
                                     "individual-recommendations before legacy-subassessments, then the latest "
                                     "sighting, then the row id. Its workloads are those of all its rows."),
        ("row", "Open finding", "Defender status Unhealthy (case-insensitive) and not matched by an unexpired "
                                "local exception."),
        ("row", "Exempt finding", "Defender status NotApplicable with cause Exempt, or an Unhealthy finding "
                                  "matched by an unexpired local exception (the Exemption column names it)."),
        ("row", "Owner of a cluster",
         "The first that applies: (1) the owner of the Defender governance assignment on the cluster's "
         f"assessment; (2) the first configured owner tag ({', '.join(m.owner_tag_keys) or 'none'}; key matched "
         "case-insensitively) on the cluster, (3) on its resource group, (4) on its subscription; (5) the owner "
         f"mapping file (longest matching resource id prefix); (6) else the fallback \"{m.owner_fallback}\". "
         "Owner values are trimmed and lower-cased. A finding's owner is its cluster's owner."),
        ("row", "Owner source", "governance | tag:resource | tag:resource-group | tag:subscription | mapping | "
                                "fallback, as numbered above."),
        ("row", "Lineage", "The same vulnerability on the same workload across image rebuilds: cluster resource id "
                           "(case-insensitive), registry/repository (case-insensitive), CVE (upper-cased) and "
                           "package (case-insensitive), without the image digest. A rebuilt image that still carries "
                           "the CVE continues its lineage. Finding-history rows carry no repository: it is taken "
                           "from findings rows with the same digest, else the digest stands in for it. The Lineage "
                           "column holds \"L-\" and 16 hex digits of the key's sha256."),
        ("row", "First seen", "Of a lineage, and so of each of its rows: the earliest of every sighting at which it "
                              "was open (the earlier snapshots of the history folder, Defender's continuous-export "
                              "finding history, this snapshot) and Defender's firstEvaluationDate of any of its rows, "
                              "raised to the CVE's published date where both are known. A lineage that closes and "
                              "reopens keeps its first seen."),
        ("row", "Age is a lower bound", "TRUE where the first seen is the start of the available evidence (the "
                                        "history is shorter than the finding's life): the age is at least the days "
                                        "shown."),
        ("row", "Due date", due_date_method(m.sla_days)),
        ("row", "Overdue", "An open finding whose due date is before the as-of time. Days overdue = whole days "
                           "from the due date to the as-of time."),
        ("row", "SLA (days to fix)", sla + "; Unknown severity has no SLA."),
    ]
    rows += [("row", f"SLA {s}", f"{m.sla_days[s]} days" if s in m.sla_days else "no SLA")
             for s in SEVERITY_ORDER]
    rows += [
        ("row", "Fixable", "An open finding whose fix status is FixAvailable (or, with no or an Unknown fix "
                           "status, that has a fixed version)."),
        ("row", "Coverage", "A cluster with no row in Defender's assessments is not assessed (Clusters sheet, "
                            "Assessed = FALSE); the policy (AuditIfNotExists) reports such clusters as "
                            "non-compliant."),
        ("row", "Retired assessment", "Microsoft retired the grouped assessment c609cf0f on 31 July 2026 and "
                                      "replaced it with individual recommendations; the policy still names it and "
                                      "how Azure evaluates it now is not documented. Clusters with findings from the "
                                      "individual recommendations but no assessment of a configured key are marked "
                                      "on the Clusters sheet (Findings but no policy assessment = TRUE)."),
        ("row", "Derived verdict", "Shown beside the policy state, labelled as derived, never replacing it: "
                                   "Unhealthy when the cluster has an open finding; Healthy when it has finding rows "
                                   "and none is open; No findings when Defender assessed it but no finding rows "
                                   "exist; No evidence (no verdict) when it has neither an assessment nor findings."),
        ("row", "Changes", "Against the latest earlier snapshot in the history folder, over open lineages: New = "
                           "open now and not open then; Resolved = open then and not open now; Persisting = open in "
                           "both; Rebuilt, still vulnerable = persisting with an open image digest that was not open "
                           "then (a new build still carries the CVE; not a fix). In total (Summary) and by owner "
                           "(Changes by owner)."),
        ("row", "Period population", "Every lineage open at the period start (in the latest snapshot collected at "
                                     "or before it) or at any sighting inside the period. A sighting is a snapshot "
                                     "(at its collection time) or a finding-history row (at its TimeGenerated); a "
                                     "lineage is open at a sighting when one of its rows there is Unhealthy and not "
                                     "excepted."),
        ("row", "Closed", "The first later sighting at which the lineage is not open, with its reason: fixed (its "
                          "cluster is still in scope and no row is open), exempt (only exempt or excepted rows "
                          "remain) or out_of_scope (its cluster is absent from the current snapshot)."),
        ("row", "SLA verdict", "met: fixed on or before the due date; missed: fixed after it; open-overdue: open and "
                               "due before the as-of time; open-within: open and not overdue (including lineages "
                               "without a due date). Exempt and out-of-scope closures get no verdict. A lineage's due "
                               "date uses its severity: the highest among its open rows at any sighting of the "
                               "period."),
        ("row", "Roll-forward", "Per lineage severity and in total: opening + new - closed = closing (open at the "
                                "as-of time); the Reconciles column shows that it holds. SLA attainment % = 100 x "
                                "met / (met + missed), empty when nothing with a due date was fixed."),
        ("row", "Exemption status", "Expired: the expiry is before the as-of time; Expiring: within 30 days; "
                                    "Active: later or never. A local exception is valid through its expiry date."),
        ("row", "Exemptions that apply", "A policy exemption counts for this policy only if it exempts an assignment "
                                         "that carries the configured definition and its policy definition reference "
                                         "ids are empty or contain that definition's reference id. Others are listed "
                                         "as not applicable to this policy (Applies to this policy = FALSE) and never "
                                         "counted. An exemption with no expiry is flagged (No expiry = TRUE)."),
        ("row", "Owner conflict", "Clusters sheet: the governance owner differs from the owner the configured tags "
                                  "name (Owner tag); the governance owner is used."),
        ("row", "Cell types", "Times are UTC and stored as Excel dates; percentages are Excel percentages; "
                              "TRUE/FALSE are Excel booleans. Text from Azure (names, tags, CVE titles) is always "
                              "stored as text, never as a formula; highlights are conditional-formatting rules."),
    ]
    rows += _sample_readme_rows(model)
    rows += _known_exploited_readme_rows(model)
    rows += [("blank", "", None), ("heading", "Evidence gaps", None)]
    if model.coverage.assessment_gap_statement:
        rows.append(("row", "Retired assessment", model.coverage.assessment_gap_statement))
    for g in model.gaps:
        text = g.message + (f" Concerns: {', '.join(g.members)}." if g.members else "")
        text += (f" Warnings: {'; '.join(g.details)}" if g.details else "")
        rows.append(("row", g.title, text))
    if not model.gaps:
        rows.append(("row", "None recorded", "Every dataset is complete and the snapshot records no gap."))
    if model.insights:
        rows += [("blank", "", None), ("heading", "Insights", None)]
        rows += [("row", f"{i}", s) for i, s in enumerate(model.insights, 1)]
    return rows


def _known_exploited_readme_rows(model: ReportModel) -> list[tuple[str, str, Any]]:
    """Whether known exploited vulnerabilities were checked, against which catalogue, and what was found."""
    k = model.findings.known_exploited
    rows: list[tuple[str, str, Any]] = [("blank", "", None), ("heading", "Known exploited vulnerabilities (CISA KEV)", None),
                                        ("row", "Status", k.statement)]
    if not k.checked:
        rows.append(("row", "Findings columns", "Known exploited (CISA KEV) and the KEV columns of the Findings sheet "
                                                "are empty: not checked (not \"not exploited\")."))
        return rows
    rows += [
        ("row", "Catalogue", f"{k.title or 'untitled'}, catalogVersion {k.catalog_version}, dateReleased "
                             f"{k.date_released}; {k.entries:,} CVEs"),
        ("row", "Catalogue source", f"{k.source} (sha256 of the bytes read: {k.source_sha256 or 'not recorded'}; "
                                    f"snapshot data/known_exploited.parquet sha256 {k.dataset_sha256})"),
        ("row", "Open findings flagged", f"{k.open_flagged:,}"), ("row", "Distinct CVEs flagged", f"{k.distinct_cves:,}"),
        ("row", "Due by the KEV date", f"{k.kev_due_applies:,}"), ("row", "Flagged and overdue", f"{k.overdue:,}"),
        ("row", "Overdue only because of the KEV date", f"{k.overdue_because_kev:,}"),
        ("row", "Known ransomware use", f"{k.ransomware_known:,} of the flagged open findings (catalogue: Known)"),
        ("row", "Findings columns", "Known exploited (CISA KEV) is TRUE where the CVE is in the catalogue; KEV due "
                                    "date is the catalogue's dueDate; SLA or governance due is the date before the "
                                    "KEV rule; Due is the earlier of the two (Due date source kev when the KEV date "
                                    "applies)."),
    ]
    return rows


def _sample_readme_rows(model: ReportModel) -> list[tuple[str, str, Any]]:
    """The audit sample's method and seed, so that an auditor can re-draw it from the population."""
    rows: list[tuple[str, str, Any]] = [("blank", "", None), ("heading", "Audit sample", None)]
    a = model.audit_sample
    if a is None:
        return rows + [("row", "Not drawn", "No audit sample was drawn when this pack was rendered. Draw one from "
                                            "data/period_population.csv with `reportgen audit-sample PACK --size N "
                                            "--seed S`.")]
    rows += [("row", "Size", f"{a.size:,} asked for, {a.drawn:,} drawn from a population of {a.population:,} "
                             "lineages"),
             ("row", "Seed", str(a.seed)),
             ("row", "Method", a.method)]
    rows += [("row", f"Stratum {name}", f"population {population:,}, drawn {drawn:,}")
             for name, population, drawn in a.strata]
    return rows


def _write_readme(wb: Workbook, model: ReportModel, specs: tuple[TableSpec, ...]):
    ws = wb.create_sheet("README")
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 110
    bold, title_font = Font(bold=True), Font(bold=True, size=14)
    for style, label, value in _readme_rows(model, specs):
        if style == "title":
            ws.append([_text_cell(ws, label, font=title_font)])
        elif style == "heading":
            ws.append([_text_cell(ws, label, font=bold)])
        elif style == "blank":
            ws.append([])
        elif isinstance(value, (datetime, date)):
            ws.append([_text_cell(ws, label, font=bold, alignment=_TOP),
                       _date_cell(ws, value)])
        else:
            ws.append([_text_cell(ws, label, font=bold, alignment=_TOP),
                       _text_cell(ws, str(value), alignment=_WRAP)])
    return ws


def _date_cell(ws, value: datetime) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value)
    cell.number_format = FORMATS["datetime"]
    cell.alignment = Alignment(horizontal="left", vertical="top")
    return cell


# --- determinism -----------------------------------------------------------------------------

def _set_properties(wb: Workbook, model: ReportModel, title: str | None = None, subject: str | None = None) -> None:
    m = model.meta
    clean = lambda s: _ILLEGAL.sub("\ufffd", s)  # noqa: E731
    props = wb.properties
    props.creator = props.lastModifiedBy = f"reportgen {m.tool_version}"
    props.created = props.modified = utc_naive(m.as_of)
    props.title = clean(title or m.title)
    props.subject = clean(subject or f"{m.organization}: MCSB DS-6 / PV-6 evidence, running container image "
                                     "vulnerabilities")
    props.identifier = m.run_id
    props.description = f"Snapshot sha256 {m.snapshot_fingerprint}"


def _rewrite_zip(src: Path, dest: Path, *, core_xml: bytes, when: datetime,
                 sheet_rows: Mapping[str, RowSource], zip64: set[str]) -> None:
    """Copy the package entry by entry (same order, same compression) with a fixed timestamp and
    mode, the as-of core properties, and each table's rows streamed into its sheet."""
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    partial = dest.with_name(f".{dest.name}.zip-partial")
    try:
        with ZipFile(src) as zin, ZipFile(partial, "w", ZIP_DEFLATED, allowZip64=True) as zout:
            for info in zin.infolist():
                entry = ZipInfo(info.filename, date_time=stamp)
                entry.compress_type = ZIP_DEFLATED
                entry.create_system = 3
                entry.external_attr = 0o644 << 16
                if info.filename == ARC_CORE:
                    zout.writestr(entry, core_xml)
                elif info.filename in sheet_rows:
                    head, end, tail = zin.read(info).partition(b"</sheetData>")
                    if not end:
                        raise AssertionError(f"{info.filename}: no </sheetData> to stream rows into")
                    with zout.open(entry, "w", force_zip64=info.filename in zip64) as writer:
                        writer.write(head)
                        _write_beside(writer, sheet_rows[info.filename]())
                        writer.write(end + tail)
                else:
                    with zin.open(info) as reader, zout.open(entry, "w") as writer:
                        shutil.copyfileobj(reader, writer, 1 << 20)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def _write_beside(writer, blocks: Iterator[bytes]) -> None:
    """Write ``blocks`` in order from a second thread while the next ones are made: deflating,
    the CRC and the file write release the GIL, so with a second core free the zip entry takes
    about the longer of making its XML and deflating it, not their sum. The bytes are the same."""
    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def drain() -> None:
        try:
            while (block := pending.get()) is not None:
                writer.write(block)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(exc)
            while pending.get() is not None:
                pass

    thread = threading.Thread(target=drain, name="xlsx-deflate", daemon=True)
    thread.start()
    try:
        for block in blocks:
            if failed:
                break
            pending.put(block)
    finally:
        pending.put(None)
        thread.join()
    if failed:
        raise failed[0]


def _write(model: ReportModel, pack: Path) -> list[Path]:
    write_workbook(model, pack / WORKBOOK)
    return [pack / WORKBOOK]


OUTPUT = Output(
    name="workbook", files=(WORKBOOK,), step="Writing the Excel workbook", write=_write,
    description="The workbook for analysts and auditors: a README sheet, then every table in full (every finding "
                "of the current snapshot, cluster, owner, exemption, change, the period population with its "
                "roll-forward and SLA by month, the audit sample, history, completeness and reconciliation, and "
                "every query).",
)
