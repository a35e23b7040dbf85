"""Tenants for the emulator: a small hand-built one, or the built-in sample when it is available.

``tiny_tenant`` builds every dataset by hand with awkward values on purpose (quotes and
non-ASCII in tags, null tags, missing scores and dates, several containers per workload,
7-digit fractional seconds), spread over several subscriptions so batching and scope are
exercised. ``sample_tenant`` uses ``reportgen.collect.sample.generate`` when it exists.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Mapping

import pandas as pd

from reportgen.snapshot import DATASETS, coerce_frame, write_snapshot

KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
NEW_KEY = "e9acaf48-d2cf-45a3-a6e7-3caa2ef769e0"
POLICY = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
GROUPS = ["Azure_Security_Benchmark_v3.0_PV-6", "Azure_Security_Benchmark_v3.0_DS-6"]
AS_OF = pd.Timestamp("2026-10-20T06:00:00Z")
PERIOD = (date(2026, 10, 1), date(2026, 10, 31))


def _jdump(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))  # the snapshot's canonical JSON text


def subscription_ids(n: int) -> list[str]:
    return [f"00000000-0000-0000-0000-{i:012x}" for i in range(1, n + 1)]


def tiny_tenant(subscriptions: int = 3, clusters_per_subscription: int = 2, findings_per_cluster: int = 30,
                history_rows: int = 12) -> dict[str, pd.DataFrame]:
    subs = subscription_ids(subscriptions)
    rows: dict[str, list[dict]] = {name: [] for name in DATASETS}
    for si, sub in enumerate(subs):
        rows["resource_containers"].append({
            "id": f"/subscriptions/{sub}", "type": "microsoft.resources/subscriptions", "name": f"sub-{si}",
            "subscriptionId": sub, "resourceGroup": "", "tags": _jdump({"Owner": f"team-{si}@contoso.com"})})
        for ci in range(clusters_per_subscription):
            rg = f"rg-aks-{ci}"
            rg_id = f"/subscriptions/{sub}/resourceGroups/{rg}"
            rows["resource_containers"].append({
                "id": rg_id, "type": "microsoft.resources/subscriptions/resourcegroups", "name": rg,
                "subscriptionId": sub, "resourceGroup": rg,
                "tags": _jdump({"owner": "Zoë \"quotes\" O'Brien"}) if ci == 0 else None})
            cid = f"{rg_id}/providers/Microsoft.ContainerService/managedClusters/aks-{si}-{ci}"
            rows["clusters"].append({"id": cid, "name": f"aks-{si}-{ci}", "subscriptionId": sub, "resourceGroup": rg,
                                     "location": "westeurope",
                                     "tags": _jdump({"env": "prod", "owner": f"squad-{ci}"}) if ci else None})
            state = "NonCompliant" if ci == 0 else "Compliant"
            rows["policy_states"].append({
                "id": f"{cid}/providers/Microsoft.PolicyInsights/policyStates/{si}{ci}", "resourceId": cid.lower(),
                "resourceType": "Microsoft.ContainerService/managedClusters", "subscriptionId": sub,
                "resourceGroup": rg, "complianceState": state,
                "policyAssignmentId": f"/subscriptions/{sub}/providers/microsoft.authorization/policyassignments/securitycenterbuiltin",
                "policyAssignmentName": "SecurityCenterBuiltIn", "policyDefinitionId": POLICY.lower(),
                "policyDefinitionReferenceId": "kubernetesRunningImagesVulnerabilityMDVMAssessment",
                "policySetDefinitionId": "/providers/microsoft.authorization/policysetdefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8",
                "policyDefinitionGroupNames": _jdump(GROUPS), "timestamp": "2026-10-19T23:10:05.1234567Z"})
            aid = f"{cid}/providers/Microsoft.Security/assessments/{KEY}"
            rows["assessments"].append({
                "id": aid, "assessmentKey": KEY, "resourceId": cid, "subscriptionId": sub, "resourceGroup": rg,
                "statusCode": "Unhealthy" if ci == 0 else "Healthy", "statusCause": None, "severity": "High",
                "displayName": "Azure running container images should have vulnerabilities resolved",
                "firstEvaluationDate": "2026-01-05T10:00:00Z", "statusChangeDate": "2026-10-01T08:30:00Z"})
            if ci == 0:
                rows["governance_assignments"].append({
                    "id": f"{aid}/governanceAssignments/{si:08d}-0000-0000-0000-000000000001", "assessmentId": aid,
                    "owner": f"Owner{si}@Contoso.com", "remediationDueDate": "2026-11-15T00:00:00Z",
                    "isGracePeriod": si % 2 == 0})
            for fi in range(findings_per_cluster):
                cve = f"CVE-2026-{1000 + fi}"
                workloads = [{"namespace": "payments", "kind": "Deployment", "name": "api", "container": "api"},
                             {"namespace": "payments", "kind": "Deployment", "name": "api", "container": "sidecar"}]
                if fi % 3 == 0:
                    workloads.append({"namespace": "batch", "kind": "CronJob", "name": "nightly", "container": "job"})
                rows["findings"].append({
                    "id": f"{aid}/subassessments/{si:02d}{ci:02d}{fi:04d}-aaaa-bbbb-cccc-000000000000",
                    "assessmentKey": KEY, "resourceId": cid, "subscriptionId": sub, "resourceGroup": rg,
                    "cveId": cve, "title": f"{cve} in libssl3 \u2013 \"heap overflow\"",
                    "severity": ["Critical", "High", "Medium", "Low", "high"][fi % 5],
                    "cvssScore": None if fi % 7 == 0 else round(4.0 + (fi % 6), 1),
                    "statusCode": "NotApplicable" if fi % 11 == 0 else "Unhealthy",
                    "statusCause": "Exempt" if fi % 11 == 0 else None,
                    "registryHost": "contoso.azurecr.io", "repositoryName": f"payments/api{ci}",
                    "imageDigest": f"sha256:{(si * 100 + ci):064x}", "imageTags": _jdump(["1.4.2", "latest"]),
                    "packageName": f"pkg-{fi % 9}", "packageVersion": "1.0.0",
                    "fixedVersion": "1.0.1" if fi % 2 else "", "fixStatus": "FixAvailable" if fi % 2 else "NoFixAvailable",
                    "osPlatform": "linux", "osVersion": "ubuntu_linux_22.04",
                    "publishedDate": None if fi % 13 == 0 else "2026-03-14T00:00:00Z", "exploitable": fi % 4 == 0,
                    "timeGenerated": f"2026-10-19T12:{fi % 60:02d}:15.0772799Z", "workloads": _jdump(workloads)})
        rows["exemptions"].append({
            "id": f"/subscriptions/{sub}/resourceGroups/rg-aks-1/providers/Microsoft.Authorization/policyExemptions/ex-{si}",
            "name": f"ex-{si}", "subscriptionId": sub, "resourceGroup": "rg-aks-1",
            "scope": f"/subscriptions/{sub}/resourceGroups/rg-aks-1",
            "policyAssignmentId": f"/subscriptions/{sub}/providers/microsoft.authorization/policyassignments/securitycenterbuiltin",
            "policyDefinitionReferenceIds": _jdump(["kubernetesRunningImagesVulnerabilityMDVMAssessment"]),
            "category": "Waiver" if si % 2 == 0 else "Mitigated", "displayName": "Accepted risk <b>",
            "description": "=HYPERLINK(\"http://evil\")", "expiresOn": None if si == 0 else "2026-12-31T00:00:00Z"})
        for control in ("DS.6", "PV.6"):
            rows["regulatory_compliance"].append({
                "id": f"/subscriptions/{sub}/providers/Microsoft.Security/regulatoryComplianceStandards/"
                      f"Microsoft-cloud-security-benchmark/regulatoryComplianceControls/{control}/"
                      f"regulatoryComplianceAssessments/{KEY}",
                "subscriptionId": sub, "standard": "Microsoft-cloud-security-benchmark", "control": control,
                "assessmentKey": KEY, "state": "Failed", "passedResources": 1, "failedResources": 1,
                "skippedResources": 0})
    for hi in range(history_rows):
        sub = subs[hi % len(subs)]
        cid = f"/subscriptions/{sub}/resourceGroups/rg-aks-0/providers/Microsoft.ContainerService/managedClusters/aks-{hi % len(subs)}-0"
        rows["assessment_history"].append({
            "TimeGenerated": f"2026-10-{1 + hi % 19:02d}T04:00:00Z", "AssessedResourceId": cid,
            "RecommendationName": KEY, "RecommendationState": "Unhealthy" if hi % 3 else "Healthy",
            "IsSnapshot": hi % 2 == 0, "SubscriptionId": sub})
        rows["finding_history"].append({
            "TimeGenerated": f"2026-10-{1 + hi % 19:02d}T05:00:00Z", "AssessedResourceId": cid,
            "VulnerabilityId": f"CVE-2026-{1000 + hi}", "imageDigest": f"sha256:{(hi % 3) * 100:064x}",
            "packageName": f"pkg-{hi % 9}", "RecommendationState": "Unhealthy", "RecommendationSeverity": "High",
            "IsSnapshot": hi % 2 == 1})
    return {name: coerce_frame(name, pd.DataFrame(rows[name], columns=list(DATASETS[name])), origin=f"tiny {name}")
            for name in DATASETS}


def sample_tenant(clusters: int, seed: int = 1, as_of: date = AS_OF.date()) -> dict[str, pd.DataFrame]:
    """The built-in sample tenant (``reportgen.collect.sample``), coerced to snapshot types."""
    from reportgen.collect.sample import generate
    frames = generate(clusters=clusters, seed=seed, as_of=as_of)
    return {name: coerce_frame(name, frames[name], origin=f"sample {name}") for name in DATASETS}


def write_served_snapshot(path: Path, frames: Mapping[str, pd.DataFrame], collected_at: datetime | pd.Timestamp,
                          period: tuple[date, date], scope: Mapping | None = None) -> Path:
    """The tenant written as a snapshot directly (what rendering "the served snapshot" reads)."""
    return write_snapshot(path, frames, collected_at=collected_at, period=period, source="emulator-tenant",
                          run_id="served", scope=scope)


def tenant_subscriptions(frames: Mapping[str, pd.DataFrame]) -> list[str]:
    subs = set()
    for name, frame in frames.items():
        if "subscriptionId" in frame.columns:
            subs.update(s for s in frame["subscriptionId"].dropna() if s)
    return sorted(subs)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
