"""The workbook's tables, defined once for Excel and CSV: names, columns, types, rows.

Each ``TableSpec`` names a sheet, its Excel table, its CSV file and its columns (header,
kind). Excel (``excel.py``) and CSV (``csv_export.py``) both render these specs, so a
column can never appear in one and not the other. Rows come from the report model only:
nothing here computes a figure, it selects and orders what the model holds.

Values leave ``iter_rows`` as plain Python values by column kind:

  text      str or None            int       int or None
  float     float or None          pct       float (percent points, 85.32) or None
  number    int or float or None   bool      bool or None
  date      datetime.date or None  datetime  datetime.datetime (naive, UTC) or None

Big tables (findings) are converted block by block, so memory stays bounded. ``iter_blocks``
gives each block column by column as codes into the block's distinct values (a million
findings repeat a few thousand severities, owners, images and dates), so that a writer
formats each distinct value once per block and assembles rows from the codes; ``iter_rows``
gives plain rows for callers that want them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

import numpy as np
import pandas as pd

from reportgen.aggregate.model import (
    CHANGE_COLUMNS, CLUSTER_COLUMNS, CONTROL_OWNER_COLUMNS, DERIVED_VERDICTS, EXEMPTION_COLUMNS, FINDING_COLUMNS,
    POPULATION_COLUMNS, SAMPLE_COLUMNS, SEVERITY_ORDER, ReportModel,
)
from reportgen.snapshot import utc_iso

KINDS = ("text", "int", "float", "number", "pct", "bool", "date", "datetime")
CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class Column:
    key: str                 # column of the model table (or of the rows built here)
    header: str              # shown in the workbook and the CSV header
    kind: str = "text"
    number_format: str | None = None   # Excel display format beyond the kind's default

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Highlight:
    """A row highlight (Excel conditional formatting) driven by one column's value."""

    column: str              # Column.key
    test: str                # "true" | "false" | "equals" | "positive" | "nonzero"
    style: str               # "bad" (red fill) | "critical" (bold dark red) | "warning" (amber fill) | "muted" (grey)
    value: str | None = None  # for "equals": a constant of ours, never data


@dataclass(frozen=True, eq=False)
class TableSpec:
    """One table. Past Excel's row limit its sheet continues on "<sheet> (2)", "<sheet> (3)"..."""

    sheet: str               # worksheet title (of the first sheet)
    table: str               # Excel table displayName
    csv: str                 # file name under the pack's data/
    description: str         # one paragraph for the README sheet
    columns: tuple[Column, ...]
    frame: pd.DataFrame      # holds at least the columns' keys, in display order
    highlights: tuple[Highlight, ...] = ()

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns)

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True, eq=False)
class ColumnBlock:
    """One column of a block of rows: row ``i`` holds ``values[codes[i]]``, and code -1 a missing
    value. ``values`` are plain values of the column's kind (see the module docstring); one of
    them may still be None (an infinite float, say), which is missing too."""

    codes: np.ndarray
    values: list

    def cells(self, table: list) -> np.ndarray:
        """Per row, ``table[code]`` (``table`` holds one entry per value, then the missing one)."""
        return np.fromiter(table, dtype=object, count=len(table))[self.codes]


def iter_blocks(spec: TableSpec, start: int = 0, stop: int | None = None,
                chunk_rows: int | None = None) -> Iterator[tuple[int, list[ColumnBlock]]]:
    """Rows ``start:stop`` in blocks of ``chunk_rows`` (default ``CHUNK_ROWS``): (rows in the
    block, one ``ColumnBlock`` per column)."""
    stop = len(spec.frame) if stop is None else min(stop, len(spec.frame))
    chunk_rows = chunk_rows or CHUNK_ROWS
    for lo in range(start, stop, chunk_rows):
        chunk = spec.frame.iloc[lo:min(lo + chunk_rows, stop)]
        yield len(chunk), [_column_block(chunk[c.key], c.kind) for c in spec.columns]


def iter_rows(spec: TableSpec, start: int = 0, stop: int | None = None,
              chunk_rows: int | None = None) -> Iterator[tuple]:
    """Rows ``start:stop`` of the table as tuples of plain values (see the module docstring)."""
    for _, block in iter_blocks(spec, start, stop, chunk_rows):
        yield from zip(*(b.cells([*b.values, None]).tolist() for b in block))


def _column_block(series: pd.Series, kind: str) -> ColumnBlock:
    """Codes and distinct values when merging equal values cannot change a rendering, else every
    value as its own entry: text only when every value is a str (True == 1, but "True" != "1"),
    and floats only without a negative zero (0.0 == -0.0)."""
    dtype = series.dtype
    by_value = not (dtype == object and kind != "text")
    if by_value and dtype.kind == "f":
        values = series.to_numpy(dtype=float, na_value=np.nan)
        by_value = not np.signbit(values[values == 0]).any()
    if by_value:
        codes, uniques = pd.factorize(series, sort=False)
        if dtype != object or all(type(v) is str for v in uniques):
            return ColumnBlock(codes, _native(pd.Series(uniques, dtype=uniques.dtype), kind))
    return ColumnBlock(np.arange(len(series)), _native(series, kind))


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _native(series: pd.Series, kind: str) -> list:
    """One column of a chunk as plain Python values of its kind."""
    if kind == "text":
        values = series.astype(object).where(series.notna(), None).tolist()
        return [v if v is None or type(v) is str else str(v) for v in values]
    if kind == "int":
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu":
            return series.tolist()  # numpy ints: never missing
        return [None if _missing(v) else int(v) for v in series.tolist()]
    if kind in ("float", "pct"):
        return [None if _missing(v) or not math.isfinite(float(v)) else float(v) for v in series.tolist()]
    if kind == "number":
        return [None if _missing(v) or not math.isfinite(float(v))
                else int(v) if isinstance(v, (int, np.integer)) else float(v) for v in series.tolist()]
    if kind == "bool":
        return [None if _missing(v) else bool(v) for v in series.tolist()]
    if kind in ("date", "datetime"):
        times = _naive_utc(series)
        if kind == "date":
            return [None if v is pd.NaT else v.date() for v in times]
        return [None if v is pd.NaT else v.to_pydatetime() for v in times]
    raise AssertionError(kind)


def _naive_utc(series: pd.Series) -> list:
    """Timestamps as tz-naive UTC (Excel has no time zones), NaT where missing."""
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series, utc=True, errors="coerce")
    elif series.dt.tz is None:
        series = series.dt.tz_localize("UTC")
    series = series.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("us")
    return series.astype(object).tolist()


# --- the tables ---------------------------------------------------------------------------

FINDINGS = (
    Column("state", "State"), Column("severity", "Severity"), Column("cveId", "CVE"), Column("title", "Title"),
    Column("cvssScore", "CVSS", "float", "0.0"), Column("exploitable", "Exploitable", "bool"),
    Column("fixStatus", "Fix status"), Column("fixable", "Fixable", "bool"), Column("packageName", "Package"),
    Column("packageVersion", "Installed version"), Column("fixedVersion", "Fixed version"),
    Column("registryHost", "Registry"), Column("repositoryName", "Repository"),
    Column("imageDigest", "Image digest"), Column("imageTags", "Image tags"), Column("clusterName", "Cluster"),
    Column("resourceId", "Cluster resource id"), Column("subscriptionId", "Subscription"),
    Column("resourceGroup", "Resource group"), Column("owner", "Owner"), Column("ownerSource", "Owner source"),
    Column("firstSeen", "First seen (UTC)", "datetime"), Column("dueDate", "Due (UTC)", "datetime"),
    Column("dueSource", "Due date source"),
    Column("ageDays", "Age (days)", "int"), Column("ageIsLowerBound", "Age is a lower bound", "bool"),
    Column("overdue", "Overdue", "bool"),
    Column("daysOverdue", "Days overdue", "int"), Column("exemption", "Exemption"),
    Column("workloads", "Workloads"), Column("publishedDate", "Published", "date"),
    Column("statusCode", "Defender status"), Column("statusCause", "Status cause"), Column("source", "Source"),
    Column("lineageId", "Lineage"),
    Column("knownExploited", "Known exploited (CISA KEV)", "bool"),
    Column("kevDateAdded", "KEV date added", "date"), Column("kevDueDate", "KEV due date", "date"),
    Column("kevRansomware", "KEV known ransomware use"),
    Column("slaDueDate", "SLA or governance due (UTC)", "datetime"),
)
CLUSTERS = (
    Column("name", "Cluster"), Column("id", "Resource id"), Column("subscriptionId", "Subscription"),
    Column("resourceGroup", "Resource group"), Column("location", "Location"), Column("owner", "Owner"),
    Column("ownerSource", "Owner source"), Column("ownerTag", "Owner tag"),
    Column("ownerConflict", "Owner conflict (governance vs tag)", "bool"), Column("assessed", "Assessed", "bool"),
    Column("assessmentStatus", "Assessment status"), Column("policyState", "Policy state"),
    Column("exempted", "Policy exemption", "bool"), Column("openFindings", "Open findings", "int"),
    Column("critical", "Critical", "int"), Column("high", "High", "int"), Column("medium", "Medium", "int"),
    Column("low", "Low", "int"), Column("unknown", "Unknown", "int"), Column("overdue", "Overdue", "int"),
    Column("derivedVerdict", "Derived verdict (from findings)"), Column("findingsSources", "Findings source"),
    Column("findingsWithoutAssessment", "Findings but no policy assessment", "bool"),
)
EXEMPTIONS = (
    Column("kind", "Kind"), Column("name", "Name"), Column("category", "Category"), Column("scope", "Scope"),
    Column("displayName", "Display name"), Column("reason", "Reason"), Column("approver", "Approver"),
    Column("ticket", "Ticket"), Column("expiresOn", "Expires (UTC)", "datetime"), Column("status", "Status"),
    Column("daysToExpiry", "Days to expiry", "int"), Column("matchedFindings", "Matched findings", "int"),
    Column("appliesToPolicy", "Applies to this policy", "bool"), Column("applicability", "Applicability"),
    Column("noExpiry", "No expiry", "bool"), Column("requester", "Requester"),
    Column("otherMetadata", "Other metadata"), Column("policyAssignmentId", "Policy assignment"),
    Column("policyDefinitionReferenceIds", "Policy definition reference ids"),
    Column("createdBy", "Created by"), Column("createdAt", "Created (UTC)", "datetime"),
    Column("lastModifiedBy", "Last modified by"), Column("lastModifiedAt", "Last modified (UTC)", "datetime"),
)
CONTROL_OWNER = (
    Column("control", "Control"), Column("owner", "Owner"), Column("resources", "Resources", "int"),
    Column("compliant", "Compliant", "int"), Column("nonCompliant", "Non-compliant", "int"),
    Column("exempt", "Exempt", "int"), Column("conflict", "Conflict", "int"),
    Column("compliancePct", "Compliance %", "pct"), Column("openFindings", "Open findings", "int"),
    Column("overdue", "Overdue", "int"), Column("status", "Status"),
)
CHANGES = (
    Column("change", "Change"), Column("severity", "Severity"), Column("cveId", "CVE"),
    Column("packageName", "Package"), Column("repositoryName", "Repository"), Column("imageDigest", "Image digest"),
    Column("clusterName", "Cluster"), Column("resourceId", "Cluster resource id"), Column("owner", "Owner"),
    Column("lineageId", "Lineage"), Column("previousDigests", "Previous image digests"),
)
CHANGES_BY_OWNER = (
    Column("owner", "Owner"), Column("new", "New", "int"), Column("resolved", "Resolved", "int"),
    Column("persisting", "Persisting", "int"),
)
CONTROLS = (
    Column("id", "Control"), Column("title", "Title"), Column("status", "Status"),
    Column("compliance_pct", "Compliance %", "pct"), Column("resources", "Resources", "int"),
    Column("compliant", "Compliant", "int"), Column("non_compliant", "Non-compliant", "int"),
    Column("exempt", "Exempt", "int"), Column("conflict", "Conflict", "int"), Column("other", "Other states", "int"),
    Column("previous_pct", "Previous compliance %", "pct"),
    Column("change_pct", "Change (points)", "float", '+0.00;-0.00;0.00'),
    Column("defender_control", "Defender control"), Column("defender_standard", "Defender standard"),
    Column("defender_state", "Defender state"), Column("defender_subscriptions", "Defender subscriptions", "int"),
    Column("defender_passed", "Defender passed resources", "int"),
    Column("defender_failed", "Defender failed resources", "int"),
    Column("defender_skipped", "Defender skipped resources", "int"),
    Column("policy_group", "Policy group"), Column("remediation_timeliness", "Remediation SLA applies", "bool"),
    Column("objective", "Objective"), Column("evidence", "Evidence"),
)
OWNERS = (
    Column("owner", "Owner"), Column("source", "Owner source"), Column("clusters", "Clusters", "int"),
    Column("non_compliant_clusters", "Non-compliant clusters", "int"),
    Column("open_findings", "Open findings", "int"),
    *(Column(f"sev:{s}", s, "int") for s in SEVERITY_ORDER),
    Column("overdue", "Overdue", "int"), Column("overdue_critical", "Overdue critical", "int"),
)
SUMMARY = (
    Column("area", "Area"), Column("figure", "Figure"), Column("number", "Number", "number"),
    Column("percent", "Percent", "pct"), Column("detail", "Detail"),
)
POPULATION = (
    Column("lineageId", "Lineage"), Column("severity", "Severity"), Column("cveId", "CVE"),
    Column("packageName", "Package"), Column("repository", "Repository"), Column("clusterName", "Cluster"),
    Column("resourceId", "Cluster resource id"), Column("owner", "Owner"),
    Column("firstSeen", "First seen (UTC)", "datetime"), Column("firstSeenSource", "First seen source"),
    Column("ageIsLowerBound", "Age is a lower bound", "bool"), Column("dueDate", "Due (UTC)", "datetime"),
    Column("dueSource", "Due date source"), Column("openAtStart", "Open at period start", "bool"),
    Column("openAtAsOf", "Open at as-of", "bool"), Column("closed", "Closed (UTC)", "datetime"),
    Column("closeReason", "Close reason"), Column("slaVerdict", "SLA verdict"),
    Column("daysToFix", "Days to fix", "float", "0.0"), Column("digests", "Image digests"),
    Column("sightings", "Sightings"), Column("exemption", "Exemption or exception"),
    Column("querySha256", "Query SHA-256"),
)
SAMPLE = (Column("item", "Item", "int"), Column("stratum", "Stratum"), Column("drawKey", "Draw key")) + POPULATION
ROLL_FORWARD = (
    Column("severity", "Severity"), Column("opening", "Opening", "int"), Column("new", "New", "int"),
    Column("closed", "Closed", "int"), Column("closing", "Closing", "int"),
    Column("reconciles", "Reconciles (opening + new - closed = closing)", "bool"),
    Column("fixed", "Closed: fixed", "int"), Column("exempt", "Closed: exempt", "int"),
    Column("out_of_scope", "Closed: out of scope", "int"), Column("met", "SLA met", "int"),
    Column("missed", "SLA missed", "int"), Column("open_overdue", "Open, overdue", "int"),
    Column("open_within", "Open, within SLA", "int"), Column("sla_attainment_pct", "SLA attainment %", "pct"),
)
MONTHLY_SLA = (
    Column("month", "Month"), Column("severity", "Severity"), Column("fixed", "Fixed", "int"),
    Column("met", "SLA met", "int"), Column("missed", "SLA missed", "int"),
    Column("attainment_pct", "SLA attainment %", "pct"),
    Column("mean_days_to_fix", "Mean days to fix", "float", "0.0"),
    Column("median_days_to_fix", "Median days to fix", "float", "0.0"),
)
COMPLETENESS = (
    Column("record", "Record"), Column("name", "Name"), Column("value", "Value"), Column("status", "Status"),
    Column("query_sha256", "Query SHA-256"), Column("rows", "Rows", "int"),
    Column("total_records", "Azure totalRecords", "int"), Column("pages", "Pages", "int"),
    Column("subscriptions_asked", "Subscriptions asked for", "int"),
    Column("subscriptions_seen", "Subscriptions seen", "int"), Column("note", "Note"),
)
RECONCILIATION = (
    Column("check", "Check"), Column("ours", "Ours", "int"), Column("defender", "Defender", "int"),
    Column("difference", "Difference (ours - Defender)", "int"), Column("explanation", "Explanation"),
)
DATASETS = (
    Column("name", "Dataset"), Column("status", "Status"), Column("rows", "Rows", "int"),
    Column("pages", "Pages", "int"), Column("sha256", "SHA-256 (Parquet file)"),
    Column("query_sha256", "Query SHA-256"), Column("warnings", "Warnings"), Column("query_text", "Query text"),
)

# Model columns the spec shows; a test checks every model column is shown.
MODEL_COLUMNS = {
    "findings": (FINDING_COLUMNS, FINDINGS), "clusters": (CLUSTER_COLUMNS, CLUSTERS),
    "exemptions": (EXEMPTION_COLUMNS, EXEMPTIONS), "control_owner": (CONTROL_OWNER_COLUMNS, CONTROL_OWNER),
    "changes": (CHANGE_COLUMNS, CHANGES), "period_population": (POPULATION_COLUMNS, POPULATION),
    "audit_sample": (SAMPLE_COLUMNS, SAMPLE),
}

OVERDUE = Highlight("overdue", "true", "bad")
# What the Findings table holds, and where the findings it does not hold are (README, CSV and pack index).
FINDINGS_HOLD = ("Every distinct finding of the current snapshot (open, exempt, healthy or other Defender status at "
                 "the as-of time)")
FINDINGS_NOT_HERE = ("Findings resolved before the as-of time are not in this table: they are on Changes (since "
                     "the previous snapshot) and, with the sighting that closed them, on Period population.")
CRITICAL = Highlight("severity", "equals", "critical", "Critical")


def table_specs(model: ReportModel) -> tuple[TableSpec, ...]:
    """Every table of the workbook, in sheet order (README comes before them)."""
    t = model.tables
    n_findings = len(t.findings)
    changes_note = ("No previous snapshot was found in the history folder, so this table is empty."
                    if model.changes is None else
                    f"Compared with the snapshot of {_utc(model.changes.previous_as_of)} "
                    f"(run {model.changes.previous_run_id}).")
    return (
        TableSpec("Summary", "Summary", "summary.csv",
                  "Headline figures: compliance per control, open findings by severity, overdue, fixable, "
                  "exploitable, coverage, changes since the previous snapshot, the period population's "
                  "roll-forward and SLA verdicts, the audit sample and the reconciliation to Defender's totals, "
                  "with the generated insights.",
                  SUMMARY, _frame(SUMMARY, _summary_rows(model))),
        TableSpec("Controls", "Controls", "controls.csv",
                  "One row per control: Azure Policy compliance (roll-up and formula below), the previous "
                  "snapshot's figure, and Defender's own regulatory-compliance state as a cross-check. Compliance % "
                  "is empty, with status No data, when no cluster has a counted policy state.",
                  CONTROLS, _frame(CONTROLS, _control_rows(model)),
                  (Highlight("status", "equals", "bad", "Failed"), Highlight("status", "equals", "warning", "No data"))),
        TableSpec("Owners", "Owners", "owners.csv",
                  "One row per owner: clusters, non-compliant clusters, open findings by severity and overdue "
                  "findings. Owner source lists every way the owner's clusters were attributed.",
                  OWNERS, _frame(OWNERS, _owner_rows(model)),
                  (Highlight("overdue_critical", "positive", "critical"), Highlight("overdue", "positive", "bad"))),
        TableSpec("Control x Owner", "ControlOwner", "control_owner.csv",
                  "Compliance of each control per owner (the clusters the owner holds), with the owner's open and "
                  "overdue findings. Compliance % is empty, with status No data, when none of the owner's clusters "
                  "has a counted policy state.",
                  CONTROL_OWNER, t.control_owner, (Highlight("overdue", "positive", "bad"),)),
        TableSpec("Findings", "Findings", "findings.csv",
                  f"{FINDINGS_HOLD} ({n_findings:,}), one row per image digest: open first (overdue, then by "
                  "severity and CVSS), then exempt, healthy and other; with its lineage, owner, owner source, first "
                  "seen (the lineage's), whether the age is a lower bound, due date and its source, overdue flag, "
                  "exemption, the workloads of every row of the finding, and the per-CVE source of the row that "
                  f"represents it. {FINDINGS_NOT_HERE} Past Excel's row limit the table continues on Findings (2), "
                  "Findings (3)...; the CSV holds all rows in one file.",
                  FINDINGS, t.findings, (CRITICAL, OVERDUE)),
        TableSpec("Clusters", "Clusters", "clusters.csv",
                  "Every AKS cluster in scope (and any resource seen only in policy states or findings) with its "
                  "owner, Defender coverage (Assessed), policy state as Azure reports it, exemption and open "
                  "findings; beside the policy state, a verdict derived from the findings (Unhealthy: an open "
                  "finding; Healthy: finding rows, none open; No findings: assessed, no finding rows; No evidence: "
                  "neither an assessment nor findings), the sources of its findings, and whether it has findings "
                  "from the individual recommendations but no assessment of the key the policy names (filter that "
                  "column for the full list). Owner tag is the owner the configured tags name (cluster, then "
                  "resource group, then subscription); Owner conflict marks a governance owner that differs from it.",
                  CLUSTERS, t.clusters,
                  (Highlight("assessed", "false", "warning"), Highlight("findingsWithoutAssessment", "true", "warning"),
                   Highlight("ownerConflict", "true", "warning"), Highlight("overdue", "positive", "bad"))),
        TableSpec("Exemptions", "Exemptions", "exemptions.csv",
                  "Azure Policy exemptions and local risk acceptances (exceptions file), with expiry status and the "
                  "findings each one covers. Applies to this policy is FALSE for a policy exemption that does not "
                  "exempt this policy (another assignment, or definition reference ids that leave it out): such an "
                  "exemption is listed as not applicable to this policy and covers no finding; Applicability says "
                  "why. No expiry flags an exemption that never expires. Approver, requester and ticket come from "
                  "the exemption's metadata (every other metadata key as given under Other metadata), created and "
                  "last modified from its systemData.",
                  EXEMPTIONS, t.exemptions,
                  (Highlight("status", "equals", "bad", "Expired"),
                   Highlight("status", "equals", "warning", "Expiring"),
                   Highlight("noExpiry", "true", "warning"), Highlight("appliesToPolicy", "false", "muted"))),
        TableSpec("Changes", "Changes", "changes.csv",
                  "Vulnerability lineages (the same CVE and package on the same cluster and repository, across "
                  "image rebuilds) that are new or resolved since the previous snapshot, and those that persist on "
                  "a rebuilt image (Rebuilt, still vulnerable: a digest open now was not open then; Previous image "
                  "digests lists those open then). One row per lineage. " + changes_note,
                  CHANGES, t.changes,
                  (CRITICAL, Highlight("change", "equals", "warning", "Rebuilt, still vulnerable"))),
        TableSpec("Changes by owner", "ChangesByOwner", "changes_by_owner.csv",
                  "New, resolved and persisting open lineages per owner since the previous snapshot. " + changes_note,
                  CHANGES_BY_OWNER, t.changes_by_owner),
        *_period_specs(model),
        _history_spec(model),
        *_crosswalk_specs(model),
        *_ipe_specs(model),
        TableSpec("Queries", "Queries", "datasets.csv",
                  "Every dataset of the snapshot: collection status, rows, pages, the sha256 of its data file and of "
                  "the exact query text sent (shown where the data came from Azure), and any warnings.",
                  DATASETS, _frame(DATASETS, _dataset_rows(model)),
                  (Highlight("status", "equals", "bad", "failed"),
                   Highlight("status", "equals", "warning", "partial"),
                   Highlight("status", "equals", "warning", "skipped"))),
    )


CROSSWALK = (
    Column("framework", "Framework"), Column("version", "Version"), Column("requirement", "Requirement"),
    Column("topic", "Topic"), Column("paraphrase", "Requirement, paraphrased (not the framework's text)"),
    Column("mcsb", "MCSB controls"), Column("evidence", "Evidence"), Column("label", "Figure"),
    Column("path", "summary.json path"), Column("value", "Value", "number"),
    Column("value_text", "Value (text)"), Column("detail", "Detail"),
)
CROSSWALK_SHEET = "Crosswalk"


def _crosswalk_specs(model: ReportModel) -> tuple[TableSpec, ...]:
    """The Crosswalk sheet and data/crosswalk.csv, only when frameworks are selected (--framework)."""
    cw = model.crosswalk
    if cw is None:
        return ()
    return (TableSpec(
        CROSSWALK_SHEET, "Crosswalk", "crosswalk.csv",
        "One row per requirement of each selected framework and figure of this pack that evidences it "
        "(Evidence = Figure: the value at the summary.json path shown), and per requirement with a clock its "
        "clock figures (Evidence = Clock: open findings past the clock, and how many of them have a fix), with "
        "the date the clock runs from. Requirements are paraphrased in our own words; read the framework for its "
        "text. " + cw.disclaimer,
        CROSSWALK, _frame(CROSSWALK, _crosswalk_rows(model))),)


def _crosswalk_rows(model: ReportModel) -> list[dict]:
    rows = []
    for fw in model.crosswalk.frameworks:
        for r in fw.requirements:
            base = {"framework": fw.name, "version": fw.version, "requirement": r.id, "topic": r.topic,
                    "paraphrase": r.paraphrase, "mcsb": ", ".join(r.mcsb)}
            for f in r.figures:
                number = f.value if isinstance(f.value, (int, float)) and not isinstance(f.value, bool) else None
                text = ("no data" if f.value is None else "" if number is not None
                        else ("true" if f.value else "false") if isinstance(f.value, bool) else str(f.value))
                rows.append({**base, "evidence": "Figure", "label": f.label, "path": f.path, "value": number,
                             "value_text": text, "detail": r.note})
            c = r.clock
            if c is None:
                continue
            at = f"crosswalk.frameworks[id={fw.id}].requirements[id={r.id}].clock"
            which = " and ".join(s.lower() for s in c.severities) + " " if c.severities else ""
            past = (f"more than {c.days} days after {c.basis}" if c.days is not None else f"past {c.basis}")
            rows.append({**base, "evidence": "Clock", "label": f"Open {which}findings {past}", "path": f"{at}.value",
                         "value": c.value, "value_text": "" if c.value is not None else "no data",
                         "detail": f"{c.rule} {c.statement}"})
            rows.append({**base, "evidence": "Clock", "label": f"Of those, with a fix available", "path": f"{at}.fixable",
                         "value": c.fixable, "value_text": "" if c.fixable is not None else "no data", "detail": ""})
    return rows


def _frame(columns: tuple[Column, ...], rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([[r.get(c.key) for c in columns] for r in rows], columns=[c.key for c in columns],
                        dtype=object)


def _utc(ts) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def _control_rows(model: ReportModel) -> list[dict]:
    return [{
        "id": c.id, "title": c.control.title, "status": c.status, "compliance_pct": c.compliance_pct,
        "resources": c.resources, "compliant": c.compliant, "non_compliant": c.non_compliant, "exempt": c.exempt,
        "conflict": c.conflict, "other": c.other, "previous_pct": c.previous_pct, "change_pct": c.change_pct,
        "defender_control": c.control.defender_control, "defender_standard": c.control.defender_standard,
        "defender_state": c.defender.state, "defender_subscriptions": c.defender.subscriptions,
        "defender_passed": c.defender.passed_resources, "defender_failed": c.defender.failed_resources,
        "defender_skipped": c.defender.skipped_resources, "policy_group": c.control.policy_group,
        "remediation_timeliness": c.control.remediation_timeliness, "objective": c.control.objective,
        "evidence": c.control.evidence,
    } for c in model.controls]


def _owner_rows(model: ReportModel) -> list[dict]:
    return [{
        "owner": o.owner, "source": o.source, "clusters": o.clusters,
        "non_compliant_clusters": o.non_compliant_clusters, "open_findings": o.open_findings,
        **{f"sev:{s}": o.by_severity.get(s, 0) for s in SEVERITY_ORDER},
        "overdue": o.overdue, "overdue_critical": o.overdue_critical,
    } for o in model.owners]


def _history_spec(model: ReportModel) -> TableSpec:
    columns = (
        Column("label", "Month"), Column("as_of", "As of (UTC)", "datetime"),
        *(col for c in model.controls for col in (Column(f"pct:{c.id}", f"{c.id} compliance %", "pct"),
                                                   Column(f"status:{c.id}", f"{c.id} status"))),
        *(Column(f"open:{s}", f"Open {s.lower()}", "int") for s in SEVERITY_ORDER),
        Column("overdue", "Overdue", "int"), Column("new", "New", "int"), Column("resolved", "Resolved", "int"),
    )
    rows = [{
        "label": p.label, "as_of": p.as_of,
        **{f"pct:{c.id}": p.compliance_pct.get(c.id) for c in model.controls},
        **{f"status:{c.id}": _point_status(p, c.id) for c in model.controls},
        **{f"open:{s}": p.open_by_severity.get(s, 0) for s in SEVERITY_ORDER},
        "overdue": p.overdue, "new": p.new, "resolved": p.resolved,
    } for p in model.history]
    return TableSpec("History", "History", "history.csv",
                     "One row per month, oldest first, the current snapshot last: compliance per control (empty, "
                     "status No data, in a month without a counted policy state), open findings by severity, "
                     "overdue, and findings new and resolved since the month before.",
                     columns, _frame(columns, rows))


def _period_specs(model: ReportModel) -> tuple[TableSpec, ...]:
    """Roll-forward, SLA by month, Period population and Audit sample (DESIGN §6, the period population)."""
    p, t, sample = model.period, model.tables, model.audit_sample
    if p is None:
        note = "No period population was computed for this pack, so this table is empty."
    else:
        opening = (f"The opening balance is the snapshot of {_utc(p.opening_as_of)} (run {p.opening_run_id}), the "
                   f"latest collected at or before the period start {_utc(p.period_start)}."
                   if p.opening_as_of is not None else
                   f"No snapshot was collected at or before the period start {_utc(p.period_start)}.")
        note = f"{opening} {p.sightings:,} sightings inside the period." + (f" {p.statement}" if p.statement else "")
    if sample is None:
        sample_text = ("No audit sample was drawn when this pack was rendered, so this table is empty; draw one from "
                       "data/period_population.csv with reportgen audit-sample.")
    else:
        sample_text = (f"The audit sample: {sample.drawn:,} of the {sample.population:,} lineages of the period "
                       f"population (size {sample.size:,}, seed {sample.seed}), one row per evidence card in item "
                       "order, with its stratum and draw key. The method, to re-draw it, is on the README sheet "
                       "(Audit sample).")
    return (
        TableSpec("Roll-forward", "RollForward", "roll_forward.csv",
                  "The period population's roll-forward per lineage severity, then in total: opening (open at the "
                  "period start) + new - closed = closing (open at the as-of time), and whether it reconciles. The "
                  "Total row also gives the closures by reason, the SLA verdicts and the SLA attainment % = 100 x "
                  "met / (met + missed), empty when nothing with a due date was fixed. " + note,
                  ROLL_FORWARD, _frame(ROLL_FORWARD, _roll_forward_rows(model)),
                  (Highlight("reconciles", "false", "bad"),)),
        TableSpec("SLA by month", "SlaByMonth", "sla_by_month.csv",
                  "Per month (oldest first) and lineage severity, then All: the lineages fixed in the month, how "
                  "many met or missed their due date, SLA attainment % (empty when none with a due date was fixed) "
                  "and the mean and median days from first seen to the fix. " + note,
                  MONTHLY_SLA, _frame(MONTHLY_SLA, [vars(m) for m in (p.monthly if p is not None else ())])),
        TableSpec("Period population", "PeriodPopulation", "period_population.csv",
                  f"Every vulnerability lineage open at the period start or at any sighting inside the period "
                  f"({len(t.period_population):,}), by severity then lineage: first seen and its source (a lower "
                  "bound where the evidence starts there), due date and its source, open at the period start and at "
                  "the as-of time, the closing sighting and its reason (fixed, exempt, out_of_scope), the SLA "
                  "verdict (met, missed, open-overdue, open-within; none for exempt and out-of-scope closures), days "
                  "to fix, the digests and every sighting, the exemption that applies, and the sha256 of the query "
                  "behind the rows. Past Excel's row limit the table continues on numbered sheets; the CSV holds "
                  "all rows. " + note,
                  POPULATION, t.period_population,
                  (Highlight("slaVerdict", "equals", "bad", "missed"),
                   Highlight("slaVerdict", "equals", "bad", "open-overdue"))),
        TableSpec("Audit sample", "AuditSample", "audit_sample.csv", sample_text, SAMPLE, t.audit_sample,
                  (Highlight("slaVerdict", "equals", "bad", "missed"),
                   Highlight("slaVerdict", "equals", "bad", "open-overdue"))),
    )


def _roll_forward_rows(model: ReportModel) -> list[dict]:
    p = model.period
    if p is None:
        return []
    rows = [{"severity": s, "opening": r.opening, "new": r.new, "closed": r.closed, "closing": r.closing,
             "reconciles": r.reconciles}
            for s in SEVERITY_ORDER for r in (p.by_severity[s],)]
    r = p.total
    rows.append({"severity": "Total", "opening": r.opening, "new": r.new, "closed": r.closed, "closing": r.closing,
                 "reconciles": r.reconciles, **{k: p.closed_by_reason[k] for k in ("fixed", "exempt", "out_of_scope")},
                 **{k: p.sla[k] for k in ("met", "missed", "open_overdue", "open_within")},
                 "sla_attainment_pct": p.sla_attainment_pct})
    return rows


def _ipe_specs(model: ReportModel) -> tuple[TableSpec, ...]:
    """Completeness (IPE) and Reconciliation: the evidence that the report's input is complete and accurate."""
    ipe = model.ipe
    none = " No completeness evidence was computed for this pack, so this table is empty." if ipe is None else ""
    return (
        TableSpec("Completeness (IPE)", "Completeness", "completeness.csv",
                  "Completeness and accuracy of the information the report is built from (the IPE workpaper). "
                  "Dataset rows: the sha256 of the query text sent, the rows in the snapshot, Azure's totalRecords "
                  "(Resource Graph, summed over batches) and pages, the subscriptions asked for (empty: the scope "
                  "named none) and those seen in the rows, and what the figures say. Collected by rows: who "
                  "collected the data and when, read from the access token's claims (never stored, never checked "
                  "as proof of anything), and the versions of the tool that collected and rendered it." + none,
                  COMPLETENESS, _frame(COMPLETENESS, _completeness_rows(model))),
        TableSpec("Reconciliation", "Reconciliation", "reconciliation.csv",
                  "Our counts against Defender's own totals (regulatory compliance passed and failed resources, "
                  "assessment counts), with the difference (ours - Defender) and its explanation." + none,
                  RECONCILIATION, _frame(RECONCILIATION, [vars(r) for r in (ipe.reconciliations if ipe else ())]),
                  (Highlight("difference", "nonzero", "warning"),)),
    )


def _completeness_rows(model: ReportModel) -> list[dict]:
    ipe = model.ipe
    if ipe is None:
        return []
    rows = [{"record": "Dataset", **vars(d)} for d in ipe.datasets]
    c = ipe.collector
    collector = [{"record": "Collected by", "name": name, "value": value or "not recorded"}
                 for name, value in (("Tenant id", c.tenant_id), ("Object id", c.object_id), ("App id", c.app_id),
                                     ("User principal name", c.upn), ("Identity type", c.identity_type),
                                     ("Collected at", utc_iso(c.collected_at)), ("Collecting tool", c.tool_version),
                                     ("Source", c.source), ("Rendering tool", ipe.render_tool_version))]
    collector[0]["note"] = c.note   # how the identity was read and what it does not prove
    return rows + collector


def _point_status(point, control_id: str) -> str | None:
    status = point.control_status.get(control_id)
    if status is None and control_id in point.compliance_pct:
        status = "No data" if point.compliance_pct[control_id] is None else None
    return status


def _dataset_rows(model: ReportModel) -> list[dict]:
    return [{
        "name": d.name, "status": d.status, "rows": d.rows, "pages": d.pages, "sha256": d.sha256,
        "query_sha256": d.query_sha256, "warnings": "; ".join(d.warnings),
        "query_text": d.query_text,
    } for d in model.datasets]


def _summary_rows(model: ReportModel) -> list[dict]:
    rows: list[dict] = []

    def add(area: str, figure: str, number=None, percent=None, detail: str = "") -> None:
        rows.append({"area": area, "figure": figure, "number": number, "percent": percent, "detail": detail})

    for c in model.controls:
        previous = ("no previous snapshot" if model.changes is None else
                    "no previous figure (No data then)" if c.previous_pct is None else f"previous {c.previous_pct:.2f}%")
        figure = ("" if c.compliance_pct is not None else
                  " (no cluster has a counted policy state, so there is no compliance figure)")
        add("Controls", f"{c.id} compliance", c.resources, c.compliance_pct,
            f"{c.status}{figure}: {c.compliant} compliant, {c.exempt} exempt, {c.non_compliant} non-compliant, "
            f"{c.conflict} conflict, {c.other} other of {c.resources} clusters; {previous}; Defender "
            f"{c.control.defender_control}: {c.defender.state}")
    f = model.findings
    add("Findings", "Open findings", f.open)
    sla = {r.severity: r for r in model.sla}
    for s in SEVERITY_ORDER:
        row = sla.get(s)
        detail = "" if row is None else (
            f"SLA {row.days} days; {row.within_sla} within SLA, {row.overdue} overdue" if row.days is not None
            else f"no SLA; {row.overdue} overdue")
        add("Findings", f"Open {s.lower()}", f.by_severity.get(s, 0), detail=detail)
    add("Findings", "Overdue", f.overdue,
        detail=", ".join(f"{s} {f.overdue_by_severity.get(s, 0)}" for s in SEVERITY_ORDER))
    add("Findings", "Fixable (fix available)", f.fixable, f.fixable_pct, "share of open findings")
    add("Findings", "Exploitable", f.exploitable, detail="open findings known to be exploitable")
    add("Findings", "Exempt", f.exempt, detail="exempt in Defender or by an active local exception")
    add("Findings", "Exempt, no applicable exemption credited", model.exemptions_unattributed,
        detail="Defender reports them Exempt but no exemption in the snapshot that applies to this policy covers "
               "their cluster; the Exemptions sheet's matched findings plus this give the exempt count")
    add("Findings", "Duplicates dropped", f.duplicates_dropped,
        detail="rows of a finding beyond the one that represents it (several containers, or both sources)")
    for source, n in f.sources.items():
        if source == "both":
            add("Findings", "Delivered by both sources", n,
                detail="distinct findings with rows from the individual recommendations and the legacy "
                       "sub-assessments (the individual recommendation represents them)")
        else:
            add("Findings", f"Source: {source}", n, detail="distinct findings whose representative row came from it")
    add("Findings", "Median age of open findings (days)", f.median_age_days)
    add("Findings", "Median time to fix (days)", f.median_time_to_fix_days,
        detail="from first seen to the first snapshot where the finding was no longer open")
    cov = model.coverage
    add("Coverage", "Clusters", cov.clusters,
        detail=f"subscriptions: {cov.subscriptions}; resource groups: {cov.resource_groups}; locations: "
               f"{', '.join(cov.locations) or 'none'}")
    add("Coverage", "Assessed by Defender", cov.assessed)
    add("Coverage", "Not assessed", len(cov.not_assessed),
        detail="listed on the Clusters sheet (Assessed = FALSE)" if cov.not_assessed else "")
    add("Coverage", "Findings but no policy assessment", len(cov.findings_without_assessment),
        detail=(cov.assessment_gap_statement + " Listed on the Clusters sheet (Findings but no policy assessment "
                "= TRUE).") if cov.assessment_gap_statement else "")
    for verdict in DERIVED_VERDICTS:
        add("Coverage", f"Derived verdict: {verdict}", cov.derived_verdicts.get(verdict, 0),
            detail=_VERDICT_TEXT[verdict])
    if model.changes is None:
        add("Changes", "Since the previous snapshot", detail="no previous snapshot in the history folder")
    else:
        ch = model.changes
        since = f"since {_utc(ch.previous_as_of)} (run {ch.previous_run_id})"
        add("Changes", "New", ch.new, detail=f"lineages open now and not open then, {since}")
        add("Changes", "Resolved", ch.resolved, detail=f"lineages open then and not open now, {since}")
        add("Changes", "Persisting", ch.persisting, detail=f"lineages open then and now, {since}")
        add("Changes", "Rebuilt, still vulnerable", ch.rebuilt_still_vulnerable,
            detail="persisting lineages with an open image digest that was not open then: a rebuilt image still "
                   "carries the CVE (not a fix; the lineage keeps its first seen)")
    _period_summary_rows(model, add)
    if not model.gaps:
        add("Gaps", "Evidence gaps", 0, detail="none: every dataset is complete and the snapshot records no gap")
    for g in model.gaps:
        members = f" Concerns: {', '.join(g.members)}." if g.members else ""
        warnings = f" Warnings: {'; '.join(g.details)}" if g.details else ""
        add("Gaps", g.title, len(g.members) or None, detail=f"{g.message}{members}{warnings}".strip())
    for i, sentence in enumerate(model.insights, 1):
        add("Insights", f"Insight {i}", detail=sentence)
    return rows


def _period_summary_rows(model: ReportModel, add) -> None:
    p = model.period
    if p is None:
        add("Period population", "Period population", detail="not computed for this pack")
    else:
        r = p.total
        add("Period population", "Opening", r.opening, detail="lineages open at the period start")
        add("Period population", "New", r.new, detail="lineages opened in the period (not open at its start)")
        add("Period population", "Closed", r.closed, detail="lineages not open at the as-of time")
        add("Period population", "Closing", r.closing,
            detail=f"lineages open at the as-of time; opening + new - closed = closing "
                   f"{'reconciles' if r.reconciles else 'DOES NOT reconcile'}"
                   + (f". {p.statement}" if p.statement else ""))
        for reason, label in (("fixed", "fixed"), ("exempt", "exempt"), ("out_of_scope", "out of scope")):
            add("Period population", f"Closed: {label}", p.closed_by_reason[reason])
        for key, label in (("met", "SLA met"), ("missed", "SLA missed"), ("open_overdue", "Open, overdue"),
                           ("open_within", "Open, within SLA")):
            add("Period population", label, p.sla[key])
        add("Period population", "SLA attainment", percent=p.sla_attainment_pct,
            detail="100 x met / (met + missed)" if p.sla_attainment_pct is not None
            else "nothing with a due date was fixed in the period")
    a = model.audit_sample
    if a is None:
        add("Audit sample", "Audit sample", detail="not drawn for this pack")
    else:
        add("Audit sample", "Items drawn", a.drawn,
            detail=f"of {a.population:,} lineages in the period population; size {a.size:,}, seed {a.seed}; "
                   "the method is on the README sheet")
    if model.ipe is not None:
        for rec in model.ipe.reconciliations:
            add("Reconciliation", rec.check, rec.difference, detail=f"ours {_or_none(rec.ours)}, Defender "
                                                                     f"{_or_none(rec.defender)}: {rec.explanation}")


def _or_none(value) -> str:
    return "none" if value is None else f"{value:,}"


_VERDICT_TEXT = {
    "Unhealthy": "inventory clusters with at least one open finding",
    "Healthy": "inventory clusters with finding rows, none of them open",
    "No findings": "inventory clusters assessed by Defender with no finding rows (nothing to derive from)",
    "No evidence": "inventory clusters with neither an assessment nor findings: no verdict",
}


def utc_naive(ts) -> datetime:
    """A model timestamp as a tz-naive UTC datetime (for Excel cells and properties)."""
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_localize(None).as_unit("us").to_pydatetime()
