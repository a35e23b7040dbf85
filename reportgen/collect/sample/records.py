"""Raw Azure records, one function per kind, each shaped as the public Microsoft source it names.

These are the rows Azure itself holds, before any query: the envelope of every Resource
Graph row (``id, name, type, tenantId, kind, location, resourceGroup, subscriptionId,
managedBy, sku, plan, properties, tags, identity, zones, extendedLocation``) with
``properties`` nested as Azure nests it, and the continuous-export rows of Log Analytics.
Fields Azure keeps as JSON strings (``CvesDetails``, ``resourceAdditionalData``) are built
as strings here too. The sample tenant (``tenant.py``) and the test emulator's tenants are
made of these records only; the query files then run over them unchanged.

Where a shape is not documented by Microsoft the docstring says so and names what it
follows instead. Case matters: Resource Graph returns ``type`` in lower case, PascalCase
keys under ``resourceDetails`` of assessments (``Source``, ``Id``), and mixed-case ids.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

ASSESSMENT = "microsoft.security/assessments"
SUB_ASSESSMENT = "microsoft.security/assessments/subassessments"
GOVERNANCE_ASSIGNMENT = "microsoft.security/assessments/governanceassignments"
REGULATORY_ASSESSMENT = ("microsoft.security/regulatorycompliancestandards/regulatorycompliancecontrols/"
                         "regulatorycomplianceassessments")
POLICY_STATE = "microsoft.policyinsights/policystates"
POLICY_EXEMPTION = "microsoft.authorization/policyexemptions"
MANAGED_CLUSTER = "microsoft.containerservice/managedclusters"
SUBSCRIPTION = "microsoft.resources/subscriptions"
RESOURCE_GROUP = "microsoft.resources/subscriptions/resourcegroups"


def compact(value: Any) -> str:
    """JSON text as Azure writes it: no spaces, keys in the order given."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def envelope(id: str, name: str, type: str, *, tenant_id: str, subscription_id: str, resource_group: str = "",
             location: str = "", properties: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
             kind: str = "", managed_by: str = "", sku: Any = None, plan: Any = None, identity: Any = None,
             zones: Any = None, extended_location: Any = None) -> dict:
    """The Resource Graph row envelope (MicrosoftDocs/azure-docs
    articles/governance/resource-graph/concepts/query-language.md and the ``securityresources``
    sample rows in articles/defender-for-cloud/subassessment-rest-api.md)."""
    return {"id": id, "name": name, "type": type, "tenantId": tenant_id, "kind": kind, "location": location,
            "resourceGroup": resource_group, "subscriptionId": subscription_id, "managedBy": managed_by,
            "sku": sku, "plan": plan, "properties": dict(properties or {}), "tags": None if tags is None else dict(tags),
            "identity": identity, "zones": zones, "extendedLocation": extended_location}


# ---------------------------------------------------------------------------- resources, resourcecontainers

def managed_cluster(id: str, *, tenant_id: str, subscription_id: str, resource_group: str, location: str,
                    tags: Mapping[str, str] | None, kubernetes_version: str = "1.30.6") -> dict:
    """An AKS cluster in ``resources`` (ARM ManagedCluster, Microsoft.ContainerService 2024-09-01: sku
    Base/Standard, SystemAssigned identity, properties.kubernetesVersion, provisioningState)."""
    name = id.rsplit("/", 1)[-1]
    return envelope(id, name, MANAGED_CLUSTER, tenant_id=tenant_id, subscription_id=subscription_id,
                    resource_group=resource_group.lower(), location=location, tags=tags,
                    sku={"name": "Base", "tier": "Standard"}, identity={"type": "SystemAssigned"},
                    properties={"provisioningState": "Succeeded", "kubernetesVersion": kubernetes_version,
                                "powerState": {"code": "Running"},
                                "nodeResourceGroup": f"MC_{resource_group}_{name}_{location}",
                                "securityProfile": {"defender": {"securityMonitoring": {"enabled": True}}}})


def subscription(subscription_id: str, display_name: str, *, tenant_id: str, tags: Mapping[str, str] | None) -> dict:
    """A subscription in ``resourcecontainers`` (type microsoft.resources/subscriptions; name is the
    display name; properties.state), as Microsoft's sample queries read it."""
    return envelope(f"/subscriptions/{subscription_id}", display_name, SUBSCRIPTION, tenant_id=tenant_id,
                    subscription_id=subscription_id, tags=tags,
                    properties={"state": "Enabled", "subscriptionPolicies": {"quotaId": "EnterpriseAgreement_2014-09-01",
                                                                              "spendingLimit": "Off"}})


def resource_group(subscription_id: str, name: str, *, tenant_id: str, location: str,
                   tags: Mapping[str, str] | None) -> dict:
    """A resource group in ``resourcecontainers``: the id keeps the group's own casing, the
    ``resourceGroup`` column is lower case (Resource Graph normalises it)."""
    return envelope(f"/subscriptions/{subscription_id}/resourceGroups/{name}", name, RESOURCE_GROUP,
                    tenant_id=tenant_id, subscription_id=subscription_id, resource_group=name.lower(),
                    location=location, tags=tags, properties={"provisioningState": "Succeeded"})


# ---------------------------------------------------------------------------- policyresources

def policy_state(*, name: str, resource_id: str, resource_type: str, resource_location: str, tenant_id: str,
                 subscription_id: str, resource_group: str, compliance_state: str, assignment_id: str,
                 assignment_name: str, definition_id: str, reference_id: str, group_names: Sequence[str],
                 set_definition_id: str, timestamp: str, effect: str = "auditifnotexists",
                 set_category: str = "security center") -> dict:
    """A policy state in ``policyresources`` (REST PolicyState, Azure/azure-rest-api-specs
    Microsoft.PolicyInsights stable/2024-10-01 PolicyStates_QuerySubscriptionScope.json; ids come
    back lower-cased, as in MicrosoftDocs/azure-docs how-to/get-compliance-data.md)."""
    scope = assignment_id.split("/providers/", 1)[0]
    return envelope(f"{resource_id}/providers/microsoft.policyinsights/policystates/{name}", name, POLICY_STATE,
                    tenant_id=tenant_id, subscription_id=subscription_id, resource_group=resource_group,
                    properties={
                        "timestamp": timestamp, "resourceId": resource_id, "resourceType": resource_type,
                        "resourceLocation": resource_location, "resourceGroup": resource_group,
                        "subscriptionId": subscription_id, "complianceState": compliance_state,
                        "isCompliant": compliance_state == "Compliant", "policyAssignmentId": assignment_id,
                        "policyAssignmentName": assignment_name.lower(), "policyAssignmentScope": scope,
                        "policyDefinitionId": definition_id.lower(), "policyDefinitionName": definition_id.rsplit("/", 1)[-1],
                        "policyDefinitionAction": effect, "policyDefinitionReferenceId": reference_id.lower(),
                        "policyDefinitionGroupNames": list(group_names), "policySetDefinitionId": set_definition_id.lower(),
                        "policySetDefinitionName": set_definition_id.rsplit("/", 1)[-1].lower(),
                        "policySetDefinitionCategory": set_category})


def policy_exemption(*, scope: str, name: str, tenant_id: str, subscription_id: str, resource_group: str,
                     assignment_id: str, reference_ids: Sequence[str], category: str, display_name: str,
                     description: str, expires_on: str | None, metadata: Mapping[str, Any] | None = None,
                     system_data: Mapping[str, str] | None = None) -> dict:
    """A policy exemption in ``policyresources`` (ARM Microsoft.Authorization/policyExemptions
    2022-07-01-preview: policyAssignmentId, policyDefinitionReferenceIds, exemptionCategory
    Waiver|Mitigated, displayName, description, expiresOn, metadata, assignmentScopeValidation;
    the same properties Microsoft's Generate-ExemptionReport.ps1 reads, Azure/Microsoft-Defender-for-Cloud).

    ``system_data`` is the ARM resource's top-level ``systemData`` {createdBy, createdByType,
    createdAt, lastModifiedBy, lastModifiedByType, lastModifiedAt}, beside ``properties`` as the
    REST response carries it (Azure/azure-rest-api-specs specification/resources/resource-manager/
    Microsoft.Authorization/policy/preview/2022-07-01-preview/examples/createOrUpdatePolicyExemption.json;
    createdByType User | Application | ManagedIdentity | Key, common-types systemData)."""
    row = envelope(f"{scope}/providers/Microsoft.Authorization/policyExemptions/{name}", name, POLICY_EXEMPTION,
                   tenant_id=tenant_id, subscription_id=subscription_id, resource_group=resource_group.lower(),
                   properties={"policyAssignmentId": assignment_id, "policyDefinitionReferenceIds": list(reference_ids),
                               "exemptionCategory": category, "displayName": display_name,
                               "description": description, "expiresOn": expires_on,
                               "metadata": dict(metadata or {}), "assignmentScopeValidation": "Default"})
    if system_data is not None:
        row["systemData"] = dict(system_data)
    return row


def system_data(*, created_by: str, created_by_type: str, created_at: str, last_modified_by: str,
                last_modified_by_type: str, last_modified_at: str) -> dict:
    """ARM ``systemData`` (Azure/azure-rest-api-specs common-types/resource-management types.json
    ``systemData``; key order as in the policyExemptions examples)."""
    return {"createdBy": created_by, "createdByType": created_by_type, "createdAt": created_at,
            "lastModifiedBy": last_modified_by, "lastModifiedByType": last_modified_by_type,
            "lastModifiedAt": last_modified_at}


# ---------------------------------------------------------------------------- securityresources

def assessment(*, resource_id: str, key: str, tenant_id: str, subscription_id: str, resource_group: str,
               status_code: str, status_cause: str, first_evaluation: str, status_change: str,
               display_name: str, severity: str, policy_definition_id: str) -> dict:
    """A Defender assessment of a resource (REST Microsoft.Security/assessments 2021-06-01; the
    continuous-export sample in ../shared/AZURE-NOTES.md 2a). In Resource Graph the keys under
    resourceDetails are PascalCase (``Source``, ``Id``: Microsoft's Governance workbook and
    "ASC exempt and disabled recommendations" query read them so); ``name`` is the assessment key."""
    id = f"{resource_id}/providers/Microsoft.Security/assessments/{key}"
    status = {"code": status_code, "firstEvaluationDate": first_evaluation, "statusChangeDate": status_change}
    if status_cause:
        status.update(cause=status_cause, description="Exempt" if status_cause == "Exempt" else status_cause)
    return envelope(id, key, ASSESSMENT, tenant_id=tenant_id, subscription_id=subscription_id,
                    resource_group=resource_group.lower(),
                    properties={
                        "resourceDetails": {"Source": "Azure", "Id": resource_id,
                                            "ResourceProvider": "Microsoft.ContainerService",
                                            "ResourceType": "managedClusters",
                                            "ResourceName": resource_id.rsplit("/", 1)[-1]},
                        "displayName": display_name, "status": status,
                        "additionalData": {"subAssessmentsLink": f"{id}/subAssessments"},
                        "metadata": {"displayName": display_name, "assessmentType": "BuiltIn",
                                     "policyDefinitionId": policy_definition_id, "severity": severity,
                                     "categories": ["Compute"], "userImpact": "Moderate",
                                     "implementationEffort": "Moderate", "threats": ["DataExfiltration"]},
                        "links": {"azurePortal": f"portal.azure.com/#blade/Microsoft_Azure_Security/"
                                                 f"RecommendationsBlade/assessmentKey/{key}"}})


def cve_detail(*, cve_id: str, severity: str, cvss: float | None, vector: str, published: str,
               exploit_published: bool, exploit_verified: bool, in_exploit_kit: bool, fix_status: str,
               fixed_version: str, description: str) -> dict:
    """One element of an individual recommendation's ``additionalData.CvesDetails`` as Microsoft's
    workbooks read it (microsoft/Application-Insights-Workbooks, Containers Security.workbook and
    Vulnerabilities.workbook): CveId, Severity, Cvss as a list of {Key: "3", Value: {Base,
    CvssVectorString}}, ExploitabilityDetails flags as "true"/"false", PublishedDate, FixStatus,
    FixedVersion, Description. Key order matters: the Vulnerabilities workbook reads the base
    score with a regular expression over the serialised list."""
    flag = lambda b: "true" if b else "false"  # noqa: E731
    return {"CveId": cve_id, "Severity": severity,
            "Cvss": [] if cvss is None else [{"Key": "3", "Value": {"Base": cvss, "CvssVectorString": vector}}],
            "ExploitabilityDetails": {"ExploitStepsPublished": flag(exploit_published),
                                      "ExploitStepsVerified": flag(exploit_verified),
                                      "IsInExploitKit": flag(in_exploit_kit)},
            "PublishedDate": published, "FixStatus": fix_status, "FixedVersion": fixed_version,
            "Description": description}


def workload_details(*, cluster_name: str, namespace: str, container: str, controller_kind: str,
                     controller_name: str, image_uri: str) -> dict:
    """An individual recommendation's ``resourceAdditionalData`` (a JSON string in Azure) as the
    Containers Security workbook reads it: ClusterDetails.ClusterName, Namespace, ContainerName,
    ControllerKind, ControllerName, ImageDetails.ImageUri. Image URIs are written
    ``registry/repository:tag@sha256:digest``; Microsoft shows none, so the reader splits both forms."""
    return {"ClusterDetails": {"ClusterName": cluster_name}, "Namespace": namespace, "ContainerName": container,
            "ControllerKind": controller_kind, "ControllerName": controller_name,
            "ImageDetails": {"ImageUri": image_uri}}


def individual_recommendation(*, cluster_id: str, entity: str, name: str, tenant_id: str, subscription_id: str,
                              resource_group: str, display_name: str, severity: str, status_code: str,
                              status_cause: str, first_evaluation: str | None, status_change: str, software: str,
                              vendor: str, package_type: str, fixed_version: str, detected_versions: Sequence[str],
                              cves_details: str, resource_additional_data: str) -> dict:
    """One individual recommendation: one vulnerable software package in one running container.

    Shape from Microsoft's Containers Security workbook (microsoft/Application-Insights-Workbooks,
    commit 77cfd8dc): ``metadata.recommendationCategory`` "SoftwareUpdate", ``resourceDetails``
    {Source "Azure", ResourceType "K8s-container"}, the cluster as the part of ``id`` before
    ``/securityentitydata/``, additionalData {SoftwareName, SoftwareVendor, PackageType,
    FixedVersion, DetectedSoftwareVersions, CvesDetails (JSON string)}, resourceAdditionalData
    (JSON string), status {code, firstEvaluationDate, statusChangeDate}, metadata.severity. The
    part of the id after /securityentitydata/ is not shown by Microsoft (inferred: an entity id,
    then the assessment). ``cves_details`` and ``resource_additional_data`` are JSON text.
    """
    entity_id = f"{cluster_id}/securityentitydata/{entity}"
    status: dict[str, Any] = {"code": status_code}
    if first_evaluation is not None:   # optional in the schema (see World._no_first_evaluation)
        status["firstEvaluationDate"] = first_evaluation
    status["statusChangeDate"] = status_change
    if status_cause:
        status.update(cause=status_cause, description=status_cause)
    return envelope(f"{entity_id}/providers/Microsoft.Security/assessments/{name}", name, ASSESSMENT,
                    tenant_id=tenant_id, subscription_id=subscription_id, resource_group=resource_group.lower(),
                    properties={
                        "resourceDetails": {"Source": "Azure", "Id": entity_id, "ResourceType": "K8s-container",
                                            "ResourceProvider": "Microsoft.Security"},
                        "displayName": display_name, "status": status,
                        "metadata": {"displayName": display_name, "assessmentType": "BuiltIn", "severity": severity,
                                     "recommendationCategory": "SoftwareUpdate", "categories": ["Container"]},
                        "additionalData": {"SoftwareName": software, "SoftwareVendor": vendor,
                                           "PackageType": package_type, "FixedVersion": fixed_version,
                                           "DetectedSoftwareVersions": list(detected_versions),
                                           "CvesDetails": cves_details},
                        "resourceAdditionalData": resource_additional_data})


def quote(text: str) -> str:
    """A string as a JSON string literal (for records written as JSON text)."""
    return json.dumps(text, ensure_ascii=False)


def sub_assessment(*, assessment_id: str, guid: str, tenant_id: str, subscription_id: str, resource_group: str,
                   cluster_id: str, cve_id: str, title: str, severity: str, cvss: float | None, published: str,
                   exploitable: bool, status_code: str, status_cause: str, time_generated: str,
                   registry: str, repository: str, digest: str, tags: Sequence[str], package: str, version: str,
                   fixed_version: str, fix_status: str, os_platform: str, os_version: str,
                   workloads: Iterable[Mapping[str, str]]) -> dict:
    """A legacy sub-assessment of the running-images assessment (c609cf0f), retired 31 July 2026.

    The registry shape is documented (MicrosoftDocs/azure-docs articles/defender-for-cloud/
    subassessment-rest-api.md: id, displayName, status {code, severity, cause}, resourceDetails
    {id, source} in lower case, timeGenerated, additionalData {cvssV30Score, vulnerabilityDetails,
    artifactDetails, softwareDetails}); the runtime fields clusterDetails.clusterResourceId and
    kubernetesContext.workloads[{namespace, kind, name, containers[{name}]}] are not (third-party
    material, ../shared/AZURE-NOTES.md 2b).
    """
    grouped: list[dict] = []
    for w in workloads:
        key = (w["namespace"], w["kind"], w["name"])
        if grouped and (grouped[-1]["namespace"], grouped[-1]["kind"], grouped[-1]["name"]) == key:
            grouped[-1]["containers"].append({"name": w["container"]})
        else:
            grouped.append({"namespace": key[0], "kind": key[1], "name": key[2], "ownedResources": [],
                            "containers": [{"name": w["container"]}]})
    status = {"code": status_code, "severity": severity}
    if status_cause:
        status.update(cause=status_cause, description="Disabled parent assessment")
    return envelope(f"{assessment_id}/subassessments/{guid}", guid, SUB_ASSESSMENT, tenant_id=tenant_id,
                    subscription_id=subscription_id, resource_group=resource_group.lower(), location="global",
                    properties={
                        "id": cve_id, "displayName": title, "description": title,
                        "remediation": f"Update {package} to {fixed_version}" if fixed_version else "No remediation exists",
                        "resourceDetails": {"id": f"/repositories/{repository}/images/{digest}", "source": "Azure"},
                        "timeGenerated": time_generated, "status": status,
                        "additionalData": {
                            "assessedResourceType": "AzureContainerRegistryVulnerability",
                            "cvssV30Score": cvss,
                            "vulnerabilityDetails": {
                                "cveId": cve_id, "severity": severity, "publishedDate": published,
                                "exploitabilityAssessment": {"exploitStepsPublished": exploitable,
                                                             "exploitStepsVerified": False, "isInExploitKit": False,
                                                             "exploitUris": [], "types": ["Remote"]},
                                "cvss": {"2.0": None, "3.0": None if cvss is None else {"base": cvss}}},
                            "artifactDetails": {"registryHost": registry, "repositoryName": repository,
                                                "digest": digest, "tags": list(tags), "artifactType": "ContainerImage"},
                            "softwareDetails": {"category": "OS" if os_platform else "Language", "packageName": package,
                                                "version": version, "fixedVersion": fixed_version,
                                                "fixStatus": fix_status,
                                                "osDetails": {"osPlatform": os_platform, "osVersion": os_version}},
                            "clusterDetails": {"clusterResourceId": cluster_id},
                            "kubernetesContext": {"workloads": grouped}}})


def governance_assignment(*, assessment_id: str, guid: str, tenant_id: str, subscription_id: str,
                          resource_group: str, owner: str, due: str, grace: bool) -> dict:
    """A Defender governance assignment (specs Microsoft.Security preview/2022-01-01-preview
    governanceAssignments.json; read by Microsoft's Governance workbook as properties.assignedResourceId
    = the assessment's full id, owner, remediationDueDate, isGracePeriod)."""
    return envelope(f"{assessment_id}/governanceAssignments/{guid}", guid, GOVERNANCE_ASSIGNMENT,
                    tenant_id=tenant_id, subscription_id=subscription_id, resource_group=resource_group.lower(),
                    properties={"assignedResourceId": assessment_id, "owner": owner, "remediationDueDate": due,
                                "isGracePeriod": grace,
                                "governanceEmailNotification": {"disableManagerEmailNotification": False,
                                                                "disableOwnerEmailNotification": False}})


def regulatory_assessment(*, subscription_id: str, standard: str, control: str, key: str, tenant_id: str,
                          state: str, passed: int, failed: int, skipped: int, description: str) -> dict:
    """A regulatory-compliance assessment (specs Microsoft.Security preview/2019-01-01-preview
    regulatoryCompliance.json; the id's mixed-case segments as Microsoft's
    "Regulatory Compliance Assessments State" query extracts them)."""
    id = (f"/subscriptions/{subscription_id}/providers/Microsoft.Security/regulatoryComplianceStandards/{standard}"
          f"/regulatoryComplianceControls/{control}/regulatoryComplianceAssessments/{key}")
    return envelope(id, key, REGULATORY_ASSESSMENT, tenant_id=tenant_id, subscription_id=subscription_id,
                    properties={"description": description, "assessmentType": "Automated",
                                "assessmentDetailsLink": f"https://portal.azure.com/#blade/Microsoft_Azure_Security/"
                                                         f"RecommendationsBlade/assessmentKey/{key}",
                                "state": state, "passedResources": passed, "failedResources": failed,
                                "skippedResources": skipped, "unsupportedResources": 0})


# ---------------------------------------------------------------------------- Log Analytics

def security_recommendation(*, time: str, tenant_id: str, assessed_resource_id: str, recommendation_id: str,
                            key: str, display_name: str, state: str, severity: str, snapshot: bool,
                            subscription_id: str) -> dict:
    """A SecurityRecommendation row of Defender continuous export (Azure Monitor table reference;
    the columns Microsoft's continuous-export query reads: AssessedResourceId, RecommendationId,
    RecommendationName, RecommendationState, RecommendationSeverity)."""
    return {"TenantId": tenant_id, "TimeGenerated": time, "AssessedResourceId": assessed_resource_id,
            "RecommendationId": recommendation_id, "RecommendationName": key,
            "RecommendationDisplayName": display_name, "RecommendationState": state,
            "RecommendationSeverity": severity, "IsSnapshot": snapshot, "Type": "SecurityRecommendation",
            "_SubscriptionId": subscription_id, "_ResourceId": assessed_resource_id}


def security_nested_recommendation(*, time: str, tenant_id: str, assessed_resource_id: str, id: str,
                                   parent_id: str, cve_id: str, state: str, severity: str, snapshot: bool,
                                   digest: str, repository: str, package: str, subscription_id: str) -> dict:
    """A SecurityNestedRecommendation row (the export of sub-assessments; stops with them).
    AdditionalData keys as Microsoft's ContainerImageScanning_Notification automation reads them
    (ImageDigest, RepositoryName); softwareDetails.packageName follows the sub-assessment shape."""
    return {"TenantId": tenant_id, "TimeGenerated": time, "AssessedResourceId": assessed_resource_id, "Id": id,
            "ParentRecommendationId": parent_id, "VulnerabilityId": cve_id, "RecommendationName": cve_id,
            "RecommendationState": state, "RecommendationSeverity": severity, "IsSnapshot": snapshot,
            "AdditionalData": {"ImageDigest": digest, "RepositoryName": repository,
                               "softwareDetails": {"packageName": package}},
            "Type": "SecurityNestedRecommendation", "RecommendationSubscriptionId": subscription_id,
            "_SubscriptionId": subscription_id, "_ResourceId": assessed_resource_id}


def individual_recommendation_export(assessment: Mapping[str, Any], *, time: str, state: str, snapshot: bool,
                                     first_evaluation: str | None, status_change: str | None) -> dict:
    """A SecurityRecommendation row of continuous export for one individual recommendation (one
    package on one container), made from its Resource Graph record (``individual_recommendation``).

    Columns from the Azure Monitor table reference (SecurityRecommendation: AssessedResourceId,
    RecommendationId, RecommendationName, RecommendationState, RecommendationSeverity, IsSnapshot,
    Properties, RecommendationAdditionalData, FirstEvaluationDate, StatusChangeDate); the values as
    queries/log_analytics/finding_history.recommendations.kql reads them: the container's security
    entity id as AssessedResourceId, the assessment's full id and name,
    Properties = the assessment's properties without additionalData, RecommendationAdditionalData
    = its additionalData (CvesDetails a JSON string). Inferred, not shown by Microsoft: how export
    fills these columns for this assessment type, and that a Healthy row keeps the CVE list the
    package last had (without it a closure could not be matched to its CVEs).
    """
    props = assessment["properties"]
    status: dict[str, Any] = {"code": state}
    if first_evaluation is not None:
        status["firstEvaluationDate"] = first_evaluation
    if status_change is not None:
        status["statusChangeDate"] = status_change
    properties = {k: v for k, v in props.items() if k != "additionalData"}
    properties["status"] = status
    entity = props["resourceDetails"]["Id"]
    return {"TenantId": assessment["tenantId"], "TimeGenerated": time, "AssessedResourceId": entity,
            "RecommendationId": assessment["id"], "RecommendationName": assessment["name"],
            "RecommendationDisplayName": props["displayName"], "RecommendationState": state,
            "RecommendationSeverity": props["metadata"]["severity"], "IsSnapshot": snapshot,
            "FirstEvaluationDate": first_evaluation, "StatusChangeDate": status_change,
            "Properties": properties, "RecommendationAdditionalData": props["additionalData"],
            "Type": "SecurityRecommendation", "_SubscriptionId": assessment["subscriptionId"], "_ResourceId": entity}
