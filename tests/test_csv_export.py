"""CSV exports: one file per workbook table, same headers, neutralised text, ISO dates, determinism.

Uses the hand-built model of test_excel.py. The golden copy of every CSV is
tests/golden/workbook/csv-exports.txt; regenerate it with ``make golden``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from reportgen.render import excel, tables
from reportgen.render.csv_export import FORMULA_START, csv_value, neutralise, write_csv_exports
from tests.test_excel import GOLDEN_DIR, GOLDEN_HEADER, HOSTILE, UPDATE_GOLDEN, _finding, findings_frame, small_model

FILES = ["summary.csv", "controls.csv", "owners.csv", "control_owner.csv", "findings.csv", "clusters.csv",
         "exemptions.csv", "changes.csv", "changes_by_owner.csv", "roll_forward.csv", "sla_by_month.csv",
         "period_population.csv", "audit_sample.csv", "history.csv", "completeness.csv", "reconciliation.csv",
         "datasets.csv"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = small_model()
    data = tmp_path_factory.mktemp("pack") / "data"
    return model, write_csv_exports(model, data)


def read(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def by_name(paths: list[Path]) -> dict[str, list[dict[str, str]]]:
    out = {}
    for p in paths:
        header, *rows = read(p)
        out[p.name] = [dict(zip(header, r)) for r in rows]
    return out


def test_one_csv_per_workbook_table_with_the_workbook_headers(exported, tmp_path):
    model, paths = exported
    assert [p.name for p in paths] == FILES
    assert all(p.parent.name == "data" for p in paths)
    xlsx = tmp_path / "wb.xlsx"
    excel.write_workbook(model, xlsx)
    wb = openpyxl.load_workbook(xlsx)
    for spec, path in zip(tables.table_specs(model), paths):
        header, *rows = read(path)
        assert header == list(spec.headers) == [c.value for c in wb[spec.sheet][1]], spec.csv
        assert len(rows) == len(spec), spec.csv


def test_findings_csv_holds_every_row_in_one_file_whatever_the_sheet_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(excel, "SHEET_ROW_LIMIT", 2)
    model = small_model()
    paths = write_csv_exports(model, tmp_path / "data")
    rows = by_name(paths)["findings.csv"]
    assert [r["CVE"] for r in rows] == list(model.tables.findings["cveId"])
    assert not (tmp_path / "data" / "findings (2).csv").exists()


def test_text_that_looks_like_a_formula_is_neutralised_but_numbers_stay_numbers(exported):
    _, paths = exported
    rows = by_name(paths)
    findings = rows["findings.csv"]
    assert findings[0]["Title"] == "'+cmd"
    assert findings[2]["Owner"] == "'" + HOSTILE[0] and findings[2]["Image tags"] == "'@SUM(A1)"
    assert findings[2]["Workloads"] == "'-2+3"
    assert findings[4]["Title"] == "'=1+1"
    assert rows["owners.csv"][1]["Owner"] == "'" + HOSTILE[0]
    assert rows["exemptions.csv"][0]["Reason"] == "'@accepted"
    assert rows["exemptions.csv"][0]["Days to expiry"] == "-30"          # a negative number, untouched
    assert rows["controls.csv"][0]["Change (points)"] == "-33.33"
    assert rows["summary.csv"][-1]["Detail"] == "'+1 owner holds all overdue critical findings."
    for path in paths:
        for row in read(path):
            for cell in row:
                assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r")), (path.name, cell)
                if cell.startswith("-"):
                    float(cell)                                              # only numbers may start with -


@pytest.mark.parametrize("text, expected", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("  =1", "'  =1"), ("a=b", "a=b"), ("", ""), ("CVE-1", "CVE-1"),
    # after a line break too: CR, LF or CRLF, a run of them, spaces before the formula
    ("ok\n=1+2", "ok\n'=1+2"), ("ok\r=1", "ok\r'=1"), ("ok\r\n@x", "ok\r\n'@x"), ("a\n\n  -2", "a\n\n'  -2"),
    ("a\n\tb", "a\n'\tb"), ("\r=1", "'\r'=1"), ("a\nb=1", "a\nb=1"), ("a\r\rb", "a\r\rb"), ("a\n", "a\n"),
])
def test_neutralise(text, expected):
    assert neutralise(text) == expected


def test_values_are_iso_dates_plain_numbers_and_lowercase_booleans(exported):
    _, paths = exported
    f = by_name(paths)["findings.csv"]
    assert f[0]["First seen (UTC)"] == "2026-08-01T06:00:00Z" and f[0]["Published"] == "2024-01-15"
    assert f[0]["CVSS"] == "9.8" and f[0]["Age (days)"] == "91" and f[0]["Overdue"] == "true"
    assert f[2]["CVSS"] == "" and f[2]["Days overdue"] == "" and f[2]["Published"] == ""
    assert f[2]["Title"] == "line one\nline\x07two"       # CSV keeps the text as received
    assert by_name(paths)["controls.csv"][0]["Compliance %"] == "66.67"   # percent points, as in summary.json
    assert by_name(paths)["exemptions.csv"][2]["Expires (UTC)"] == ""
    assert by_name(paths)["history.csv"][1]["As of (UTC)"] == "2026-10-31T06:00:00Z"
    assert csv_value(-5, "int") == "-5" and csv_value(-0.5, "float") == "-0.5" and csv_value(None, "text") == ""


def test_period_population_roll_forward_and_sample_csvs_hold_the_model_values(exported):
    _, paths = exported
    files = by_name(paths)
    pop = files["period_population.csv"]
    assert [r["Lineage"] for r in pop] == [f"L-000000000000000{c}" for c in "abcde"]
    fixed = pop[1]
    assert (fixed["Closed (UTC)"], fixed["Close reason"], fixed["SLA verdict"], fixed["Days to fix"],
            fixed["Open at period start"], fixed["Open at as-of"]) == (
        "2026-10-15T06:00:00Z", "fixed", "met", "20.5", "true", "false")
    assert pop[0]["Closed (UTC)"] == "" and pop[0]["Days to fix"] == ""
    assert pop[0]["Sightings"] == "'" + HOSTILE[0]              # tenant text is neutralised here too
    assert pop[3]["Age is a lower bound"] == "true"
    # every population column is there under its workbook header, so the population can be read back
    assert list(pop[0]) == [c.header for c in tables.POPULATION]
    roll = {r["Severity"]: r for r in files["roll_forward.csv"]}
    assert [(k, r["Opening"], r["New"], r["Closed"], r["Closing"]) for k, r in roll.items()] == [
        ("Critical", "1", "0", "0", "1"), ("High", "1", "1", "2", "0"), ("Medium", "0", "1", "0", "1"),
        ("Low", "1", "0", "1", "0"), ("Unknown", "0", "0", "0", "0"), ("Total", "3", "2", "3", "2")]
    assert roll["Total"]["SLA attainment %"] == "50.0" and roll["High"]["SLA attainment %"] == ""
    assert roll["Total"]["Reconciles (opening + new - closed = closing)"] == "true"
    sample = files["audit_sample.csv"]
    assert [(r["Item"], r["Stratum"], r["Lineage"]) for r in sample] == [
        ("1", "Critical / open-overdue", "L-000000000000000a"), ("2", "High / missed", "L-000000000000000c")]
    months = files["sla_by_month.csv"]
    assert [(r["Severity"], r["SLA attainment %"], r["Median days to fix"]) for r in months] == [
        ("Critical", "", ""), ("High", "50.0", "32.75"), ("All", "50.0", "32.75")]
    rec = files["reconciliation.csv"]
    assert [(r["Check"], r["Difference (ours - Defender)"]) for r in rec] == [
        ("PV.6 failed resources", "0"), ("Assessed clusters", "-1")]


def test_empty_tables_have_a_header_row_only(tmp_path):
    model = small_model(findings=findings_frame([]))
    model = replace(model, changes=None, tables=replace(model.tables, changes=model.tables.changes.iloc[0:0]))
    rows = {p.name: read(p) for p in write_csv_exports(model, tmp_path / "data")}
    assert len(rows["findings.csv"]) == 1 and len(rows["changes.csv"]) == 1


def test_exports_are_deterministic(tmp_path):
    model = small_model(findings=findings_frame([_finding(), _finding(cveId="CVE-2")]))
    digests = []
    for name in ("a", "b"):
        paths = write_csv_exports(model, tmp_path / name / "data")
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths])
    assert digests[0] == digests[1]


def test_csv_golden(exported):
    _, paths = exported
    golden = GOLDEN_DIR / "csv-exports.txt"
    parts = [f"# {GOLDEN_HEADER}", "# data/*.csv written from tests/test_excel.py::small_model"]
    for p in paths:
        parts += [f"== data/{p.name}", p.read_text(encoding="utf-8").rstrip("\n")]
    actual = "\n".join(parts) + "\n"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.is_file(), "golden file missing: run `make golden`"
    assert actual == golden.read_text(encoding="utf-8"), "CSV content changed: review, then `make golden`"


def test_missing_compliance_figure_is_an_empty_cell_and_derived_verdicts_are_columns(tmp_path):
    from reportgen import pipeline
    from reportgen.config import RunConfig
    from tests import builders as b
    nodata = by_name(write_csv_exports(pipeline.build(b.no_policy_evidence(tmp_path / "a"), RunConfig()),
                                       tmp_path / "a-data"))
    assert [(r["Control"], r["Status"], r["Compliance %"], r["Change (points)"]) for r in nodata["controls.csv"]] == [
        ("DS-6", "No data", "", ""), ("PV-6", "No data", "", "")]
    (month,) = nodata["history.csv"]
    assert (month["DS-6 compliance %"], month["DS-6 status"]) == ("", "No data")
    retired = by_name(write_csv_exports(pipeline.build(b.retired_assessment(tmp_path / "b"), RunConfig()),
                                        tmp_path / "b-data"))
    clusters = {r["Cluster"]: r for r in retired["clusters.csv"]}
    assert clusters["aks-ind-open"]["Derived verdict (from findings)"] == "Unhealthy"
    assert clusters["aks-ind-open"]["Findings but no policy assessment"] == "true"
    assert clusters["aks-empty"]["Derived verdict (from findings)"] == "No evidence"
    assert {r["Source"] for r in retired["findings.csv"]} == {"individual-recommendations"}


# --- hostile text through a rendered pack --------------------------------------------------------

HOSTILE_TEXT = ("cr\rinside", "lf\ninside", "crlf\r\ninside", 'say "hi"', "a,b", "ok\n=1+2", "ok\r=1+2",
                "ok\r\n=HYPERLINK(\"x\")", "\r\n@SUM(A1)", "  =1", "tab\n\t=1", "trail\r", '"', ",", "-2+3",
                'mix "q",\r\n+1')


def _unneutralised(text: str) -> str:
    """The text before neutralise: its quote at the start and after line breaks removed."""
    if text.startswith("'") and text[1:].lstrip(" ").startswith(FORMULA_START):
        text = text[1:]
    return re.sub(r"([\r\n]+)'(?=[ ]*[=+\-@\t])", r"\1", text)


@pytest.fixture(scope="module")
def hostile_pack(tmp_path_factory):
    from reportgen import pipeline
    from reportgen.config import RunConfig
    from tests import builders as b
    root = tmp_path_factory.mktemp("hostile")
    ids = [b.cluster_id(f"aks-{i}") for i in range(len(HOSTILE_TEXT))]
    findings = [b.finding(rid, f"CVE-2026-{i:04d}", ("Critical", "High", "Low")[i % 3], title=text,
                          package=text or "pkg", packageVersion=text, repositoryName=text,
                          imageTags=json.dumps([text, "v1"]), status=("Unhealthy", "Healthy")[i % 2])
                for i, (rid, text) in enumerate(zip(ids, HOSTILE_TEXT))]
    snap = b.write(
        root / "snap", status={"finding_history": ("failed", HOSTILE_TEXT[:3])},
        clusters=[{**b.cluster(f"aks-{i}", tags={"owner": text}), "name": f"{text} {i}"}
                  for i, text in enumerate(HOSTILE_TEXT)],
        policy_states=[b.policy_state(rid, "NonCompliant") for rid in ids[:5]],
        findings=findings,
        exemptions=[{**b.exemption(ids[0], "2026-11-15T00:00:00Z"), "description": HOSTILE_TEXT[5],
                     "displayName": HOSTILE_TEXT[7]}],
    )
    result = pipeline.render(snap, root / "pack", RunConfig())
    return result.model, result.pack_dir


def test_every_csv_of_a_pack_reads_back_the_same_with_csv_and_pandas(hostile_pack):
    model, pack = hostile_pack
    specs = {spec.csv: spec for spec in tables.table_specs(model)}
    assert sorted(p.name for p in (pack / "data").glob("*.csv")) == sorted(specs)
    assert any("\r" in v for v in model.tables.findings["title"])   # the hostile text reached the tables
    for name, spec in specs.items():
        path = pack / "data" / name
        header, *rows = read(path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert header == list(spec.headers) == list(frame.columns), name
        assert len(rows) == len(spec) == len(frame), name
        assert rows == frame.values.tolist(), name
        for row, values in zip(rows, tables.iter_rows(spec)):
            for cell, value, column in zip(row, values, spec.columns):
                assert cell == csv_value(value, column.kind), (name, column.key)
                if column.kind == "text":
                    assert _unneutralised(cell) == ("" if value is None else value), (name, column.key)


def test_no_line_of_any_csv_starts_a_formula_however_it_is_split(hostile_pack):
    _, pack = hostile_pack
    for path in (pack / "data").glob("*.csv"):
        raw = path.read_bytes().decode("utf-8")
        for fragment in re.split(r"[\r\n]", raw):
            start = fragment.lstrip(" ").lstrip('"').lstrip(" ")
            assert not start.startswith(("=", "+", "@", "\t")), (path.name, fragment)
            if start.startswith("-"):
                float(start.split(",")[0].rstrip('"'))                     # only a number may start with -


def test_carriage_returns_and_line_feeds_are_always_quoted(hostile_pack):
    _, pack = hostile_pack
    raw = (pack / "data" / "findings.csv").read_bytes().decode("utf-8")
    # outside quoted fields the only line break is the LF ending each row
    outside = raw.split('"')[0::2]
    assert not any("\r" in part for part in outside)
    assert sum(part.count("\n") for part in outside) == len(read(pack / "data" / "findings.csv"))


def test_blocks_do_not_show_in_the_files(tmp_path, monkeypatch):
    model = small_model()
    whole = [p.read_bytes() for p in write_csv_exports(model, tmp_path / "whole")]
    xlsx = tmp_path / "whole.xlsx"
    excel.write_workbook(model, xlsx)
    monkeypatch.setattr(tables, "CHUNK_ROWS", 2)   # blocks of two rows
    assert [p.read_bytes() for p in write_csv_exports(model, tmp_path / "small")] == whole
    small = tmp_path / "small.xlsx"
    excel.write_workbook(model, small)
    assert small.read_bytes() == xlsx.read_bytes()
