"""Exemption applicability, approval evidence and attribution of exempt findings (DESIGN §6), hand-worked."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from reportgen.aggregate.exceptions import LocalException
from reportgen.aggregate.exemptions import EXPIRING_DAYS, _expiry, applicability, exemptions_table, split_metadata
from reportgen.aggregate.model import EXEMPTION_COLUMNS
from reportgen.config import RunConfig
from reportgen.errors import SnapshotError
from reportgen.snapshot import DATASETS, Snapshot, coerce_frame

AS_OF = "2026-10-20T06:00:00Z"
POLICY = "/providers/Microsoft.Authorization/policyDefinitions/17f4b1cc-c55c-4d94-b1f9-2978f6ac2957"
OTHER = "/providers/Microsoft.Authorization/policyDefinitions/090c7b07-b4ed-4561-ad20-e9075f3ccaff"
REF = "kubernetesRunningImagesVulnerabilityMDVMAssessment"
ASSIGNMENT = "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/SecurityCenterBuiltIn"
OTHER_ASSIGNMENT = "/subscriptions/s1/providers/Microsoft.Authorization/policyAssignments/registry-only"
RG_A = "/subscriptions/s1/resourceGroups/rg-a"


def cluster(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}/providers/microsoft.containerservice/managedclusters/{name}"


def _state(assignment: str, definition: str, reference: str) -> dict:
    return {"id": f"{cluster('s1', 'rg-a', 'c1')}/providers/microsoft.policyinsights/policystates/x",
            "resourceId": cluster("s1", "rg-a", "c1"), "resourceType": "Microsoft.ContainerService/managedClusters",
            "subscriptionId": "s1", "resourceGroup": "rg-a", "complianceState": "Exempt",
            "policyAssignmentId": assignment.lower(), "policyAssignmentName": assignment.rsplit("/", 1)[1].lower(),
            "policyDefinitionId": definition.lower(), "policyDefinitionReferenceId": reference.lower(),
            "policySetDefinitionId": "", "policyDefinitionGroupNames": "[]", "timestamp": AS_OF}


def _exemption(name: str, scope: str, assignment: str, refs: list[str], expires: str | None, **extra) -> dict:
    return {"id": f"{scope}/providers/Microsoft.Authorization/policyExemptions/{name}", "name": name,
            "subscriptionId": "s1", "resourceGroup": "", "scope": scope, "policyAssignmentId": assignment,
            "policyDefinitionReferenceIds": json.dumps(refs), "category": "Waiver", "displayName": name.title(),
            "description": f"why {name}", "expiresOn": expires, **extra}


def snapshot(exemptions: list[dict], states: list[dict]) -> Snapshot:
    frames = {name: coerce_frame(name, pd.DataFrame({c: [] for c in DATASETS[name]}), origin=name) for name in DATASETS}
    frames["exemptions"] = coerce_frame("exemptions", pd.DataFrame(exemptions), origin="exemptions")
    frames["policy_states"] = coerce_frame("policy_states", pd.DataFrame(states), origin="policy_states")
    return Snapshot(path=Path("/snap"), meta={"collected_at": AS_OF}, frames=frames, datasets={}, queries={},
                    fingerprint="f")


META = {"ApprovedBy": "ciso@contoso.com", "requested_by": "team-a@contoso.com", "TicketNumber": "CHG-1",
        "riskScore": 7, "approver": "second@contoso.com"}
SYSTEM = {"createdBy": "alice@contoso.com", "createdAt": "2026-09-01T10:00:00Z",
          "lastModifiedBy": "c0ffee00-0000-4000-8000-000000000001", "lastModifiedAt": "2026-10-02T09:30:00Z"}

EXEMPTIONS = [
    # applies (its reference ids hold ours, in another case); no expiry; the rg-a scope
    _exemption("waiver-rg-a", RG_A, ASSIGNMENT.upper(), [REF.upper()], None, metadata=json.dumps(META), **SYSTEM),
    # applies (no reference ids: every policy of the assignment); the subscription scope; expires in 10 days
    _exemption("sub-wide", "/subscriptions/s1", ASSIGNMENT, [], "2026-10-30T06:00:00Z", metadata="{}",
               createdBy="", createdAt=None, lastModifiedBy="", lastModifiedAt=None),
    # the assignment carries our definition, but the exemption names another reference id
    _exemption("not-mine-ref", RG_A, ASSIGNMENT, ["azureContainerRegistryVulnerabilityAssessment"], None,
               metadata=None, createdBy="", createdAt=None, lastModifiedBy="", lastModifiedAt=None),
    # an assignment that carries only another definition
    _exemption("other-assignment", "/subscriptions/s1", OTHER_ASSIGNMENT, [], None, metadata=None, createdBy="",
               createdAt=None, lastModifiedBy="", lastModifiedAt=None),
    # applies but expired yesterday: it explains no exempt state now
    _exemption("expired-rg-a", RG_A, ASSIGNMENT, [], "2026-10-19T00:00:00Z", metadata=None, createdBy="",
               createdAt=None, lastModifiedBy="", lastModifiedAt=None),
    # the same scope as waiver-rg-a: the tie goes to the name that sorts first (waiver-rg-a)
    _exemption("zz-rg-a", RG_A, ASSIGNMENT, [], None, metadata=None, createdBy="", createdAt=None,
               lastModifiedBy="", lastModifiedAt=None),
]
STATES = [_state(ASSIGNMENT, POLICY, REF), _state(OTHER_ASSIGNMENT, OTHER, "registryRef"),
          _state(ASSIGNMENT, OTHER, "azureContainerRegistryVulnerabilityAssessment")]
EXCEPTIONS = (
    LocalException("RA-1", (("cve", "CVE-2023-1"),), "accepted", "risk@contoso.com", "SEC-9", date(2026, 12, 19)),
    LocalException("RA-2", (("cve", "CVE-2023-2"),), "old", "risk@contoso.com", "", date(2026, 10, 19)),
)
FINDINGS = pd.DataFrame([
    {"rid": cluster("s1", "rg-a", "c1"), "state": "Exempt", "exemption": "Exempt in Defender"},    # waiver-rg-a
    {"rid": cluster("s1", "rg-a", "c1"), "state": "Exempt", "exemption": "Exempt in Defender"},    # waiver-rg-a
    {"rid": cluster("s1", "rg-b", "c2"), "state": "Exempt", "exemption": "Exempt in Defender"},    # sub-wide
    {"rid": cluster("s1", "rg-ab", "c3"), "state": "Exempt", "exemption": "Exempt in Defender"},   # sub-wide, not rg-a
    {"rid": cluster("s2", "rg-a", "c4"), "state": "Exempt", "exemption": "Exempt in Defender"},    # nothing covers s2
    {"rid": cluster("s1", "rg-a", "c1"), "state": "Exempt", "exemption": "Local exception RA-1: accepted"},
    {"rid": cluster("s1", "rg-a", "c1"), "state": "Open", "exemption": ""},                        # not exempt
])


@pytest.fixture(scope="module")
def result():
    return exemptions_table(snapshot(EXEMPTIONS, STATES), EXCEPTIONS, FINDINGS, RunConfig())


def test_the_table_has_exactly_the_contract_columns_in_expiry_order(result):
    table, _ = result
    assert list(table.columns) == list(EXEMPTION_COLUMNS)
    # Expired, Expiring, then Active; within each by expiry (none last), then name: RA-2's expiry date
    # 19 Oct is shown as 19 Oct 00:00, the same instant as expired-rg-a's, and "RA-2" sorts first
    assert list(table["name"]) == ["RA-2", "expired-rg-a", "sub-wide", "RA-1", "not-mine-ref", "other-assignment",
                                   "waiver-rg-a", "zz-rg-a"]
    by = table.set_index("name")
    assert list(by.loc[["expired-rg-a", "RA-2", "sub-wide", "RA-1", "waiver-rg-a"], "status"]) == \
        ["Expired", "Expired", "Expiring", "Active", "Active"]
    # whole days, rounded down: -30 h -> -2; 10 days; RA-2 ends at the end of 19 Oct: -6 h -> -1;
    # RA-1 ends at the end of 19 Dec (20 Dec 00:00): 61 days - 6 h -> 60
    assert by.loc["expired-rg-a", "daysToExpiry"] == -2 and by.loc["sub-wide", "daysToExpiry"] == 10
    assert by.loc["RA-2", "daysToExpiry"] == -1 and by.loc["RA-1", "daysToExpiry"] == 60
    assert pd.isna(by.loc["waiver-rg-a", "daysToExpiry"])


def test_only_exemptions_of_an_assignment_carrying_the_definition_and_its_reference_id_apply(result):
    by = result[0].set_index("name")
    applies = by["appliesToPolicy"].to_dict()
    assert applies == {"waiver-rg-a": True, "sub-wide": True, "not-mine-ref": False, "other-assignment": False,
                       "expired-rg-a": True, "zz-rg-a": True, "RA-1": True, "RA-2": True}
    assert by.loc["not-mine-ref", "applicability"] == (
        "not applicable to this policy: exempts only reference ids azureContainerRegistryVulnerabilityAssessment, "
        "not kubernetesrunningimagesvulnerabilitymdvmassessment")
    assert by.loc["other-assignment", "applicability"] == (
        f"not applicable to this policy: exempts assignment {OTHER_ASSIGNMENT}, which does not carry the "
        "configured definition")
    assert by.loc["waiver-rg-a", "applicability"] == \
        f"applies: exempts reference id {REF.upper()} of assignment {ASSIGNMENT.upper()}"
    assert by.loc["sub-wide", "applicability"] == f"applies: exempts every policy of assignment {ASSIGNMENT}"
    assert by.loc["waiver-rg-a", "policyDefinitionReferenceIds"] == REF.upper()
    assert by.loc["waiver-rg-a", "policyAssignmentId"] == ASSIGNMENT.upper()


def test_every_exempt_finding_is_attributed_once_and_the_counts_agree(result):
    table, unattributed = result
    matched = table.set_index("name")["matchedFindings"].to_dict()
    assert matched == {"waiver-rg-a": 2, "sub-wide": 2, "not-mine-ref": 0, "other-assignment": 0,
                       "expired-rg-a": 0, "zz-rg-a": 0, "RA-1": 1, "RA-2": 0}
    assert unattributed == 1
    assert sum(matched.values()) + unattributed == int(FINDINGS["state"].eq("Exempt").sum()) == 6


def test_approval_evidence_from_metadata_and_system_data(result):
    by = result[0].set_index("name")
    row = by.loc["waiver-rg-a"]
    assert (row["approver"], row["requester"], row["ticket"]) == ("ciso@contoso.com", "team-a@contoso.com", "CHG-1")
    # every other key as given, the second approver spelling included (nothing is dropped)
    assert json.loads(row["otherMetadata"]) == {"approver": "second@contoso.com", "riskScore": 7}
    assert (row["createdBy"], row["lastModifiedBy"]) == ("alice@contoso.com", "c0ffee00-0000-4000-8000-000000000001")
    assert row["createdAt"] == pd.Timestamp("2026-09-01T10:00:00Z")
    assert row["lastModifiedAt"] == pd.Timestamp("2026-10-02T09:30:00Z")
    assert bool(row["noExpiry"]) and not bool(by.loc["sub-wide", "noExpiry"])
    assert (by.loc["sub-wide", "approver"], by.loc["sub-wide", "otherMetadata"], by.loc["sub-wide", "createdBy"]) == \
        ("", "", "")
    assert pd.isna(by.loc["sub-wide", "createdAt"])
    local = by.loc["RA-1"]
    assert (local["kind"], local["approver"], local["ticket"], bool(local["noExpiry"])) == \
        ("Local exception", "risk@contoso.com", "SEC-9", False)


def test_a_snapshot_from_before_metadata_and_system_data_still_gives_the_table():
    old = [{k: v for k, v in e.items() if k not in ("metadata", "createdBy", "createdAt", "lastModifiedBy",
                                                       "lastModifiedAt")} for e in EXEMPTIONS[:2]]
    table, unattributed = exemptions_table(snapshot(old, STATES), (), FINDINGS, RunConfig())
    assert list(table.columns) == list(EXEMPTION_COLUMNS)
    assert set(table["approver"]) == {""} and set(table["createdBy"]) == {""} and table["createdAt"].isna().all()
    # without the local exception, its finding is unattributed (RA-1 is not in the file)
    assert dict(zip(table["name"], table["matchedFindings"])) == {"sub-wide": 2, "waiver-rg-a": 2}
    assert unattributed == 2


@pytest.mark.parametrize("text, expected", [
    (None, {"approver": "", "requester": "", "ticket": "", "otherMetadata": ""}),
    ('{"Approved_By": "a", "REQUESTER": "r", "changeRequest": "CR-1"}',
     {"approver": "a", "requester": "r", "ticket": "CR-1", "otherMetadata": ""}),
    ('{"ticket": "", "ticketId": "T-2", "approvedBy": {"name": "x"}}',    # empty values fall through; objects kept
     {"approver": '{"name":"x"}', "requester": "", "ticket": "T-2", "otherMetadata": '{"ticket":""}'}),
    ('"just text"', {"approver": "", "requester": "", "ticket": "", "otherMetadata": "just text"}),
])
def test_metadata_keys_in_any_spelling(text, expected):
    assert split_metadata(text, "where") == expected


def test_metadata_that_is_not_json_is_an_error_naming_the_file_and_column():
    bad = [dict(EXEMPTIONS[1], metadata="{not json")]
    with pytest.raises(SnapshotError) as exc:
        exemptions_table(snapshot(bad, STATES), (), FINDINGS, RunConfig())
    line = exc.value.one_line()
    assert "exemptions.parquet" in line and "'metadata'" in line and "sub-wide" in line


def test_applicability_without_a_policy_state_for_the_assignment():
    assert applicability(ASSIGNMENT, [], {}) == (
        False, f"not applicable to this policy: exempts assignment {ASSIGNMENT}, which does not carry the "
               "configured definition")


def test_expiry_thresholds():
    as_of = pd.Timestamp(AS_OF)
    assert _expiry(None, as_of) == {"status": "Active", "daysToExpiry": None}
    assert _expiry(as_of, as_of)["status"] == "Expired"
    assert _expiry(as_of + pd.Timedelta(days=EXPIRING_DAYS), as_of) == {"status": "Expiring", "daysToExpiry": 30}
    assert _expiry(as_of + pd.Timedelta(days=EXPIRING_DAYS + 1), as_of) == {"status": "Active", "daysToExpiry": 31}
