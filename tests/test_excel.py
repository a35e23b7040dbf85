"""The Excel workbook: sheets, tables, types, splitting, formula safety, determinism, golden content.

Most checks run on ``small_model()``, a ReportModel built by hand (no aggregation), so a
failure here points at the writer. One check renders a model aggregated from a snapshot.
The golden dump lives in tests/golden/workbook/; regenerate it with ``make golden``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from reportgen.aggregate.build import earliest_due, overdue_critical
from reportgen.aggregate.model import (
    CHANGE_COLUMNS, CLUSTER_COLUMNS, CONTROL_OWNER_COLUMNS, EXEMPTION_COLUMNS, FINDING_COLUMNS, POPULATION_COLUMNS,
    SAMPLE_COLUMNS, AuditSample, Changes, Collector, ControlDef, ControlResult, Coverage, DatasetStatus,
    DefenderCrossCheck, FindingsSummary, HistoryPoint, Ipe, IpeDataset, MonthlySla, OwnerResult, PeriodPopulation,
    Reconciliation, ReportMeta, ReportModel, ReportTables, RollForward, SlaRow,
)
from reportgen.render import excel, tables

GOLDEN_DIR = Path(__file__).parent / "golden" / "workbook"
UPDATE_GOLDEN = os.environ.get("REPORTGEN_UPDATE_GOLDEN") == "1"
GOLDEN_HEADER = "generated, do not edit — regenerate with `make golden`"

AS_OF = pd.Timestamp("2026-10-31T06:00:00Z")
SUB = "00000000-0000-0000-0000-0000000000aa"
POLICY = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
ASSIGNMENT = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/mcsb"
HOSTILE = ('=HYPERLINK("http://x","y")', "+cmd", "@SUM(A1)", "-2+3", "#N/A", "=1+1")


def cid(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.ContainerService/managedClusters/{name}"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _finding(**over) -> dict:
    row = {
        "state": "Open", "severity": "High", "cveId": "CVE-2024-0001", "title": "openssl flaw", "cvssScore": 7.5,
        "exploitable": False, "fixStatus": "FixAvailable", "fixable": True, "packageName": "openssl",
        "packageVersion": "3.0.1", "fixedVersion": "3.0.2", "registryHost": "contoso.azurecr.io",
        "repositoryName": "app/api", "imageDigest": "sha256:aaa", "imageTags": "1.0, latest", "clusterName": "aks-a",
        "resourceId": cid("aks-a"), "subscriptionId": SUB, "resourceGroup": "rg-app", "owner": "team-a",
        "ownerSource": "tag:resource", "firstSeen": utc("2026-08-01T06:00:00"), "dueDate": utc("2026-08-31T06:00:00"),
        "ageDays": 91, "overdue": True, "daysOverdue": 61, "exemption": "", "workloads": "ns/Deployment/api:api",
        "publishedDate": utc("2024-01-15T00:00:00"), "statusCode": "Unhealthy", "statusCause": "",
        "ageIsLowerBound": False, "lineageId": "L-00000000000000aa",
    }
    row.update(over)
    return row


def findings_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    for col in ("firstSeen", "dueDate", "publishedDate"):
        df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[us, UTC]")
    df["ageDays"] = df["ageDays"].astype("int64")
    df["daysOverdue"] = df["daysOverdue"].astype("Int64")
    df["overdue"] = df["overdue"].astype(bool)
    df["ageIsLowerBound"] = df["ageIsLowerBound"].astype(bool)
    return df


def _lineage(lineage_id: str, severity: str, **over) -> dict:
    row = {
        "lineageId": lineage_id, "severity": severity, "cveId": "CVE-2024-0001", "packageName": "openssl",
        "repository": "contoso.azurecr.io/app/api", "clusterName": "aks-a", "resourceId": cid("aks-a"),
        "owner": "team-a", "firstSeen": utc("2026-09-01T06:00:00"), "firstSeenSource": "sighting",
        "ageIsLowerBound": False, "dueDate": utc("2026-10-01T06:00:00"), "dueSource": "sla", "openAtStart": True,
        "openAtAsOf": True, "closed": pd.NaT, "closeReason": "", "slaVerdict": "open-overdue", "daysToFix": None,
        "digests": "sha256:aaa", "sightings": "2026-09-30T06:00Z snapshot open; 2026-10-31T06:00Z snapshot open",
        "exemption": "", "querySha256": "findings " + "ef" * 32,
    }
    row.update(over)
    return row


def population_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(POPULATION_COLUMNS))
    for col in ("firstSeen", "dueDate", "closed"):
        df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[us, UTC]")
    for col in ("ageIsLowerBound", "openAtStart", "openAtAsOf"):
        df[col] = df[col].astype(bool)
    df["daysToFix"] = df["daysToFix"].astype(float)
    return df


# The period population of small_model, worked by hand (severity: opening + new - closed = closing):
#   Critical 1 + 0 - 0 = 1 (L-a open, overdue)   High 1 + 1 - 2 = 0 (L-b fixed in time, L-c new and fixed late)
#   Medium 0 + 1 - 0 = 1 (L-d new, within SLA)  Low 1 + 0 - 1 = 0 (L-e closed by an exemption)
#   Total 3 + 2 - 3 = 2; closed: fixed 2, exempt 1; SLA met 1, missed 1, open-overdue 1, open-within 1: 50 %.
POPULATION = [
    _lineage("L-000000000000000a", "Critical", cveId="CVE-2024-9999", sightings=HOSTILE[0]),
    _lineage("L-000000000000000b", "High", cveId="CVE-2020-0001", closed=utc("2026-10-15T06:00:00"),
             openAtAsOf=False, closeReason="fixed", slaVerdict="met", daysToFix=20.5, firstSeen=utc("2026-09-24T18:00"),
             dueDate=utc("2026-10-24T18:00:00"), dueSource="governance"),
    _lineage("L-000000000000000c", "High", cveId="CVE-2026-0003", openAtStart=False, openAtAsOf=False,
             firstSeen=utc("2026-09-05T06:00:00"), dueDate=utc("2026-10-05T06:00:00"),
             closed=utc("2026-10-20T06:00:00"), closeReason="fixed", slaVerdict="missed", daysToFix=45.0),
    _lineage("L-000000000000000d", "Medium", cveId="CVE-2023-1111", openAtStart=False, ageIsLowerBound=True,
             firstSeen=utc("2026-10-01T00:00:00"), dueDate=utc("2026-12-30T00:00:00"), slaVerdict="open-within"),
    _lineage("L-000000000000000e", "Low", cveId="CVE-2022-2222", openAtAsOf=False, closed=utc("2026-10-31T06:00"),
             closeReason="exempt", slaVerdict="", exemption="Local exception RA-1 (approver ciso@contoso.com)"),
]


def period_of_small_model() -> PeriodPopulation:
    zero = RollForward(0, 0, 0, 0)
    return PeriodPopulation(
        period_start=utc("2026-10-01T00:00:00"), opening_as_of=utc("2026-09-30T06:00:00"), opening_run_id="run-prev",
        sightings=2, total=RollForward(3, 2, 3, 2),
        by_severity={"Critical": RollForward(1, 0, 0, 1), "High": RollForward(1, 1, 2, 0),
                     "Medium": RollForward(0, 1, 0, 1), "Low": RollForward(1, 0, 1, 0), "Unknown": zero},
        closed_by_reason={"fixed": 2, "exempt": 1, "out_of_scope": 0},
        sla={"met": 1, "missed": 1, "open_overdue": 1, "open_within": 1}, sla_attainment_pct=50.0,
        monthly=(MonthlySla("2026-10", "Critical", 0, 0, 0, None, None, None),
                 MonthlySla("2026-10", "High", 2, 1, 1, 50.0, 32.75, 32.75),
                 MonthlySla("2026-10", "All", 2, 1, 1, 50.0, 32.75, 32.75)))


def sample_of_small_model() -> tuple[AuditSample, pd.DataFrame]:
    """Two items drawn with seed 7: one per stratum of the two largest strata (by hand, not by the drawer)."""
    picked = population_frame([POPULATION[0], POPULATION[2]])
    keys = [hashlib.sha256(f"7:{lid}".encode()).hexdigest() for lid in picked["lineageId"]]
    items = picked.assign(item=[1, 2], stratum=["Critical / open-overdue", "High / missed"], drawKey=keys)
    sample = AuditSample(size=2, seed=7, drawn=2, population=5, method="Stratified by (severity, outcome); seed 7.",
                         strata=(("Critical / open-overdue", 1, 1), ("High / met", 1, 0), ("High / missed", 1, 1),
                                 ("Medium / open-within", 1, 0), ("Low / closed-exempt", 1, 0)))
    return sample, items[list(SAMPLE_COLUMNS)]


def ipe_of_small_model() -> Ipe:
    return Ipe(
        datasets=(IpeDataset("findings", "complete", "ef" * 32, 5, 5, 1, 1, 1, "complete: rows = totalRecords"),
                  IpeDataset("finding_history", "skipped", None, 0, None, 0, None, None,
                             "skipped: no Log Analytics workspace configured")),
        reconciliations=(Reconciliation("PV.6 failed resources", 1, 1, 0, "the same"),
                         Reconciliation("Assessed clusters", 2, 3, -1, "Defender counts a deleted cluster " + HOSTILE[5])),
        collector=Collector("tenant-1", "00000000-0000-0000-0000-0000000000b1", None, "auditor@contoso.com", "user",
                            AS_OF, "0.1.0", "test", "Read from the access token's claims; not verified."),
        render_tool_version="0.1.0")


def small_model(findings: pd.DataFrame | None = None) -> ReportModel:
    """Two controls, three owners, five findings (one of each state and hostile text), history of two months."""
    ds6 = ControlDef("DS-6", "Enforce security of workload throughout DevOps lifecycle", "Workloads are secure.",
                     "Policy states of group DS-6.", "Azure_Security_Benchmark_v3.0_DS-6", "DS.6",
                     "Microsoft-cloud-security-benchmark")
    pv6 = ControlDef("PV-6", "Rapidly and automatically remediate vulnerabilities", "Fix fast.",
                     "Policy states of group PV-6 and SLA.", "Azure_Security_Benchmark_v3.0_PV-6", "PV.6",
                     "Microsoft-cloud-security-benchmark", remediation_timeliness=True)
    controls = (
        ControlResult(ds6, "Failed", 3, 1, 1, 1, 0, 0, 66.67, 100.0, DefenderCrossCheck("Failed", 1, 2, 1, 0)),
        ControlResult(pv6, "Failed", 3, 1, 1, 1, 0, 0, 66.67, None, DefenderCrossCheck("No data", 0, 0, 0, 0)),
    )
    def sev(c=0, h=0, m=0, lo=0, u=0) -> dict[str, int]:
        return {"Critical": c, "High": h, "Medium": m, "Low": lo, "Unknown": u}
    owners = (
        OwnerResult("team-a", "tag:resource", 1, 1, 2, sev(c=1, h=1), 2, 1),
        OwnerResult(HOSTILE[0], "governance", 1, 0, 1, sev(m=1), 0, 0),
        OwnerResult("Unassigned", "fallback", 1, 0, 0, sev(), 0, 0),
    )
    if findings is None:
        findings = findings_frame([
            _finding(severity="Critical", cveId="CVE-2024-9999", cvssScore=9.8, exploitable=True, title=HOSTILE[1]),
            _finding(),
            _finding(severity="Medium", cveId="CVE-2023-1111", owner=HOSTILE[0], ownerSource="governance",
                     clusterName="aks-b", resourceId=cid("aks-b"), overdue=False, daysOverdue=None, ageDays=3,
                     dueDate=utc("2026-12-01T00:00:00"), imageTags=HOSTILE[2], workloads=HOSTILE[3],
                     cvssScore=float("nan"), publishedDate=None, title="line one\nline\x07two"),
            _finding(state="Exempt", severity="Low", cveId="CVE-2022-2222", overdue=False, daysOverdue=None,
                     exemption="Local exception RA-1: accepted", fixStatus="NotAvailable", fixable=False,
                     fixedVersion="", statusCode=HOSTILE[4]),
            _finding(state="Healthy", severity="Unknown", cveId="CVE-2021-3333", overdue=False, daysOverdue=None,
                     statusCode="Healthy", title=HOSTILE[5]),
        ])
    clusters = pd.DataFrame([
        {"name": "aks-a", "id": cid("aks-a"), "subscriptionId": SUB, "resourceGroup": "rg-app",
         "location": "westeurope", "owner": "team-a", "ownerSource": "tag:resource", "ownerTag": "team-a",
         "ownerConflict": False, "assessed": True,
         "assessmentStatus": "Unhealthy", "policyState": "NonCompliant", "exempted": False, "openFindings": 2,
         "critical": 1, "high": 1, "medium": 0, "low": 0, "unknown": 0, "overdue": 2},
        {"name": "aks-b", "id": cid("aks-b"), "subscriptionId": SUB, "resourceGroup": "rg-app",
         "location": "westeurope", "owner": HOSTILE[0], "ownerSource": "governance", "ownerTag": "team-b",
         "ownerConflict": True, "assessed": True,
         "assessmentStatus": "Unhealthy", "policyState": "Compliant", "exempted": True, "openFindings": 1,
         "critical": 0, "high": 0, "medium": 1, "low": 0, "unknown": 0, "overdue": 0},
        {"name": "aks-c", "id": cid("aks-c"), "subscriptionId": SUB, "resourceGroup": "rg-app",
         "location": "northeurope", "owner": "Unassigned", "ownerSource": "fallback", "ownerTag": "",
         "ownerConflict": False, "assessed": False,
         "assessmentStatus": "Not assessed", "policyState": "Exempt", "exempted": False, "openFindings": 0,
         "critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0, "overdue": 0},
    ], columns=list(CLUSTER_COLUMNS))
    exemptions = pd.DataFrame([
        {"kind": "Policy exemption", "name": "ex-old", "category": "Waiver", "scope": cid("aks-b"),
         "displayName": "old waiver", "reason": "@accepted", "approver": "", "ticket": "",
         "expiresOn": utc("2026-10-01T00:00:00"), "status": "Expired", "daysToExpiry": -30, "matchedFindings": 1,
         "appliesToPolicy": True, "applicability": "exempts assignment mcsb, every definition", "noExpiry": False,
         "requester": "", "otherMetadata": "", "policyAssignmentId": ASSIGNMENT, "policyDefinitionReferenceIds": "",
         "createdBy": "alice@contoso.com", "createdAt": utc("2026-04-01T09:00:00"), "lastModifiedBy": "",
         "lastModifiedAt": pd.NaT},
        {"kind": "Local exception", "name": "RA-1", "category": "Risk acceptance", "scope": "cve=CVE-2022-2222",
         "displayName": "RA-1", "reason": "accepted", "approver": "ciso@contoso.com", "ticket": "SEC-1",
         "expiresOn": utc("2026-11-15T00:00:00"), "status": "Expiring", "daysToExpiry": 15, "matchedFindings": 1,
         "appliesToPolicy": True, "applicability": "local exception", "noExpiry": False},
        {"kind": "Policy exemption", "name": "ex-forever", "category": "Mitigated", "scope": f"/subscriptions/{SUB}",
         "displayName": "forever", "reason": "", "approver": "", "ticket": "", "expiresOn": pd.NaT,
         "status": "Active", "daysToExpiry": None, "matchedFindings": 0, "appliesToPolicy": False,
         "applicability": "not applicable to this policy: reference ids name only otherPolicy", "noExpiry": True,
         "requester": "bob@contoso.com", "otherMetadata": '{"costCenter": "=42"}', "policyAssignmentId": ASSIGNMENT,
         "policyDefinitionReferenceIds": "otherPolicy", "createdBy": "bob@contoso.com",
         "createdAt": utc("2026-05-02T10:00:00"), "lastModifiedBy": "carol@contoso.com",
         "lastModifiedAt": utc("2026-06-03T11:30:00")},
    ], columns=list(EXEMPTION_COLUMNS))
    for col in ("expiresOn", "createdAt", "lastModifiedAt"):
        exemptions[col] = pd.to_datetime(exemptions[col], utc=True)
    control_owner = pd.DataFrame([
        {"control": "DS-6", "owner": "team-a", "resources": 1, "compliant": 0, "nonCompliant": 1, "exempt": 0,
         "conflict": 0, "compliancePct": 0.0, "openFindings": 2, "overdue": 2},
        {"control": "DS-6", "owner": HOSTILE[0], "resources": 1, "compliant": 1, "nonCompliant": 0, "exempt": 0,
         "conflict": 0, "compliancePct": 100.0, "openFindings": 1, "overdue": 0},
        {"control": "PV-6", "owner": "team-a", "resources": 1, "compliant": 0, "nonCompliant": 1, "exempt": 0,
         "conflict": 0, "compliancePct": 66.67, "openFindings": 2, "overdue": 2},
    ], columns=list(CONTROL_OWNER_COLUMNS))
    changes = pd.DataFrame([
        {"change": "New", "severity": "Critical", "cveId": "CVE-2024-9999", "packageName": "openssl",
         "repositoryName": "app/api", "imageDigest": "sha256:aaa", "clusterName": "aks-a", "resourceId": cid("aks-a"),
         "owner": "team-a", "lineageId": "L-000000000000000a", "previousDigests": ""},
        {"change": "Resolved", "severity": "High", "cveId": "CVE-2020-0001", "packageName": "zlib",
         "repositoryName": "app/web", "imageDigest": "sha256:bbb", "clusterName": "aks-b", "resourceId": cid("aks-b"),
         "owner": HOSTILE[0], "lineageId": "L-000000000000000b", "previousDigests": ""},
        {"change": "Rebuilt, still vulnerable", "severity": "Medium", "cveId": "CVE-2023-1111",
         "packageName": "openssl", "repositoryName": "app/api", "imageDigest": "sha256:ccc", "clusterName": "aks-b",
         "resourceId": cid("aks-b"), "owner": HOSTILE[0], "lineageId": "L-000000000000000d",
         "previousDigests": "sha256:aaa"},
    ], columns=list(CHANGE_COLUMNS))
    changes_by_owner = pd.DataFrame([{"owner": "team-a", "new": 1, "resolved": 0, "persisting": 1},
                                     {"owner": HOSTILE[0], "new": 0, "resolved": 1, "persisting": 1}])
    sample, items = sample_of_small_model()
    meta = ReportMeta(
        organization="Contoso Ltd", title="Container Image Vulnerability Evidence Pack", tool_version="0.1.0",
        run_id="run-test", snapshot_fingerprint="ab" * 32, as_of=AS_OF, period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31), source="test", cloud="AzureCloud", tenant_id="tenant-1",
        scope_subscriptions=(SUB,), scope_management_groups=(), sla_days={"Critical": 15, "High": 30, "Medium": 90,
                                                                           "Low": 180},
        owner_tag_keys=("owner",), owner_fallback="Unassigned",
        policy_definition_ids=(POLICY,),
        assessment_keys=("c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5",), pdf_detail_rows=200, findings_source="sample",
    )
    summary = FindingsSummary(open=3, exempt=1, by_severity=sev(c=1, h=1, m=1), fixable=3, exploitable=1, overdue=2,
                              overdue_by_severity=sev(c=1, h=1), duplicates_dropped=0, median_age_days=91.0,
                              median_time_to_fix_days=None)
    return ReportModel(
        meta=meta, controls=controls, owners=owners, findings=summary,
        sla=(SlaRow("Critical", 15, 1, 0, 1), SlaRow("High", 30, 1, 0, 1), SlaRow("Medium", 90, 1, 1, 0),
             SlaRow("Low", 180, 0, 0, 0), SlaRow("Unknown", None, 0, 0, 0)),
        coverage=Coverage(3, 2, (cid("aks-c"),), 1, 1, ("northeurope", "westeurope")),
        changes=Changes(utc("2026-09-30T06:00:00"), "run-prev", 1, 1, 2, rebuilt_still_vulnerable=1),
        datasets=(
            DatasetStatus("findings", "complete", 5, 1, "cd" * 32, "ef" * 32, (),
                          "// dataset: findings\n=securityresources | take 5"),
            DatasetStatus("finding_history", "skipped", 0, 0, "00" * 32, None, ("no workspace configured",), None),
        ),
        history=(
            HistoryPoint("2026-09", utc("2026-09-30T06:00:00"), {"DS-6": 100.0, "PV-6": 100.0},
                         sev(h=1, m=1), 0, None, None),
            HistoryPoint("2026-10", AS_OF, {"DS-6": 66.67, "PV-6": 66.67}, sev(c=1, h=1, m=1), 2, 1, 1),
        ),
        insights=("DS-6 is at 66.67% compliance.", "+1 owner holds all overdue critical findings."),
        tables=ReportTables(findings=findings, clusters=clusters, exemptions=exemptions, control_owner=control_owner,
                            changes=changes, changes_by_owner=changes_by_owner,
                            overdue_critical=overdue_critical(findings), period_population=population_frame(POPULATION),
                            audit_sample=items),
        earliest_due=earliest_due(findings),
        period=period_of_small_model(), ipe=ipe_of_small_model(), audit_sample=sample,
    )


# --- helpers ---------------------------------------------------------------------------------

SHEETS = ("README", "Summary", "Controls", "Owners", "Control x Owner", "Findings", "Clusters", "Exemptions",
          "Changes", "Changes by owner", "Roll-forward", "SLA by month", "Period population", "Audit sample",
          "History", "Completeness (IPE)", "Reconciliation", "Queries")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[ReportModel, Path]:
    model = small_model()
    path = tmp_path_factory.mktemp("wb") / "evidence-pack.xlsx"
    excel.write_workbook(model, path)
    return model, path


def readme_section(wb, heading: str) -> dict[str, object]:
    """Label -> value of the README rows under ``heading`` (a row with a label only), up to the next one."""
    out, inside = {}, False
    for label, *rest in wb["README"].iter_rows(values_only=True):
        value = rest[0] if rest else None
        if label and value is None:
            inside = label == heading
        elif inside and label:
            out[label] = value
    return out


def data_rows(ws) -> list[tuple]:
    return list(ws.iter_rows(min_row=2, values_only=True))


def sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/sheet")}


def spec_of(model: ReportModel, sheet: str) -> tables.TableSpec:
    return next(s for s in tables.table_specs(model) if s.sheet == sheet)


# --- structure -------------------------------------------------------------------------------

def test_every_sheet_is_present_with_a_table_a_frozen_header_and_the_spec_headers(written):
    model, path = written
    wb = openpyxl.load_workbook(path)
    assert tuple(wb.sheetnames) == SHEETS
    names = set()
    for spec in tables.table_specs(model):
        ws = wb[spec.sheet]
        assert [c.value for c in ws[1]] == list(spec.headers)
        assert ws.freeze_panes == "A2"
        (table,) = ws.tables.values()
        assert table.displayName == spec.table and table.displayName not in names
        names.add(table.displayName)
        last = openpyxl.utils.get_column_letter(len(spec.headers))
        assert table.ref == f"A1:{last}{max(len(spec), 1) + 1}" == table.autoFilter.ref
        assert [c.name for c in table.tableColumns] == list(spec.headers)
        assert table.tableStyleInfo.name == excel.TABLE_STYLE
        assert len(data_rows(ws)) == len(spec)
        widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width
                  for i in range(1, len(spec.headers) + 1)]
        assert all(excel.MIN_WIDTH <= w <= excel.MAX_WIDTH for w in widths)


def test_package_parts_are_well_formed_and_cells_use_existing_styles(written):
    from xml.etree import ElementTree
    _, path = written
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist() if n.endswith((".xml", ".rels"))}
    trees = {n: ElementTree.fromstring(data) for n, data in parts.items()}   # raises on malformed XML
    xfs = len(trees["xl/styles.xml"].find(f"{ns}cellXfs"))
    for name, tree in trees.items():
        if name.startswith("xl/worksheets/sheet"):
            rows = [int(r.get("r")) for r in tree.iter(f"{ns}row")]
            assert rows == sorted(rows) and len(rows) == len(set(rows)), name
            assert all(int(c.get("s", 0)) < xfs for c in tree.iter(f"{ns}c")), name


def test_every_model_column_is_shown_in_excel_and_csv():
    # the audit sample reads the population's CSV back by these headers (audit_sample.table_headers)
    assert tables.MODEL_COLUMNS["period_population"][0] == POPULATION_COLUMNS
    assert tables.MODEL_COLUMNS["audit_sample"][0] == SAMPLE_COLUMNS
    for table, (model_columns, spec_columns) in tables.MODEL_COLUMNS.items():
        assert [c.key for c in spec_columns] == list(model_columns), table


def test_findings_sheet_holds_every_model_row_in_model_order(written):
    model, path = written
    ws = openpyxl.load_workbook(path)["Findings"]
    rows = data_rows(ws)
    assert len(rows) == len(model.tables.findings) == 5
    assert [r[2] for r in rows] == list(model.tables.findings["cveId"])


def test_cells_are_real_dates_numbers_booleans_and_percentages(written):
    model, path = written
    wb = openpyxl.load_workbook(path)
    f = wb["Findings"]
    headers = [c.value for c in f[1]]
    row = {h: c for h, c in zip(headers, f[2])}
    assert row["First seen (UTC)"].value == datetime(2026, 8, 1, 6, 0)
    assert row["First seen (UTC)"].is_date and row["First seen (UTC)"].number_format == "yyyy-mm-dd hh:mm"
    assert row["Published"].value == datetime(2024, 1, 15) and row["Published"].number_format == "yyyy-mm-dd"
    assert row["CVSS"].value == 9.8 and row["CVSS"].data_type == "n"
    assert row["Age (days)"].value == 91 and row["Days overdue"].value == 61
    assert row["Overdue"].value is True and row["Overdue"].data_type == "b"
    missing = {h: c.value for h, c in zip(headers, f[4])}   # the Medium finding: no CVSS, not overdue
    assert missing["CVSS"] is None and missing["Days overdue"] is None and missing["Published"] is None
    c = wb["Controls"]
    assert c["D2"].value == pytest.approx(0.6667) and c["D2"].number_format == "0.00%"
    assert c["L2"].value == pytest.approx(-33.33)          # change in points, a negative number
    assert wb["Exemptions"]["K2"].value == -30
    assert wb["History"]["B3"].value == datetime(2026, 10, 31, 6, 0)
    assert wb["README"]["B7"].value == datetime(2026, 10, 31, 6, 0)


def test_hostile_text_is_stored_as_text_never_as_a_formula(tmp_path):
    model = small_model()
    path = tmp_path / "evil.xlsx"
    excel.write_workbook(replace(model, meta=replace(model.meta, organization=HOSTILE[0], title=HOSTILE[2])), path)
    wb = openpyxl.load_workbook(path)
    seen = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if cell.value in HOSTILE:
                    assert cell.data_type == "s", (ws.title, cell.coordinate)
                    assert cell.quotePrefix, (ws.title, cell.coordinate)
                    seen.setdefault(cell.value, []).append(ws.title)
    assert set(seen) == set(HOSTILE)
    assert {"Owners", "Findings", "Clusters", "Changes", "README"} <= {t for ts in seen.values() for t in ts}
    for name, xml in sheet_xml(path).items():
        assert not re.search(r"<f[ >/]", xml), name      # no formula element anywhere
        assert 't="e"' not in xml and 't="str"' not in xml, name
    # every hostile value sits in an inline-string cell
    xml = sheet_xml(path)["xl/worksheets/sheet6.xml"]
    assert '<t>=HYPERLINK("http://x","y")</t>' in xml and "<t>+cmd</t>" in xml and "<t>@SUM(A1)</t>" in xml


def test_conditional_formatting_highlights_overdue_and_critical_rows(written):
    _, path = written
    wb = openpyxl.load_workbook(path)
    ws = wb["Findings"]
    headers = [c.value for c in ws[1]]
    overdue = openpyxl.utils.get_column_letter(headers.index("Overdue") + 1)
    severity = openpyxl.utils.get_column_letter(headers.index("Severity") + 1)
    last = openpyxl.utils.get_column_letter(len(FINDING_COLUMNS))   # the rules cover every column of the rows
    rules = {(str(cf.sqref), r.formula[0], r.type) for cf in ws.conditional_formatting for r in cf.rules}
    assert (f"A2:{last}6", f"${overdue}2=TRUE", "expression") in rules
    assert (f"A2:{last}6", f'${severity}2="Critical"', "expression") in rules
    for cf in ws.conditional_formatting:
        for r in cf.rules:
            assert r.dxf is not None and (r.dxf.fill is not None or r.dxf.font is not None)
    assert any(True for _ in wb["Changes"].conditional_formatting)
    assert any(True for _ in wb["Exemptions"].conditional_formatting)


def test_empty_tables_are_valid_tables_with_one_empty_row(tmp_path):
    model = small_model(findings=findings_frame([]))
    empty = replace(model, changes=None, tables=replace(
        model.tables, changes=model.tables.changes.iloc[0:0], changes_by_owner=model.tables.changes_by_owner.iloc[0:0]))
    path = tmp_path / "empty.xlsx"
    excel.write_workbook(empty, path)
    wb = openpyxl.load_workbook(path)
    for sheet, last in (("Findings", openpyxl.utils.get_column_letter(len(FINDING_COLUMNS))), ("Changes", "K"), ("Changes by owner", "D")):
        ws = wb[sheet]
        (table,) = ws.tables.values()
        assert table.ref == f"A1:{last}2"
        assert data_rows(ws) == [] and not list(ws.conditional_formatting)


def test_findings_continue_on_numbered_sheets_past_the_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(excel, "SHEET_ROW_LIMIT", 3)    # header + 2 rows per sheet
    model = small_model()
    path = tmp_path / "split.xlsx"
    excel.write_workbook(model, path)
    wb = openpyxl.load_workbook(path)
    parts = [n for n in wb.sheetnames if n.startswith("Findings")]
    assert parts == ["Findings", "Findings (2)", "Findings (3)"]
    rows = [r for n in parts for r in data_rows(wb[n])]
    assert [r[2] for r in rows] == list(model.tables.findings["cveId"])
    assert [len(data_rows(wb[n])) for n in parts] == [2, 2, 1]
    assert [next(iter(wb[n].tables.values())).displayName for n in parts] == ["Findings", "Findings2", "Findings3"]
    assert next(iter(wb["Findings (3)"].tables.values())).ref == f"A1:{openpyxl.utils.get_column_letter(len(FINDING_COLUMNS))}2"
    for n in parts:
        assert [c.value for c in wb[n][1]] == list(spec_of(model, "Findings").headers)
        assert wb[n].freeze_panes == "A2"
    all_tables = [t.displayName for ws in wb.worksheets for t in ws.tables.values()]
    assert len(all_tables) == len(set(all_tables))
    readme = [r[0] for r in wb["README"].iter_rows(values_only=True)]
    assert "Findings (2)" in readme and "Findings (3)" in readme


def test_long_text_is_truncated_to_the_cell_limit_and_control_characters_replaced(tmp_path):
    long_title = "A" * 40_000
    model = small_model(findings=findings_frame([_finding(title=long_title, fixStatus="bad\x00char")]))
    path = tmp_path / "long.xlsx"
    excel.write_workbook(model, path)
    row = openpyxl.load_workbook(path)["Findings"][2]
    assert len(row[3].value) == excel.CELL_TEXT_LIMIT
    assert row[3].value.endswith("the full text is in data/findings.csv]")
    assert row[6].value == "bad\ufffdchar"


def test_readme_states_provenance_sheets_and_rules(written):
    model, path = written
    rows = {r[0]: r[1] for r in openpyxl.load_workbook(path)["README"].iter_rows(values_only=True) if r[0]}
    assert rows["As of (UTC)"] == datetime(2026, 10, 31, 6, 0)
    assert model.meta.snapshot_fingerprint in rows["Snapshot fingerprint"]
    assert rows["Tool"] == "reportgen 0.1.0" and rows["Snapshot run id"] == "run-test"
    assert rows["Report period"] == "2026-10-01 to 2026-10-31"
    for sheet in SHEETS:
        assert sheet in rows, sheet
    assert "100 x (compliant + exempt)" in rows["Compliance formula"]
    assert "NonCompliant 300 > Compliant 200 > Conflict 100 > Exempt 50" in rows["Roll-up weights"]
    assert rows["SLA Critical"] == "15 days" and rows["SLA Unknown"] == "no SLA"
    assert "governance" in rows["Owner source"] and "fallback" in rows["Owner source"]
    for key in ("Open finding", "Exempt finding", "First seen", "Due date", "Overdue", "Coverage", "Changes"):
        assert rows[key], key


def test_same_model_gives_a_byte_identical_file_with_as_of_stamps(tmp_path, written):
    model, first = written
    second = tmp_path / "again.xlsx"
    excel.write_workbook(small_model(), second)
    assert hashlib.sha256(first.read_bytes()).hexdigest() == hashlib.sha256(second.read_bytes()).hexdigest()
    with zipfile.ZipFile(second) as z:
        assert {i.date_time for i in z.infolist()} == {(2026, 10, 31, 6, 0, 0)}
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    props = openpyxl.load_workbook(second).properties
    assert props.created == props.modified == datetime(2026, 10, 31, 6, 0)
    assert props.creator == "reportgen 0.1.0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.xlsx"]   # no partial files left behind


def test_a_model_aggregated_from_a_snapshot_renders_every_finding(tmp_path):
    from reportgen import pipeline
    from reportgen.config import RunConfig
    from tests import builders as b
    a, c = b.cluster_id("a"), b.cluster_id("c")
    snap = b.write(tmp_path / "snap", clusters=[b.cluster("a", {"owner": "=cmd|' /C calc'!A0"}), b.cluster("c")],
                   policy_states=[b.policy_state(a, "NonCompliant"), b.policy_state(c, "Compliant")],
                   assessments=[b.assessment(a)],
                   findings=[b.finding(a, "CVE-1", "Critical"), b.finding(a, "CVE-2", "Low", title=HOSTILE[0]),
                             b.finding(a, "CVE-3", "High", status="Healthy")])
    model = pipeline.build(snap, RunConfig())
    path = tmp_path / "pack.xlsx"
    excel.write_workbook(model, path)
    wb = openpyxl.load_workbook(path)
    assert len(data_rows(wb["Findings"])) == len(model.tables.findings) == 3
    assert len(data_rows(wb["Clusters"])) == len(model.tables.clusters)
    controls = {r[0]: r for r in data_rows(wb["Controls"])}
    for c in model.controls:
        assert controls[c.id][3] == pytest.approx(c.compliance_pct / 100)
    owners = [r[0] for r in data_rows(wb["Owners"])]
    assert owners == [o.owner for o in model.owners]
    for xml in sheet_xml(path).values():
        assert not re.search(r"<f[ >/]", xml)


def _scenario_workbook(tmp_path: Path, make) -> tuple[ReportModel, openpyxl.Workbook]:
    from reportgen import pipeline
    from reportgen.config import RunConfig
    model = pipeline.build(make(tmp_path / "snap"), RunConfig())
    path = tmp_path / "pack.xlsx"
    excel.write_workbook(model, path)
    return model, openpyxl.load_workbook(path)


def _by_header(ws) -> list[dict]:
    header, *rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(header, r)) for r in rows]


def test_a_control_without_evidence_is_an_empty_cell_with_status_no_data(tmp_path):
    from tests import builders as b
    model, wb = _scenario_workbook(tmp_path, b.no_policy_evidence)
    controls = _by_header(wb["Controls"])
    assert [(r["Control"], r["Status"], r["Compliance %"], r["Previous compliance %"], r["Change (points)"])
            for r in controls] == [("DS-6", "No data", None, None, None), ("PV-6", "No data", None, None, None)]
    summary = {r["Figure"]: r for r in _by_header(wb["Summary"])}
    for cid in ("DS-6", "PV-6"):
        row = summary[f"{cid} compliance"]
        assert row["Percent"] is None and row["Detail"].startswith("No data (no cluster has a counted policy state")
    (month,) = _by_header(wb["History"])
    assert (month["DS-6 compliance %"], month["DS-6 status"], month["PV-6 compliance %"], month["PV-6 status"]) == (
        None, "No data", None, "No data")


def test_clusters_sheet_shows_the_derived_verdict_beside_the_policy_state(tmp_path):
    from tests import builders as b
    model, wb = _scenario_workbook(tmp_path, b.retired_assessment)
    rows = {r["Cluster"]: r for r in _by_header(wb["Clusters"])}
    assert {n: (r["Policy state"], r["Assessment status"], r["Derived verdict (from findings)"],
                r["Findings but no policy assessment"]) for n, r in rows.items()} == {
        "aks-assessed": ("Compliant", "Healthy", "No findings", False),
        "aks-both": ("NonCompliant", "Unhealthy", "Unhealthy", False),
        "aks-empty": ("NonCompliant", "Not assessed", "No evidence", False),
        "aks-ind-clean": ("Compliant", "Not assessed", "Healthy", True),
        "aks-ind-open": ("Compliant", "Not assessed", "Unhealthy", True),
    }
    assert rows["aks-both"]["Findings source"] == "individual-recommendations, legacy-subassessments"
    findings = _by_header(wb["Findings"])
    assert {r["Source"] for r in findings} == {"individual-recommendations"}
    open_ = next(r for r in findings if r["CVE"] == "CVE-2026-1000")
    assert open_["Workloads"] == "ns/Deployment/api:api; ns/Deployment/jobs:worker"


def test_readme_and_summary_sheets_state_every_gap(tmp_path):
    from tests import builders as b
    model, wb = _scenario_workbook(tmp_path, b.retired_assessment)
    readme = [r for r in wb["README"].iter_rows(values_only=True) if r and r[0]]
    start = next(i for i, r in enumerate(readme) if r[0] == "Evidence gaps")
    gaps = {r[0]: r[1] for r in readme[start + 1:]}
    assert "2 of 5 clusters have vulnerability findings" in gaps["Retired assessment"]
    assert b.UNREADABLE_SUB in gaps["1 subscription could not be read."]
    assert "HTTP 403 from the workspace" in gaps["Dataset finding_history failed."]
    assert gaps["Evidence gap (future-kind)."] == "A gap this version of reportgen does not know yet."
    rules = {r[0]: r[1] for r in readme}
    assert "No data" in rules["Compliance formula"] and "never 0 or 100" in rules["Compliance formula"]
    assert "Unhealthy when the cluster has an open finding" in rules["Derived verdict"]
    summary = [r for r in _by_header(wb["Summary"]) if r["Area"] == "Gaps"]
    assert [r["Figure"] for r in summary] == [g.title for g in model.gaps]
    datasets = {r["Dataset"]: r["Status"] for r in _by_header(wb["Queries"])}
    assert datasets["finding_history"] == "failed"


# --- the period population, its roll-forward, the sample and the IPE (issue 10) ---------------

def test_roll_forward_sheet_reconciles_per_severity_and_in_total(written):
    _, path = written
    rows = _by_header(openpyxl.load_workbook(path)["Roll-forward"])
    assert [(r["Severity"], r["Opening"], r["New"], r["Closed"], r["Closing"],
             r["Reconciles (opening + new - closed = closing)"]) for r in rows] == [
        ("Critical", 1, 0, 0, 1, True), ("High", 1, 1, 2, 0, True), ("Medium", 0, 1, 0, 1, True),
        ("Low", 1, 0, 1, 0, True), ("Unknown", 0, 0, 0, 0, True), ("Total", 3, 2, 3, 2, True)]
    total = rows[-1]
    assert (total["Closed: fixed"], total["Closed: exempt"], total["Closed: out of scope"]) == (2, 1, 0)
    assert (total["SLA met"], total["SLA missed"], total["Open, overdue"], total["Open, within SLA"]) == (1, 1, 1, 1)
    assert total["SLA attainment %"] == pytest.approx(0.5)     # 100 x 1 / (1 + 1) %, an Excel percentage
    assert all(r["SLA met"] is None for r in rows[:-1])        # the model has verdicts in total only


def test_a_roll_forward_that_does_not_reconcile_says_so_and_is_highlighted(tmp_path):
    model = small_model()
    broken = replace(model.period, total=RollForward(3, 2, 3, 9))
    path = tmp_path / "broken.xlsx"
    excel.write_workbook(replace(model, period=broken), path)
    wb = openpyxl.load_workbook(path)
    assert _by_header(wb["Roll-forward"])[-1]["Reconciles (opening + new - closed = closing)"] is False
    rules = [r.formula[0] for cf in wb["Roll-forward"].conditional_formatting for r in cf.rules]
    assert rules == ["$F2=FALSE"]
    closing = next(r for r in _by_header(wb["Summary"]) if r["Area"] == "Period population" and r["Figure"] == "Closing")
    assert closing["Number"] == 9 and "DOES NOT reconcile" in closing["Detail"]


def test_sla_by_month_sheet_shows_every_month_and_severity_of_the_model(written):
    _, path = written
    rows = _by_header(openpyxl.load_workbook(path)["SLA by month"])
    assert [tuple(r.values()) for r in rows] == [
        ("2026-10", "Critical", 0, 0, 0, None, None, None),
        ("2026-10", "High", 2, 1, 1, 0.5, 32.75, 32.75),
        ("2026-10", "All", 2, 1, 1, 0.5, 32.75, 32.75)]


def test_period_population_sheet_holds_every_lineage_with_missed_and_overdue_highlighted(written):
    model, path = written
    ws = openpyxl.load_workbook(path)["Period population"]
    rows = _by_header(ws)
    assert [r["Lineage"] for r in rows] == list(model.tables.period_population["lineageId"])
    assert [r["SLA verdict"] for r in rows] == ["open-overdue", "met", "missed", "open-within", None]
    fixed = rows[1]
    assert (fixed["Closed (UTC)"], fixed["Close reason"], fixed["Days to fix"], fixed["Due date source"]) == (
        datetime(2026, 10, 15, 6, 0), "fixed", 20.5, "governance")
    assert [r["Age is a lower bound"] for r in rows] == [False, False, False, True, False]
    assert [r["Open at period start"] for r in rows] == [True, True, False, False, True]
    verdict = openpyxl.utils.get_column_letter(list(rows[0]).index("SLA verdict") + 1)
    rules = {r.formula[0] for cf in ws.conditional_formatting for r in cf.rules}
    assert rules == {f'${verdict}2="missed"', f'${verdict}2="open-overdue"'}


def test_a_population_past_the_row_limit_continues_on_numbered_sheets(tmp_path, monkeypatch):
    monkeypatch.setattr(excel, "SHEET_ROW_LIMIT", 3)
    model = small_model()
    path = tmp_path / "split.xlsx"
    excel.write_workbook(model, path)
    wb = openpyxl.load_workbook(path)
    parts = [n for n in wb.sheetnames if n.startswith("Period population")]
    assert parts == ["Period population", "Period population (2)", "Period population (3)"]
    assert [r[0] for n in parts for r in data_rows(wb[n])] == list(model.tables.period_population["lineageId"])


def test_audit_sample_sheet_has_one_row_per_card_and_the_readme_the_method_and_seed(written):
    model, path = written
    wb = openpyxl.load_workbook(path)
    rows = _by_header(wb["Audit sample"])
    assert [(r["Item"], r["Stratum"], r["Lineage"]) for r in rows] == [
        (1, "Critical / open-overdue", "L-000000000000000a"), (2, "High / missed", "L-000000000000000c")]
    assert rows[0]["Draw key"] == hashlib.sha256(b"7:L-000000000000000a").hexdigest()
    section = readme_section(wb, "Audit sample")
    assert section["Seed"] == "7" and section["Method"] == model.audit_sample.method
    assert section["Size"] == "2 asked for, 2 drawn from a population of 5 lineages"
    assert section["Stratum High / met"] == "population 1, drawn 0"
    sheets = readme_section(wb, "Sheets")
    assert "seed 7" in sheets["Audit sample"] and "2 of the 5 lineages" in sheets["Audit sample"]


def test_completeness_sheet_lists_datasets_then_who_collected_and_reconciliation_its_differences(written):
    _, path = written
    wb = openpyxl.load_workbook(path)
    rows = _by_header(wb["Completeness (IPE)"])
    datasets = [r for r in rows if r["Record"] == "Dataset"]
    assert [(r["Name"], r["Status"], r["Rows"], r["Azure totalRecords"], r["Pages"], r["Subscriptions asked for"],
             r["Subscriptions seen"]) for r in datasets] == [("findings", "complete", 5, 5, 1, 1, 1),
                                                              ("finding_history", "skipped", 0, None, 0, None, None)]
    who = {r["Name"]: r["Value"] for r in rows if r["Record"] == "Collected by"}
    assert who == {"Tenant id": "tenant-1", "Object id": "00000000-0000-0000-0000-0000000000b1",
                   "App id": "not recorded", "User principal name": "auditor@contoso.com", "Identity type": "user",
                   "Collected at": "2026-10-31T06:00:00Z", "Collecting tool": "0.1.0", "Source": "test",
                   "Rendering tool": "0.1.0"}
    rec = _by_header(wb["Reconciliation"])
    assert [(r["Check"], r["Ours"], r["Defender"], r["Difference (ours - Defender)"]) for r in rec] == [
        ("PV.6 failed resources", 1, 1, 0), ("Assessed clusters", 2, 3, -1)]
    rules = [r.formula[0] for cf in wb["Reconciliation"].conditional_formatting for r in cf.rules]
    assert rules == ["AND(ISNUMBER($D2),$D2<>0)"]


def test_new_columns_of_findings_clusters_exemptions_and_changes(written):
    _, path = written
    wb = openpyxl.load_workbook(path)
    findings = _by_header(wb["Findings"])
    assert {r["Lineage"] for r in findings} == {"L-00000000000000aa"}
    assert {r["Age is a lower bound"] for r in findings} == {False}
    clusters = {r["Cluster"]: r for r in _by_header(wb["Clusters"])}
    assert (clusters["aks-b"]["Owner tag"], clusters["aks-b"]["Owner conflict (governance vs tag)"]) == ("team-b", True)
    letter = openpyxl.utils.get_column_letter(list(clusters["aks-b"]).index("Owner conflict (governance vs tag)") + 1)
    assert f"${letter}2=TRUE" in {r.formula[0] for cf in wb["Clusters"].conditional_formatting for r in cf.rules}
    ex = {r["Name"]: r for r in _by_header(wb["Exemptions"])}
    forever = ex["ex-forever"]
    assert (forever["Applies to this policy"], forever["No expiry"], forever["Requester"],
            forever["Other metadata"], forever["Policy definition reference ids"], forever["Last modified by"],
            forever["Last modified (UTC)"]) == (False, True, "bob@contoso.com", '{"costCenter": "=42"}',
                                                "otherPolicy", "carol@contoso.com", datetime(2026, 6, 3, 11, 30))
    assert forever["Applicability"].startswith("not applicable to this policy")
    assert ex["ex-old"]["Created by"] == "alice@contoso.com" and ex["ex-old"]["Last modified (UTC)"] is None
    headers = list(forever)
    no_expiry = openpyxl.utils.get_column_letter(headers.index("No expiry") + 1)
    applies = openpyxl.utils.get_column_letter(headers.index("Applies to this policy") + 1)
    rules = {r.formula[0] for cf in wb["Exemptions"].conditional_formatting for r in cf.rules}
    assert {f"${no_expiry}2=TRUE", f"${applies}2=FALSE"} <= rules
    rebuilt = next(r for r in _by_header(wb["Changes"]) if r["Change"] == "Rebuilt, still vulnerable")
    assert (rebuilt["Lineage"], rebuilt["Image digest"], rebuilt["Previous image digests"]) == (
        "L-000000000000000d", "sha256:ccc", "sha256:aaa")
    summary = {r["Figure"]: r for r in _by_header(wb["Summary"]) if r["Area"] == "Changes"}
    assert summary["Rebuilt, still vulnerable"]["Number"] == 1


def test_summary_sheet_rows_for_the_period_population_and_the_sample(written):
    _, path = written
    rows = {(r["Area"], r["Figure"]): r for r in _by_header(openpyxl.load_workbook(path)["Summary"])}
    figures = {f: rows[("Period population", f)]["Number"] for f in (
        "Opening", "New", "Closed", "Closing", "Closed: fixed", "Closed: exempt", "Closed: out of scope", "SLA met",
        "SLA missed", "Open, overdue", "Open, within SLA")}
    assert figures == {"Opening": 3, "New": 2, "Closed": 3, "Closing": 2, "Closed: fixed": 2, "Closed: exempt": 1,
                       "Closed: out of scope": 0, "SLA met": 1, "SLA missed": 1, "Open, overdue": 1,
                       "Open, within SLA": 1}
    assert "reconciles" in rows[("Period population", "Closing")]["Detail"]
    assert rows[("Period population", "SLA attainment")]["Percent"] == pytest.approx(0.5)
    assert rows[("Audit sample", "Items drawn")]["Number"] == 2
    assert rows[("Findings", "Exempt, no applicable exemption credited")]["Number"] == 0
    assert rows[("Reconciliation", "Assessed clusters")]["Number"] == -1


def test_findings_caption_says_the_sheet_holds_the_current_snapshot_and_where_resolved_findings_are(written):
    """The Findings sheet has no resolved findings; its caption once implied it held every finding."""
    model, path = written
    from reportgen.render.interface import DATASET_TEXT
    caption = readme_section(openpyxl.load_workbook(path), "Sheets")["Findings"]
    assert caption.startswith("Every distinct finding of the current snapshot (open, exempt, healthy or other")
    assert "resolved before the as-of time are not in this table" in caption
    assert "on Changes" in caption and "on Period population" in caption
    for text in (caption, excel.OUTPUT.description, DATASET_TEXT["findings"], spec_of(model, "Findings").description):
        assert "open, exempt and resolved" not in text
        assert not re.search(r"every finding[ ,(]", text, re.IGNORECASE) or "current snapshot" in text


def test_a_model_without_period_ipe_or_sample_renders_empty_sheets_that_say_why(tmp_path):
    model = small_model()
    old = replace(model, period=None, ipe=None, audit_sample=None,
                  tables=replace(model.tables, period_population=ReportTables.__dataclass_fields__[
                      "period_population"].default_factory(), audit_sample=ReportTables.__dataclass_fields__[
                      "audit_sample"].default_factory()))
    path = tmp_path / "old.xlsx"
    excel.write_workbook(old, path)
    wb = openpyxl.load_workbook(path)
    for sheet in ("Roll-forward", "SLA by month", "Period population", "Audit sample", "Completeness (IPE)",
                  "Reconciliation"):
        assert data_rows(wb[sheet]) == [], sheet
    sheets = readme_section(wb, "Sheets")
    assert "No period population was computed" in sheets["Roll-forward"]
    assert "No period population was computed" in sheets["Period population"]
    assert "No audit sample was drawn" in sheets["Audit sample"]
    assert "reportgen audit-sample" in readme_section(wb, "Audit sample")["Not drawn"]
    assert "No completeness evidence was computed" in sheets["Completeness (IPE)"]
    summary = {(r["Area"], r["Figure"]): r["Detail"] for r in _by_header(wb["Summary"])}
    assert summary[("Period population", "Period population")] == "not computed for this pack"


# --- golden ----------------------------------------------------------------------------------

def _cell_json(cell) -> object:
    v = cell.value
    if isinstance(v, datetime):
        return {"date": v.isoformat(), "format": cell.number_format}
    if isinstance(v, (int, float)) and not isinstance(v, bool) and cell.number_format != "General":
        return {"number": v, "format": cell.number_format}
    return v


def workbook_dump(path: Path) -> str:
    """Every sheet's cells and table structure as text, for review in a diff."""
    wb = openpyxl.load_workbook(path)
    out = [f"# {GOLDEN_HEADER}", "# content of the workbook written from tests/test_excel.py::small_model"]
    for ws in wb.worksheets:
        out.append(f"== {ws.title}")
        for t in ws.tables.values():
            out.append(f"table {t.displayName} {t.ref} {t.tableStyleInfo.name}")
        if ws.freeze_panes:
            out.append(f"freeze {ws.freeze_panes}")
        for cf in ws.conditional_formatting:
            out += [f"highlight {cf.sqref} {r.formula[0]}" for r in cf.rules]
        letters = sorted(ws.column_dimensions, key=lambda k: (len(k), k))
        out.append("widths " + json.dumps({k: ws.column_dimensions[k].width for k in letters}))
        for i, row in enumerate(ws.iter_rows(), 1):
            out.append(f"{i}: " + json.dumps([_cell_json(c) for c in row], ensure_ascii=False))
    return "\n".join(out) + "\n"


def test_workbook_golden(written):
    _, path = written
    golden = GOLDEN_DIR / "evidence-pack.xlsx.txt"
    actual = workbook_dump(path)
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.is_file(), "golden file missing: run `make golden`"
    assert actual == golden.read_text(encoding="utf-8"), "workbook content changed: review, then `make golden`"


def test_rows_written_beside_keep_their_order_and_errors_reach_the_caller():
    class Sink:
        def __init__(self, fail_at=None):
            self.blocks, self.fail_at = [], fail_at

        def write(self, block):
            if len(self.blocks) == self.fail_at:
                raise OSError("disk full")
            self.blocks.append(block)

    blocks = [str(i).encode() for i in range(50)]
    sink = Sink()
    excel._write_beside(sink, iter(blocks))
    assert sink.blocks == blocks
    with pytest.raises(OSError, match="disk full"):
        excel._write_beside(Sink(fail_at=3), iter(blocks))

    def failing():
        yield b"a"
        raise ValueError("bad row")
    with pytest.raises(ValueError, match="bad row"):
        excel._write_beside(Sink(), failing())
