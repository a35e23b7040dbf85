"""POA&M export (issue 11 item 3): FedRAMP template layout, grouping into weaknesses, ids, CSV = xlsx."""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime

import openpyxl
import pandas as pd
import pytest

from reportgen.aggregate.build import build_model
from reportgen.aggregate.poam import ASSET_TEXT_LIMIT, CELL_TEXT_LIMIT, join_capped, poam_id
from reportgen.config import RunConfig
from reportgen.frameworks import load_controls
from reportgen.render.interface import OUTPUTS, describe_file, output
from reportgen.render.poam import CSV, WORKBOOK, write_poam
from reportgen.render.summary import summary_dict
from tests import builders as b

# The "Open POA&M Items" header row of the FedRAMP POA&M Template (Rev5), columns A..AE, as the
# public readers of the template list it (sources in reportgen/aggregate/poam.py).
TEMPLATE_HEADERS = [
    "POAM ID", "Controls", "Weakness Name", "Weakness Description", "Weakness Detector Source",
    "Weakness Source Identifier", "Asset Identifier", "Point of Contact", "Resources Required",
    "Overall Remediation Plan", "Original Detection Date", "Scheduled Completion Date", "Planned Milestones",
    "Milestone Changes", "Status Date", "Vendor Dependency", "Last Vendor Check-in Date",
    "Vendor Dependent Product Name", "Original Risk Rating", "Adjusted Risk Rating", "Risk Adjustment",
    "False Positive", "Operational Requirement", "Deviation Rationale", "Supporting Documents", "Comments",
    "Auto-Approve", "Binding Operational Directive 22-01 tracking", "Binding Operational Directive 22-01 Due Date",
    "CVE", "Service Name",
]
# Letters the FedRAMP Rev5 playbook names for some columns.
PLAYBOOK_LETTERS = {"E": "Weakness Detector Source", "P": "Vendor Dependency", "Q": "Last Vendor Check-in Date",
                    "R": "Vendor Dependent Product Name", "U": "Risk Adjustment", "V": "False Positive",
                    "W": "Operational Requirement"}
A, B2, C = b.cluster_id("aks-a"), b.cluster_id("aks-b"), b.cluster_id("aks-c")


def model_of(tmp_path, name="s", history=(), collected_at=b.AS_OF, **rows):
    rows.setdefault("clusters", [b.cluster("aks-a"), b.cluster("aks-b"), b.cluster("aks-c")])
    snap = b.snapshot(tmp_path / name, collected_at=collected_at, **rows)
    return build_model(snap, RunConfig(), load_controls(), list(history))


def items(model) -> pd.DataFrame:
    return model.tables.poam


def test_registered_once_and_writes_both_files(tmp_path):
    assert OUTPUTS.count("reportgen.render.poam") == 1
    out = output("poam")
    assert out.files == (WORKBOOK, CSV) == ("poam/poam.xlsx", "poam/poam.csv")


def test_sheets_and_headers_are_the_templates(tmp_path):
    m = model_of(tmp_path, findings=[b.finding(A, "CVE-2024-0001")])
    write_poam(m, tmp_path / "pack")
    wb = openpyxl.load_workbook(tmp_path / "pack" / WORKBOOK)
    assert wb.sheetnames == ["Open POA&M Items", "Closed POA&M Items"]
    for ws in wb.worksheets:
        header = [c.value for c in ws[5]]
        assert header == TEMPLATE_HEADERS
        for letter, name in PLAYBOOK_LETTERS.items():
            assert ws[f"{letter}5"].value == name
    with open(tmp_path / "pack" / CSV, newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == TEMPLATE_HEADERS


def test_same_cve_package_image_on_two_clusters_is_one_item_with_two_assets(tmp_path):
    m = model_of(tmp_path, findings=[
        b.finding(A, "CVE-2024-0001", "Critical", digest="sha256:aaa"),
        b.finding(B2, "CVE-2024-0001", "Critical", digest="sha256:bbb"),
        b.finding(A, "CVE-2024-0001", "Critical", package="zlib"),       # other package: other weakness
        b.finding(A, "CVE-2024-0002", "Medium"),                         # other CVE: other weakness
    ])
    t = items(m)
    assert len(t) == 3
    one = t.loc[t["cve"].eq("CVE-2024-0001") & t["weaknessName"].str.contains("openssl")]
    assert len(one) == 1
    row = one.iloc[0]
    assert sorted(row["assetIdentifier"].split("; ")) == sorted([A, B2])     # the two clusters
    assert "sha256:aaa" in row["weaknessDescription"] and "sha256:bbb" in row["weaknessDescription"]
    assert row["weaknessSourceIdentifier"] == "CVE-2024-0001" and row["controls"] == "RA-5, SI-2"
    assert row["originalRiskRating"] == "High"       # Critical folds into the template's High
    assert t.loc[t["cve"].eq("CVE-2024-0002"), "originalRiskRating"].item() == "Moderate"
    assert "2 findings on 2 clusters" in row["comments"]
    assert m.poam.items == 3 and m.poam.findings == 4
    assert "upgrade openssl to 1.1" in row["plannedMilestones"].lower()
    assert row["vendorDependency"] == "No"


def test_scheduled_completion_is_the_earliest_due_date_and_overdue_is_commented(tmp_path):
    ga = b.assessment(B2)
    m = model_of(tmp_path, assessments=[ga],
                 governance_assignments=[b.governance(ga["id"], "team-b", "2026-10-01T00:00:00Z")],
                 findings=[b.finding(A, "CVE-2024-0001", "Low", firstEvaluationDate="2026-09-15T00:00:00Z"),
                           b.finding(B2, "CVE-2024-0001", "Low", firstEvaluationDate="2026-09-15T00:00:00Z")])
    f = m.tables.findings
    row = items(m).iloc[0]
    assert f["dueDate"].nunique() == 2           # governance on one cluster, SLA on the other
    assert row["scheduledCompletionDate"] == pd.Timestamp("2026-10-01")
    assert row["scheduledCompletionDate"] == f["dueDate"].min().tz_localize(None).normalize()
    assert row["originalDetectionDate"] == pd.Timestamp("2026-09-15")
    assert "Overdue by 30 days" in row["comments"]
    assert m.poam.overdue_items == 1
    assert m.poam.earliest_scheduled_completion == pd.Timestamp("2026-10-01")
    assert row["statusDate"] == pd.Timestamp("2026-10-31")
    assert set(row["pointOfContact"].split(", ")) == set(f["owner"])


def test_ids_are_stable_between_builds_and_differ_between_weaknesses(tmp_path):
    rows = [b.finding(A, "CVE-2024-0001"), b.finding(A, "CVE-2024-0002"), b.finding(A, "CVE-2024-0001", package="zlib")]
    m1 = model_of(tmp_path, "one", findings=rows)
    m2 = model_of(tmp_path, "two", collected_at="2026-11-30T06:00:00Z",   # a month later, rows in another order
                  findings=[rows[2], rows[0], b.finding(B2, "CVE-2024-0001"), rows[1]])
    ids1 = dict(zip(items(m1)["weaknessName"], items(m1)["poamId"]))
    ids2 = dict(zip(items(m2)["weaknessName"], items(m2)["poamId"]))
    assert ids1 == ids2
    assert len(set(ids1.values())) == 3
    expected = "V-" + hashlib.sha256(b"CVE-2024-0001|openssl|contoso.azurecr.io/app/api").hexdigest()[:12].upper()
    assert ids1["CVE-2024-0001 in openssl (contoso.azurecr.io/app/api)"] == expected
    assert poam_id("cve-2024-0001", "OpenSSL", "Contoso.azurecr.io/App/Api") == expected
    upper = model_of(tmp_path, "case", findings=[b.finding(A, "cve-2024-0001", package="OpenSSL"),
                                                 b.finding(B2, "CVE-2024-0001")])
    assert list(items(upper)["poamId"]) == [expected]       # the same weakness whatever the case
    assert items(m1)["poamId"].is_unique


def test_exempt_findings_are_a_pending_operational_requirement_item(tmp_path):
    m = model_of(tmp_path, findings=[
        b.finding(A, "CVE-2024-0001", "High"),
        b.finding(B2, "CVE-2024-0001", "High", status="NotApplicable", cause="Exempt"),
    ])
    t = items(m).set_index("operationalRequirement")
    assert sorted(t.index) == ["No", "Pending"]
    exempt, open_ = t.loc["Pending"], t.loc["No"]
    assert exempt["poamId"] != open_["poamId"]
    assert exempt["deviationRationale"] == m.tables.findings.loc[m.tables.findings["state"].eq("Exempt"),
                                                                  "exemption"].item()
    assert exempt["deviationRationale"] and open_["deviationRationale"] == ""
    assert B2 in exempt["assetIdentifier"] and A not in exempt["assetIdentifier"]
    assert (m.poam.open_items, m.poam.deviation_items, m.poam.items) == (1, 1, 2)


def test_no_fix_is_a_vendor_dependency(tmp_path):
    m = model_of(tmp_path, findings=[b.finding(A, "CVE-2024-0001", fix="NoFixAvailable")])
    row = items(m).iloc[0]
    assert (row["vendorDependency"], row["vendorDependentProductName"]) == ("Yes", "openssl")
    assert "vendor" in row["plannedMilestones"].lower()


def test_resolved_weakness_in_the_period_is_a_closed_item(tmp_path):
    earlier = b.snapshot(tmp_path / "h1", collected_at="2026-10-15T06:00:00Z",
                         clusters=[b.cluster("aks-a")],
                         findings=[b.finding(A, "CVE-2024-0009"), b.finding(A, "CVE-2024-0001")])
    m = model_of(tmp_path, history=[earlier], findings=[b.finding(A, "CVE-2024-0001")])
    closed = m.tables.poam_closed
    assert list(closed["cve"]) == ["CVE-2024-0009"]
    assert list(items(m)["cve"]) == ["CVE-2024-0001"]
    assert "fixed 1" in closed.iloc[0]["comments"]
    assert m.poam.closed_items == 1
    write_poam(m, tmp_path / "pack")
    ws = openpyxl.load_workbook(tmp_path / "pack" / WORKBOOK)["Closed POA&M Items"]
    assert ws["A6"].value == closed.iloc[0]["poamId"] and ws["AD6"].value == "CVE-2024-0009"


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    return str(value)


def test_csv_equals_the_open_sheet_rows(tmp_path):
    m = model_of(tmp_path, findings=[b.finding(A, "CVE-2024-0001", "Critical"), b.finding(B2, "CVE-2024-0001"),
                                     b.finding(A, "CVE-2024-0002", "Low", title="=HYPERLINK(\"x\")"),
                                     b.finding(C, "CVE-2024-0003", status="NotApplicable", cause="Exempt")])
    write_poam(m, tmp_path / "pack")
    ws = openpyxl.load_workbook(tmp_path / "pack" / WORKBOOK)["Open POA&M Items"]
    sheet = [[_cell_text(v) for v in row] for row in ws.iter_rows(min_row=6, values_only=True)]
    with open(tmp_path / "pack" / CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    # the CSV neutralises text a spreadsheet would evaluate (a leading quote); the sheet keeps it as text
    rows = [[v[1:] if v.startswith("'=") else v for v in r] for r in rows]
    assert len(rows) == len(items(m)) == 3
    assert rows == sheet
    assert ws["A6"].value == items(m).iloc[0]["poamId"]


def test_render_twice_same_bytes(tmp_path):
    snap = b.snapshot(tmp_path / "s", clusters=[b.cluster("aks-a"), b.cluster("aks-b")],
                      findings=[b.finding(A, "CVE-2024-0001"), b.finding(B2, "CVE-2024-0002", "Low"),
                                b.finding(B2, "CVE-2024-0001", status="NotApplicable", cause="Exempt")])
    for out in ("p1", "p2"):   # two builds of the same snapshot, two renders
        write_poam(build_model(snap, RunConfig(), load_controls(), []), tmp_path / out)
    for rel in (WORKBOOK, CSV):
        assert (tmp_path / "p1" / rel).read_bytes() == (tmp_path / "p2" / rel).read_bytes(), rel


def test_asset_list_is_capped_below_the_excel_cell_limit_with_a_count():
    values = [f"/subscriptions/s/resourceGroups/rg/providers/x/managedClusters/c{i:05d} image r@sha256:{i}"
              for i in range(5000)]
    text = join_capped(values, "assets")
    assert len(text) <= CELL_TEXT_LIMIT and len(text) > ASSET_TEXT_LIMIT - 200
    shown = text.split("; ... and ")[0].split("; ")
    more = int(text.rsplit("... and ", 1)[1].split(" more")[0].replace(",", ""))
    assert len(shown) + more == 5000 and shown == values[:len(shown)]
    assert join_capped(values[:3], "assets") == "; ".join(values[:3])


def test_summary_and_readme_describe_the_poam(tmp_path):
    m = model_of(tmp_path, findings=[b.finding(A, "CVE-2024-0001"), b.finding(B2, "CVE-2024-0001"),
                                     b.finding(C, "CVE-2024-0003", status="NotApplicable", cause="Exempt")])
    s = summary_dict(m)["poam"]
    assert s == {"items": 2, "findings": 3, "open_items": 1, "deviation_items": 1, "overdue_items": 0,
                 "earliest_scheduled_completion": items(m).loc[items(m)["operationalRequirement"].eq("No"),
                                                               "scheduledCompletionDate"].min().strftime("%Y-%m-%d"),
                 "closed_items": 0}
    text = describe_file(WORKBOOK, m)
    assert "FedRAMP POA&M Template" in text and "2 open items" in text and "Open POA&M Items" in text
    assert "Pending" in describe_file(WORKBOOK, m)
    assert "same 31 headers" in describe_file(CSV, m)


def test_no_open_findings_gives_empty_sheets_with_headers(tmp_path):
    m = model_of(tmp_path, findings=[b.finding(A, "CVE-2024-0001", status="Healthy")])
    assert len(items(m)) == 0 and m.poam.items == 0 and m.poam.earliest_scheduled_completion is None
    write_poam(m, tmp_path / "pack")
    ws = openpyxl.load_workbook(tmp_path / "pack" / WORKBOOK)["Open POA&M Items"]
    assert [c.value for c in ws[5]] == TEMPLATE_HEADERS and ws["A6"].value is None
    assert (tmp_path / "pack" / CSV).read_text(encoding="utf-8").count("\n") == 1
