"""CSV copies of the workbook's tables, for machines: one UTF-8 file per table under data/.

The columns are those of the workbook (``tables.py``), in the same order and with the same
headers; findings go in one file whatever their number. Values: times ISO 8601 UTC
(``2026-10-31T06:00:00Z``), dates ``YYYY-MM-DD``, booleans ``true``/``false``, percentages in
percent points (``85.32``, as in summary.json), empty for missing.

Quoting: fields are separated by commas and rows end with LF; a field that holds a comma, a
double quote, a line feed or a carriage return is enclosed in double quotes, its quotes
doubled (RFC 4180). Python's csv module, with an LF row ending, would leave a carriage return
unquoted, and a reader that ends rows at CR would start a new row inside the value.

Formulas: a text cell that begins with ``=``, ``+``, ``-``, ``@``, tab or carriage return
(after any leading spaces) is prefixed with a single quote so that no spreadsheet opening
the file evaluates it; so is each line of the cell, after a run of line breaks (CR, LF)
that is followed by one of ``=``, ``+``, ``-``, ``@`` or tab (after spaces): the quote goes
right after the breaks. No line of the file, however a reader splits it, can then start a
formula. Numbers are never touched, so negative numbers stay numbers.

Rows are written a block at a time from the table's column codes (``tables.iter_blocks``):
each distinct value of a block is formatted and quoted once, and the rows are joined from
the formatted cells, without a Python call per cell.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from reportgen.aggregate.model import ReportModel
from reportgen.render.interface import Output
from reportgen.render.tables import TableSpec, iter_blocks, table_specs

DATA_DIR = "data"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTES = re.compile('[,"\r\n]')
_FORMULA_AFTER_BREAK = re.compile(r"([\r\n]+)(?=[ ]*[=+\-@\t])")


def write_csv_exports(model: ReportModel, data_dir: Path) -> list[Path]:
    """Write every table of the workbook to ``data_dir``; return the files in sheet order."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return [write_table_csv(spec, data_dir / spec.csv) for spec in table_specs(model)]


def write_table_csv(spec: TableSpec, path: Path) -> Path:
    formats = [_FORMATTERS[c.kind] for c in spec.columns]
    lone = len(spec.columns) == 1   # a row of one empty field must not read as a blank line
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(_field(neutralise(h), lone) for h in spec.headers) + "\n")
        for _, block in iter_blocks(spec):
            cells = [b.cells([_field("" if v is None else f(v), lone) for v in b.values] + [_field("", lone)])
                     for f, b in zip(formats, block)]
            fh.write("\n".join(map(",".join, zip(*cells))) + "\n")
    return path


def _field(text: str, lone: bool = False) -> str:
    """One field as written: quoted when it holds a comma, quote, LF or CR."""
    if _NEEDS_QUOTES.search(text) or (lone and not text):
        return '"' + text.replace('"', '""') + '"'
    return text


def neutralise(text: str) -> str:
    """Text a spreadsheet would read as a formula gets a single quote, at its start and after each
    run of line breaks that a formula would follow (see the module docstring)."""
    if text.lstrip(" ").startswith(FORMULA_START):
        text = "'" + text
    if "\n" in text or "\r" in text:
        text = _FORMULA_AFTER_BREAK.sub(r"\1'", text)
    return text


def _iso_datetime(value: datetime) -> str:
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds") + "Z"


def _number(value: int | float) -> str:
    return repr(value)    # shortest text that reads back to the same number; ints stay ints


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "text": neutralise, "int": _number, "float": _number, "number": _number, "pct": _number,
    "bool": lambda v: "true" if v else "false", "date": date.isoformat, "datetime": _iso_datetime,
}


def csv_value(value: Any, kind: str) -> str:
    """One value of a column of ``kind`` as CSV text ("" when missing)."""
    return "" if value is None else _FORMATTERS[kind](value)


def table_file(csv_name: str) -> str:
    """The pack path of a table's CSV copy (``findings.csv`` -> ``data/findings.csv``)."""
    return f"{DATA_DIR}/{csv_name}"


def _describe(rel: str, model: ReportModel) -> str | None:
    text = {table_file(spec.csv): spec.description for spec in table_specs(model)}.get(rel)
    return f"CSV copy of a workbook table: {text}" if text else None


OUTPUT = Output(
    name="csv", files=(f"{DATA_DIR}/*.csv",), step="Writing the CSV exports",
    description="CSV copy of a workbook table (UTF-8, one header row).",
    write=lambda model, pack: write_csv_exports(model, pack / DATA_DIR), describe=_describe,
)
