"""Hand-built snapshots for tests: small frames with defaults, written with the real writer."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd

from reportgen.snapshot import DATASETS, DatasetInfo, empty_frame, read_snapshot, write_snapshot

POLICY = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
OTHER_POLICY = "/providers/Microsoft.Authorization/policyDefinitions/00000000-0000-0000-0000-000000000001"
KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
DS6 = "Azure_Security_Benchmark_v3.0_DS-6"
PV6 = "Azure_Security_Benchmark_v3.0_PV-6"
SUB = "00000000-0000-0000-0000-0000000000aa"
AS_OF = "2026-10-31T06:00:00Z"
INDIVIDUAL = "individual-recommendations"
LEGACY = "legacy-subassessments"


def cluster_id(name: str, sub: str = SUB, rg: str = "rg-app") -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"


def cluster(name: str, tags: dict | None = None, sub: str = SUB, rg: str = "rg-app", location: str = "westeurope") -> dict:
    return {"id": cluster_id(name, sub, rg), "name": name, "subscriptionId": sub, "resourceGroup": rg,
            "location": location, "tags": json.dumps(tags or {})}


def subscription(sub: str = SUB, tags: dict | None = None) -> dict:
    return {"id": f"/subscriptions/{sub}", "type": "microsoft.resources/subscriptions", "name": "sub",
            "subscriptionId": sub, "resourceGroup": "", "tags": json.dumps(tags or {})}


def resource_group(rg: str, sub: str = SUB, tags: dict | None = None) -> dict:
    return {"id": f"/subscriptions/{sub}/resourceGroups/{rg}", "type": "microsoft.resources/subscriptions/resourcegroups",
            "name": rg, "subscriptionId": sub, "resourceGroup": rg, "tags": json.dumps(tags or {})}


def policy_state(resource_id: str, state: str, groups=(DS6, PV6), definition: str = POLICY, n: int = 0) -> dict:
    return {"id": f"{resource_id}/providers/Microsoft.PolicyInsights/policyStates/{n}", "resourceId": resource_id,
            "resourceType": "Microsoft.ContainerService/managedClusters", "subscriptionId": SUB,
            "resourceGroup": "rg-app", "complianceState": state, "policyAssignmentId": "/a",
            "policyAssignmentName": "SecurityCenterBuiltIn", "policyDefinitionId": definition,
            "policyDefinitionReferenceId": "ref", "policySetDefinitionId": "/set",
            "policyDefinitionGroupNames": json.dumps(list(groups)), "timestamp": AS_OF}


def assessment(resource_id: str, status: str = "Unhealthy", key: str = KEY) -> dict:
    return {"id": f"{resource_id}/providers/Microsoft.Security/assessments/{key}", "assessmentKey": key,
            "resourceId": resource_id, "subscriptionId": SUB, "resourceGroup": "rg-app", "statusCode": status,
            "statusCause": "", "severity": "High", "displayName": "running images", "firstEvaluationDate": AS_OF,
            "statusChangeDate": AS_OF}


def finding(resource_id: str, cve: str, severity: str = "High", status: str = "Unhealthy", cause: str = "",
            digest: str = "sha256:aaa", package: str = "openssl", fix: str = "FixAvailable",
            exploitable: bool = False, time: str = AS_OF, **extra) -> dict:
    row = {"id": f"{resource_id}/sub/{cve}/{package}", "assessmentKey": KEY, "resourceId": resource_id,
           "subscriptionId": SUB, "resourceGroup": "rg-app", "cveId": cve, "title": f"{cve} in {package}",
           "severity": severity, "cvssScore": 7.5, "statusCode": status, "statusCause": cause,
           "registryHost": "contoso.azurecr.io", "repositoryName": "app/api", "imageDigest": digest,
           "imageTags": json.dumps(["1.0"]), "packageName": package, "packageVersion": "1.0",
           "fixedVersion": "1.1" if fix == "FixAvailable" else "", "fixStatus": fix, "osPlatform": "linux",
           "osVersion": "debian 12", "publishedDate": "2023-01-01T00:00:00Z", "exploitable": exploitable,
           "timeGenerated": time,
           "workloads": json.dumps([{"namespace": "ns", "kind": "Deployment", "name": "api", "container": "api"}])}
    row.update(extra)
    return row


def governance(assessment_id: str, owner: str, due: str) -> dict:
    return {"id": f"{assessment_id}/governanceAssignments/g1", "assessmentId": assessment_id, "owner": owner,
            "remediationDueDate": due, "isGracePeriod": False}


def exemption(scope: str, expires: str | None, name: str = "ex1", category: str = "Waiver") -> dict:
    return {"id": f"{scope}/providers/Microsoft.Authorization/policyExemptions/{name}", "name": name,
            "subscriptionId": SUB, "resourceGroup": "rg-app", "scope": scope, "policyAssignmentId": "/a",
            "policyDefinitionReferenceIds": json.dumps(["ref"]), "category": category, "displayName": name,
            "description": "accepted", "expiresOn": expires}


def regulatory(control: str, state: str, passed: int = 1, failed: int = 0) -> dict:
    return {"id": f"/subscriptions/{SUB}/rc/{control}", "subscriptionId": SUB,
            "standard": "Microsoft-cloud-security-benchmark", "control": control, "assessmentKey": KEY,
            "state": state, "passedResources": passed, "failedResources": failed, "skippedResources": 0}


def individual_finding(resource_id: str, cve: str, severity: str = "High", container: str = "api",
                       workload: str = "api", **kw) -> dict:
    """A row of the individual recommendations: one per CVE per container."""
    kw.setdefault("workloads", json.dumps([{"namespace": "ns", "kind": "Deployment", "name": workload,
                                            "container": container}]))
    row = finding(resource_id, cve, severity, source=INDIVIDUAL, assessmentKey="", **kw)
    row["id"] = f"{resource_id}/providers/Microsoft.Security/assessments/{cve}-{workload}-{container}"
    return row


def gap(kind: str, message: str, dataset: str | None = None, members=()) -> dict:
    """An entry of snapshot.json ``gaps``."""
    return {"kind": kind, "message": message, "dataset": dataset, "members": list(members)}


def frames(**rows: list[dict]) -> dict[str, pd.DataFrame]:
    """Frames of every dataset; columns beyond the contract (optional ones such as findings.source)
    are kept when a row has them, so both old-style and new-style snapshots can be built."""
    out = {}
    for name in DATASETS:
        if not rows.get(name):
            out[name] = empty_frame(name)
            continue
        extra = list(dict.fromkeys(k for r in rows[name] for k in r if k not in DATASETS[name]))
        out[name] = pd.DataFrame(rows[name], columns=list(DATASETS[name]) + extra)
    return out


def write(path: Path, collected_at: str = AS_OF, run_id: str = "run-test", *, gaps: list[dict] | None = None,
          status: dict[str, tuple[str, tuple[str, ...]]] | None = None, scope: dict | None = None,
          **rows: list[dict]) -> Path:
    """``status``: dataset -> (status, warnings), e.g. {"finding_history": ("failed", ("HTTP 403",))}."""
    ts = pd.Timestamp(collected_at)
    start = date(ts.year, ts.month, 1)
    provenance = {name: DatasetInfo(name=name, rows=len(rows.get(name) or ()), status=st, warnings=tuple(w))
                  for name, (st, w) in (status or {}).items()}
    return write_snapshot(path, frames(**rows), collected_at=ts, period=(start, ts.date()), source="test",
                          run_id=run_id, scope=scope, provenance=provenance,
                          extra_meta={"gaps": gaps} if gaps is not None else None)


def snapshot(path: Path, collected_at: str = AS_OF, **rows):
    return read_snapshot(write(path, collected_at=collected_at, **rows))


# --- scenarios shared by the tests of several outputs ------------------------------------------

def no_policy_evidence(path: Path, collected_at: str = AS_OF, run_id: str = "run-nodata") -> Path:
    """Two assessed clusters with findings, and not one policy state: no compliance figure exists."""
    a, c = cluster_id("aks-a"), cluster_id("aks-c")
    return write(path, collected_at=collected_at, run_id=run_id,
                 clusters=[cluster("aks-a", tags={"owner": "team-a"}), cluster("aks-c", tags={"owner": "team-c"})],
                 assessments=[assessment(a), assessment(c, "Healthy")],
                 findings=[finding(a, "CVE-2026-0001", "Critical"), finding(a, "CVE-2026-0002", "High"),
                           finding(c, "CVE-2026-0003", "Low", status="Healthy")])


UNREADABLE_SUB = "00000000-0000-0000-0000-0000000000cc"
RETIRED_CLUSTERS = ("aks-ind-open", "aks-ind-clean", "aks-both", "aks-assessed", "aks-empty")


def retired_assessment(path: Path, run_id: str = "run-retired") -> Path:
    """Five clusters after the retirement of c609cf0f, and four recorded evidence gaps.

    aks-ind-open: individual-recommendation findings, one open, no assessment (gap, derived Unhealthy);
    aks-ind-clean: individual-recommendation findings, none open, no assessment (gap, derived Healthy);
    aks-both: a c609cf0f assessment and findings from both sources (derived Unhealthy);
    aks-assessed: a Healthy c609cf0f assessment, no findings (No findings);
    aks-empty: neither (No evidence, not assessed).
    Gaps: a subscription Resource Graph returned nothing for, finding_history failed, a package past the
    400-CVE limit, and a kind this version does not know.
    """
    ids = {n: cluster_id(n) for n in RETIRED_CLUSTERS}
    states = [policy_state(ids["aks-ind-open"], "Compliant"), policy_state(ids["aks-ind-clean"], "Compliant"),
              policy_state(ids["aks-both"], "NonCompliant"), policy_state(ids["aks-assessed"], "Compliant"),
              policy_state(ids["aks-empty"], "NonCompliant")]
    findings = [
        individual_finding(ids["aks-ind-open"], "CVE-2026-1000", "Critical", container="api"),
        individual_finding(ids["aks-ind-open"], "CVE-2026-1000", "Critical", container="worker", workload="jobs"),
        individual_finding(ids["aks-ind-open"], "CVE-2026-1001", "Medium", status="Healthy"),
        individual_finding(ids["aks-ind-clean"], "CVE-2026-1002", "High", status="Healthy"),
        individual_finding(ids["aks-both"], "CVE-2026-1003", "High"),
        finding(ids["aks-both"], "CVE-2026-1003", "High", source=LEGACY),
    ]
    gaps = [
        gap("unreadable-subscriptions", "Resource Graph returned nothing for 1 of the 2 subscriptions asked for: "
            "the collecting identity may lack Reader on it.", members=[UNREADABLE_SUB]),
        gap("dataset-failed", "Every request to the Log Analytics workspace failed.", dataset="finding_history"),
        gap("cve-limit", "1 package has more than 400 CVEs; only the first 400 were read.",
            dataset="findings", members=["openssl 1.0 on aks-both"]),
        gap("future-kind", "A gap this version of reportgen does not know yet."),
    ]
    return write(path, run_id=run_id, gaps=gaps, scope={"tenant_id": "t", "subscriptions": [SUB, UNREADABLE_SUB],
                                                         "management_groups": []},
                 status={"finding_history": ("failed", ("HTTP 403 from the workspace",))},
                 clusters=[cluster(n, tags={"owner": "team-x"}) for n in RETIRED_CLUSTERS],
                 policy_states=states,
                 assessments=[assessment(ids["aks-both"]), assessment(ids["aks-assessed"], "Healthy")],
                 findings=findings)


def snapshot_of(path: Path):
    return read_snapshot(path)


def renamed_owner(model, old: str, new: str):
    """``model`` with owner ``old`` called ``new`` everywhere (owner columns as Python objects,
    which can hold what an Arrow string cannot: the way to put a lone surrogate into a model)."""
    import dataclasses

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        if "owner" not in frame:
            return frame
        owner = frame["owner"].astype(object)
        return frame.assign(owner=owner.where(owner.ne(old), new))

    t = model.tables
    return dataclasses.replace(
        model, owners=tuple(dataclasses.replace(o, owner=new) if o.owner == old else o for o in model.owners),
        tables=dataclasses.replace(t, **{f.name: rename(getattr(t, f.name)) for f in dataclasses.fields(t)}))
