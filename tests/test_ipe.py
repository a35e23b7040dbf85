"""The IPE workpaper: per-dataset completeness, reconciliations with Defender, who collected (hand-worked)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reportgen import __version__
from reportgen.aggregate.ipe import build_ipe, collector_of, ipe_datasets
from reportgen.aggregate.model import ControlDef, ControlResult, Coverage, DefenderCrossCheck, FindingsSummary
from reportgen.snapshot import DATASETS, DatasetInfo, Snapshot, coerce_frame

KEY = "c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5"
OTHER_KEY = "1f655fb7-63ca-4980-91a3-56dbc2b715c6"
SUBS = ["S1", "s2", "s3"]
AS_OF = "2026-10-20T06:00:00Z"


def cid(n: int, sub: str = "s1") -> str:
    return f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c{n}"


def frame(name: str, rows: list[dict]) -> pd.DataFrame:
    full = [{**{c: None for c in DATASETS[name]}, **r} for r in rows]
    return coerce_frame(name, pd.DataFrame(full, columns=list(DATASETS[name]) + sorted(
        {k for r in rows for k in r} - set(DATASETS[name]))), origin=name)


def make_snapshot(scope_subs=SUBS, collector: dict | None = None) -> Snapshot:
    frames = {name: frame(name, []) for name in DATASETS}
    frames["clusters"] = frame("clusters", [{"id": cid(1), "subscriptionId": "s1"}, {"id": cid(2, "S2"),
                                                                                     "subscriptionId": "S2"}])
    frames["findings"] = frame("findings", [{"id": f"f{i}", "subscriptionId": "s1" if i % 2 else "s2"}
                                            for i in range(10)])
    frames["assessments"] = frame("assessments", [
        {"id": "a1", "assessmentKey": KEY, "resourceId": cid(1), "statusCode": "Unhealthy"},
        {"id": "a2", "assessmentKey": KEY.upper(), "resourceId": cid(2).upper(), "statusCode": "unhealthy"},
        {"id": "a3", "assessmentKey": KEY, "resourceId": cid(3), "statusCode": "Healthy"},
        {"id": "a4", "assessmentKey": OTHER_KEY, "resourceId": cid(4), "statusCode": "Unhealthy"},  # another key
    ])
    frames["assessment_history"] = frame("assessment_history", [{"SubscriptionId": s} for s in SUBS])
    infos = {name: DatasetInfo(name, rows=len(frames[name]), status="complete", sha256="x", query_sha256=f"q-{name}",
                               pages=1, extra={"service": "log_analytics" if name.endswith("history")
                                               else "resource_graph",
                                               "total_records": None if name.endswith("history") else len(frames[name])})
             for name in DATASETS}
    infos["findings"] = DatasetInfo("findings", rows=10, status="partial", sha256="x", query_sha256="q-findings",
                                    pages=3, warnings=("findings.recommendations: Resource Graph truncated the result",),
                                    extra={"service": "resource_graph", "total_records": 12})
    infos["clusters"] = DatasetInfo("clusters", rows=2, sha256="x", query_sha256="q-clusters", pages=1,
                                    extra={"total_records": 1})   # an answer that changed while paged
    infos["exemptions"] = DatasetInfo("exemptions", rows=0, status="skipped", sha256="x", query_sha256=None,
                                      warnings=("exemptions: not configured",), extra={})
    meta = {"collected_at": AS_OF, "source": "azure", "tool": {"name": "reportgen", "version": "0.9.0"},
            "scope": {"tenant_id": "t", "subscriptions": list(scope_subs), "management_groups": []}}
    if collector is not None:
        meta["collector"] = collector
    return Snapshot(path=Path("/snap"), meta=meta, frames=frames, datasets=infos, queries={}, fingerprint="f")


def control(cid_: str, dc: str, compliant: int, non_compliant: int, exempt: int, defender: DefenderCrossCheck):
    definition = ControlDef(id=cid_, title=cid_, objective="", evidence="", policy_group=f"g-{cid_}",
                            defender_control=dc, defender_standard="Microsoft-cloud-security-benchmark")
    return ControlResult(control=definition, status="Failed", resources=compliant + non_compliant + exempt,
                         compliant=compliant, non_compliant=non_compliant, exempt=exempt, conflict=0, other=0,
                         compliance_pct=None, previous_pct=None, defender=defender)


CONTROLS = (
    control("DS-6", "DS.6", 3, 4, 1, DefenderCrossCheck("Failed", 1, passed_resources=4, failed_resources=2,
                                                        skipped_resources=1)),
    control("PV-6", "PV.6", 3, 4, 1, DefenderCrossCheck("No data", 0, 0, 0, 0)),
    control("XX-1", "XX.1", 2, 1, 0, DefenderCrossCheck("Failed", 2, passed_resources=2, failed_resources=1,
                                                        skipped_resources=0)),
)
COVERAGE = Coverage(clusters=5, assessed=3, not_assessed=(cid(4), cid(5)), subscriptions=2, resource_groups=1,
                    locations=("westeurope",), findings_without_assessment=(cid(5),))
CLUSTERS = pd.DataFrame({"id": [cid(i) for i in range(1, 6)], "subscriptionId": ["s1", "s1", "s1", "S2", "s2"]})
FINDINGS = pd.DataFrame({"state": ["Open", "Open", "Open", "Exempt"],
                         "resourceId": [cid(1), cid(3).upper(), cid(5), cid(2)]})


def summary(duplicates: int, both: int = 2) -> FindingsSummary:
    return FindingsSummary(open=3, exempt=1, by_severity={}, fixable=0, exploitable=0, overdue=0,
                           overdue_by_severity={}, duplicates_dropped=duplicates, median_age_days=None,
                           median_time_to_fix_days=None, sources={"individual-recommendations": 4, "both": both})


@pytest.fixture(scope="module")
def ipe():
    return build_ipe(make_snapshot(collector={
        "tenant_id": "t-1", "object_id": "o-1", "app_id": "a-1", "upn": None, "identity_type": "app",
        "read_from": "access token claims (not verified)", "note": "they prove nothing"}),
        CONTROLS, COVERAGE, summary(6), CLUSTERS, FINDINGS, [KEY])


def test_every_dataset_states_rows_totals_pages_and_subscriptions(ipe):
    by = {d.name: d for d in ipe.datasets}
    assert list(by) == list(DATASETS)
    f = by["findings"]
    assert (f.status, f.query_sha256, f.rows, f.total_records, f.pages, f.subscriptions_asked,
            f.subscriptions_seen) == ("partial", "q-findings", 10, 12, 3, 3, 2)
    assert f.note == ("partial: findings.recommendations: Resource Graph truncated the result; 2 rows fewer than "
                      "totalRecords (12): the result was not read in full; 1 subscription asked for returned nothing")
    c = by["clusters"]   # "S2" and "s2" are one subscription: ids compare case-insensitively
    assert (c.subscriptions_seen, c.total_records) == (2, 1)
    assert c.note == ("1 row more than totalRecords (1): the data changed while it was paged; 1 subscription asked "
                      "for returned nothing")
    a = by["assessment_history"]
    assert (a.total_records, a.subscriptions_seen) == (None, 3)
    assert a.note == "no totalRecords: Log Analytics reports none; every subscription asked for returned rows"
    assert by["finding_history"].subscriptions_seen is None   # the dataset names no subscription
    assert by["finding_history"].note == "no totalRecords: Log Analytics reports none"
    assert by["policy_states"].note == "rows equal totalRecords; 3 subscriptions asked for returned nothing"
    assert by["exemptions"].note == ("not collected: exemptions: not configured; no totalRecords: the source "
                                     "reported none")


def test_a_tenant_wide_scope_asks_for_no_subscription():
    datasets = {d.name: d for d in ipe_datasets(make_snapshot(scope_subs=[]))}
    assert datasets["clusters"].subscriptions_asked is None and datasets["clusters"].subscriptions_seen == 2
    assert datasets["clusters"].note == "1 row more than totalRecords (1): the data changed while it was paged"


def test_control_counts_reconcile_with_defender_and_every_difference_is_explained(ipe):
    by = {r.check.split(":")[0] + ("/failed" if "failed" in r.check else "/passed"): r for r in ipe.reconciliations
          if r.check[:2] in ("DS", "PV", "XX")}
    failed = by["DS-6/failed"]
    assert (failed.ours, failed.defender, failed.difference) == (4, 2, 2)
    assert failed.explanation == (
        "ours exceeds Defender's by 2: Defender reported DS.6 for 1 of the 2 subscriptions with clusters; 2 clusters "
        "have no Defender assessment: the policy (AuditIfNotExists) counts such a cluster non-compliant, Defender "
        "has no assessment to count as failed")
    passed = by["DS-6/passed"]
    assert (passed.ours, passed.defender, passed.difference) == (3, 4, -1)
    assert passed.explanation == (
        "ours is below Defender's by 1: Defender reported DS.6 for 1 of the 2 subscriptions with clusters; we count "
        "1 exempt cluster apart from the compliant ones (Defender's skipped resources: 1)")
    none = by["PV-6/failed"]
    assert (none.ours, none.defender, none.difference) == (4, None, None)
    assert none.explanation == "Defender's regulatory compliance has no row for PV.6: nothing to compare"
    assert by["XX-1/failed"].explanation == "the counts agree" and by["XX-1/passed"].difference == 0


def test_a_difference_the_evidence_cannot_explain_says_so():
    controls = (control("DS-6", "DS.6", 1, 9, 0, DefenderCrossCheck("Failed", 2, 1, 2, 0)),)
    ipe = build_ipe(make_snapshot(), controls, COVERAGE, summary(6), CLUSTERS, FINDINGS, [KEY])
    failed = ipe.reconciliations[0]
    assert failed.difference == 7
    assert failed.explanation.endswith(
        "; 5 resources: the snapshot holds no evidence that explains the rest (Defender computes its figures "
        "separately, and they may lag the policy evaluation)")


def test_open_finding_clusters_reconcile_with_unhealthy_assessments(ipe):
    [r] = [r for r in ipe.reconciliations if r.check.startswith("clusters with an open finding")]
    # ours: c1, c3, c5 (ids compared case-insensitively); Defender: c1, c2 (c4's Unhealthy is another key)
    assert (r.ours, r.defender, r.difference) == (3, 2, 1)
    assert r.explanation == (
        "2 clusters have an open finding but no Unhealthy assessment (1 of them no assessment of a configured key "
        "at all, 1 with individual-recommendation findings: the grouped assessment was retired on 31 July 2026); "
        "1 cluster is Unhealthy in Defender without an open finding here (1 of them with exempt findings only: "
        "excepted locally or exempt)")


def test_distinct_findings_reconcile_with_the_rows_collected(ipe):
    [r] = [r for r in ipe.reconciliations if r.check.startswith("distinct findings")]
    assert (r.ours, r.defender, r.difference) == (4, 10, -6)
    assert r.explanation == ("6 duplicate rows dropped: the same cluster, image digest, CVE and package delivered "
                             "more than once (2 findings came from both the legacy sub-assessments and the "
                             "individual recommendations)")
    off = build_ipe(make_snapshot(), CONTROLS, COVERAGE, summary(5, both=0), CLUSTERS, FINDINGS, [KEY])
    [r] = [r for r in off.reconciliations if r.check.startswith("distinct findings")]
    assert r.explanation == ("5 duplicate rows dropped: the same cluster, image digest, CVE and package delivered "
                             "more than once (one row per container running the image); 1 row: not explained by "
                             "the duplicates dropped (a defect to report)")


def test_who_collected_and_with_which_versions(ipe):
    c = ipe.collector
    assert (c.tenant_id, c.object_id, c.app_id, c.upn, c.identity_type) == ("t-1", "o-1", "a-1", None, "app")
    assert (c.collected_at, c.tool_version, c.source) == (pd.Timestamp(AS_OF), "0.9.0", "azure")
    assert c.note == "access token claims (not verified); they prove nothing"
    assert ipe.render_tool_version == __version__


def test_an_older_snapshot_without_a_collector_says_it_was_not_recorded():
    c = collector_of(make_snapshot())
    assert (c.tenant_id, c.object_id, c.app_id, c.upn, c.identity_type) == (None,) * 5
    assert c.note.startswith("not recorded:") and c.tool_version == "0.9.0"
