"""The report model: every figure and table the outputs show, computed once.

Renderers (summary.json, Excel, PDF, charts) only display these values: no arithmetic,
no pandas in templates. Scalars live in frozen dataclasses; row-level tables (which can
hold a million findings) are DataFrames in ``ReportTables`` with documented columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Mapping

import pandas as pd

if TYPE_CHECKING:
    from reportgen.aggregate.executive import Executive
    from reportgen.aggregate.poam import PoamSummary

SEVERITY_ORDER: tuple[str, ...] = ("Critical", "High", "Medium", "Low", "Unknown")


@dataclass(frozen=True)
class ControlDef:
    """A framework control and what evidences it (from controls/*.yaml)."""

    id: str                    # "DS-6"
    title: str
    objective: str             # the control's aim in our own words
    evidence: str              # how the evidence demonstrates it
    policy_group: str          # "Azure_Security_Benchmark_v3.0_DS-6"
    defender_control: str      # "DS.6"
    defender_standard: str     # "Microsoft-cloud-security-benchmark"
    remediation_timeliness: bool = False  # PV-6 adds the SLA section


@dataclass(frozen=True)
class DefenderCrossCheck:
    """Defender's own regulatory-compliance state for the control (DS.6 / PV.6)."""

    state: str                 # worst state over subscriptions: Failed > Passed > Skipped > Unsupported, else "No data"
    subscriptions: int
    passed_resources: int
    failed_resources: int
    skipped_resources: int


@dataclass(frozen=True)
class ControlResult:
    control: ControlDef
    status: str                # Passed | Failed | No data
    resources: int
    compliant: int
    non_compliant: int
    exempt: int
    conflict: int
    other: int                 # states outside the formula (Unknown, Error...)
    compliance_pct: float | None  # None (No data) when no resource has a counted state
    previous_pct: float | None  # from the previous snapshot; None without one or without a figure there
    defender: DefenderCrossCheck

    @property
    def id(self) -> str:
        return self.control.id

    @property
    def has_figure(self) -> bool:
        return self.compliance_pct is not None

    @property
    def change_pct(self) -> float | None:
        """Points since the previous snapshot; never computed from a missing figure."""
        if self.compliance_pct is None or self.previous_pct is None:
            return None
        return round(self.compliance_pct - self.previous_pct, 2)


@dataclass(frozen=True)
class OwnerResult:
    owner: str
    source: str                # governance | tag:resource | tag:resource-group | tag:subscription | mapping | fallback
    clusters: int
    non_compliant_clusters: int
    open_findings: int
    by_severity: Mapping[str, int]
    overdue: int
    overdue_critical: int


@dataclass(frozen=True)
class KnownExploited:
    """The open findings whose CVE is in the known-exploited catalogue (CISA KEV, snapshot dataset
    ``known_exploited``). ``checked`` False: the snapshot holds no catalogue, so every figure is None and
    the pack says "not checked" (never "0 known exploited")."""

    checked: bool
    catalog_version: str | None = None     # catalogVersion
    date_released: str | None = None       # dateReleased, as the catalogue gives it
    title: str | None = None
    source: str | None = None              # the URL or file it was read from (or the sample's label)
    source_sha256: str | None = None       # sha256 of the bytes read at collection
    dataset_sha256: str | None = None      # sha256 of data/known_exploited.parquet in the snapshot
    entries: int | None = None             # distinct CVEs in the catalogue
    open_flagged: int | None = None        # open findings whose CVE is in it
    distinct_cves: int | None = None       # distinct CVEs among them
    overdue: int | None = None             # of them, past their (stricter) due date
    kev_due_applies: int | None = None     # of them, due by the catalogue's date (dueSource "kev")
    overdue_because_kev: int | None = None  # overdue only because the catalogue's date is earlier
    ransomware_known: int | None = None    # of them, knownRansomwareCampaignUse "Known"

    @property
    def statement(self) -> str:
        """One plain sentence for every document: what was checked and what it found."""
        if not self.checked:
            return ("Known exploited vulnerabilities were not checked: the snapshot holds no known-exploited "
                    "catalogue (CISA KEV), so no finding is flagged and no KEV due date applies.")
        n, cves = self.open_flagged or 0, self.distinct_cves or 0
        version = f"version {self.catalog_version}" if self.catalog_version else "of unrecorded version"
        found = (f"{n:,} open finding{'s' if n != 1 else ''} ({cves:,} distinct CVE{'s' if cves != 1 else ''}) "
                 f"{'are' if n != 1 else 'is'} in it" if n else "no open finding is in it")
        extra = ""
        if n:
            extra = (f"; {self.kev_due_applies or 0:,} {'are' if (self.kev_due_applies or 0) != 1 else 'is'} due by the "
                     f"catalogue's earlier due date, {self.overdue or 0:,} {'are' if (self.overdue or 0) != 1 else 'is'} "
                     f"overdue, {self.overdue_because_kev or 0:,} of them only because of the catalogue's date")
        return (f"Checked against the known-exploited catalogue (CISA KEV format) {version} with "
                f"{self.entries or 0:,} CVEs: {found}{extra}.")


@dataclass(frozen=True)
class FindingsSummary:
    open: int
    exempt: int
    by_severity: Mapping[str, int]
    fixable: int
    exploitable: int
    overdue: int
    overdue_by_severity: Mapping[str, int]
    duplicates_dropped: int
    median_age_days: float | None       # open findings, days since first seen
    median_time_to_fix_days: float | None  # resolved findings seen in history
    # distinct findings (any state) per source of their representative row, plus "both": those
    # delivered by the individual recommendations and the legacy sub-assessments alike
    sources: Mapping[str, int] = field(default_factory=dict)
    known_exploited: KnownExploited = field(default_factory=lambda: KnownExploited(checked=False))

    @property
    def fixable_pct(self) -> float:
        return round(100.0 * self.fixable / self.open, 2) if self.open else 0.0


@dataclass(frozen=True)
class SlaRow:
    severity: str
    days: int | None
    open: int
    within_sla: int
    overdue: int


DERIVED_VERDICTS: tuple[str, ...] = ("Unhealthy", "Healthy", "No findings", "No evidence")


@dataclass(frozen=True)
class Coverage:
    clusters: int
    assessed: int
    not_assessed: tuple[str, ...]       # cluster ids, as Azure returned them
    subscriptions: int
    resource_groups: int
    locations: tuple[str, ...]
    # Inventory clusters with findings from the individual recommendations but no assessment row
    # of a configured key (the grouped assessment c609cf0f was retired on 31 July 2026).
    findings_without_assessment: tuple[str, ...] = ()
    # Inventory clusters per verdict derived from the findings (DERIVED_VERDICTS): Unhealthy = an
    # open finding; Healthy = finding rows, none open; No findings = assessed, no finding rows;
    # No evidence = neither an assessment nor findings.
    derived_verdicts: Mapping[str, int] = field(default_factory=dict)
    assessment_gap_statement: str | None = None   # the plain statement the pack makes about it


@dataclass(frozen=True)
class EvidenceGap:
    """A limit of the evidence, stated in every output: from snapshot.json ``gaps`` or a dataset's status."""

    kind: str                  # unreadable-subscriptions | subscription-limit | dataset-failed | dataset-partial |
                               # dataset-skipped | cve-limit | not-configured | any other kind the snapshot names
    title: str                 # a short lead ("Dataset findings failed.")
    message: str               # one or more plain sentences for the pack
    dataset: str | None
    members: tuple[str, ...]   # subscriptions, packages... the gap concerns (may be empty)
    status: str | None = None  # the dataset's status (partial | skipped | failed) for a dataset's gap
    details: tuple[str, ...] = ()  # the dataset's warnings, as collection recorded them


@dataclass(frozen=True)
class Changes:
    previous_as_of: pd.Timestamp
    previous_run_id: str
    new: int                   # lineages (DESIGN §6): open now and not open in the previous snapshot
    resolved: int              # open then, not open now
    persisting: int            # open in both
    rebuilt_still_vulnerable: int = 0  # persisting lineages with an open image digest not open then


@dataclass(frozen=True)
class RollForward:
    """Opening + new - closed = closing, for one severity (lineage severity) or in total."""

    opening: int               # open at the period start (the opening snapshot)
    new: int                   # in the period population and not open at the period start
    closed: int                # not open at the as-of time
    closing: int               # open at the as-of time

    @property
    def reconciles(self) -> bool:
        return self.opening + self.new - self.closed == self.closing


@dataclass(frozen=True)
class MonthlySla:
    """SLA attainment and time to fix of the lineages fixed in one month, for one severity."""

    month: str                 # "2026-10"
    severity: str              # a SEVERITY_ORDER value, or "All"
    fixed: int                 # lineages closed as fixed in the month (with or without a due date)
    met: int
    missed: int
    attainment_pct: float | None   # 100 x met / (met + missed), None when nothing with a due date was fixed
    mean_days_to_fix: float | None
    median_days_to_fix: float | None


@dataclass(frozen=True)
class PeriodPopulation:
    """Every lineage open at the period start or at any sighting inside the period (DESIGN §6)."""

    period_start: pd.Timestamp             # the period's first instant (00:00 UTC of period.start)
    opening_as_of: pd.Timestamp | None     # collected_at of the opening snapshot; None without one
    opening_run_id: str | None
    sightings: int                         # snapshots and finding_history times inside the period
    total: RollForward
    by_severity: Mapping[str, RollForward]  # every SEVERITY_ORDER key
    closed_by_reason: Mapping[str, int]     # fixed, exempt, out_of_scope
    sla: Mapping[str, int]                  # met, missed, open_overdue, open_within
    sla_attainment_pct: float | None        # 100 x met / (met + missed); None when nothing was fixed
    monthly: tuple[MonthlySla, ...] = ()    # oldest month first; per severity and "All"
    statement: str | None = None            # what limits the population (no opening snapshot...)


@dataclass(frozen=True)
class IpeDataset:
    """Completeness and accuracy of one dataset (the IPE workpaper)."""

    name: str
    status: str
    query_sha256: str | None
    rows: int                              # rows in the snapshot
    total_records: int | None              # Azure's totalRecords (Resource Graph), summed over batches
    pages: int
    subscriptions_asked: int | None        # None when the scope named none (tenant-wide)
    subscriptions_seen: int | None         # distinct subscriptionId in the rows; None without such a column
    note: str                              # what the figures say (complete, differences and why)


@dataclass(frozen=True)
class Reconciliation:
    """One of our counts against Defender's own total, with the difference explained."""

    check: str                 # what is compared
    ours: int | None
    defender: int | None
    difference: int | None     # ours - defender
    explanation: str


@dataclass(frozen=True)
class Collector:
    """Who collected the data and when, from the access token's claims (never verified, never stored)."""

    tenant_id: str | None
    object_id: str | None
    app_id: str | None
    upn: str | None
    identity_type: str | None  # user | app | managed identity | sample
    collected_at: pd.Timestamp
    tool_version: str          # the collecting tool's version (snapshot.json tool.version)
    source: str                # sample | azure | emulator...
    note: str                  # how the identity was read and what it does not prove


@dataclass(frozen=True)
class Ipe:
    datasets: tuple[IpeDataset, ...]
    reconciliations: tuple[Reconciliation, ...]
    collector: Collector
    render_tool_version: str


@dataclass(frozen=True)
class AuditSample:
    """A stratified random selection from the period population, re-drawable from its method."""

    size: int                  # asked for
    seed: int
    drawn: int                 # items drawn (fewer when the population is smaller)
    population: int
    method: str                # the method, in words an auditor can re-perform
    strata: tuple[tuple[str, int, int], ...]   # (stratum, population, drawn)


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    status: str                # complete | partial | skipped | failed
    rows: int
    pages: int
    sha256: str
    query_sha256: str | None
    warnings: tuple[str, ...]
    query_text: str | None     # exact text sent; None for sample data


@dataclass(frozen=True)
class HistoryPoint:
    """One month of the trend: an earlier snapshot, or the current one (last)."""

    label: str                 # "2026-10"
    as_of: pd.Timestamp
    compliance_pct: Mapping[str, float | None]   # control id -> %, None (No data) without a counted state
    open_by_severity: Mapping[str, int]
    overdue: int
    new: int | None            # vs the point before; None for the first
    resolved: int | None
    control_status: Mapping[str, str] = field(default_factory=dict)  # control id -> Passed | Failed | No data


@dataclass(frozen=True)
class ReportMeta:
    organization: str
    title: str
    tool_version: str
    run_id: str                # the snapshot's run id
    snapshot_fingerprint: str  # sha256 of snapshot.json
    as_of: pd.Timestamp        # snapshot collected_at (UTC)
    period_start: date
    period_end: date
    source: str
    cloud: str
    tenant_id: str | None
    scope_subscriptions: tuple[str, ...]
    scope_management_groups: tuple[str, ...]
    sla_days: Mapping[str, int]
    owner_tag_keys: tuple[str, ...]
    owner_fallback: str
    policy_definition_ids: tuple[str, ...]
    assessment_keys: tuple[str, ...]
    pdf_detail_rows: int
    findings_source: str | None  # which per-CVE source delivered rows (legacy / individual / both / sample)

    @property
    def fingerprint_short(self) -> str:
        return self.snapshot_fingerprint[:12]


@dataclass(frozen=True)
class ReportTables:
    """Row-level tables. Column lists are part of the model's contract with renderers.

    findings: one row per distinct finding (open, exempt or other), sorted overdue-first,
      then severity, then cvss desc. Columns: FINDING_COLUMNS.
    clusters: one row per cluster. Columns: CLUSTER_COLUMNS.
    exemptions: policy exemptions and local exceptions. Columns: EXEMPTION_COLUMNS.
    control_owner: one row per (control, owner). Columns: CONTROL_OWNER_COLUMNS.
    changes: one row per new or resolved finding. Columns: CHANGE_COLUMNS.
    changes_by_owner: owner, new, resolved, persisting.
    overdue_critical: the open findings that are critical and overdue (each one a risk in the
      OSCAL results), in the order of findings. Columns: FINDING_COLUMNS.
    period_population: one row per lineage of the period population, sorted by severity, then
      lineage id. Columns: POPULATION_COLUMNS.
    audit_sample: the drawn items with their evidence cards, in item order. Columns: SAMPLE_COLUMNS.
    known_exploited: the open findings whose CVE is in the known-exploited catalogue, in the order of
      findings (empty when not checked: see FindingsSummary.known_exploited). Columns: FINDING_COLUMNS.
    poam: the Open POA&M Items (aggregate/poam.py), one per weakness (CVE, package, image repository),
      exempt findings as their own deviation item; sorted by scheduled completion, risk, POAM ID.
      Columns: POAM_COLUMNS (+ underscore columns the renderers ignore).
    poam_closed: the Closed POA&M Items: weaknesses of the period population closed in the period.
    """

    findings: pd.DataFrame
    clusters: pd.DataFrame
    exemptions: pd.DataFrame
    control_owner: pd.DataFrame
    changes: pd.DataFrame
    changes_by_owner: pd.DataFrame
    overdue_critical: pd.DataFrame
    period_population: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(POPULATION_COLUMNS)))
    audit_sample: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SAMPLE_COLUMNS)))
    known_exploited: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FINDING_COLUMNS)))
    poam: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(POAM_COLUMNS)))
    poam_closed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(POAM_COLUMNS)))


FINDING_COLUMNS = (
    "state",            # Open | Exempt | Healthy | Other
    "severity", "cveId", "title", "cvssScore", "exploitable", "fixStatus", "fixable",
    "packageName", "packageVersion", "fixedVersion",
    "registryHost", "repositoryName", "imageDigest", "imageTags",
    "clusterName", "resourceId", "subscriptionId", "resourceGroup",
    "owner", "ownerSource",
    "firstSeen", "dueDate", "dueSource", "ageDays",
    "ageIsLowerBound",  # first seen is the start of the available evidence: the age is at least ageDays
    "overdue", "daysOverdue",
    "exemption",        # reason text when exempt (policy Exempt cause or local exception id)
    "workloads",        # "ns/kind/name:container; ..." for display (union over the finding's rows)
    "publishedDate", "statusCode", "statusCause",
    "source",           # individual-recommendations | legacy-subassessments | other (the representative row's)
    "lineageId",        # the lineage (DESIGN §6) the finding belongs to: "L-" + 16 hex of its key's sha256
    # known exploited (CISA KEV, dataset known_exploited): all False / empty when the snapshot has no catalogue
    "knownExploited",   # the CVE is in the catalogue
    "kevDateAdded", "kevDueDate",   # the catalogue's dateAdded and dueDate for the CVE
    "kevRansomware",    # the catalogue's knownRansomwareCampaignUse (Known | Unknown | "")
    "slaDueDate",       # the SLA or governance due date; dueDate is the earlier of it and kevDueDate (dueSource kev)
)
CLUSTER_COLUMNS = (
    "name", "id", "subscriptionId", "resourceGroup", "location", "owner", "ownerSource",
    "ownerTag",          # the owner the configured tags name (cluster, then group, then subscription), "" if none
    "ownerConflict",     # the governance owner differs from the tag owner
    "assessed", "assessmentStatus", "policyState",  # rolled-up policy state across controls
    "exempted",          # a policy exemption covers it
    "openFindings", "critical", "high", "medium", "low", "unknown", "overdue",
    "derivedVerdict",    # from the findings (DERIVED_VERDICTS), shown beside the policy state
    "findingsSources",   # sources that delivered finding rows for it ("" when none)
    "findingsWithoutAssessment",  # individual-recommendation findings, no assessment of a configured key
)
EXEMPTION_COLUMNS = (
    "kind",              # Policy exemption | Local exception
    "name", "category", "scope", "displayName", "reason", "approver", "ticket",
    "expiresOn", "status",  # Active (incl. no expiry) | Expiring (<= 30 days) | Expired
    "daysToExpiry",
    "matchedFindings",   # exempt findings attributed to it (0 when it does not apply to this policy)
    "appliesToPolicy",   # True: counts for this policy; False: listed as "not applicable to this policy"
    "applicability",     # why it applies or not (assignment, definition reference ids)
    "noExpiry",          # True when it never expires (flagged)
    "requester",         # from metadata (requestedBy / requester ...), "" if none
    "otherMetadata",     # every other metadata key, as given (compact JSON), "" if none
    "policyAssignmentId", "policyDefinitionReferenceIds",
    "createdBy", "createdAt", "lastModifiedBy", "lastModifiedAt",   # systemData
)
CONTROL_OWNER_COLUMNS = (
    "control", "owner", "resources", "compliant", "nonCompliant", "exempt", "conflict", "compliancePct",
    "openFindings", "overdue",
    "status",            # Passed | Failed | No data (compliancePct is empty then)
)
CHANGE_COLUMNS = (
    "change",            # New | Resolved | Rebuilt, still vulnerable (one row per lineage)
    "severity", "cveId", "packageName", "repositoryName",
    "imageDigest",       # the open digests (now for New and Rebuilt, then for Resolved), "; "-separated
    "clusterName", "resourceId", "owner",
    "lineageId",
    "previousDigests",   # for Rebuilt: the digests open in the previous snapshot
)
POPULATION_COLUMNS = (
    "lineageId", "severity",          # lineage severity: highest among its open rows in the period
    "cveId", "packageName", "repository",   # registryHost/repositoryName (or the digest when unknown)
    "clusterName", "resourceId", "owner",
    "firstSeen",
    "firstSeenSource",   # sighting | firstEvaluationDate | publishedDate
    "ageIsLowerBound",   # first seen is the start of the available evidence
    "dueDate", "dueSource",          # governance | sla | "" (no SLA: unknown severity)
    "openAtStart",       # open in the opening snapshot
    "openAtAsOf",        # open in the current snapshot
    "closed",            # time of the closing sighting (empty while open)
    "closeReason",       # fixed | exempt | out_of_scope | ""
    "slaVerdict",        # met | missed | open-overdue | open-within | "" (exempt, out of scope, fixed without SLA)
    "daysToFix",         # closed - firstSeen in days, for fixed lineages
    "digests",           # image digests open at some sighting of the period, "; "-separated
    "sightings",         # every sighting of the period: "<UTC time> <snapshot|history> <open|not open>", "; "-separated
    "exemption",         # the applicable exemption or local exception and its approval, "" if none
    "querySha256",       # sha256 of the query that produced the current rows (findings)
)
SAMPLE_COLUMNS = ("item", "stratum", "drawKey") + POPULATION_COLUMNS
# The FedRAMP POA&M Template (Rev5) columns A..AE, in its order (aggregate/poam.py cites the source).
# Dates (*Date) are naive UTC day timestamps; the rest text.
POAM_COLUMNS = (
    "poamId", "controls", "weaknessName", "weaknessDescription", "weaknessDetectorSource",
    "weaknessSourceIdentifier", "assetIdentifier", "pointOfContact", "resourcesRequired",
    "overallRemediationPlan", "originalDetectionDate", "scheduledCompletionDate", "plannedMilestones",
    "milestoneChanges", "statusDate", "vendorDependency", "lastVendorCheckinDate", "vendorDependentProductName",
    "originalRiskRating", "adjustedRiskRating", "riskAdjustment", "falsePositive", "operationalRequirement",
    "deviationRationale", "supportingDocuments", "comments", "autoApprove", "bod2201Tracking", "bod2201DueDate",
    "cve", "serviceName",
)


@dataclass(frozen=True)
class ReportModel:
    meta: ReportMeta
    controls: tuple[ControlResult, ...]
    owners: tuple[OwnerResult, ...]        # sorted by open findings desc, then owner
    findings: FindingsSummary
    sla: tuple[SlaRow, ...]
    coverage: Coverage
    changes: Changes | None
    datasets: tuple[DatasetStatus, ...]
    history: tuple[HistoryPoint, ...]      # oldest first, current last
    insights: tuple[str, ...]              # 3-5 plain sentences generated from the data
    tables: ReportTables = field(repr=False)
    gaps: tuple[EvidenceGap, ...] = ()     # every limit of the evidence the pack must state
    # cluster resource id (lower-cased, as its findings name it) -> the earliest due date of its
    # open findings; clusters without an open finding that has a due date are absent
    earliest_due: Mapping[str, pd.Timestamp] = field(default_factory=dict, repr=False)
    period: PeriodPopulation | None = None     # None only for models built without aggregation
    # exempt findings (FindingsSummary.exempt) that no row of tables.exemptions is credited with: Defender
    # reports them Exempt but no applicable exemption in the snapshot covers their cluster. The table's
    # matchedFindings total + this = the exempt count.
    exemptions_unattributed: int = 0
    ipe: Ipe | None = None
    audit_sample: AuditSample | None = None
    # --split-by owner: one {owner, folder, clusters, open_findings} per owner pack in by-owner/ (else empty)
    by_owner: tuple[Mapping[str, object], ...] = ()
    executive: "Executive | None" = None        # the executive one-pager's figures (aggregate/executive.py)
    crosswalk: "Crosswalk | None" = None        # --framework / [crosswalk] only (aggregate/crosswalk.py)
    poam: "PoamSummary | None" = None           # POA&M figures (aggregate/poam.py); tables.poam holds the items


# --- framework crosswalk (controls/crosswalk/*.yaml; reportgen.aggregate.crosswalk) ----------------

@dataclass(frozen=True)
class ClockDef:
    """A requirement's clock, as its file states it: how old an open finding may get, counted from what."""

    kind: str                  # published (CVE publishedDate) | first-seen (lineage first seen) | due (our SLA due dates)
    rule: str                  # the requirement's clock in our own words
    days: int | None = None    # published, first-seen: the allowed age in days
    severities: tuple[str, ...] = ()   # published, first-seen: the severities the clock applies to (empty: all)


@dataclass(frozen=True)
class RequirementDef:
    """One requirement of another framework and the pack figures that evidence it."""

    id: str                    # as the framework writes it: "A.8.8", "SI-2(2)", "6.3.3"
    oscal_id: str              # an OSCAL token for it ("si-2.2", "pci-6.3.3")
    topic: str                 # a few words, ours
    paraphrase: str            # one line in our own words (never the licensed text)
    mcsb: tuple[str, ...]      # the MCSB controls it draws on (DS-6, PV-6)
    figures: tuple[str, ...]   # summary.json paths: "findings.overdue", "controls[id=PV-6].compliance_pct"
    clock: ClockDef | None = None
    note: str = ""             # what the figures do not show for this requirement ("" when nothing to add)


@dataclass(frozen=True)
class FrameworkDef:
    id: str                    # "iso27001", "nist-800-53", "pci-dss", "soc2", "cis-v8" (the file's stem)
    name: str
    version: str
    source_url: str            # the framework owner's official page
    note: str                  # what the mapping claims and does not claim
    mcsb_mapping: str          # how it relates to Microsoft's own MCSB mapping
    requirements: tuple[RequirementDef, ...]
    file: str = ""             # the file it was read from (for error messages)


@dataclass(frozen=True)
class CrosswalkFigure:
    path: str                  # the summary.json path the value is read at
    label: str
    value: object              # int | float | str | bool | None (None: no data)


@dataclass(frozen=True)
class CrosswalkClock:
    """A requirement's clock figure, computed from the findings at the as-of time."""

    kind: str
    rule: str
    days: int | None
    severities: tuple[str, ...]
    basis: str                 # the date the clock runs from: publishedDate | firstSeen | dueDate
    value: int | None          # open findings past the clock; None when not computable
    fixable: int | None        # of those, with a fix available
    undated: int               # open findings the clock applies to that lack the basis date
    applies_to: int            # open findings the clock applies to
    statement: str             # what the figure is and which date it counts from


@dataclass(frozen=True)
class CrosswalkRequirement:
    id: str
    oscal_id: str
    topic: str
    paraphrase: str
    mcsb: tuple[str, ...]
    figures: tuple[CrosswalkFigure, ...]
    clock: CrosswalkClock | None
    note: str = ""


@dataclass(frozen=True)
class CrosswalkFramework:
    id: str
    name: str
    version: str
    source_url: str
    note: str
    mcsb_mapping: str
    requirements: tuple[CrosswalkRequirement, ...]


@dataclass(frozen=True)
class Crosswalk:
    frameworks: tuple[CrosswalkFramework, ...]   # in the order selected
    disclaimer: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.frameworks)
