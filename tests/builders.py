"""Hand-built snapshots for tests: small frames with defaults, written with the real writer."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd

from reportgen.snapshot import DATASETS, empty_frame, read_snapshot, write_snapshot

POLICY = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
OTHER_POLICY = "/providers/Microsoft.Authorization/policyDefinitions/00000000-0000-0000-0000-000000000001"
KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
DS6 = "Azure_Security_Benchmark_v3.0_DS-6"
PV6 = "Azure_Security_Benchmark_v3.0_PV-6"
SUB = "00000000-0000-0000-0000-0000000000aa"
AS_OF = "2026-10-31T06:00:00Z"


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


def frames(**rows: list[dict]) -> dict[str, pd.DataFrame]:
    out = {}
    for name in DATASETS:
        out[name] = pd.DataFrame(rows[name], columns=list(DATASETS[name])) if rows.get(name) else empty_frame(name)
    return out


def write(path: Path, collected_at: str = AS_OF, run_id: str = "run-test", **rows: list[dict]) -> Path:
    ts = pd.Timestamp(collected_at)
    start = date(ts.year, ts.month, 1)
    return write_snapshot(path, frames(**rows), collected_at=ts, period=(start, ts.date()), source="test",
                          run_id=run_id)


def snapshot(path: Path, collected_at: str = AS_OF, **rows: list[dict]):
    return read_snapshot(write(path, collected_at=collected_at, **rows))
