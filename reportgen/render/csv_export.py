"""CSV copies of the workbook's tables, for machines: one UTF-8 file per table under data/.

The columns are those of the workbook (``tables.py``), in the same order and with the same
headers; findings go in one file whatever their number. Values: times ISO 8601 UTC
(``2026-10-31T06:00:00Z``), dates ``YYYY-MM-DD``, booleans ``true``/``false``, percentages in
percent points (``85.32``, as in summary.json), empty for missing. A text cell that begins
with ``=``, ``+``, ``-``, ``@``, tab or carriage return (after any leading spaces) is
prefixed with a single quote so that no spreadsheet opening the file evaluates it; numbers
are never touched, so negative numbers stay numbers.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from reportgen.aggregate.model import ReportModel
from reportgen.render.interface import Output
from reportgen.render.tables import TableSpec, iter_rows, table_specs

DATA_DIR = "data"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv_exports(model: ReportModel, data_dir: Path) -> list[Path]:
    """Write every table of the workbook to ``data_dir``; return the files in sheet order."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    return [write_table_csv(spec, data_dir / spec.csv) for spec in table_specs(model)]


def write_table_csv(spec: TableSpec, path: Path) -> Path:
    formats = [_FORMATTERS[c.kind] for c in spec.columns]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([neutralise(h) for h in spec.headers])
        for row in iter_rows(spec):
            writer.writerow(["" if v is None else f(v) for f, v in zip(formats, row)])
    return path


def neutralise(text: str) -> str:
    """Text a spreadsheet would read as a formula gets a leading single quote."""
    return "'" + text if text.lstrip(" ").startswith(FORMULA_START) else text


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
