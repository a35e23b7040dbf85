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

One item per weakness: (CVE upper-cased, package lower-cased, image repository ``registryHost/repositoryName``
lower-cased, as the lineage key compares them) over
the open findings. Exempt findings are not dropped: the playbook says an operational
requirement (a finding that will not be remediated) stays an open risk on the Open sheet, with
"Pending" in Operational Requirement until the authorising official has approved it. So the
exempt findings of a weakness form their own item (Operational Requirement = Pending, Deviation
Rationale = the exemption), apart from the findings of the same weakness still open. Approval
by an Azure Policy exemption is not an AO's approval, hence Pending, never Yes.

Closed POA&M Items: weaknesses of the period population (DESIGN §6) every lineage of which
closed during the period, and none of which is open or exempt now.

Nothing here is invented: a column the evidence does not fill (Resources Required, Last
Vendor Check-in Date, Adjusted Risk Rating, Auto-Approve, Service Name) is empty, and the README
of the pack says so. The two BOD 22-01 columns come from the known-exploited catalogue
(aggregate/findings.py apply_known_exploited): tracking "Yes" when the weakness's CVE is in it, "No"
when it is not, its due date the catalogue's; both empty when no catalogue was checked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen.aggregate.common import per_value
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
    if sum(map(len, values)) + len(sep) * len(values) <= limit:
        return sep.join(values)
    size = 0
    for i, v in enumerate(values):
        if size + len(v) + len(sep) > limit:
            return sep.join(values[:i]) + f"{sep}... and {len(values) - i:,} more {what} (all in data/findings.csv)"
        size += len(v) + len(sep)
    return sep.join(values)


def _day(ts) -> str:
    return "" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def build_poam(findings: pd.DataFrame, population: pd.DataFrame, as_of: pd.Timestamp
               ) -> tuple[pd.DataFrame, pd.DataFrame, PoamSummary]:
    """(open items, closed items, summary) from the findings table (FINDING_COLUMNS) and the period
    population (POPULATION_COLUMNS). Columns: POAM_COLUMNS, then underscore columns for the figures."""
    status_date = _naive(as_of)
    live = findings.loc[findings["state"].isin(["Open", "Exempt"])]
    open_items = _open_items(live, status_date)
    live_keys = set(zip(open_items["cve"], open_items["_package"], open_items["_repository"]))
    closed_items = _closed_items(population, live_keys)
    deviation = open_items["operationalRequirement"].eq("Pending")
    due = open_items.loc[~deviation, "scheduledCompletionDate"].dropna()
    summary = PoamSummary(
        items=len(open_items), findings=int(open_items["_findings"].sum()),
        open_items=int((~deviation).sum()), deviation_items=int(deviation.sum()),
        overdue_items=int(open_items["_overdue"].sum()),
        earliest_scheduled_completion=due.min() if len(due) else None,
        closed_items=len(closed_items))
    return open_items, closed_items, summary


_EXTRA = {"_findings": int, "_overdue": bool, "_package": object, "_repository": object, "_severity": object}


def _frame(rows: list[dict]) -> pd.DataFrame:
    """The items in a stable order: scheduled completion (earliest first, none last), risk, POAM ID."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[us]" if c.endswith("Date") else object)
                             for c in POAM_COLUMNS} | {c: pd.Series(dtype=t) for c, t in _EXTRA.items()})
    items = pd.DataFrame(rows, columns=[*POAM_COLUMNS, *_EXTRA])
    dates = {c: pd.to_datetime(items[c]).astype("datetime64[us]") for c in POAM_COLUMNS if c.endswith("Date")}
    items = items.assign(_rank=items["_severity"].map(_RANK).fillna(len(_RANK)), **dates)
    items = items.sort_values(["scheduledCompletionDate", "_rank", "poamId"], na_position="last", kind="mergesort")
    return items.drop(columns="_rank").reset_index(drop=True)


def _naive(ts):
    if ts is None or pd.isna(ts):
        return None
    ts = pd.Timestamp(ts)
    return (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts).normalize()


def _str(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _upper(value) -> str:
    return _str(value).upper()


def _lower(value) -> str:
    return _str(value).lower()


def _image(host_and_repository: str) -> str:
    """"registry/repository" as the findings name it ("" without a repository)."""
    host, _, repository = _str(host_and_repository).partition("\n")
    return f"{host.rstrip('/')}/{repository.strip('/')}" if repository else ""


def _text(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str)


def _distinct_lists(gid: np.ndarray, values: pd.Series, n: int) -> list[list[str]]:
    """Per group 0..n-1, its distinct non-empty values, sorted. The values are numbered once (sorted),
    and the distinct (group, value) pairs found as integers, so no string is sorted per row."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), sort=True)   # missing: code -1
    names = [str(u) for u in uniques]
    width = len(names) + 1
    codes = np.where(codes < 0, len(names), codes).astype(np.int64)
    pairs = np.unique(gid.astype(np.int64) * width + codes)
    g, c = pairs // width, pairs % width
    out: list[list[str]] = [[] for _ in range(n)]
    if not len(g):
        return out
    keep = np.array([bool(v) for v in names] + [False], dtype=bool)[c]   # drop "" (and no-value codes)
    g, c = g[keep], c[keep]
    if not len(g):
        return out
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    ends = np.r_[starts[1:], len(g)]
    flat = [names[i] for i in c.tolist()]
    for k, lo, hi in zip(g[starts].tolist(), starts.tolist(), ends.tolist()):
        out[k] = flat[lo:hi]
    return out


def _groups(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group number of each row (groups in key order) and the keys of each group."""
    gid = frame.groupby(keys, sort=True, dropna=False).ngroup().to_numpy()
    first = frame.assign(_g=gid).drop_duplicates("_g").sort_values("_g")
    return gid, first[keys].reset_index(drop=True)


def _utc64(series: pd.Series) -> np.ndarray:
    """Times as a naive-UTC datetime64 array (a tz-aware column's to_numpy() would box every value)."""
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series, utc=True)
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.to_numpy(dtype="datetime64[us]")


def _severity_of(rank: int) -> str:
    return SEVERITY_ORDER[rank] if 0 <= rank < len(SEVERITY_ORDER) else "Unknown"


def _open_items(live: pd.DataFrame, status_date: pd.Timestamp) -> pd.DataFrame:
    if live.empty:
        return _frame([])
    f = pd.DataFrame({
        "_cve": per_value(live["cveId"], _upper).to_numpy(), "_package": per_value(live["packageName"], _lower).to_numpy(),
        "_repository": repository_key(live).to_numpy(), "_deviation": live["state"].eq("Exempt").to_numpy()})
    gid, keys = _groups(f, ["_cve", "_package", "_repository", "_deviation"])
    n = len(keys)
    rank = pd.Series(live["severity"].map(_RANK).fillna(len(_RANK)).astype(int).to_numpy()).groupby(gid).min()
    seen = _utc64(live["firstSeen"])
    first_seen = pd.Series(seen).groupby(gid).min()
    at_first = seen == first_seen.to_numpy()[gid]
    lower_bound = pd.Series(at_first & live["ageIsLowerBound"].fillna(False).astype(bool).to_numpy()).groupby(gid).any()
    due = pd.Series(_utc64(live["dueDate"])).groupby(gid).min()
    overdue_rows = live["overdue"].fillna(False).astype(bool).to_numpy() & ~f["_deviation"].to_numpy()
    overdue = pd.Series(overdue_rows).groupby(gid).any()
    days = pd.to_numeric(live["daysOverdue"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    days_over = pd.Series(np.where(overdue_rows, days, np.nan)).groupby(gid).max()
    cvss = pd.Series(pd.to_numeric(live["cvssScore"], errors="coerce").to_numpy()).groupby(gid).max()
    exploit = pd.Series(live["exploitable"].fillna(False).astype(bool).to_numpy()).groupby(gid).any()
    count = np.bincount(gid, minlength=n)
    # BOD 22-01 (CISA's known exploited vulnerabilities): "Yes"/"No" and the catalogue's due date when a
    # catalogue was checked (knownExploited True/False), empty when not checked (knownExploited empty)
    kev_flag = live["knownExploited"] if "knownExploited" in live else pd.Series([None] * len(live))
    kev_checked = pd.Series(kev_flag.notna().to_numpy()).groupby(gid).all()
    kev_yes = pd.Series(kev_flag.fillna(False).astype(bool).to_numpy()).groupby(gid).any()
    kev_due = pd.Series(_utc64(live["kevDueDate"]) if "kevDueDate" in live
                        else np.full(len(live), np.datetime64("NaT"), dtype="datetime64[us]")).groupby(gid).min()
    bod = np.where(kev_checked.to_numpy(), np.where(kev_yes.to_numpy(), "Yes", "No"), "").tolist()
    bod_due = _days(kev_due)
    image = per_value(live["registryHost"].astype(object).fillna("").astype(object) + "\n"
                      + live["repositoryName"].astype(object).fillna("").astype(object), _image)
    lists = {name: _distinct_lists(gid, values, n) for name, values in {
        "images": image, "versions": live["packageVersion"], "fixed": live["fixedVersion"],
        "clusters": live["resourceId"], "digests": live["imageDigest"], "owners": live["owner"],
        "titles": live["title"], "exemptions": live["exemption"]}.items()}
    first_day, due_day = _days(first_seen), _days(due)
    due_text = [_day(d) for d in due_day]
    columns = dict(severity=[_severity_of(r) for r in rank.tolist()], first=first_day,
                   lower_bound=lower_bound.tolist(), due=due_day, due_text=due_text, overdue=overdue.tolist(),
                   days_over=days_over.tolist(), cvss=cvss.tolist(), exploitable=exploit.tolist(),
                   count=count.tolist(), bod=bod, bod_due=bod_due, **lists)
    names = list(columns)
    rows = [_open_item(cve, package, repository, bool(deviation), status_date, **dict(zip(names, values)))
            for (cve, package, repository, deviation), *values
            in zip(keys.itertuples(index=False, name=None), *columns.values())]
    return _frame(rows)


def _days(series: pd.Series) -> list:
    """Per group, the day (naive UTC midnight) of a time, None where missing."""
    days = pd.Series(_utc64(series.reset_index(drop=True))).dt.normalize()
    return [None if v is pd.NaT else v for v in days.tolist()]


def _open_item(cve: str, package: str, repository: str, deviation: bool, status_date, *, severity: str,
               first, lower_bound: bool, due, due_text: str, overdue: bool, days_over, cvss, exploitable: bool, count: int,
               bod: str, bod_due, images: list[str], versions: list[str], fixed: list[str], clusters: list[str],
               digests: list[str], owners: list[str], titles: list[str], exemptions: list[str]) -> dict:
    image_text = ", ".join(images or [repository])
    rating = RISK_RATING.get(severity, "")
    if fixed:
        plan = (f"Upgrade {package} (now {', '.join(versions) or 'version not reported'}) to {', '.join(fixed)} "
                f"in the image {image_text}; rebuild the image and redeploy it to the "
                f"{_plural(len(clusters), 'affected cluster')}; Defender's next scan confirms the fix.")
        milestone = f"1. Upgrade {package} to {', '.join(fixed)}; rebuild and redeploy {image_text}"
    else:
        plan = (f"No fixed version of {package} is reported: track the vendor's fix, check in with the vendor "
                f"monthly and mitigate meanwhile; then upgrade, rebuild {image_text} and redeploy it.")
        milestone = f"1. Obtain a fixed version of {package} from its vendor; then rebuild and redeploy {image_text}"
    if due_text:
        milestone += f", by {due_text}"
    if deviation:
        plan = ("Exempt (operational requirement pending approval): reassess at the exemption's review or expiry. "
                "To remediate: " + plan[0].lower() + plan[1:])
    description = (f"{titles[0] if titles else cve}. Package {package} {', '.join(versions)} in container image "
                   f"{image_text}, running on {_plural(len(clusters), 'AKS cluster')}. Defender severity "
                   f"{severity}" + (f", CVSS {cvss:g}" if pd.notna(cvss) else "")
                   + (", exploit known" if exploitable else "") + ". Image digests: "
                   + join_capped(digests, "digests", ", ", 4_000) + ".")
    comments = [f"Defender severity {severity}.", f"{_plural(count, 'finding')} on {_plural(len(clusters), 'cluster')}."]
    if deviation:
        comments.append("Exempt: a policy exemption or local exception covers these findings; not remediated "
                        "while it holds.")
        if rating == "High":
            comments.append("FedRAMP does not approve an operational requirement for a High risk: mitigate it.")
    elif overdue:
        comments.append(f"Overdue by {int(days_over):,} days (due {due_text})." if pd.notna(days_over)
                        else f"Overdue (due {due_text}).")
    elif due_text:
        comments.append(f"Within its remediation deadline (due {due_text}).")
    else:
        comments.append("No due date: severity Unknown has no SLA.")
    if lower_bound:
        comments.append("Original Detection Date is a lower bound: the start of the available evidence.")
    vendor_dependency = not fixed
    return {
        "poamId": poam_id(cve, package, repository, deviation), "controls": CONTROLS,
        "weaknessName": f"{cve} in {package} ({repository})", "weaknessDescription": description,
        "weaknessDetectorSource": DETECTOR, "weaknessSourceIdentifier": cve,
        "assetIdentifier": join_capped(clusters, "assets"), "pointOfContact": ", ".join(owners),
        "resourcesRequired": "", "overallRemediationPlan": plan,
        "originalDetectionDate": first, "scheduledCompletionDate": due,
        "plannedMilestones": milestone, "milestoneChanges": "", "statusDate": status_date,
        "vendorDependency": "Yes" if vendor_dependency else "No", "lastVendorCheckinDate": None,
        "vendorDependentProductName": package if vendor_dependency else "",
        "originalRiskRating": rating, "adjustedRiskRating": "", "riskAdjustment": "No",
        "falsePositive": "No", "operationalRequirement": "Pending" if deviation else "No",
        "deviationRationale": "; ".join(exemptions) if deviation else "", "supportingDocuments": EVIDENCE,
        "comments": " ".join(comments), "autoApprove": "", "bod2201Tracking": bod, "bod2201DueDate": bod_due,
        "cve": cve, "serviceName": "",
        "_findings": count, "_overdue": overdue, "_package": package, "_repository": repository,
        "_severity": severity,
    }


def _closed_items(population: pd.DataFrame, live_keys: set) -> pd.DataFrame:
    if population.empty:
        return _frame([])
    k = pd.DataFrame({"_cve": _text(population["cveId"]).str.upper().to_numpy(),
                      "_package": _text(population["packageName"]).str.lower().to_numpy(),
                      "_repository": _text(population["repository"]).to_numpy()})
    closed_row = (population["closed"].notna() & ~population["openAtAsOf"].astype(bool)).to_numpy()
    # a weakness is closed when every lineage of it in the period population is
    all_closed = pd.Series(closed_row).groupby([k["_cve"], k["_package"], k["_repository"]]).all()
    keep = all_closed[all_closed].index
    keep = [key for key in keep if key not in live_keys]
    if not keep:
        return _frame([])
    mask = pd.MultiIndex.from_frame(k).isin(keep)
    pop, kk = population.loc[mask], k.loc[mask].reset_index(drop=True)
    gid, keys = _groups(kk, ["_cve", "_package", "_repository"])
    n = len(keys)
    rank = pd.Series(pop["severity"].map(_RANK).fillna(len(_RANK)).astype(int).to_numpy()).groupby(gid).min()
    first = pd.Series(_utc64(pop["firstSeen"])).groupby(gid).min()
    due = pd.Series(_utc64(pop["dueDate"])).groupby(gid).min()
    closed = pd.Series(_utc64(pop["closed"])).groupby(gid).max()
    lower = pd.Series(pop["ageIsLowerBound"].fillna(False).astype(bool).to_numpy()).groupby(gid).any()
    missed = pd.Series(pop["slaVerdict"].eq("missed").to_numpy()).groupby(gid).sum()
    count = np.bincount(gid, minlength=n)
    reasons = (pd.DataFrame({"g": gid, "r": _text(pop["closeReason"]).replace("", "unknown").to_numpy()})
               .value_counts().sort_index())
    reason_text = [[] for _ in range(n)]
    for (g, r), c in reasons.items():
        reason_text[g].append(f"{r} {c:,}")
    clusters = _distinct_lists(gid, pop["resourceId"], n)
    owners = _distinct_lists(gid, pop["owner"], n)
    rows = []
    for i, (cve, package, repository) in enumerate(keys.itertuples(index=False, name=None)):
        severity = _severity_of(int(rank.iloc[i]))
        comments = [f"Defender severity {severity}.",
                    f"Closed {_day(closed.iloc[i])}: {', '.join(reason_text[i])} of {_plural(int(count[i]), 'lineage')} "
                    f"on {_plural(len(clusters[i]), 'cluster')}."]
        if missed.iloc[i]:
            comments.append(f"SLA missed for {_plural(int(missed.iloc[i]), 'lineage')}.")
        if lower.iloc[i]:
            comments.append("Original Detection Date is a lower bound: the start of the available evidence.")
        rows.append({
            "poamId": poam_id(cve, package, repository), "controls": CONTROLS,
            "weaknessName": f"{cve} in {package} ({repository})",
            "weaknessDescription": f"{cve} in package {package} of container image {repository}.",
            "weaknessDetectorSource": DETECTOR, "weaknessSourceIdentifier": cve,
            "assetIdentifier": join_capped(clusters[i], "assets"), "pointOfContact": ", ".join(owners[i]),
            "resourcesRequired": "",
            "overallRemediationPlan": "Closed: no finding of this weakness is open or exempt at the as-of time.",
            "originalDetectionDate": _naive(first.iloc[i]), "scheduledCompletionDate": _naive(due.iloc[i]),
            "plannedMilestones": "", "milestoneChanges": "", "statusDate": _naive(closed.iloc[i]),
            "vendorDependency": "No", "lastVendorCheckinDate": None, "vendorDependentProductName": "",
            "originalRiskRating": RISK_RATING.get(severity, ""), "adjustedRiskRating": "", "riskAdjustment": "No",
            "falsePositive": "No", "operationalRequirement": "No", "deviationRationale": "",
            "supportingDocuments": CLOSED_EVIDENCE, "comments": " ".join(comments), "autoApprove": "",
            "bod2201Tracking": "", "bod2201DueDate": None, "cve": cve, "serviceName": "",
            "_findings": int(count[i]), "_overdue": False, "_package": package, "_repository": repository,
            "_severity": severity,
        })
    return _frame(rows)
