"""Aggregation rules of DESIGN.md §6 on small hand-built snapshots; expected figures worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from reportgen.aggregate.build import build_model
from reportgen.aggregate.common import normalize_severity
from reportgen.config import OwnersConfig, RunConfig, ExceptionsConfig
from reportgen.errors import ConfigError
from reportgen.frameworks import load_controls
from reportgen.render.summary import summary_dict
from tests import builders as b

CONTROLS = load_controls()


def model_of(tmp_path: Path, config: RunConfig | None = None, history=(), **rows):
    snap = b.snapshot(tmp_path / "current", **rows)
    return build_model(snap, config or RunConfig(), CONTROLS, list(history))


def control(model, cid):
    return next(c for c in model.controls if c.id == cid)


def test_control_rollup_keeps_worst_state_and_applies_azure_formula(tmp_path):
    a, b_, c, d, e = (b.cluster_id(n) for n in "abcde")
    states = [
        b.policy_state(a, "Compliant", n=1), b.policy_state(a.upper(), "NonCompliant", n=2),  # same resource -> NonCompliant
        b.policy_state(b_, "Exempt"), b.policy_state(c, "Conflict"), b.policy_state(d, "Compliant"),
        b.policy_state(e, "Unknown"),                                      # outside the formula
        b.policy_state(d, "NonCompliant", definition=b.OTHER_POLICY),      # another policy: ignored
        b.policy_state(b.cluster_id("f"), "NonCompliant", groups=(b.PV6,)),  # only in PV-6
    ]
    m = model_of(tmp_path, policy_states=states)
    ds6 = control(m, "DS-6")
    # DS-6: a NonCompliant, b Exempt, c Conflict, d Compliant, e Other -> 5 resources
    assert (ds6.resources, ds6.compliant, ds6.non_compliant, ds6.exempt, ds6.conflict, ds6.other) == (5, 1, 1, 1, 1, 1)
    assert ds6.compliance_pct == 50.0      # 100 * (1 + 1) / (1 + 1 + 1 + 1)
    assert ds6.status == "Failed"
    pv6 = control(m, "PV-6")
    # PV-6 also has f NonCompliant: 100 * 2 / 5
    assert (pv6.resources, pv6.non_compliant, pv6.compliance_pct) == (6, 2, 40.0)


def test_control_pct_rounds_to_two_decimals_and_passes_only_at_100(tmp_path):
    states = [b.policy_state(b.cluster_id(f"c{i}"), "Compliant") for i in range(2)]
    states.append(b.policy_state(b.cluster_id("x"), "NonCompliant"))
    m = model_of(tmp_path, policy_states=states)
    assert control(m, "DS-6").compliance_pct == 66.67
    m2 = model_of(tmp_path / "2", policy_states=states[:2] + [b.policy_state(b.cluster_id("y"), "Exempt")])
    assert control(m2, "DS-6").compliance_pct == 100.0 and control(m2, "DS-6").status == "Passed"


def test_control_without_resources_has_no_figure(tmp_path):
    m = model_of(tmp_path)
    ds6 = control(m, "DS-6")
    assert (ds6.status, ds6.resources, ds6.compliance_pct, ds6.change_pct) == ("No data", 0, None, None)
    s = summary_dict(m)
    assert s["findings"]["open"] == 0
    assert s["coverage"] == {"clusters": 0, "assessed": 0, "not_assessed": [], "findings_without_assessment": [],
                             "derived_verdicts": {"unhealthy": 0, "healthy": 0, "no_findings": 0, "no_evidence": 0}}
    assert s["changes"] is None
    assert [(c["compliance_pct"], c["status"]) for c in s["controls"]] == [(None, "No data"), (None, "No data")]


def test_only_unknown_states_give_no_figure(tmp_path):
    """Unknown is outside the formula: with nothing counted there is no evidence either way."""
    m = model_of(tmp_path, policy_states=[b.policy_state(b.cluster_id("a"), "Unknown")])
    ds6 = control(m, "DS-6")
    assert (ds6.resources, ds6.other, ds6.compliance_pct, ds6.status) == (1, 1, None, "No data")
    assert any(s.startswith("DS-6 has no compliance figure") for s in m.insights)


def test_group_names_and_definition_ids_match_case_insensitively(tmp_path):
    row = b.policy_state(b.cluster_id("a"), "NonCompliant", groups=(b.DS6.lower(),), definition=b.POLICY.upper())
    m = model_of(tmp_path, policy_states=[row])
    assert control(m, "DS-6").non_compliant == 1 and control(m, "PV-6").resources == 0


def test_severity_is_normalised_case_insensitively():
    out = normalize_severity(pd.Series(["critical", " HIGH ", "Medium", "low", "informational", None]))
    assert list(out) == ["Critical", "High", "Medium", "Low", "Unknown", "Unknown"]


def test_open_exempt_and_duplicates(tmp_path):
    a = b.cluster_id("a")
    rows = [
        b.finding(a, "CVE-1", "critical"),
        b.finding(a.upper(), "CVE-1", "Critical"),                  # duplicate: resourceId differs only in case
        b.finding(a, "CVE-1", "critical", package="libssl"),        # different package: distinct
        b.finding(a, "CVE-2", "LOW", status="NotApplicable", cause="Exempt"),
        b.finding(a, "CVE-3", "medium", status="Healthy"),
        b.finding(a, "CVE-4", "weird", status="unhealthy", exploitable=True, fix="NoFixAvailable"),
    ]
    m = model_of(tmp_path, clusters=[b.cluster("a")], findings=rows)
    f = m.findings
    assert (f.open, f.exempt, f.duplicates_dropped) == (3, 1, 1)
    assert dict(f.by_severity) == {"Critical": 2, "High": 0, "Medium": 0, "Low": 0, "Unknown": 1}
    assert (f.fixable, f.exploitable) == (2, 1)
    assert len(m.tables.findings) == 5  # distinct rows of every state


def test_owner_resolution_order_and_sources(tmp_path):
    sub2 = "00000000-0000-0000-0000-0000000000bb"
    clusters = [
        b.cluster("gov", tags={"owner": "tag-loses@x"}),
        b.cluster("res", tags={"OWNER": "  Team-Res@X.com "}),
        b.cluster("rg", rg="rg-tagged"),
        b.cluster("sub", sub=sub2, rg="rg-plain"),
        b.cluster("mapped", rg="rg-mapped"),
        b.cluster("none", rg="rg-none"),
        b.cluster("empty", tags={"Owner": "   "}, rg="rg-none"),      # blank value does not count
    ]
    containers = [b.subscription(), b.subscription(sub2, {"Owner": "Sub-Team"}),
                  b.resource_group("rg-tagged", tags={"oWnEr": "RG-Team"}), b.resource_group("rg-plain", sub2)]
    gov_assess = b.assessment(b.cluster_id("gov"))
    mapping = tmp_path / "owners.csv"
    mapping.write_text(f"scope,owner\n/subscriptions/{b.SUB}/resourceGroups/RG-MAPPED,Mapped-Team\n")
    cfg = RunConfig(owners=OwnersConfig(tag_keys=("owner",), mapping_file=mapping, fallback="Unassigned"))
    m = model_of(tmp_path, config=cfg, clusters=clusters, resource_containers=containers, assessments=[gov_assess],
                 governance_assignments=[b.governance(gov_assess["id"].upper(), " Gov@X.com", "2026-11-15T00:00:00Z")])
    got = {r.name: (r.owner, r.ownerSource) for r in m.tables.clusters.itertuples()}
    assert got == {
        "gov": ("gov@x.com", "governance"),
        "res": ("team-res@x.com", "tag:resource"),
        "rg": ("rg-team", "tag:resource-group"),
        "sub": ("sub-team", "tag:subscription"),
        "mapped": ("mapped-team", "mapping"),
        "none": ("Unassigned", "fallback"),
        "empty": ("Unassigned", "fallback"),
    }


def test_second_tag_key_used_when_first_absent(tmp_path):
    cfg = RunConfig(owners=OwnersConfig(tag_keys=("owner", "team")))
    m = model_of(tmp_path, config=cfg, clusters=[b.cluster("a", tags={"Team": "Payments"})])
    assert m.tables.clusters.loc[0, "owner"] == "payments"


def test_mapping_file_missing_column_is_named(tmp_path):
    bad = tmp_path / "map.csv"
    bad.write_text("prefix,owner\n/x,y\n")
    with pytest.raises(ConfigError, match="missing column 'scope'"):
        model_of(tmp_path, config=RunConfig(owners=OwnersConfig(mapping_file=bad)))


def test_first_seen_due_and_overdue(tmp_path):
    a, g = b.cluster_id("a"), b.cluster_id("g")
    ga = b.assessment(g)
    earlier = b.snapshot(tmp_path / "h1", collected_at="2026-09-30T06:00:00Z",
                         findings=[b.finding(a, "CVE-OLD", "Critical"),
                                   b.finding(a, "CVE-NEW", "Low", status="Healthy")])   # not open: no clock
    fh = [{"TimeGenerated": "2026-10-20T00:00:00Z", "AssessedResourceId": a.upper(), "VulnerabilityId": "CVE-FH",
           "imageDigest": "sha256:aaa", "packageName": "openssl", "RecommendationState": "Unhealthy",
           "RecommendationSeverity": "High", "IsSnapshot": False}]
    m = model_of(tmp_path, history=[earlier], clusters=[b.cluster("a"), b.cluster("g")], assessments=[ga],
                 governance_assignments=[b.governance(ga["id"], "gov@x", "2026-11-30T00:00:00Z")],
                 finding_history=fh,
                 findings=[b.finding(a, "CVE-OLD", "Critical"),   # seen 2026-09-30 -> due 10-15 -> overdue 16 days
                           b.finding(a, "CVE-FH", "High"),        # seen 10-20 via history -> due 11-19 -> not overdue
                           b.finding(a, "CVE-NEW", "Low"),        # first seen now -> due +180
                           b.finding(g, "CVE-G", "Critical")])    # governance due 11-30 -> not overdue
    t = m.tables.findings.set_index("cveId")
    assert t.loc["CVE-OLD", "firstSeen"] == pd.Timestamp("2026-09-30T06:00:00Z")
    assert t.loc["CVE-OLD", "dueDate"] == pd.Timestamp("2026-10-15T06:00:00Z")
    assert bool(t.loc["CVE-OLD", "overdue"]) and t.loc["CVE-OLD", "daysOverdue"] == 16
    assert t.loc["CVE-FH", "firstSeen"] == pd.Timestamp("2026-10-20T00:00:00Z") and not t.loc["CVE-FH", "overdue"]
    assert t.loc["CVE-NEW", "firstSeen"] == pd.Timestamp(b.AS_OF)
    assert t.loc["CVE-NEW", "dueDate"] == pd.Timestamp(b.AS_OF) + pd.Timedelta(days=180)
    assert t.loc["CVE-G", "dueDate"] == pd.Timestamp("2026-11-30T00:00:00Z") and not t.loc["CVE-G", "overdue"]
    assert m.findings.overdue == 1 and m.findings.overdue_by_severity["Critical"] == 1
    assert t.loc["CVE-OLD", "ageDays"] == 31


def test_governance_due_date_applies_only_to_findings_first_seen_on_or_before_it(tmp_path):
    g = b.cluster_id("g")
    ga = b.assessment(g)
    m = model_of(tmp_path, clusters=[b.cluster("g")], assessments=[ga],
                 governance_assignments=[b.governance(ga["id"], "gov@x", "2026-10-01T00:00:00Z")],
                 findings=[b.finding(g, "CVE-1", "Low", firstEvaluationDate="2026-09-15T00:00:00Z"),  # before: governance
                           b.finding(g, "CVE-2", "Low", firstEvaluationDate="2026-10-01T00:00:00Z"),  # on it: governance
                           b.finding(g, "CVE-3", "Low")])   # first seen now, after the date: SLA (Low 180 days)
    t = m.tables.findings.set_index("cveId")
    assert t.loc["CVE-1", "dueSource"] == "governance" and bool(t.loc["CVE-1", "overdue"])
    assert t.loc["CVE-2", "dueSource"] == "governance" and t.loc["CVE-2", "daysOverdue"] == 30
    assert t.loc["CVE-3", "dueSource"] == "sla" and not t.loc["CVE-3", "overdue"]
    assert t.loc["CVE-3", "dueDate"] == pd.Timestamp(b.AS_OF) + pd.Timedelta(days=180)
    assert m.findings.overdue == 2


def test_coverage_lists_clusters_without_assessment(tmp_path):
    m = model_of(tmp_path, clusters=[b.cluster("a"), b.cluster("b"), b.cluster("c")],
                 assessments=[b.assessment(b.cluster_id("a").upper()), b.assessment(b.cluster_id("c"), "Healthy")])
    assert (m.coverage.clusters, m.coverage.assessed) == (3, 2)
    assert m.coverage.not_assessed == (b.cluster_id("b"),)


def test_changes_since_previous_snapshot_by_owner(tmp_path):
    a, c = b.cluster_id("a"), b.cluster_id("c")
    clusters = [b.cluster("a", tags={"owner": "alice"}), b.cluster("c", tags={"owner": "carol"})]
    older = b.snapshot(tmp_path / "h0", collected_at="2026-08-31T06:00:00Z", clusters=clusters,
                       findings=[b.finding(a, "CVE-ANCIENT")])
    prev = b.snapshot(tmp_path / "h1", collected_at="2026-09-30T06:00:00Z", clusters=clusters,
                      findings=[b.finding(a, "CVE-KEEP"), b.finding(a, "CVE-GONE"), b.finding(c, "CVE-GONE2"),
                                b.finding(a, "CVE-WASEXEMPT", status="NotApplicable", cause="Exempt")])
    m = model_of(tmp_path, history=[prev, older], clusters=clusters,
                 findings=[b.finding(a, "CVE-KEEP"), b.finding(a, "CVE-WASEXEMPT"), b.finding(c, "CVE-NEW")])
    ch = m.changes
    assert (ch.new, ch.resolved, ch.persisting) == (2, 2, 1)  # new: WASEXEMPT, NEW; resolved: GONE, GONE2
    assert ch.rebuilt_still_vulnerable == 0
    assert ch.previous_as_of == pd.Timestamp("2026-09-30T06:00:00Z")
    by = m.tables.changes_by_owner.set_index("owner")
    assert by.loc["alice"].tolist() == [1, 1, 1, 0] and by.loc["carol"].tolist() == [1, 1, 0, 0]
    assert sorted(m.tables.changes["cveId"]) == ["CVE-GONE", "CVE-GONE2", "CVE-NEW", "CVE-WASEXEMPT"]
    assert [p.label for p in m.history] == ["2026-08", "2026-09", "2026-10"]
    assert (m.history[1].new, m.history[1].resolved) == (3, 1)


def test_history_after_as_of_is_ignored(tmp_path):
    later = b.snapshot(tmp_path / "later", collected_at="2026-11-30T06:00:00Z",
                       findings=[b.finding(b.cluster_id("a"), "CVE-FUTURE")])
    m = model_of(tmp_path, history=[later], findings=[b.finding(b.cluster_id("a"), "CVE-1")])
    assert m.changes is None and len(m.history) == 1


def test_local_exceptions_active_vs_expired(tmp_path):
    a = b.cluster_id("a")
    exc = tmp_path / "exceptions.toml"
    exc.write_text(
        '[[exception]]\nid = "RA-1"\ncve = "CVE-1"\nrepository = "app/*"\nreason = "not reachable"\n'
        'approver = "ciso"\nticket = "T-1"\nexpires = 2026-11-20\n'
        '[[exception]]\nid = "RA-2"\ncve = "CVE-2"\nreason = "old"\napprover = "ciso"\nexpires = 2026-10-01\n')
    cfg = RunConfig(exceptions=ExceptionsConfig(file=exc))
    m = model_of(tmp_path, config=cfg, findings=[b.finding(a, "CVE-1"), b.finding(a, "CVE-2"), b.finding(a, "CVE-3")])
    assert (m.findings.open, m.findings.exempt) == (2, 1)
    t = m.tables.exemptions.set_index("name")
    assert t.loc["RA-1", "status"] == "Expiring" and t.loc["RA-1", "matchedFindings"] == 1
    assert t.loc["RA-2", "status"] == "Expired" and t.loc["RA-2", "matchedFindings"] == 0


def test_exception_without_expiry_is_rejected(tmp_path):
    exc = tmp_path / "e.toml"
    exc.write_text('[[exception]]\ncve = "CVE-1"\nreason = "r"\napprover = "a"\n')
    with pytest.raises(ConfigError, match="missing mandatory key 'expires'"):
        model_of(tmp_path, config=RunConfig(exceptions=ExceptionsConfig(file=exc)))


def test_policy_exemptions_classified_by_expiry(tmp_path):
    a = b.cluster_id("a")
    rows = [b.exemption(a, None, "never"), b.exemption(a, "2026-11-10T00:00:00Z", "soon"),
            b.exemption(a, "2026-10-01T00:00:00Z", "past"), b.exemption(a, "2027-06-01T00:00:00Z", "later")]
    m = model_of(tmp_path, exemptions=rows)
    status = dict(zip(m.tables.exemptions["name"], m.tables.exemptions["status"]))
    assert status == {"past": "Expired", "soon": "Expiring", "later": "Active", "never": "Active"}


def test_owner_figures_in_summary(tmp_path):
    a, c = b.cluster_id("a"), b.cluster_id("c")
    m = model_of(tmp_path, clusters=[b.cluster("a", tags={"owner": "alice"}), b.cluster("c", tags={"owner": "alice"})],
                 policy_states=[b.policy_state(a, "NonCompliant"), b.policy_state(c, "Compliant")],
                 findings=[b.finding(a, "CVE-1", "High"), b.finding(a, "CVE-2", "Critical")])
    s = summary_dict(m)
    assert s["owners"] == [{"owner": "alice", "source": "tag:resource", "clusters": 2, "non_compliant_clusters": 1,
                            "open_findings": 2, "by_severity": {"Critical": 1, "High": 1, "Medium": 0, "Low": 0,
                                                                "Unknown": 0}, "overdue": 0}]
    json.dumps(s)  # serialisable


def test_defender_cross_check(tmp_path):
    m = model_of(tmp_path, regulatory_compliance=[b.regulatory("DS.6", "Passed", 3, 0),
                                                  b.regulatory("PV.6", "Failed", 2, 1)])
    assert control(m, "DS-6").defender.state == "Passed" and control(m, "PV-6").defender.state == "Failed"
    assert control(m, "PV-6").defender.failed_resources == 1


def test_status_comes_from_counts_not_the_rounded_percentage(tmp_path):
    from reportgen.aggregate.controls import ControlCounts
    counts = ControlCounts(resources=40_000, compliant=39_999, non_compliant=1, exempt=0, conflict=0, other=0)
    assert counts.compliance_pct == 100.0 and counts.status == "Failed"
    assert ControlCounts(3, 2, 0, 1, 0, 0).status == "Passed"


def test_governance_due_date_counts_even_without_an_owner(tmp_path):
    g = b.cluster_id("g")
    ga = b.assessment(g)
    m = model_of(tmp_path, clusters=[b.cluster("g", tags={"owner": "team"})], assessments=[ga],
                 governance_assignments=[b.governance(ga["id"], "  ", "2026-10-01T00:00:00Z")],
                 findings=[b.finding(g, "CVE-1", "Low", firstEvaluationDate="2026-09-01T00:00:00Z")])
    row = m.tables.findings.iloc[0]
    assert row["dueSource"] == "governance" and bool(row["overdue"])
    assert (row["owner"], row["ownerSource"]) == ("team", "tag:resource")


def test_exception_expiry_must_be_a_date_not_a_datetime(tmp_path):
    exc = tmp_path / "e.toml"
    exc.write_text('[[exception]]\ncve = "CVE-1"\nreason = "r"\napprover = "a"\nexpires = 2026-12-31T00:00:00Z\n')
    with pytest.raises(ConfigError, match="expires must be a date"):
        model_of(tmp_path, config=RunConfig(exceptions=ExceptionsConfig(file=exc)))


# --- no evidence, no figure ---------------------------------------------------------------------

def test_no_policy_state_means_no_figure_no_delta_and_no_100(tmp_path):
    prev = b.snapshot(tmp_path / "prev", collected_at="2026-09-30T06:00:00Z",
                      policy_states=[b.policy_state(b.cluster_id("aks-a"), "Compliant")])
    m = build_model(b.snapshot_of(b.no_policy_evidence(tmp_path / "now")), RunConfig(), CONTROLS, [prev])
    for c in m.controls:
        assert (c.status, c.compliance_pct, c.previous_pct, c.change_pct) == ("No data", None, 100.0, None)
    s = summary_dict(m)
    assert [(c["status"], c["compliance_pct"]) for c in s["controls"]] == [("No data", None)] * 2
    assert m.history[-1].compliance_pct == {"DS-6": None, "PV-6": None}
    assert m.history[-1].control_status == {"DS-6": "No data", "PV-6": "No data"}
    assert m.history[0].compliance_pct == {"DS-6": 100.0, "PV-6": 100.0}
    assert not any("100" in sentence and "compliance" in sentence for sentence in m.insights)


def test_previous_month_without_figure_gives_no_delta(tmp_path):
    prev = b.snapshot(tmp_path / "prev", collected_at="2026-09-30T06:00:00Z")
    m = model_of(tmp_path, history=[prev], policy_states=[b.policy_state(b.cluster_id("a"), "Compliant")])
    ds6 = control(m, "DS-6")
    assert (ds6.compliance_pct, ds6.previous_pct, ds6.change_pct) == (100.0, None, None)


def test_owner_without_counted_state_has_no_figure(tmp_path):
    a, c = b.cluster_id("a"), b.cluster_id("c")
    m = model_of(tmp_path, clusters=[b.cluster("a", tags={"owner": "alice"}), b.cluster("c", tags={"owner": "carol"})],
                 policy_states=[b.policy_state(a, "Compliant"), b.policy_state(c, "Unknown")])
    rows = m.tables.control_owner.set_index(["control", "owner"])
    assert rows.loc[("DS-6", "alice"), "compliancePct"] == 100.0 and rows.loc[("DS-6", "alice"), "status"] == "Passed"
    assert pd.isna(rows.loc[("DS-6", "carol"), "compliancePct"]) and rows.loc[("DS-6", "carol"), "status"] == "No data"


# --- findings that count once ------------------------------------------------------------------

def _workload(name: str, container: str, namespace: str = "ns") -> dict:
    return {"namespace": namespace, "kind": "Deployment", "name": name, "container": container}


def test_representative_row_prefers_unhealthy_then_individual_then_latest_then_id(tmp_path):
    a = b.cluster_id("a")
    rows = [
        # one finding, four rows: a later Healthy legacy row, Unhealthy rows of both sources
        b.finding(a, "CVE-1", source=b.LEGACY, status="Healthy", time="2026-10-31T05:00:00Z",
                  workloads=json.dumps([_workload("web", "app")])),
        b.finding(a, "CVE-1", source=b.LEGACY, time="2026-10-31T04:00:00Z", fixedVersion="legacy-latest",
                  workloads=json.dumps([_workload("db", "pg")])),
        b.finding(a.upper(), "CVE-1", source=b.INDIVIDUAL, time="2026-10-30T00:00:00Z", fixedVersion="ind-older",
                  workloads=json.dumps([_workload("api", "api")])),
        b.finding(a, "CVE-1", source=b.INDIVIDUAL, time="2026-10-31T01:00:00Z", fixedVersion="ind-latest",
                  workloads=json.dumps([{"container": "api", "name": "api", "kind": "Deployment", "namespace": "ns"},
                                        _workload("api", "sidecar")])),
        # another finding: two individual rows at the same time, the lower id represents it
        {**b.finding(a, "CVE-2", source=b.INDIVIDUAL, fixedVersion="id-b"), "id": "b"},
        {**b.finding(a, "CVE-2", source=b.INDIVIDUAL, fixedVersion="id-a"), "id": "a"},
        # delivered only by the legacy source
        b.finding(a, "CVE-3", source=b.LEGACY),
    ]
    m = model_of(tmp_path, clusters=[b.cluster("a")], findings=rows)
    t = m.tables.findings.set_index("cveId")
    assert t.loc["CVE-1", "state"] == "Open" and t.loc["CVE-1", "fixedVersion"] == "ind-latest"
    assert t.loc["CVE-1", "source"] == b.INDIVIDUAL
    # the union of every row's workloads, each once, in a fixed order
    assert t.loc["CVE-1", "workloads"] == ("ns/Deployment/api:api; ns/Deployment/api:sidecar; ns/Deployment/db:pg; "
                                           "ns/Deployment/web:app")
    assert t.loc["CVE-2", "fixedVersion"] == "id-a" and t.loc["CVE-3", "source"] == b.LEGACY
    f = m.findings
    assert (f.open, f.duplicates_dropped) == (3, 4)
    assert dict(f.sources) == {b.INDIVIDUAL: 2, b.LEGACY: 1, "both": 1}
    assert summary_dict(m)["findings"]["sources"] == {b.INDIVIDUAL: 2, b.LEGACY: 1, "both": 1}

    # the same rows in another order give the same table
    again = model_of(tmp_path / "reversed", clusters=[b.cluster("a")], findings=rows[::-1])
    pd.testing.assert_frame_equal(again.tables.findings, m.tables.findings)


def test_workloads_union_is_canonical_json_in_the_snapshot_facts(tmp_path):
    from reportgen.aggregate.findings import snapshot_facts
    a = b.cluster_id("a")
    rows = [b.individual_finding(a, "CVE-1", container="z", workload="w2"),
            b.individual_finding(a, "CVE-1", container="a", workload="w1"),
            b.individual_finding(a, "CVE-1", container="a", workload="w1")]
    snap = b.snapshot(tmp_path / "s", clusters=[b.cluster("a")], findings=rows)
    facts = snapshot_facts(snap, RunConfig(), CONTROLS, (), [])
    assert list(facts.findings["workloads"]) == [
        '[{"container":"a","kind":"Deployment","name":"w1","namespace":"ns"},'
        '{"container":"z","kind":"Deployment","name":"w2","namespace":"ns"}]']


def test_snapshot_without_source_column_still_reads(tmp_path):
    a = b.cluster_id("a")
    m = model_of(tmp_path, clusters=[b.cluster("a")], findings=[b.finding(a, "CVE-1"), b.finding(a, "CVE-2")])
    assert set(m.tables.findings["source"]) == {"unrecorded"}
    assert dict(m.findings.sources) == {b.INDIVIDUAL: 0, b.LEGACY: 0, "unrecorded": 2, "both": 0}
    assert m.coverage.findings_without_assessment == () and m.coverage.assessment_gap_statement is None


# --- the retired assessment and derived verdicts ---------------------------------------------------

def test_clusters_with_individual_findings_but_no_assessment_are_stated_with_derived_verdicts(tmp_path):
    m = build_model(b.snapshot_of(b.retired_assessment(tmp_path / "s")), RunConfig(), CONTROLS)
    ids = {n: b.cluster_id(n) for n in b.RETIRED_CLUSTERS}
    cov = m.coverage
    assert cov.findings_without_assessment == (ids["aks-ind-clean"], ids["aks-ind-open"])
    assert cov.not_assessed == (ids["aks-empty"], ids["aks-ind-clean"], ids["aks-ind-open"])  # contract unchanged
    assert dict(cov.derived_verdicts) == {"Unhealthy": 2, "Healthy": 1, "No findings": 1, "No evidence": 1}
    assert ("2 of 5 clusters have vulnerability findings from the individual recommendations but no c609cf0f "
            "assessment.") in cov.assessment_gap_statement
    assert "retired the grouped assessment c609cf0f-71ab-41e9-a3c6-9a1f7fe1b8d5 on 31 July 2026" in \
        cov.assessment_gap_statement
    t = m.tables.clusters.set_index("name")
    assert t["derivedVerdict"].to_dict() == {
        "aks-assessed": "No findings", "aks-both": "Unhealthy", "aks-empty": "No evidence",
        "aks-ind-clean": "Healthy", "aks-ind-open": "Unhealthy"}
    assert t["policyState"].to_dict()["aks-ind-open"] == "Compliant"  # Azure's state stays as reported
    assert t.loc["aks-both", "findingsSources"] == f"{b.INDIVIDUAL}, {b.LEGACY}"
    assert t["findingsWithoutAssessment"].to_dict() == {
        "aks-assessed": False, "aks-both": False, "aks-empty": False, "aks-ind-clean": True, "aks-ind-open": True}
    s = summary_dict(m)["coverage"]
    assert s["not_assessed"] == list(cov.not_assessed)
    assert s["findings_without_assessment"] == [ids["aks-ind-clean"], ids["aks-ind-open"]]
    assert s["derived_verdicts"] == {"unhealthy": 2, "healthy": 1, "no_findings": 1, "no_evidence": 1}


def test_an_assessment_of_another_key_does_not_count(tmp_path):
    a = b.cluster_id("a")
    m = model_of(tmp_path, clusters=[b.cluster("a")],
                 assessments=[b.assessment(a, key="00000000-0000-0000-0000-00000000beef")],
                 findings=[b.individual_finding(a, "CVE-1")])
    assert m.coverage.findings_without_assessment == (a,) and m.coverage.not_assessed == ()
    assert "1 of 1 cluster has vulnerability findings" in m.coverage.assessment_gap_statement


# --- gaps ----------------------------------------------------------------------------------------

def test_every_gap_and_incomplete_dataset_is_a_stated_gap(tmp_path):
    m = build_model(b.snapshot_of(b.retired_assessment(tmp_path / "s")), RunConfig(), CONTROLS)
    gaps = {g.kind: g for g in m.gaps}
    assert list(gaps) == ["unreadable-subscriptions", "cve-limit", "future-kind", "dataset-failed"]
    assert gaps["unreadable-subscriptions"].members == (b.UNREADABLE_SUB,)
    assert gaps["unreadable-subscriptions"].title == "1 subscription could not be read."
    failed = gaps["dataset-failed"]  # the snapshot's gap and the dataset's status are told once, together
    assert (failed.title, failed.status, failed.details) == ("Dataset finding_history failed.", "failed",
                                                            ("HTTP 403 from the workspace",))
    assert failed.message == "Every request to the Log Analytics workspace failed."
    assert gaps["future-kind"].message == "A gap this version of reportgen does not know yet."
    s = summary_dict(m)["gaps"]
    assert [g["kind"] for g in s] == list(gaps) and s[0]["members"] == [b.UNREADABLE_SUB]


def test_incomplete_datasets_without_recorded_gaps_are_gaps_too(tmp_path):
    snap = b.snapshot_of(b.write(tmp_path / "s", status={"finding_history": ("skipped", ("no workspace",)),
                                                         "assessment_history": ("failed", ())}))
    m = build_model(snap, RunConfig(), CONTROLS)
    assert [(g.kind, g.title) for g in m.gaps] == [
        ("dataset-failed", "Dataset assessment_history failed."),
        ("dataset-skipped", "Dataset finding_history is skipped.")]
    assert m.gaps[0].message.startswith("Every request for it failed")
    assert summary_dict(m)["gaps"][1]["kind"] == "dataset-skipped"


# --- figures the OSCAL results state -------------------------------------------------------------

def test_overdue_critical_findings_and_earliest_due_per_cluster_are_model_figures(tmp_path):
    g, h = b.cluster_id("g"), b.cluster_id("h")
    ga = b.assessment(g)
    m = model_of(tmp_path, clusters=[b.cluster("g"), b.cluster("h")], assessments=[ga],
                 governance_assignments=[b.governance(ga["id"], "gov@x", "2026-10-01T00:00:00Z")],
                 findings=[b.finding(g, "CVE-1", "Critical", firstEvaluationDate="2026-09-01T00:00:00Z"),
                           b.finding(g, "CVE-2", "High", firstEvaluationDate="2026-09-01T00:00:00Z"),
                           b.finding(g, "CVE-3", "Critical", status="Healthy"),
                           b.finding(h, "CVE-4", "Critical"), b.finding(h.upper(), "CVE-5", "Low", package="zlib")])
    risks = m.tables.overdue_critical
    assert list(risks.columns) == list(m.tables.findings.columns)
    # g's governance due date has passed: CVE-1 and CVE-2 are overdue, only CVE-1 is critical;
    # h's findings are due by their SLA from today, so not overdue
    assert list(risks["cveId"]) == ["CVE-1"] and bool(risks.loc[0, "overdue"])
    critical_days = pd.Timedelta(days=m.meta.sla_days["Critical"])
    assert m.earliest_due == {g.lower(): pd.Timestamp("2026-10-01T00:00:00Z"),
                              h.lower(): pd.Timestamp(b.AS_OF) + critical_days}   # CVE-4 before CVE-5 (Low)


def test_no_open_finding_means_no_risk_and_no_due_date(tmp_path):
    g = b.cluster_id("g")
    m = model_of(tmp_path, clusters=[b.cluster("g")], findings=[b.finding(g, "CVE-1", "Critical", status="Healthy")])
    assert m.tables.overdue_critical.empty and m.earliest_due == {}


def test_lineage_first_sightings_are_lowered_only_by_earlier_times():
    import numpy as np
    from reportgen.aggregate.lineage import LineageTracker, first_evaluations
    t = pd.Timestamp
    tracker = LineageTracker()
    tracker.record_open(np.array([1, 2]), t("2026-09-30T06:00:00Z"))
    tracker.record_open(np.array([1, 2, 3]), t("2026-10-31T06:00:00Z"))     # 1 and 2 keep September
    tracker.record_open(np.array([1, 3, 3]), pd.Series(pd.to_datetime(["2026-09-01", "2026-10-15", "2026-10-01"],
                                                                      utc=True)))
    # firstEvaluationDate raised to publishedDate: 4's evaluation (Aug 1) predates its CVE (Aug 20)
    tracker.record_evaluations(first_evaluations(
        np.array([2, 4, 4]), pd.Series(pd.to_datetime(["2026-09-30T07:00:00Z", "2026-08-01T00:00:00Z", "2026-08-25T00:00:00Z"], utc=True)),
        pd.Series(pd.to_datetime(["2026-01-01", "2026-08-20", "2026-08-20"], utc=True))))
    first, source = tracker.first_seen(np.array([3, 2, 1, 4, 12345]))
    assert list(first[:4]) == [t("2026-10-01T00:00:00Z"), t("2026-09-30T06:00:00Z"), t("2026-09-01T00:00:00Z"),
                               t("2026-08-20T00:00:00Z")]
    assert list(source) == ["sighting", "sighting", "sighting", "publishedDate", ""] and pd.isna(first[4])


def test_a_compliant_cluster_without_assessment_is_not_said_to_count_as_non_compliant(tmp_path):
    a, n = b.cluster_id("a"), b.cluster_id("n")
    m = model_of(tmp_path, clusters=[b.cluster("a"), b.cluster("n")], assessments=[b.assessment(a)],
                 policy_states=[b.policy_state(a, "NonCompliant"), b.policy_state(n, "Compliant")],
                 findings=[b.finding(a, "CVE-1")])
    sentence = next(s for s in m.insights if "not assessed" in s)
    assert "counts as non-compliant" not in sentence       # the old text said so of a Compliant cluster
    assert sentence == ("1 cluster is not assessed by Defender, so its vulnerabilities are not known; the policy "
                        "reports it as 1 Compliant, which is no evidence of its images' vulnerabilities.")


def test_a_governance_owner_that_contradicts_the_owner_tag_is_flagged(tmp_path):
    g, h = b.cluster_id("g"), b.cluster_id("h")
    ga, ha = b.assessment(g), b.assessment(h)
    m = model_of(tmp_path, clusters=[b.cluster("g", tags={"Owner": "Team-Tag"}), b.cluster("h", tags={"owner": "gov@x"})],
                 assessments=[ga, ha],
                 governance_assignments=[b.governance(ga["id"], "gov@x", "2026-12-01T00:00:00Z"),
                                         b.governance(ha["id"], "GOV@X ", "2026-12-01T00:00:00Z")])
    c = m.tables.clusters.set_index("name")
    assert (c.loc["g", "owner"], c.loc["g", "ownerTag"], bool(c.loc["g", "ownerConflict"])) == ("gov@x", "team-tag", True)
    assert (c.loc["h", "ownerTag"], bool(c.loc["h", "ownerConflict"])) == ("gov@x", False)   # same owner, any case
