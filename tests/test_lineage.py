"""Lineages, first seen, due dates, changes and the period population (DESIGN §6), on a hand-worked month.

Snapshots: h0 2026-08-31T06:00Z, prev 2026-09-30T06:00Z (the opening snapshot of October), current
2026-10-31T06:00Z. SLA days: Critical 15, High 30, Medium 90, Low 180. Clusters a (alice), c (carol),
and x, which is in prev but gone from the current snapshot.

  L1 CVE-REBUILT   Critical a  open h0 (d1), prev (d1), now (d2)   first seen 08-31 (lower bound) -> open-overdue
  L2 CVE-FIXED     High     a  open prev, absent now              first 09-30, due 10-30, closed 10-31 -> missed
  L3 CVE-FAST      Medium   c  open prev (firstEvaluation 09-25T06:00), Healthy now -> met, 36.0 days
  L4 CVE-WAIVED    Low      c  open prev, Exempt now             -> closed exempt, no verdict
  L5 CVE-GONE      High     x  open prev, x gone now             -> closed out_of_scope, no verdict
  L6 CVE-INMONTH   High     a  history: open 10-10, Healthy 10-20 -> new, closed 10-20 fixed, met, 10.0 days
  L7 CVE-NEW       Critical c  open now only                     -> new, open-within (due 11-15)
  L8 CVE-WITHIN    Medium   a  open prev and now (d1)            -> open-within (due 12-29)

Roll-forward: opening 6 (L1-L5, L8) + new 2 (L6, L7) - closed 5 (L2-L6) = closing 3 (L1, L7, L8).
Changes against prev: new 1 (L7), resolved 4 (L2-L5), persisting 2 (L1, L8), rebuilt 1 (L1).
"""

from __future__ import annotations

import pandas as pd
import pytest

from reportgen.aggregate.build import build_model
from reportgen.aggregate.lineage import lineage_id
from reportgen.config import RunConfig
from tests import builders as b
from tests.test_aggregate import CONTROLS

A, C, X = b.cluster_id("a"), b.cluster_id("c"), b.cluster_id("x")
CLUSTERS = [b.cluster("a", tags={"owner": "alice"}), b.cluster("c", tags={"owner": "carol"})]
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def history_row(rid, cve, when, state, digest=D1, severity="High"):
    return {"TimeGenerated": when, "AssessedResourceId": rid, "VulnerabilityId": cve, "imageDigest": digest,
            "packageName": "openssl", "RecommendationState": state, "RecommendationSeverity": severity,
            "IsSnapshot": False}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lineage")
    h0 = b.snapshot(tmp / "h0", collected_at="2026-08-31T06:00:00Z", clusters=CLUSTERS,
                    findings=[b.finding(A, "CVE-REBUILT", "Critical", digest=D1)])
    prev = b.snapshot(tmp / "prev", collected_at="2026-09-30T06:00:00Z",
                      clusters=CLUSTERS + [b.cluster("x", tags={"owner": "xavier"})],
                      findings=[b.finding(A, "CVE-REBUILT", "Critical", digest=D1),
                                b.finding(A, "CVE-FIXED", "High", digest=D1),
                                b.finding(C, "CVE-FAST", "Medium", digest=D1,
                                          firstEvaluationDate="2026-09-25T06:00:00Z"),
                                b.finding(C, "CVE-WAIVED", "Low", digest=D1),
                                b.finding(X, "CVE-GONE", "High", digest=D1),
                                b.finding(A, "CVE-WITHIN", "Medium", digest=D1)])
    current = b.snapshot(
        tmp / "current", clusters=CLUSTERS,
        policy_states=[b.policy_state(A, "NonCompliant"), b.policy_state(C, "NonCompliant")],
        findings=[b.finding(A, "CVE-REBUILT", "Critical", digest=D2),
                  b.finding(C, "CVE-FAST", "Medium", digest=D1, status="Healthy"),
                  b.finding(C, "CVE-WAIVED", "Low", digest=D1, status="NotApplicable", cause="Exempt"),
                  b.finding(C, "CVE-NEW", "Critical", digest=D1),
                  b.finding(A, "CVE-WITHIN", "Medium", digest=D1)],
        finding_history=[history_row(A, "CVE-INMONTH", "2026-10-10T00:00:00Z", "Unhealthy"),
                         history_row(A, "CVE-INMONTH", "2026-10-20T00:00:00Z", "Healthy")])
    return build_model(current, RunConfig(), CONTROLS, [prev, h0])


def pop(model) -> pd.DataFrame:
    return model.tables.period_population.set_index("cveId")


def test_roll_forward_reconciles_per_severity_and_in_total(model):
    p = model.period
    assert (p.total.opening, p.total.new, p.total.closed, p.total.closing) == (6, 2, 5, 3)
    assert p.total.reconciles
    by = {s: (r.opening, r.new, r.closed, r.closing) for s, r in p.by_severity.items()}
    assert by == {"Critical": (1, 1, 0, 2), "High": (2, 1, 3, 0), "Medium": (2, 0, 1, 1), "Low": (1, 0, 1, 0),
                  "Unknown": (0, 0, 0, 0)}
    assert all(r.reconciles for r in p.by_severity.values())
    assert p.closed_by_reason == {"fixed": 3, "exempt": 1, "out_of_scope": 1}
    assert p.sla == {"met": 2, "missed": 1, "open_overdue": 1, "open_within": 2}
    assert p.sla_attainment_pct == 66.67
    assert p.opening_as_of == pd.Timestamp("2026-09-30T06:00:00Z") and p.statement is None


def test_each_lineage_has_its_closure_reason_and_verdict(model):
    t = pop(model)
    assert len(t) == 8
    expect = {  # cve: (closeReason, slaVerdict, daysToFix)
        "CVE-REBUILT": ("", "open-overdue", None), "CVE-FIXED": ("fixed", "missed", 31.0),
        "CVE-FAST": ("fixed", "met", 36.0), "CVE-WAIVED": ("exempt", "", None),
        "CVE-GONE": ("out_of_scope", "", None), "CVE-INMONTH": ("fixed", "met", 10.0),
        "CVE-NEW": ("", "open-within", None), "CVE-WITHIN": ("", "open-within", None)}
    for cve, (reason, verdict, days) in expect.items():
        row = t.loc[cve]
        assert (row["closeReason"], row["slaVerdict"]) == (reason, verdict), cve
        assert (pd.isna(row["daysToFix"]) if days is None else row["daysToFix"] == days), cve
    assert t.loc["CVE-FIXED", "closed"] == pd.Timestamp("2026-10-31T06:00:00Z")
    assert t.loc["CVE-FIXED", "dueDate"] == pd.Timestamp("2026-10-30T06:00:00Z")
    assert t.loc["CVE-INMONTH", "closed"] == pd.Timestamp("2026-10-20T00:00:00Z")
    assert t.loc["CVE-INMONTH", "firstSeen"] == pd.Timestamp("2026-10-10T00:00:00Z")
    assert t.loc["CVE-FAST", ["firstSeen", "firstSeenSource"]].tolist() == [
        pd.Timestamp("2026-09-25T06:00:00Z"), "firstEvaluationDate"]
    assert t.loc["CVE-GONE", "owner"] == "xavier"   # from the opening snapshot: its cluster is gone
    assert t.loc["CVE-WAIVED", "exemption"] == ("Exempt in Defender: no applicable policy exemption in the snapshot "
                                              "covers its cluster")
    assert t.loc["CVE-INMONTH", "sightings"] == (
        "2026-09-30T06:00Z snapshot not open; 2026-10-10T00:00Z history open; "
        "2026-10-20T00:00Z history not open; 2026-10-31T06:00Z snapshot not open")
    assert t.loc["CVE-REBUILT", "digests"] == f"{D1}; {D2}"
    assert (t["openAtStart"].sum(), t["openAtAsOf"].sum()) == (6, 3)


def test_a_rebuild_continues_the_lineage_and_its_clock(model):
    f = model.tables.findings.set_index("cveId")
    row = f.loc["CVE-REBUILT"]
    assert row["imageDigest"] == D2
    assert row["firstSeen"] == pd.Timestamp("2026-08-31T06:00:00Z")   # not the day the new digest appeared
    assert row["dueDate"] == pd.Timestamp("2026-09-15T06:00:00Z") and bool(row["overdue"])
    assert bool(row["ageIsLowerBound"]) and row["ageDays"] == 61      # open in the oldest snapshot: at least 61
    assert not f.loc["CVE-NEW", "ageIsLowerBound"]
    assert row["lineageId"] == lineage_id(A.lower(), "contoso.azurecr.io/app/api", "CVE-REBUILT", "openssl")
    assert pop(model).loc["CVE-REBUILT", "ageIsLowerBound"]


def test_changes_count_lineages_and_rebuilds_apart_from_fixes(model):
    ch = model.changes
    assert (ch.new, ch.resolved, ch.persisting, ch.rebuilt_still_vulnerable) == (1, 4, 2, 1)
    t = model.tables.changes
    assert sorted(t.loc[t["change"].eq("Resolved"), "cveId"]) == ["CVE-FAST", "CVE-FIXED", "CVE-GONE", "CVE-WAIVED"]
    rebuilt = t[t["change"].eq("Rebuilt, still vulnerable")].iloc[0]
    assert (rebuilt["cveId"], rebuilt["imageDigest"], rebuilt["previousDigests"]) == ("CVE-REBUILT", D2, D1)
    by = model.tables.changes_by_owner.set_index("owner")
    assert by.loc["alice"].tolist() == [0, 1, 2, 1]     # new, resolved, persisting, rebuilt
    assert by.loc["carol"].tolist() == [1, 2, 0, 0] and by.loc["xavier"].tolist() == [0, 1, 0, 0]
    assert (model.history[-1].new, model.history[-1].resolved) == (1, 4)


def test_monthly_sla_of_the_period_matches_the_population(model):
    october = {m.severity: m for m in model.period.monthly if m.month == "2026-10"}
    assert (october["All"].fixed, october["All"].met, october["All"].missed) == (3, 2, 1)
    assert october["All"].attainment_pct == 66.67
    assert october["All"].mean_days_to_fix == round((31.0 + 36.0 + 10.0) / 3, 1)
    assert october["All"].median_days_to_fix == 31.0
    assert october["High"].attainment_pct == 50.0 and october["Critical"].attainment_pct is None


def test_without_an_opening_snapshot_every_lineage_is_new_and_the_pack_says_so(tmp_path):
    snap = b.snapshot(tmp_path / "only", clusters=CLUSTERS, findings=[b.finding(A, "CVE-1", "High")])
    p = build_model(snap, RunConfig(), CONTROLS, []).period
    assert (p.total.opening, p.total.new, p.total.closed, p.total.closing) == (0, 1, 0, 1)
    assert p.opening_as_of is None and "opening balance is 0" in p.statement
    assert p.sla_attainment_pct is None


def test_history_rows_without_a_known_digest_use_the_digest_as_repository(tmp_path):
    snap = b.snapshot(tmp_path / "s", clusters=CLUSTERS, findings=[b.finding(A, "CVE-1", "High", digest=D1)],
                      finding_history=[history_row(A, "CVE-1", "2026-10-05T00:00:00Z", "Unhealthy", digest=D1),
                                       history_row(A, "CVE-2", "2026-10-06T00:00:00Z", "Unhealthy", digest="sha256:zz")])
    m = build_model(snap, RunConfig(), CONTROLS, [])
    t = pop(m)
    # CVE-1's history row joins the findings lineage through its digest: first seen 10-05
    assert m.tables.findings.set_index("cveId").loc["CVE-1", "firstSeen"] == pd.Timestamp("2026-10-05T00:00:00Z")
    assert t.loc["CVE-2", "repository"] == "@sha256:zz" and t.loc["CVE-2", "closeReason"] == "fixed"
    assert len(t) == 2


def test_the_insights_tell_lineage_changes_and_attainment(model):
    assert ("3 vulnerabilities with a due date were fixed in the period, 2 of them by their due date: SLA "
            "attainment 66.67%.") in model.insights
    assert any(s.startswith("Since 30 Sep 2026, 1 vulnerabilities") and s.endswith(
        "4 were resolved; 2 persist, 1 of them in a rebuilt image that still carries the CVE.") for s in model.insights)


def test_an_age_is_a_lower_bound_from_the_start_of_its_clusters_evidence():
    import numpy as np
    from reportgen.aggregate.lineage import EvidenceStart
    t = pd.Timestamp
    hist = pd.DataFrame({"rid": ["c", "c"], "at": pd.to_datetime(["2026-07-05T03:00:00Z", "2026-08-01T00:00:00Z"],
                                                                  utc=True)})
    start = EvidenceStart(t("2026-08-31T06:00:00Z"), hist)
    first = pd.Series(pd.to_datetime(["2026-07-05T03:00:00Z", "2026-07-06T00:00:00Z", "2026-08-31T06:00:00Z",
                                      "2026-08-31T06:00:00Z", "2026-01-01T00:00:00Z"], utc=True))
    source = pd.Series(["sighting", "sighting", "sighting", "sighting", "firstEvaluationDate"])
    # c's export starts 07-05: a lineage first seen there may be older, one first seen 07-06 is not;
    # a (no history) starts with the oldest snapshot; Defender's own first evaluation is never a bound
    assert start.lower_bound(first, source, np.array(["c", "c", "c", "a", "a"], dtype=object)).tolist() == [
        True, False, False, True, False]
