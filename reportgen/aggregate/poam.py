"""The plan of action and milestones (POA&M): findings grouped into weaknesses, in the FedRAMP layout.

The layout is the FedRAMP POA&M Template (Rev5, "FedRAMP-POAM-Template.xlsx", linked from
https://www.fedramp.gov/resources/templates/ and from the FedRAMP Rev5 playbook page
FedRAMP/docs tools/site/overrides/content/rev5/playbook/csp/authorization/poam.md): its
"Open POA&M Items" and "Closed POA&M Items" sheets, header in row 5, 31 columns A to AE in the
order of ``POAM_COLUMNS`` below. The order was checked against three public readers of the
template: oscal-compass/compliance-trestle trestle/tasks/xlsx_to_oscal_poam.py (header row 5,
sheet "Open POA&M Items", Low/Moderate/High/N/A ratings, Yes/No/Pending flags) and two others
that list the same 31 headers, and against the playbook's column letters (E Weakness Detector
Source, P Vendor Dependency, Q Last Vendor Check-in Date, R Vendor Dependent Product Name,
U Risk Adjustment, V False Positive, W Operational Requirement).

One item per weakness: (CVE, package, image repository ``registryHost/repositoryName``) over
the open findings. Exempt findings are not dropped: the playbook says an operational
requirement (a finding that will not be remediated) stays an open risk on the Open sheet, with
"Pending" in Operational Requirement until the authorising official has approved it. So the
exempt findings of a weakness form their own item (Operational Requirement = Pending, Deviation
Rationale = the exemption), apart from the findings of the same weakness still open. Approval
by an Azure Policy exemption is not an AO's approval, hence Pending, never Yes.

Closed POA&M Items: weaknesses of the period population (DESIGN §6) every lineage of which
closed during the period, and none of which is open or exempt now.

Nothing here is invented: a column the evidence does not fill (Resources Required, Last
Vendor Check-in Date, Adjusted Risk Rating, Auto-Approve, BOD 22-01, Service Name) is empty,
and the README of the pack says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.aggregate.lineage import repository_key
from reportgen.aggregate.model import POAM_COLUMNS, SEVERITY_ORDER

# NIST SP 800-53 Rev. 5: RA-5 Vulnerability Monitoring and Scanning (the detection), SI-2 Flaw
# Remediation (the fix). Identifiers only; no control text.
CONTROLS = "RA-5, SI-2"
DETECTOR = "Microsoft Defender for Cloud (Defender Vulnerability Management)"
# Defender severity -> the template's risk ratings (Low, Moderate, High; no Critical). Critical folds
# into High: FedRAMP handles both alike (remediation within 30 days, playbook above). Unknown gets no
# rating (empty): the scanner gave none and the tool does not make one up.
RISK_RATING = {"Critical": "High", "High": "High", "Medium": "Moderate", "Low": "Low", "Unknown": ""}
# Excel's limit for the text of one cell; Asset Identifier is cut below it with a count.
CELL_TEXT_LIMIT = 32_767
ASSET_TEXT_LIMIT = 32_000
EVIDENCE = "evidence-pack.xlsx Findings sheet and data/findings.csv (one row per finding, lineage ids)"
CLOSED_EVIDENCE = "evidence-pack.xlsx Period population sheet and data/period_population.csv"
_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}


@dataclass(frozen=True)
class PoamSummary:
    items: int                 # Open POA&M Items rows (open and deviation items)
    findings: int              # findings those items cover (open + exempt)
    open_items: int            # items of open findings
    deviation_items: int       # items of exempt findings (Operational Requirement = Pending)
    overdue_items: int         # items with an overdue open finding
    earliest_scheduled_completion: pd.Timestamp | None
    closed_items: int          # Closed POA&M Items rows


def poam_id(cve: str, package: str, repository: str, deviation: bool = False) -> str:
    """"V-" + 12 hex digits of sha256 of the weakness key: the same weakness gets the same id every
    month; its exempt part ("|deviation") is another item with another id."""
    key = f"{cve.upper()}|{package.lower()}|{repository.lower()}" + ("|deviation" if deviation else "")
    return "V-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12].upper()


def join_capped(values: list[str], what: str, sep: str = "; ", limit: int = ASSET_TEXT_LIMIT) -> str:
    """``values`` joined; past ``limit`` characters the rest is counted ("... and 12 more <what>")."""
    out, size = [], 0
    for i, v in enumerate(values):
        if size + len(v) + len(sep) > limit:
            return sep.join(out) + f"{sep}... and {len(values) - i:,} more {what} (all in data/findings.csv)"
        out.append(v)
        size += len(v) + len(sep)
    return sep.join(out)


def _day(ts) -> str:
    return "" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def build_poam(findings: pd.DataFrame, population: pd.DataFrame, as_of: pd.Timestamp
               ) -> tuple[pd.DataFrame, pd.DataFrame, PoamSummary]:
    """(open items, closed items, summary) from the findings table (FINDING_COLUMNS) and the period
    population (POPULATION_COLUMNS). Columns: POAM_COLUMNS."""
    status_date = as_of.tz_convert("UTC").tz_localize(None).normalize() if as_of.tzinfo else as_of.normalize()
    live = findings.loc[findings["state"].isin(["Open", "Exempt"])]
    open_items = _open_items(live, status_date)
    live_keys = set(zip(open_items["cve"], open_items["_package"], open_items["_repository"]))
    closed_items = _closed_items(population, live_keys, status_date)
    deviation = open_items["operationalRequirement"].eq("Pending")
    due = open_items.loc[~deviation, "scheduledCompletionDate"].dropna()
    summary = PoamSummary(
        items=len(open_items), findings=int(open_items["_findings"].sum()),
        open_items=int((~deviation).sum()), deviation_items=int(deviation.sum()),
        overdue_items=int(open_items["_overdue"].sum()),
        earliest_scheduled_completion=due.min() if len(due) else None,
        closed_items=len(closed_items))
    return open_items, closed_items, summary


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c.endswith("Date") else object)
                         for c in POAM_COLUMNS})


def _finish(items: pd.DataFrame) -> pd.DataFrame:
    """Stable order: scheduled completion (earliest first, none last), risk, then POAM ID."""
    dates = {c: pd.to_datetime(items[c]).astype("datetime64[us]") for c in POAM_COLUMNS if c.endswith("Date")}
    items = items.assign(_rank=items["_severity"].map(_RANK).fillna(len(_RANK)), **dates)
    items = items.sort_values(["scheduledCompletionDate", "_rank", "poamId"], na_position="last", kind="mergesort")
    return items.drop(columns="_rank").reset_index(drop=True)


def _open_items(live: pd.DataFrame, status_date: pd.Timestamp) -> pd.DataFrame:
    if live.empty:
        return _empty().assign(_findings=pd.Series(dtype=int), _overdue=pd.Series(dtype=bool),
                               _package=pd.Series(dtype=object), _repository=pd.Series(dtype=object),
                               _severity=pd.Series(dtype=object))
    f = live.assign(_repository=repository_key(live), _deviation=live["state"].eq("Exempt").to_numpy(),
                    _package=live["packageName"].fillna("").astype(str),
                    _cve=live["cveId"].fillna("").astype(str).str.upper(),
                    _rank=live["severity"].map(_RANK).fillna(len(_RANK)).astype(int))
    image = np.where(f["repositoryName"].fillna("").astype(str).ne(""),
                     f["registryHost"].fillna("").astype(str).str.rstrip("/") + "/"
                     + f["repositoryName"].fillna("").astype(str).str.strip("/"), "")
    f["_image"] = image
    f["_asset"] = (f["resourceId"].fillna("").astype(str) + " image " + f["_image"] + "@"
                   + f["imageDigest"].fillna("").astype(str))
    keys = ["_cve", "_package", "_repository", "_deviation"]
    rows = []
    for key, g in f.groupby(keys, sort=True, dropna=False):
        cve, package, repository, deviation = key
        rows.append(_open_item(cve, package, repository, bool(deviation), g, status_date))
    return _finish(pd.DataFrame(rows))


def _distinct(series: pd.Series) -> list[str]:
    return sorted({str(v) for v in series.dropna() if str(v) != ""})


def _open_item(cve: str, package: str, repository: str, deviation: bool, g: pd.DataFrame,
               status_date: pd.Timestamp) -> dict:
    severity = SEVERITY_ORDER[int(g["_rank"].min())] if int(g["_rank"].min()) < len(SEVERITY_ORDER) else "Unknown"
    images = _distinct(g["_image"]) or [repository]
    versions = _distinct(g["packageVersion"])
    fixed = _distinct(g["fixedVersion"])
    clusters = _distinct(g["resourceId"])
    assets = _distinct(g["_asset"])
    owners = _distinct(g["owner"])
    titles = _distinct(g["title"])
    first = g["firstSeen"].min()
    lower_bound = bool(g.loc[g["firstSeen"].eq(first), "ageIsLowerBound"].any()) if pd.notna(first) else False
    due = g["dueDate"].min()
    overdue = g["overdue"].fillna(False).astype(bool) & ~g["_deviation"]
    days_over = pd.to_numeric(g.loc[overdue, "daysOverdue"], errors="coerce").max() if overdue.any() else None
    cvss = pd.to_numeric(g["cvssScore"], errors="coerce").max()
    image_text = ", ".join(images)
    vendor_dependency = not fixed
    if fixed:
        plan = (f"Upgrade {package} (now {', '.join(versions) or 'version not reported'}) to {', '.join(fixed)} "
                f"in the image {image_text}; rebuild the image and redeploy it to the "
                f"{_plural(len(clusters), 'affected cluster')}; Defender's next scan confirms the fix.")
        milestone = f"1. Upgrade {package} to {', '.join(fixed)}; rebuild and redeploy {image_text}"
    else:
        plan = (f"No fixed version of {package} is reported: track the vendor's fix, check in with the vendor "
                f"monthly and mitigate meanwhile; then upgrade, rebuild {image_text} and redeploy it.")
        milestone = f"1. Obtain a fixed version of {package} from its vendor; then rebuild and redeploy {image_text}"
    if pd.notna(due):
        milestone += f", by {_day(due)}"
    if deviation:
        plan = ("Exempt (operational requirement pending approval): reassess at the exemption's review or expiry. "
                "To remediate: " + plan[0].lower() + plan[1:])
    description = (f"{titles[0] if titles else cve}. Package {package} {', '.join(versions)} in container image "
                   f"{image_text}, running on {_plural(len(clusters), 'AKS cluster')}. Defender severity "
                   f"{severity}" + (f", CVSS {cvss:g}" if pd.notna(cvss) else "")
                   + (", exploit known" if bool(g["exploitable"].fillna(False).any()) else "") + ".")
    comments = [f"Defender severity {severity}.", f"{_plural(len(g), 'finding')} on "
                f"{_plural(len(clusters), 'cluster')}."]
    if deviation:
        comments.append("Exempt: a policy exemption or local exception covers these findings; not remediated "
                        "while it holds.")
    elif overdue.any():
        comments.append(f"Overdue by {int(days_over):,} days (due {_day(due)})." if days_over is not None
                        and pd.notna(days_over) else f"Overdue (due {_day(due)}).")
    elif pd.notna(due):
        comments.append(f"Within its remediation deadline (due {_day(due)}).")
    else:
        comments.append("No due date: severity Unknown has no SLA.")
    if lower_bound:
        comments.append("Original Detection Date is a lower bound: the start of the available evidence.")
    rationale = "; ".join(_distinct(g["exemption"])) if deviation else ""
    return {
        "poamId": poam_id(cve, package, repository, deviation), "controls": CONTROLS,
        "weaknessName": f"{cve} in {package} ({repository})", "weaknessDescription": description,
        "weaknessDetectorSource": DETECTOR, "weaknessSourceIdentifier": cve,
        "assetIdentifier": join_capped(assets, "assets"), "pointOfContact": ", ".join(owners),
        "resourcesRequired": "", "overallRemediationPlan": plan,
        "originalDetectionDate": _naive(first), "scheduledCompletionDate": _naive(due),
        "plannedMilestones": milestone, "milestoneChanges": "", "statusDate": status_date,
        "vendorDependency": "Yes" if vendor_dependency else "No", "lastVendorCheckinDate": None,
        "vendorDependentProductName": package if vendor_dependency else "",
        "originalRiskRating": RISK_RATING.get(severity, ""), "adjustedRiskRating": "", "riskAdjustment": "No",
        "falsePositive": "No", "operationalRequirement": "Pending" if deviation else "No",
        "deviationRationale": rationale, "supportingDocuments": EVIDENCE, "comments": " ".join(comments),
        "autoApprove": "", "bod2201Tracking": "", "bod2201DueDate": None, "cve": cve, "serviceName": "",
        "_findings": len(g), "_overdue": bool(overdue.any()), "_package": package, "_repository": repository,
        "_severity": severity,
    }


def _naive(ts):
    if ts is None or pd.isna(ts):
        return None
    ts = pd.Timestamp(ts)
    return (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts).normalize()


def _closed_items(population: pd.DataFrame, live_keys: set, status_date: pd.Timestamp) -> pd.DataFrame:
    pop = population.loc[population["closed"].notna() & ~population["openAtAsOf"].astype(bool)] \
        if len(population) else population
    if pop.empty:
        return _empty().assign(_package=pd.Series(dtype=object), _repository=pd.Series(dtype=object),
                               _severity=pd.Series(dtype=object))
    pop = pop.assign(_cve=pop["cveId"].fillna("").astype(str).str.upper(),
                     _package=pop["packageName"].fillna("").astype(str),
                     _repository=pop["repository"].fillna("").astype(str),
                     _rank=pop["severity"].map(_RANK).fillna(len(_RANK)).astype(int))
    everything = population.assign(_cve=population["cveId"].fillna("").astype(str).str.upper(),
                                   _package=population["packageName"].fillna("").astype(str),
                                   _repository=population["repository"].fillna("").astype(str))
    still_open = set(zip(*(everything.loc[everything["openAtAsOf"].astype(bool) | everything["closed"].isna(), c]
                           for c in ("_cve", "_package", "_repository"))))
    rows = []
    for (cve, package, repository), g in pop.groupby(["_cve", "_package", "_repository"], sort=True):
        if (cve, package, repository) in live_keys or (cve, package, repository) in still_open:
            continue
        rank = int(g["_rank"].min())
        severity = SEVERITY_ORDER[rank] if rank < len(SEVERITY_ORDER) else "Unknown"
        reasons = g["closeReason"].fillna("").replace("", "unknown").value_counts().sort_index()
        clusters = _distinct(g["resourceId"])
        closed = g["closed"].max()
        verdicts = g["slaVerdict"].fillna("").value_counts()
        comments = [f"Defender severity {severity}.",
                    f"Closed {_day(closed)}: " + ", ".join(f"{reason} {n:,}" for reason, n in reasons.items())
                    + f" of {_plural(len(g), 'lineage')} on {_plural(len(clusters), 'cluster')}."]
        if verdicts.get("missed", 0):
            comments.append(f"SLA missed for {_plural(int(verdicts['missed']), 'lineage')}.")
        if bool(g["ageIsLowerBound"].fillna(False).any()):
            comments.append("Original Detection Date is a lower bound: the start of the available evidence.")
        due = g["dueDate"].min()
        rows.append({
            "poamId": poam_id(cve, package, repository), "controls": CONTROLS,
            "weaknessName": f"{cve} in {package} ({repository})",
            "weaknessDescription": f"{cve} in package {package} of container image {repository}.",
            "weaknessDetectorSource": DETECTOR, "weaknessSourceIdentifier": cve,
            "assetIdentifier": join_capped([f"{c} image {repository}" for c in clusters], "assets"),
            "pointOfContact": ", ".join(_distinct(g["owner"])), "resourcesRequired": "",
            "overallRemediationPlan": "Closed: no finding of this weakness is open or exempt at the as-of time.",
            "originalDetectionDate": _naive(g["firstSeen"].min()), "scheduledCompletionDate": _naive(due),
            "plannedMilestones": "", "milestoneChanges": "", "statusDate": _naive(closed),
            "vendorDependency": "No", "lastVendorCheckinDate": None, "vendorDependentProductName": "",
            "originalRiskRating": RISK_RATING.get(severity, ""), "adjustedRiskRating": "", "riskAdjustment": "No",
            "falsePositive": "No", "operationalRequirement": "No", "deviationRationale": "",
            "supportingDocuments": CLOSED_EVIDENCE, "comments": " ".join(comments), "autoApprove": "",
            "bod2201Tracking": "", "bod2201DueDate": None, "cve": cve, "serviceName": "",
            "_package": package, "_repository": repository, "_severity": severity,
        })
    if not rows:
        return _empty().assign(_package=pd.Series(dtype=object), _repository=pd.Series(dtype=object),
                               _severity=pd.Series(dtype=object))
    return _finish(pd.DataFrame(rows))
